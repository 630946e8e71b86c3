"""A listener on channel-layer groups for tests that publish from synchronous code.

The listener's channel lives in an event loop of its own, on a thread, for as long as the
test holds it: a Redis pub/sub channel exists only in the loop that subscribed it, and it
hears only what is published while it is subscribed, so it cannot be re-opened per drain.
The same listener works on the in-memory layer and on Redis lists.
"""

from __future__ import annotations

import asyncio
import queue
import threading
import time
from typing import Any

from channels.layers import get_channel_layer


class LayerListener:
    def __init__(self, groups: list[str] | tuple[str, ...] = ()) -> None:
        self.layer = get_channel_layer()
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="layer-listener", daemon=True)
        self.thread.start()
        self.received: queue.Queue[dict[str, Any]] = queue.Queue()
        self.groups: list[str] = []
        self.channel = self._call(self.layer.new_channel())
        for group in groups:
            self.add(group)
        self._tasks = self._call(self._start())

    async def _start(self) -> list[asyncio.Task]:
        # The in-memory layer's queues are not thread-safe: a message put from the publishing
        # thread wakes this loop's receive only when the loop next turns, so keep it turning.
        return [asyncio.create_task(self._pump()), asyncio.create_task(self._tick())]

    async def _stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        for group in self.groups:
            await self.layer.group_discard(group, self.channel)

    def _call(self, coroutine: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout=10)

    async def _pump(self) -> None:
        while True:
            self.received.put(await self.layer.receive(self.channel))

    @staticmethod
    async def _tick() -> None:
        while True:
            await asyncio.sleep(0.005)

    def add(self, group: str) -> None:
        self._call(self.layer.group_add(group, self.channel))
        self.groups.append(group)

    def messages(self, quiet: float = 0.2) -> list[dict[str, Any]]:
        """What arrived so far, waiting until nothing more has come for `quiet` seconds."""
        got: list[dict[str, Any]] = []
        deadline = time.monotonic() + quiet
        while True:
            try:
                got.append(self.received.get(timeout=max(0.0, deadline - time.monotonic())))
                deadline = time.monotonic() + quiet
            except queue.Empty:
                return got

    def events(self, quiet: float = 0.2) -> list[dict[str, Any]]:
        return [message["event"] for message in self.messages(quiet)]

    def close(self) -> None:
        self._call(self._stop())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=5)
        self.loop.close()  # the pub/sub layer closes this loop's Redis connections here
