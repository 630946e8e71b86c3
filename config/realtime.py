"""Publish desk events to channel-layer groups, only after the write commits.

Groups (design.md): ``agent.<id>``, ``team.<id>``, ``conversation.<id>``, ``supervisors``.
Consumers receive ``{"type": "desk.event", "event": {...}, "text": "<event as JSON>"}``: they
decide on ``event`` and write ``text``, so an event going to many sockets is serialised once.
"""

from __future__ import annotations

import asyncio
import atexit
import json
import logging
import os
import threading
from collections import deque
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import InMemoryChannelLayer, get_channel_layer
from django.db import transaction

log = logging.getLogger(__name__)


def agent_group(user_id: int) -> str:
    return f"agent.{user_id}"


def team_group(team_id: int) -> str:
    return f"team.{team_id}"


def conversation_group(conversation_id: int) -> str:
    return f"conversation.{conversation_id}"


SUPERVISORS_GROUP = "supervisors"


PUBLISH_TIMEOUT_SECONDS = 5.0


class _PublisherLoop:
    """One long-lived event loop per process, on its own thread, for publishing from
    synchronous code (services in Celery workers and task threads).

    Network channel layers (Redis) keep one connection pool per event loop; publishing
    through `async_to_sync` from a thread without a loop would make a new loop, and so a
    new connection, for every event. Events are handed over and sent one after another
    in the order they were handed over, so the caller never waits on the layer's round
    trips. Created lazily and again after a fork (prefork workers), so no loop crosses a
    process boundary."""

    MAX_PENDING = 10_000

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._pid: int | None = None
        self._pending: deque[Callable[[], Awaitable[None]]] = deque()
        self._draining = False

    def get(self) -> asyncio.AbstractEventLoop:
        with self._lock:
            if self._loop is None or self._pid != os.getpid():
                loop = asyncio.new_event_loop()
                threading.Thread(target=loop.run_forever, name="handoff-realtime", daemon=True).start()
                self._loop, self._pid = loop, os.getpid()
                self._pending, self._draining = deque(), False
            return self._loop

    def submit(self, send: Callable[[], Awaitable[None]]) -> None:
        """Queue `send()` to run on the loop after everything queued before it; dropped,
        with an error logged, while MAX_PENDING events wait (the layer is down)."""
        self.get()
        if len(self._pending) >= self.MAX_PENDING:
            log.error("desk events are not going out (%d waiting); this one is dropped", len(self._pending))
            return
        self._enqueue(send)

    def _enqueue(self, send: Callable[[], Awaitable[None]]) -> None:
        loop = self.get()
        self._pending.append(send)
        loop.call_soon_threadsafe(self._wake)

    def _wake(self) -> None:
        if not self._draining:
            self._draining = True
            asyncio.get_running_loop().create_task(self._drain())

    async def _drain(self) -> None:
        try:
            while self._pending:
                send = self._pending.popleft()
                try:
                    await asyncio.wait_for(send(), PUBLISH_TIMEOUT_SECONDS)
                except Exception:
                    log.exception("publishing a desk event timed out or failed")
        finally:
            self._draining = False

    def flush(self, timeout: float = 5.0) -> bool:
        """Wait until everything queued so far has been sent (or has failed)."""
        with self._lock:
            if self._loop is None or self._pid != os.getpid():
                return True
        done = threading.Event()

        async def mark() -> None:
            done.set()

        self._enqueue(mark)  # never dropped: it only marks a place in the queue
        return done.wait(timeout)


_publisher = _PublisherLoop()
atexit.register(_publisher.flush, 2.0)
flush = _publisher.flush


def _server_loop() -> asyncio.AbstractEventLoop | None:
    """The event loop of the ASGI server this thread was called from (via sync_to_async),
    as asgiref records it for async_to_sync; None in other threads."""
    from asgiref.sync import SyncToAsync

    local = SyncToAsync.threadlocal
    if getattr(local, "main_event_loop_pid", None) != os.getpid():
        return None
    return getattr(local, "main_event_loop", None)


def desk_message(event: dict[str, Any]) -> dict[str, Any]:
    """The channel-layer message for a desk event, with its JSON text made once for every socket."""
    return {"type": "desk.event", "event": event, "text": json.dumps(event)}


def publish(groups: Iterable[str], event: dict[str, Any]) -> None:
    """Send `event` to each group. A channel layer failure is logged, never raised: the
    websocket is a notification and the desk catches up from the database.

    From a request thread with the in-memory layer: now, on the serving loop. Elsewhere:
    handed to the process's publishing loop, which sends events in the order published
    (`flush()` waits for them)."""
    layer = get_channel_layer()
    if layer is None:
        return
    message = desk_message(event)
    targets = list(dict.fromkeys(groups))

    async def send_all() -> None:
        for group in targets:
            try:
                await layer.group_send(group, message)
            except Exception:
                log.exception("could not publish %s to %s", event.get("type"), group)

    if isinstance(layer, InMemoryChannelLayer) and _server_loop() is not None:
        # The in-memory layer's queues belong to the serving loop, which async_to_sync
        # reaches from request threads.
        async_to_sync(send_all)()
        return
    _publisher.submit(send_all)


def broadcast_on_commit(groups: Iterable[str], event: dict[str, Any]) -> None:
    """Publish `event` to `groups` once the current transaction commits (never on rollback)."""
    groups = list(groups)
    transaction.on_commit(lambda: publish(groups, event))
