"""The base of Handoff's websocket consumers: channel-layer events go straight to their
handler, and an idle socket can take a group event without a task round
(`config.fanout`).

Channels' `AsyncConsumer.dispatch` runs `close_old_connections` in a thread before every
handler, so a handler using the ORM through plain `sync_to_async` never meets a stale
connection. For a desk event sent to a thousand sockets that is a thousand thread hops,
one after another on the single thread-sensitive executor: most of a broadcast's time.
Handoff's consumers reach the database only through `database_sync_to_async`, which
closes old connections in its own thread, so layer events (``desk.event``) skip the
extra hop; frames from the socket (connect, receive, disconnect) keep Channels' path.

`receive_now(receiver)` registers a synchronous receiver for the consumer's channel with
the channel layer, when both the layer (`config.fanout`) and the server
(`config.server.HandoffServer`'s ``handoff.send_now``) offer it; `write_now(text)` writes
a frame through the server at once. While the consumer handles any message the receiver
is not asked (`idle` is False), so events and the consumer's own frames keep their order.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from channels.consumer import get_handler_name
from channels.generic.websocket import AsyncJsonWebsocketConsumer

from config.fanout import SEND_NOW

LAYER_EVENTS = frozenset({"desk.event"})


class SocketConsumer(AsyncJsonWebsocketConsumer):
    handling = 0
    receiving_now = False

    async def __call__(self, scope, receive, send):
        try:
            await super().__call__(scope, receive, send)
        finally:
            self.receive_now_stop()

    async def dispatch(self, message: dict[str, Any]) -> None:
        self.handling += 1
        if self.receiving_now:
            self.channel_layer.fanout.dispatching(self.channel_name)
        try:
            if message.get("type") in LAYER_EVENTS:
                await getattr(self, get_handler_name(message))(message)
            else:
                await super().dispatch(message)
        finally:
            self.handling -= 1

    @property
    def idle(self) -> bool:
        return not self.handling

    def receive_now(self, receiver: Callable[[dict[str, Any]], bool]) -> bool:
        """Have the layer offer group events to `receiver` (see the module docstring);
        False when the layer or the server does not offer it."""
        send_now = (self.scope.get("extensions") or {}).get(SEND_NOW)
        fanout = getattr(self.channel_layer, "fanout", None)
        if send_now is None or fanout is None:
            return False
        self._send_now = send_now
        fanout.register(self.channel_name, receiver)
        self.receiving_now = True
        return True

    def receive_now_stop(self) -> None:
        if self.receiving_now:
            self.receiving_now = False
            self.channel_layer.fanout.unregister(self.channel_name)

    def write_now(self, text: str) -> bool:
        """Write a text frame at once; False when the socket is closing or gone."""
        return self._send_now(text)
