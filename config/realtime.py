"""Publish desk events to channel-layer groups, only after the write commits.

Groups (design.md): ``agent.<id>``, ``team.<id>``, ``conversation.<id>``, ``supervisors``.
Consumers receive ``{"type": "desk.event", "event": {...}}`` and forward ``event`` as JSON.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
from collections.abc import Iterable
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
    new connection, for every event. Created lazily and again after a fork (prefork
    workers), so no loop crosses a process boundary."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._pid: int | None = None

    def get(self) -> asyncio.AbstractEventLoop:
        with self._lock:
            if self._loop is None or self._pid != os.getpid():
                loop = asyncio.new_event_loop()
                threading.Thread(target=loop.run_forever, name="handoff-publisher", daemon=True).start()
                self._loop, self._pid = loop, os.getpid()
            return self._loop


_publisher = _PublisherLoop()


def publish(groups: Iterable[str], event: dict[str, Any]) -> None:
    """Send `event` to each group now, in one trip to an event loop. A channel layer
    failure is logged, never raised: the websocket is a notification and the desk catches
    up from the database."""
    layer = get_channel_layer()
    if layer is None:
        return
    message = {"type": "desk.event", "event": event}
    targets = list(dict.fromkeys(groups))

    async def send_all() -> None:
        for group in targets:
            try:
                await layer.group_send(group, message)
            except Exception:
                log.exception("could not publish %s to %s", event.get("type"), group)

    if isinstance(layer, InMemoryChannelLayer):
        # The in-memory layer's queues belong to the serving loop, which async_to_sync
        # reaches from request threads.
        async_to_sync(send_all)()
        return
    future = asyncio.run_coroutine_threadsafe(send_all(), _publisher.get())
    try:
        future.result(timeout=PUBLISH_TIMEOUT_SECONDS)
    except Exception:
        future.cancel()
        log.exception("publishing %s timed out or failed", event.get("type"))


def broadcast_on_commit(groups: Iterable[str], event: dict[str, Any]) -> None:
    """Publish `event` to `groups` once the current transaction commits (never on rollback)."""
    groups = list(groups)
    transaction.on_commit(lambda: publish(groups, event))
