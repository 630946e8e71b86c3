"""The base of Handoff's websocket consumers: channel-layer events go straight to their
handler.

Channels' `AsyncConsumer.dispatch` runs `close_old_connections` in a thread before every
handler, so a handler using the ORM through plain `sync_to_async` never meets a stale
connection. For a desk event sent to a thousand sockets that is a thousand thread hops,
one after another on the single thread-sensitive executor: most of a broadcast's time.
Handoff's consumers reach the database only through `database_sync_to_async`, which
closes old connections in its own thread, so layer events (``desk.event``) skip the
extra hop; frames from the socket (connect, receive, disconnect) keep Channels' path.
"""

from __future__ import annotations

from typing import Any

from channels.consumer import get_handler_name
from channels.generic.websocket import AsyncJsonWebsocketConsumer

LAYER_EVENTS = frozenset({"desk.event"})


class SocketConsumer(AsyncJsonWebsocketConsumer):
    async def dispatch(self, message: dict[str, Any]) -> None:
        if message.get("type") in LAYER_EVENTS:
            await getattr(self, get_handler_name(message))(message)
        else:
            await super().dispatch(message)
