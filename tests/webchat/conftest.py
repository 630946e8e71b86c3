"""Web chat fixtures: an inbox allowing one site, visitor sessions through the real HTTP
calls, and visitor sockets on the real ASGI application."""

from __future__ import annotations

import json
from typing import Any

import pytest
from channels.testing import WebsocketCommunicator
from django.test import Client

from config.asgi import application
from conversations.models import WebChatInbox

SITE = "https://shop.example"
FOREIGN = "https://evil.example"
OWN_ORIGIN = b"http://testserver"


@pytest.fixture
def inbox(db, number, team):
    return WebChatInbox.objects.create(
        name="Shop", number=number, team=team, allowed_origins=f"{SITE}\nhttps://www.shop.example",
        identity_secret="s3cret", consent_text="",
    )


def visitor_call(inbox: WebChatInbox, path: str, body: dict, *, origin: str | None = "http://testserver"):
    headers: dict[str, Any] = {"HTTP_ORIGIN": origin} if origin else {}
    return Client().post(
        f"/webchat/{inbox.key}/{path}/", data=json.dumps(body), content_type="application/json", **headers
    )


def new_visitor(inbox: WebChatInbox, *, name: str = "Ann", email: str = "ann@example.com") -> str:
    """A visitor who filled in the pre-chat form; returns their token."""
    response = visitor_call(inbox, "session", {"origin": SITE})
    assert response.status_code == 200, response.content
    token = response.json()["token"]
    response = visitor_call(inbox, "prechat", {"token": token, "name": name, "email": email})
    assert response.status_code == 200, response.content
    return response.json()["token"]


def visitor_socket(inbox: WebChatInbox, token: str, *, origin: bytes | None = OWN_ORIGIN, after: int = 0,
                   key: str | None = None):
    headers = [(b"host", b"testserver")]
    if origin is not None:
        headers.append((b"origin", origin))
    path = f"/ws/webchat/{key or inbox.key}/?token={token}&after={after}"
    return WebsocketCommunicator(application, path, headers=headers)


async def open_visitor(inbox: WebChatInbox, token: str, **kwargs):
    socket = visitor_socket(inbox, token, **kwargs)
    connected, code = await socket.connect()
    assert connected, code
    hello = await socket.receive_json_from(timeout=3)
    assert hello["type"] == "hello"
    socket.hello = hello
    return socket


async def next_of(socket, kind: str, timeout: float = 3, **match):
    """The next frame of type `kind` (whose `message` has the fields in `match`), skipping
    others: tasks run inline in tests, so a bot's answer may arrive before the echo."""
    while True:
        frame = await socket.receive_json_from(timeout=timeout)
        if frame.get("type") == kind and all(frame.get("message", {}).get(k) == v for k, v in match.items()):
            return frame


async def drain(socket, timeout: float = 1.0) -> list[dict]:
    """Every frame that arrives until the socket is quiet for `timeout`."""
    frames = []
    while not await socket.receive_nothing(timeout=timeout):
        frames.append(await socket.receive_json_from(timeout=timeout))
    return frames
