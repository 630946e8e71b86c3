"""Publish desk events to channel-layer groups, only after the write commits.

Groups (design.md): ``agent.<id>``, ``team.<id>``, ``conversation.<id>``, ``supervisors``.
Consumers receive ``{"type": "desk.event", "event": {...}}`` and forward ``event`` as JSON.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction

log = logging.getLogger(__name__)


def agent_group(user_id: int) -> str:
    return f"agent.{user_id}"


def team_group(team_id: int) -> str:
    return f"team.{team_id}"


def conversation_group(conversation_id: int) -> str:
    return f"conversation.{conversation_id}"


SUPERVISORS_GROUP = "supervisors"


def publish(groups: Iterable[str], event: dict[str, Any]) -> None:
    """Send `event` to each group now, in one trip to the event loop. A channel layer
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

    async_to_sync(send_all)()


def broadcast_on_commit(groups: Iterable[str], event: dict[str, Any]) -> None:
    """Publish `event` to `groups` once the current transaction commits (never on rollback)."""
    groups = list(groups)
    transaction.on_commit(lambda: publish(groups, event))
