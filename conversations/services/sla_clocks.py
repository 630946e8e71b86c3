"""SLA clocks: the due times a conversation's targets imply (business-hours aware), the
clock fields each lifecycle transition sets, the first response, and the figures reports
read (first-response and resolution times).

- First response: due at queue time plus the policy's target; met by the first agent
  reply after queueing. Every entry into a queue (a handoff, a transfer to a team, a
  reopen) and being taken straight from the bot starts a new one (`sla_clocks_started`).
- Next response: while assigned, when the customer's last message is newer than the
  agent's last reply, due at that message plus the target.

The lifecycle (conversations.services.conversations) applies these clocks; breach detection
and notification are agents.services.sla's.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from agents.models import Team
from conversations.business_hours import business_seconds_between, business_time_add
from conversations.models import Conversation, Message


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


# The clocks each lifecycle transition implies; the lifecycle applies these field values, so the
# timer rules live here only.


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
