"""Queues as the desk sees them: which conversations wait in a team's queue (or the "any
online agent" pool) and the `queue.updated` event with the queue's length.

Read by the assignment engine (agents.services.routing) and published by the conversation
lifecycle (conversations.services.conversations) as conversations enter and leave queues.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from django.db import DatabaseError, transaction
from django.db.models import Q, QuerySet

from config.commit_hooks import hook_pending
from config.realtime import SUPERVISORS_GROUP, publish, team_group
from conversations.models import Conversation

log = logging.getLogger(__name__)


def queued_in_pool(team_id: int | None) -> QuerySet[Conversation]:
    """The queue of a team (`team_id`), or the "any online agent" pool (`None`): queued,
    not on hold, in queue order."""
    qs = Conversation.objects.filter(status=Conversation.Status.QUEUED, on_hold=False)
    if team_id is None:
        qs = qs.filter(Q(team__isnull=True) | Q(routing__any_agent=True))
    else:
        qs = qs.filter(team_id=team_id).filter(Q(routing__isnull=True) | Q(routing__any_agent=False))
    return qs.order_by("-priority", "queued_at", "id")


_PENDING = "_handoff_queue_counts"


def queue_updated_broadcast(team_id: int | None) -> None:
    """Publish `queue.updated` with the queue's length to the team and supervisors after
    commit (counted at commit time): once per queue per transaction, however many
    conversations of it the transaction moved (an assignment batch moves fifty). A count
    asked for inside a savepoint that rolls back goes with it, like any commit hook."""
    connection = transaction.get_connection()
    waiting: dict[int | None, Callable[[], None]] = getattr(connection, _PENDING, None) or {}
    hook = waiting.get(team_id)
    if hook is not None and hook_pending(hook):
        return
    groups = [SUPERVISORS_GROUP] + ([team_group(team_id)] if team_id is not None else [])

    def send() -> None:
        waiting.pop(team_id, None)
        try:
            queued = queued_in_pool(team_id).count()
        except DatabaseError:  # the websocket is a notification; the desk re-reads on reconnect
            log.warning("queue.updated for team %s not sent: database busy", team_id)
            return
        publish(groups, {"type": "queue.updated", "team": team_id, "queued": queued})

    waiting[team_id] = send
    setattr(connection, _PENDING, waiting)
    transaction.on_commit(send)
