"""Channel layers that hand a group event straight to the process's own sockets.

A channel layer delivers a group event to each member channel's queue; each socket's
consumer then wakes, takes it off, decodes it and sends it through the ASGI chain, one
task round per socket. For a desk event going to a thousand sockets that round, not
the write, is most of a broadcast's time. Here a socket that is idle can take the event
at once instead: its consumer registers a synchronous receiver for its channel
(`fanout.register`), and the layer calls it with the event, decoded once for all
sockets of the process. The receiver answers True when it has dealt with the event
(written it to its socket, or decided it does not go there), False to have it queued
as before (an event that needs the database, or a socket not ready).

Order is kept per socket: the receiver is not even asked while the channel's queue
holds anything, while a message taken off the queue waits to be dispatched
(`LocalFanout.held`) or while the consumer is handling a message (the consumer's own
check); so no event overtakes one that came before it. Receivers share the decoded
event and must not change it.

`FanoutPubSubChannelLayer` is channels_redis's pub/sub layer (production);
`FanoutInMemoryChannelLayer` is Channels' in-process layer (the embedded server). Both
behave exactly as their bases for channels without a receiver.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import Any

from channels.exceptions import ChannelFull
from channels.layers import InMemoryChannelLayer
from channels_redis.pubsub import RedisPubSubChannelLayer

log = logging.getLogger(__name__)

Receiver = Callable[[dict[str, Any]], bool]

# The scope extension under which `config.server.HandoffServer` offers a websocket's
# synchronous write: `send_now(text) -> bool`.
SEND_NOW = "handoff.send_now"


class LocalFanout:
    """The receivers registered in one process (per event loop), and which of their
    channels have a message taken off the queue and not yet dispatched."""

    def __init__(self) -> None:
        self.receivers: dict[str, Receiver] = {}
        self.held: set[str] = set()

    def register(self, channel: str, receiver: Receiver) -> None:
        self.receivers[channel] = receiver

    def unregister(self, channel: str) -> None:
        self.receivers.pop(channel, None)
        self.held.discard(channel)

    def taken(self, channel: str) -> None:
        """A message of `channel` left its queue for the consumer (dispatched next)."""
        if channel in self.receivers:
            self.held.add(channel)

    def dispatching(self, channel: str) -> None:
        """The consumer of `channel` starts handling a message (it now guards the order)."""
        self.held.discard(channel)

    def offer(self, channel: str, queued: int, message: Callable[[], dict[str, Any]]) -> bool:
        """Whether `channel`'s receiver dealt with the message (built by `message()` only
        when asked); False when it has none, its channel has messages before this one, or
        it declined."""
        receiver = self.receivers.get(channel)
        if receiver is None or queued or channel in self.held:
            return False
        try:
            return receiver(message())
        except Exception:
            log.exception("socket receiver for %s failed; the event is queued", channel)
            return False


class FanoutInMemoryChannelLayer(InMemoryChannelLayer):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fanout = LocalFanout()

    async def send(self, channel: str, message: dict[str, Any]) -> None:
        queue = self.channels.get(channel)
        if not self.fanout.offer(channel, queue.qsize() if queue is not None else 0, lambda: message):
            await super().send(channel, message)

    async def receive(self, channel: str) -> dict[str, Any]:
        message = await super().receive(channel)
        self.fanout.taken(channel)
        return message

    async def group_send(self, group: str, message: dict[str, Any]) -> None:
        # Channels' own version starts a task per member; `send` never waits, so the
        # members are served in turn.
        assert isinstance(message, dict), "Message is not a dict"  # noqa: S101 - Channels' own check
        self.require_valid_group_name(group)
        self._clean_expired()
        for channel in list(self.groups.get(group, {})):
            try:
                await self.send(channel, message)
            except ChannelFull:  # that socket misses it, as in Channels
                log.debug("group %s: channel %s is full", group, channel)

    async def flush(self) -> None:
        await super().flush()
        self.fanout = LocalFanout()


def _pubsub_receive_message(loop_layer: Any, fanout: LocalFanout, message: dict[str, Any] | None) -> None:
    """channels_redis's `RedisSingleShardConnection._receive_message`, offering the
    event to each local channel's receiver before its queue; decoded once."""
    if message is None:
        return
    name, data = message["channel"], message["data"]
    if isinstance(name, bytes):
        name = name.decode()
    queues = loop_layer.channels
    targets = (name,) if name in queues else tuple(loop_layer.groups.get(name, ()))
    decoded: list[dict[str, Any]] = []

    def event() -> dict[str, Any]:
        if not decoded:
            decoded.append(loop_layer.channel_layer.deserialize(data))
        return decoded[0]

    for channel in targets:
        queue = queues.get(channel)
        if queue is not None and not fanout.offer(channel, queue.qsize(), event):
            queue.put_nowait(data)


class FanoutPubSubChannelLayer(RedisPubSubChannelLayer):
    def _get_layer(self) -> Any:
        layer = super()._get_layer()
        if getattr(layer, "fanout", None) is None:
            layer.fanout = LocalFanout()
            for shard in layer._shards:
                shard._receive_message = functools.partial(_pubsub_receive_message, layer, layer.fanout)
            receive = layer.receive

            async def receive_and_mark(channel: str) -> dict[str, Any]:
                received = await receive(channel)
                layer.fanout.taken(channel)
                return received

            layer.receive = receive_and_mark
        return layer

    @property
    def fanout(self) -> LocalFanout:
        """The registry of the running event loop's layer."""
        return self._get_layer().fanout
