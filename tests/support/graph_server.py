"""A real local HTTP server playing the WhatsApp Graph API, for tests at the network edge.

It records every request (method, path, headers, JSON body) and answers from a script:
queue responses with `server.script(status, body)`; with the queue empty, a message send
succeeds with a fresh wamid and anything else answers `{"success": true}`.
"""

from __future__ import annotations

import itertools
import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit


@dataclass
class RecordedRequest:
    method: str
    path: str
    query: str
    headers: dict[str, str]
    body: Any
    raw: bytes = b""


@dataclass
class RawBody:
    """An answer that is not JSON: a file's bytes, or a redirect (`headers={"Location": …}`)."""

    data: bytes = b""
    content_type: str = "application/octet-stream"
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class ScriptedResponse:
    status: int
    body: Any
    delay: float = 0.0


@dataclass
class GraphServer:
    requests: list[RecordedRequest] = field(default_factory=list)
    responses: list[ScriptedResponse] = field(default_factory=list)
    routes: dict[tuple[str, str], Any] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)
    counter: itertools.count = field(default_factory=lambda: itertools.count(1))
    base_url: str = ""

    def script(self, status: int, body: Any, delay: float = 0.0) -> None:
        """Queue the next answer to any request not matched by a route."""
        with self.lock:
            self.responses.append(ScriptedResponse(status, body, delay))

    def route(self, method: str, path: str, handler) -> None:
        """Answer `method path` with `handler(RecordedRequest) -> (status, body)` instead of the script."""
        self.routes[(method, path)] = handler

    def sent_messages(self) -> list[dict]:
        """Bodies of message sends (not read receipts or typing indicators)."""
        return [
            r.body
            for r in self.requests
            if r.method == "POST" and r.path.endswith("/messages") and isinstance(r.body, dict) and "to" in r.body
        ]

    def error(self, code: int, message: str = "error", status: int = 400, details: str = "") -> None:
        self.script(
            status,
            {
                "error": {
                    "message": message,
                    "type": "OAuthException",
                    "code": code,
                    "error_data": {"messaging_product": "whatsapp", "details": details or message},
                    "fbtrace_id": "AbCdEf",
                }
            },
        )

    def answer(self, request: RecordedRequest) -> ScriptedResponse:
        handler = self.routes.get((request.method, request.path))
        if handler is not None:
            status, body = handler(request)
            return ScriptedResponse(status, body)
        with self.lock:
            if self.responses:
                return self.responses.pop(0)
        if request.method == "POST" and request.path.endswith("/messages") and isinstance(request.body, dict):
            if request.body.get("status") == "read":
                return ScriptedResponse(200, {"success": True})
            n = next(self.counter)
            return ScriptedResponse(
                200,
                {
                    "messaging_product": "whatsapp",
                    "contacts": [{"input": request.body.get("to", ""), "wa_id": request.body.get("to", "")}],
                    "messages": [{"id": f"wamid.TEST{n:08d}"}],
                },
            )
        return ScriptedResponse(200, {"success": True})


def start_graph_server() -> tuple[GraphServer, ThreadingHTTPServer]:
    graph = GraphServer()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):  # keep test output quiet
            pass

        def _handle(self):
            import time

            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            try:
                body = json.loads(raw) if raw else None
            except ValueError:
                body = raw.decode("utf-8", "replace")
            parts = urlsplit(self.path)
            request = RecordedRequest(self.command, parts.path, parts.query, dict(self.headers), body, raw)
            with graph.lock:
                graph.requests.append(request)
            response = graph.answer(request)
            if response.delay:
                time.sleep(response.delay)
            raw_body = response.body if isinstance(response.body, RawBody) else None
            payload = raw_body.data if raw_body is not None else json.dumps(response.body).encode()
            try:
                self.send_response(response.status)
                for name, value in (raw_body.headers if raw_body is not None else {}).items():
                    self.send_header(name, value)
                self.send_header("Content-Type", raw_body.content_type if raw_body is not None else "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)
            except (BrokenPipeError, ConnectionResetError):
                pass

        do_GET = do_POST = do_DELETE = _handle

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    graph.base_url = f"http://127.0.0.1:{server.server_address[1]}/v23.0"
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    return graph, server
