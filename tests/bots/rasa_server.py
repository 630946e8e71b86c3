"""A real local HTTP server answering like Rasa's REST channel
(`POST /webhooks/rest/webhook` with `{"sender", "message"}` → a JSON list of messages).

`server.reply` decides each answer: a function of the request body returning
`(status, body, delay)`, where `body` is JSON-able or raw bytes."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

Reply = Callable[[dict], tuple[int, Any, float]]


def echo(body: dict) -> tuple[int, Any, float]:
    """A small Rasa-like assistant: greets with buttons, answers payloads, hands off on /handoff."""
    message = str(body.get("message", ""))
    if message == "/handoff":
        return 200, [{"recipient_id": body["sender"], "text": "Let me get a colleague.",
                      "custom": {"handoff": {"team": "billing", "reason": "refund over limit"}}}], 0.0
    if message.startswith("/"):
        return 200, [{"recipient_id": body["sender"], "text": f"You chose {message}."}], 0.0
    return 200, [
        {"recipient_id": body["sender"], "text": "Hello from Rasa!"},
        {
            "recipient_id": body["sender"],
            "text": "What do you need?",
            "buttons": [
                {"title": "Track my parcel", "payload": '/track{"carrier": "ups"}'},
                {"title": "Refund", "payload": "/handoff"},
            ],
        },
    ], 0.0


@dataclass
class RasaServer:
    url: str = ""
    requests: list[dict] = field(default_factory=list)
    reply: Reply = echo


def start_rasa_server() -> tuple[RasaServer, ThreadingHTTPServer]:
    state = RasaServer()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_POST(self):
            raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            body = json.loads(raw or b"{}")
            state.requests.append(body)
            status, answer, delay = state.reply(body)
            if delay:
                time.sleep(delay)
            payload = answer if isinstance(answer, bytes) else json.dumps(answer).encode()
            try:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)
            except (BrokenPipeError, ConnectionResetError):
                pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    state.url = f"http://127.0.0.1:{server.server_address[1]}/webhooks/rest/webhook"
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return state, server
