"""A real local HTTP server standing in for a business's own systems: the receiver of
outgoing webhooks and the API a flow bot's lookup step calls.

It records every request with its raw body and answers from a script: queue answers with
`server.script(status, body=…, delay=…, headers=…)` (a `bytes` body is sent as it is, else
as JSON); with the queue empty it answers 200 `{"ok": true}`, or what `route(path, handler)`
returns for that path (or `route_all` for any path).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit


@dataclass
class Received:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    raw: bytes

    def json(self) -> Any:
        return json.loads(self.raw)


@dataclass
class Answer:
    status: int = 200
    body: Any = field(default_factory=lambda: {"ok": True})
    delay: float = 0.0
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Receiver:
    requests: list[Received] = field(default_factory=list)
    answers: list[Answer] = field(default_factory=list)
    routes: dict[str, Callable[[Received], Answer]] = field(default_factory=dict)
    route_all: Callable[[Received], Answer] | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)
    url: str = ""

    def script(self, status: int = 200, body: Any = None, *, delay: float = 0.0,
               headers: dict[str, str] | None = None) -> None:
        with self.lock:
            self.answers.append(Answer(status, {"ok": True} if body is None else body, delay, headers or {}))

    def route(self, path: str, handler: Callable[[Received], Answer]) -> None:
        self.routes[path] = handler

    def answer(self, received: Received) -> Answer:
        with self.lock:
            if self.answers:
                return self.answers.pop(0)
        handler = self.routes.get(received.path, self.route_all)
        return handler(received) if handler is not None else Answer()


def start_receiver() -> tuple[Receiver, ThreadingHTTPServer]:
    receiver = Receiver()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def _handle(self):
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            parts = urlsplit(self.path)
            received = Received(self.command, parts.path, parse_qs(parts.query), dict(self.headers), raw)
            with receiver.lock:
                receiver.requests.append(received)
            answer = receiver.answer(received)
            if answer.delay:
                time.sleep(answer.delay)
            if isinstance(answer.body, bytes):
                payload, content_type = answer.body, answer.headers.get("Content-Type", "application/octet-stream")
            else:
                payload, content_type = json.dumps(answer.body).encode(), "application/json"
            try:
                self.send_response(answer.status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(payload)))
                for name, value in answer.headers.items():
                    if name != "Content-Type":
                        self.send_header(name, value)
                self.end_headers()
                self.wfile.write(payload)
            except (BrokenPipeError, ConnectionResetError):
                pass

        do_GET = do_POST = do_PUT = do_DELETE = _handle

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    receiver.url = f"http://127.0.0.1:{server.server_address[1]}"
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    return receiver, server
