"""Helpers for desk tests: websocket clients on the real ASGI application, authenticated
with a real session cookie, and events published the way services publish them.

Sockets are opened as Channels' test client opens them (events go through the consumer's
queue), or, under the `socket_writes` fixture's "now" case, with the synchronous write
that `config.server.HandoffServer` offers, so idle sockets take events straight from the
layer (`config.fanout`); that write lands in the same output queue, in order."""

from __future__ import annotations

import pytest
from channels.layers import get_channel_layer
from channels.testing import WebsocketCommunicator
from django.conf import settings
from django.test import Client

from config.asgi import application
from config.fanout import SEND_NOW

ALLOWED_ORIGIN = b"http://testserver"
WRITES = {"now": False}


@pytest.fixture(params=["queued", "now"])
def socket_writes(request):
    """Run the test with sockets as the test client opens them and with server writes."""
    WRITES["now"] = request.param == "now"
    yield request.param
    WRITES["now"] = False


@pytest.fixture
def writes_now():
    """Open every socket of the test with the server's synchronous write."""
    WRITES["now"] = True
    yield
    WRITES["now"] = False


def with_send_now(socket: WebsocketCommunicator) -> WebsocketCommunicator:
    """Offer the socket HandoffServer's synchronous write, landing where `send` lands."""
    written = []

    def send_now(text: str) -> bool:
        written.append(text)
        socket.output_queue.put_nowait({"type": "websocket.send", "text": text})
        return True

    socket.scope["extensions"] = {SEND_NOW: send_now}
    socket.written_now = written
    return socket


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
    socket = WebsocketCommunicator(application, "/ws/desk/", headers=headers)
    return with_send_now(socket) if WRITES["now"] else socket


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
