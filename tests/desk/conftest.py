"""Helpers for desk tests: websocket clients on the real ASGI application, authenticated
with a real session cookie, and events published the way services publish them."""

from __future__ import annotations

import pytest
from channels.layers import get_channel_layer
from channels.testing import WebsocketCommunicator
from django.conf import settings
from django.test import Client

from config.asgi import application

ALLOWED_ORIGIN = b"http://testserver"


def session_cookie(user) -> str:
    client = Client()
    client.force_login(user)
    return client.cookies[settings.SESSION_COOKIE_NAME].value


def desk_socket(cookie: str | None = None, origin: bytes | None = ALLOWED_ORIGIN) -> WebsocketCommunicator:
    headers = []
    if origin is not None:
        headers.append((b"origin", origin))
    if cookie is not None:
        headers.append((b"cookie", f"{settings.SESSION_COOKIE_NAME}={cookie}".encode()))
    return WebsocketCommunicator(application, "/ws/desk/", headers=headers)


async def open_desk(cookie: str) -> WebsocketCommunicator:
    """Connect and consume the hello frame."""
    socket = desk_socket(cookie)
    connected, _ = await socket.connect()
    assert connected
    hello = await socket.receive_json_from(timeout=3)
    assert hello["type"] == "hello"
    socket.hello = hello
    return socket


async def publish(group: str, event: dict) -> None:
    await get_channel_layer().group_send(group, {"type": "desk.event", "event": event})


@pytest.fixture
def cookies(agent, teammate, outsider, supervisor):
    return {
        "agent": session_cookie(agent),
        "teammate": session_cookie(teammate),
        "outsider": session_cookie(outsider),
        "supervisor": session_cookie(supervisor),
    }
