"""SLA timers: due times (business-hours aware), breach detection and notification, and
the figures reports read (first-response and resolution times).

- First response: due at queue time plus the policy's target; met by the first agent
  reply after queueing. Every entry into a queue (a handoff, a transfer to a team, a
  reopen) and being taken straight from the bot starts a new one (`sla_clocks_started`).
- Next response: while assigned, when the customer's last message is newer than the
  agent's last reply, due at that message plus the target.
A breach is stored once per conversation, kind and due time (`SlaBreach`), marks the
conversation (`sla_breached_at`, first breach), records an event and publishes
`sla.breached` to the supervisors group.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.utils import timezone

from agents.hours import business_seconds_between, business_time_add
from agents.models import SlaBreach, Team
from config.realtime import SUPERVISORS_GROUP, agent_group, broadcast_on_commit, team_group
from conversations.models import Conversation, Message
from conversations.services.timeline import conversation_event_record

OPEN_STATUSES = (Conversation.Status.QUEUED, Conversation.Status.ASSIGNED)


def due_at(*, team: Team, start: datetime, seconds: int) -> datetime | None:
    policy = team.sla_policy
    if policy is None:
        return None
    if policy.business_hours_only:
        return business_time_add(team=team, start=start, seconds=seconds)
    return start + timedelta(seconds=seconds)


def first_response_due(*, team: Team | None, queued_at: datetime) -> datetime | None:
    if team is None or team.sla_policy is None:
        return None
    return due_at(team=team, start=queued_at, seconds=team.sla_policy.first_response_seconds)


def next_response_due(*, team: Team | None, customer_at: datetime) -> datetime | None:
    if team is None or team.sla_policy is None:
        return None
    return due_at(team=team, start=customer_at, seconds=team.sla_policy.next_response_seconds)


# The clocks each lifecycle transition implies; conversations.services.conversations applies these field
# values, so the timer rules live here only.


def sla_clocks_started(*, team: Team | None, at: datetime) -> dict[str, datetime | None]:
    """Entering a queue (or being taken straight from the bot) at `at` starts a new
    first-response clock, due at `at` plus the team's target and met by the first agent
    reply after it; a next-response clock still running stops."""
    return {
        "first_response_at": None,
        "first_response_due_at": first_response_due(team=team, queued_at=at),
        "next_response_due_at": None,
    }


def sla_clocks_on_assign(conversation: Conversation, *, at: datetime) -> dict[str, datetime | None]:
    """An assignment starts the first-response clock from the queue time only when none
    runs and none was met yet."""
    if conversation.first_response_due_at is not None or conversation.first_response_at is not None:
        return {}
    return {"first_response_due_at": first_response_due(team=conversation.team, queued_at=conversation.queued_at or at)}


def sla_clocks_stopped() -> dict[str, datetime | None]:
    """Back with the bot: no agent target runs (what was met stays for reports)."""
    return {"first_response_due_at": None, "next_response_due_at": None}


def sla_clocks_cleared() -> dict[str, datetime | None]:
    """Reopened to the bot: a new episode in which nothing has been measured yet."""
    return {"first_response_at": None, "first_response_due_at": None, "next_response_due_at": None}


def sla_clocks_on_resolve() -> dict[str, datetime | None]:
    """Resolved: the next-response clock stops; the first-response figures stay for reports."""
    return {"next_response_due_at": None}


def response_times(conversation: Conversation) -> dict[str, Any]:
    """Figures for reports: seconds to first response and to resolution (wall clock and
    business hours), when known."""
    team = conversation.team
    result: dict[str, Any] = {}
    if conversation.queued_at and conversation.first_response_at:
        result["first_response_seconds"] = (conversation.first_response_at - conversation.queued_at).total_seconds()
        if team is not None:
            result["first_response_business_seconds"] = business_seconds_between(
                team=team, start=conversation.queued_at, end=conversation.first_response_at
            )
    if conversation.queued_at and conversation.resolved_at:
        result["resolution_seconds"] = (conversation.resolved_at - conversation.queued_at).total_seconds()
    return result


def _first_agent_reply_at(conversation: Conversation) -> datetime | None:
    since = conversation.queued_at or conversation.created_at
    return (
        Message.objects.filter(
            conversation=conversation,
            direction=Message.Direction.OUTBOUND,
            sender_kind=Message.SenderKind.AGENT,
            internal=False,
            created_at__gte=since,
        )
        .order_by("created_at")
        .values_list("created_at", flat=True)
        .first()
    )


def first_response_record(*, conversation: Conversation) -> None:
    """Fill `first_response_at` from the first agent reply after queueing, when the sending
    side has not already (compare-and-set: the first writer wins)."""
    if conversation.first_response_at is not None:
        return
    replied = _first_agent_reply_at(conversation)
    if replied is not None:
        Conversation.objects.filter(pk=conversation.pk, first_response_at__isnull=True).update(
            first_response_at=replied
        )
        conversation.first_response_at = replied


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
