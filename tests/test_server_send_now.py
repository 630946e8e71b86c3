"""The server's synchronous websocket write (`HandoffServer`, scope extension
``handoff.send_now``): offered to websocket applications only, writing a text frame on
an open socket at once, and refusing a socket that is closing or gone."""

from __future__ import annotations

from daphne.ws_protocol import WebSocketProtocol

from config.fanout import SEND_NOW
from config.server import HandoffServer


class Protocol:
    STATE_OPEN = WebSocketProtocol.STATE_OPEN

    def __init__(self, state: int = WebSocketProtocol.STATE_OPEN) -> None:
        self.state = state
        self.frames: list[tuple[str, bool]] = []

    def serverSend(self, content, binary=False):  # noqa: N802 - daphne's name
        self.frames.append((content, binary))


async def _scope_given(scope_type: str) -> tuple[HandoffServer, Protocol, dict]:
    seen: dict = {}

    async def application(scope, receive, send):
        seen.update(scope)

    server = HandoffServer(application=application, endpoints=["tcp:port=0:interface=127.0.0.1"])
    protocol = Protocol()
    server.connections = {protocol: {}}
    server.create_application(protocol, {"type": scope_type, "path": "/ws/desk/"})
    await server.connections[protocol]["application_instance"]
    return server, protocol, seen


async def test_a_websocket_scope_carries_a_write_that_sends_at_once():
    server, protocol, scope = await _scope_given("websocket")

    assert scope["extensions"][SEND_NOW]('{"type": "queue.updated"}') is True
    assert protocol.frames == [('{"type": "queue.updated"}', False)]


async def test_an_http_scope_gets_no_such_write():
    _server, _protocol, scope = await _scope_given("http")

    assert SEND_NOW not in (scope.get("extensions") or {})


def test_a_closing_or_gone_socket_is_refused():
    server = HandoffServer(application=None, endpoints=["tcp:port=0:interface=127.0.0.1"])
    closing, gone, disconnected = Protocol(WebSocketProtocol.STATE_CLOSING), Protocol(), Protocol()
    server.connections = {closing: {}, disconnected: {"disconnected": True}}

    assert [server.send_now(p, "x") for p in (closing, gone, disconnected)] == [False, False, False]
    assert closing.frames == gone.frames == disconnected.frames == []

