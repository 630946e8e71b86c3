"""The body-size cap on the webhook, through the real ASGI application: declared or
actual bodies over the cap, and bodies longer than their declared length, get 413
without being read in full; bodies under the cap reach the endpoint intact."""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest
from asgiref.sync import sync_to_async

from config.asgi import application
from conversations.models import Message, WebhookEvent
from tests.support import intake as intake_support
from tests.support import webhooks

# Shared fixtures of the intake tests.
fresh_secrets = intake_support.fresh_secrets

PATH = "/webhooks/whatsapp/"


class RawCall:
    """One HTTP request straight into the ASGI app, body in chunks; records how many
    chunks the app asked for and what it answered."""

    def __init__(self, chunks: list[bytes], headers: list[tuple[bytes, bytes]]):
        self.chunks = list(chunks)
        self.headers = headers
        self.received = 0
        self.sent: list[dict] = []

    async def run(self) -> int:
        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": "POST",
            "scheme": "http",
            "path": PATH,
            "raw_path": PATH.encode(),
            "query_string": b"",
            "root_path": "",
            "headers": [(b"host", b"testserver"), *self.headers],
            "client": ("127.0.0.1", 50000),
            "server": ("testserver", 80),
        }

        async def receive():
            if self.received >= len(self.chunks):
                # Like a server: nothing more until the client goes away, which it does not.
                await asyncio.Event().wait()
            chunk = self.chunks[self.received]
            self.received += 1
            return {"type": "http.request", "body": chunk, "more_body": self.received < len(self.chunks)}

        async def send(message):
            self.sent.append(message)

        await application(scope, receive, send)
        return self.sent[0]["status"]


@pytest.fixture
def small_cap(settings):
    settings.WEBHOOK_MAX_BODY_BYTES = 1000
    return 1000


async def test_declared_length_over_the_cap_is_refused_before_reading(small_cap):
    call = RawCall([b"x" * 600, b"x" * 600], [(b"content-length", b"1200")])

    assert await call.run() == 413
    assert call.received == 0


async def test_body_longer_than_its_declared_length_is_refused_unread(small_cap):
    call = RawCall([b"x" * 60, b"x" * 60, b"x" * 60, b"x" * 60], [(b"content-length", b"100")])

    assert await call.run() == 413
    assert call.received == 2


async def test_undeclared_body_growing_past_the_cap_is_refused_unread(small_cap):
    call = RawCall([b"x" * 400] * 5, [(b"transfer-encoding", b"chunked")])

    assert await call.run() == 413
    assert call.received == 3


async def test_invalid_content_length_is_a_bad_request(small_cap):
    call = RawCall([b"{}"], [(b"content-length", b"ten")])

    assert await call.run() == 400


async def test_three_megabytes_and_one_byte_get_413_through_an_http_client():
    body = b"x" * (3 * 1024 * 1024 + 1)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=application), base_url="http://testserver") as client:
        response = await client.post(PATH, content=body, headers={"X-Hub-Signature-256": webhooks.sign(body)})

    assert response.status_code == 413


@pytest.mark.django_db(transaction=True)
async def test_signed_body_under_the_cap_arrives_in_chunks_intact(small_cap, number):
    body = json.dumps(webhooks.text_payload("in pieces"), separators=(",", ":")).encode()
    assert len(body) < small_cap
    pieces = [body[i : i + 100] for i in range(0, len(body), 100)]
    call = RawCall(pieces, [(b"content-type", b"application/json"), (b"x-hub-signature-256", webhooks.sign(body).encode())])

    assert await call.run() == 200

    event = await sync_to_async(WebhookEvent.objects.get)()
    assert bytes(event.body) == body


@pytest.mark.django_db(transaction=True)
async def test_large_signed_body_under_three_megabytes_is_accepted(number):
    payload = webhooks.text_payload("big envelope")
    payload["padding"] = "p" * (2_900_000)
    body = json.dumps(payload).encode()
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=application), base_url="http://testserver") as client:
        response = await client.post(PATH, content=body, headers={"X-Hub-Signature-256": webhooks.sign(body)})

    assert response.status_code == 200
    assert await sync_to_async(Message.objects.filter(direction="in", text="big envelope").exists)()
