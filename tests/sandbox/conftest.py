"""Fixtures for the sandbox: a sandbox number, a real local HTTP server receiving the
sandbox's webhooks (raw bytes and headers kept, for checking signatures), and helpers."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
from dataclasses import dataclass, field
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from django.utils import timezone

from conversations.models import WhatsAppNumber
from conversations.providers.sandbox.models import Phone

SANDBOX_SECRET = "sandbox-test-secret"
SANDBOX_TOKEN = "sandbox-test-token"


@dataclass
class ReceivedHook:
    path: str
    headers: dict[str, str]
    raw: bytes

    @property
    def json(self) -> dict[str, Any]:
        return json.loads(self.raw)

    def signed_with(self, secret: str) -> bool:
        expected = "sha256=" + hmac.new(secret.encode(), self.raw, hashlib.sha256).hexdigest()
        return hmac.compare_digest(self.headers.get("X-Hub-Signature-256", ""), expected)

    @property
    def value(self) -> dict[str, Any]:
        return self.json["entry"][0]["changes"][0]["value"]

    @property
    def field(self) -> str:
        return self.json["entry"][0]["changes"][0]["field"]


@dataclass
class HookReceiver:
    url: str = ""
    hooks: list[ReceivedHook] = field(default_factory=list)
    answer_status: int = 200

    def statuses(self) -> list[tuple[str, str]]:
        return [
            (item["id"], item["status"]) for h in self.hooks if h.field == "messages" for item in h.value.get("statuses", [])
        ]


@pytest.fixture
def hook_receiver(settings):
    receiver = HookReceiver()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_POST(self):
            raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            receiver.hooks.append(ReceivedHook(self.path, dict(self.headers), raw))
            self.send_response(receiver.answer_status)
            self.send_header("Content-Length", "0")
            self.end_headers()

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    receiver.url = f"http://127.0.0.1:{server.server_address[1]}/webhooks/whatsapp/"
    threading.Thread(target=server.serve_forever, daemon=True).start()
    settings.SANDBOX_WEBHOOK_URL = receiver.url
    yield receiver
    server.shutdown()
    server.server_close()


@pytest.fixture
def sandbox_number(db):
    return WhatsAppNumber.objects.create(
        name="Sandbox line",
        phone_number_id="300000000000001",
        display_phone_number="15550109999",
        business_account_id="400000000000001",
        access_token=SANDBOX_TOKEN,
        app_secret=SANDBOX_SECRET,
        verify_token="v",
        api_base="http://127.0.0.1:9/sandbox/graph/v23.0",
        is_sandbox=True,
    )


@pytest.fixture
def phone(sandbox_number):
    """A customer who wrote to the business a minute ago (the window is open)."""
    return Phone.objects.create(
        number=sandbox_number,
        name="Ana Customer",
        wa_id="15551234567",
        user_id="US.1000000000000000001",
        last_sent_at=timezone.now() - timedelta(minutes=1),
    )


@pytest.fixture
def graph_post(client, sandbox_number, django_capture_on_commit_callbacks):
    """POST to the stand-in Graph as the delivery client does; tasks run after commit."""

    def post(path: str, body: Any, token: str | None = SANDBOX_TOKEN, version: str = "v23.0"):
        headers = {"HTTP_AUTHORIZATION": f"Bearer {token}"} if token else {}
        data = body if isinstance(body, str | bytes) else json.dumps(body)
        with django_capture_on_commit_callbacks(execute=True):
            return client.post(f"/sandbox/graph/{version}/{path}", data=data, content_type="application/json", **headers)

    return post
