"""Queues: which conversations wait in a team's queue (or the "any online agent" pool),
the `queue.updated` event, and a queued conversation's routing row.

Shared by the assignment engine (agents.services.routing), which reads queues, and the
conversation lifecycle (conversations.services.conversations), which moves conversations in and out
of them; neither imports the other for these.
"""

from __future__ import annotations

import logging
from datetime import datetime

from django.db import DatabaseError, transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from agents.models import ConversationRouting, Team
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


def queue_updated_broadcast(team_id: int | None) -> None:
    """Publish `queue.updated` with the queue's length to the team and supervisors after
    commit (counted at commit time)."""
    groups = [SUPERVISORS_GROUP] + ([team_group(team_id)] if team_id is not None else [])

    def send() -> None:
        try:
            queued = queued_in_pool(team_id).count()
        except DatabaseError:  # the websocket is a notification; the desk re-reads on reconnect
            log.warning("queue.updated for team %s not sent: database busy", team_id)
            return
        publish(groups, {"type": "queue.updated", "team": team_id, "queued": queued})

    transaction.on_commit(send)


def routing_reset(*, conversation: Conversation, team: Team | None, reason: str = "", at: datetime | None = None) -> None:
    """Start the conversation's overflow list afresh at `team` (inside the caller's transaction)."""
    ConversationRouting.objects.update_or_create(
        conversation=conversation,
        defaults={
            "home_team": team,
            "overflow_step": 0,
            "step_entered_at": at or timezone.now(),
            "any_agent": False,
            "reason": reason,
        },
    )
