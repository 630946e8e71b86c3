"""SLA breaches: the sweep that starts and stops next-response clocks and records every
missed target. Due times and the clocks the lifecycle sets are
conversations.services.sla_clocks'.

A breach is stored once per conversation, kind and due time (`SlaBreach`), marks the
conversation (`sla_breached_at`, first breach), records an event and publishes
`sla.breached` to the supervisors group.
"""

from __future__ import annotations

from datetime import datetime

from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.utils import timezone

from agents.models import SlaBreach
from config.realtime import SUPERVISORS_GROUP, agent_group, broadcast_on_commit, team_group
from conversations.models import Conversation
from conversations.services.sla_clocks import first_response_record, next_response_due
from conversations.services.timeline import conversation_event_record

OPEN_STATUSES = (Conversation.Status.QUEUED, Conversation.Status.ASSIGNED)


def _breach_record(*, conversation: Conversation, kind: str, due: datetime) -> bool:
    now = timezone.now()
    try:
        with transaction.atomic():
            SlaBreach.objects.create(
                conversation=conversation, team=conversation.team, kind=kind, due_at=due, breached_at=now
            )
            Conversation.objects.filter(pk=conversation.pk, sla_breached_at__isnull=True).update(sla_breached_at=now)
            conversation_event_record(
                conversation=conversation,
                kind="sla.breached",
                reason=f"{SlaBreach.Kind(kind).label} target missed",
                data={"sla": kind, "due_at": due.isoformat()},
            )
            event = {
                "type": "sla.breached",
                "conversation": conversation.pk,
                "team": conversation.team_id,
                "assignee": conversation.assignee_id,
                "sla": kind,
                "due_at": due.isoformat(),
                "breached_at": now.isoformat(),
            }
            groups = [SUPERVISORS_GROUP]
            if conversation.team_id is not None:
                groups.append(team_group(conversation.team_id))
            if conversation.assignee_id is not None:
                groups.append(agent_group(conversation.assignee_id))
            broadcast_on_commit(groups, event)
    except IntegrityError:
        return False
    return True


def sla_sweep(*, now: datetime | None = None) -> int:
    """Set next-response due times for customers waiting on an agent, clear them once the
    agent replied, and record every missed target once. Returns breaches recorded."""
    now = now or timezone.now()
    breaches = 0

    # Next-response clocks: start when the customer is waiting on the assignee.
    waiting = Conversation.objects.filter(
        status=Conversation.Status.ASSIGNED,
        on_hold=False,
        team__sla_policy__isnull=False,
        last_customer_message_at__isnull=False,
        next_response_due_at__isnull=True,
        first_response_at__isnull=False,
    ).filter(Q(last_agent_message_at__isnull=True) | Q(last_customer_message_at__gt=F("last_agent_message_at")))
    for conversation in waiting.select_related("team__sla_policy"):
        if conversation.last_customer_message_at is None:
            continue
        due = next_response_due(team=conversation.team, customer_at=conversation.last_customer_message_at)
        Conversation.objects.filter(pk=conversation.pk, next_response_due_at__isnull=True).update(
            next_response_due_at=due
        )
    Conversation.objects.filter(
        next_response_due_at__isnull=False, last_agent_message_at__gte=F("last_customer_message_at")
    ).update(next_response_due_at=None)

    # First response.
    overdue_first = Conversation.objects.filter(
        status__in=OPEN_STATUSES, first_response_at__isnull=True, first_response_due_at__lte=now
    ).select_related("team")
    for conversation in overdue_first:
        first_due = conversation.first_response_due_at
        if first_due is None:
            continue
        first_response_record(conversation=conversation)
        answered = conversation.first_response_at
        if answered is not None and answered <= first_due:
            continue
        # Unanswered past the due time, or answered late: a breach either way.
        breaches += _breach_record(conversation=conversation, kind=SlaBreach.Kind.FIRST_RESPONSE, due=first_due)

    # Next response.
    overdue_next = Conversation.objects.filter(
        status=Conversation.Status.ASSIGNED, next_response_due_at__lte=now
    ).select_related("team")
    for conversation in overdue_next:
        next_due = conversation.next_response_due_at
        if next_due is not None:
            breaches += _breach_record(conversation=conversation, kind=SlaBreach.Kind.NEXT_RESPONSE, due=next_due)
    return breaches
