"""The conversation lifecycle: the one module that changes a conversation's status.

Status: `bot` → `queued` → `assigned` → `resolved` (design.md), with hold and unhold
while assigned, transfers, handing back to the bot and reopening. Each transition here
- requires the conversation's row lock, taken by the caller inside its transaction
  (callers decide who may do what: agents.services.desk_actions for desk actions, agents.services.routing for
  whom to assign, agents.services.conference for take-overs, conversations.services.message_receive for
  customers, agents.services.overflow for timeouts, bots through agents.services.routing.conversation_enqueue);
- sets every field the transition implies, and only those (below);
- records one `ConversationEvent` (kind, who, when, why);
- publishes the conversation once on commit (`events.publish_conversation` merges every
  publish of a transaction), also to whoever the transition took it from, and runs the
  queue and agent consequences: `queue.updated`, drains, `agent.updated` for agents whose
  load changed and a drain for agents with room again.

| transition | from → to | fields |
| --- | --- | --- |
| `conversation_start` | (new) → bot | number, contact, channel, team (when an agent starts it, or a web chat inbox's), created and activity times |
| `conversation_queue` | bot, queued, assigned → queued | team, priority, skills, language, `queued_at`; no assignee, not on hold; SLA clocks started; routing row reset; the owner's participation ends |
| `conversation_assign` | bot, queued, assigned → assigned | assignee, `assigned_at`, not on hold; from the bot also `queued_at` and new SLA clocks, else the first-response clock if none runs; owner participation moves |
| `conversation_hold` / `conversation_unhold` | assigned | `on_hold` |
| `conversation_transfer` | queued, assigned | to an agent: `conversation_assign`; to a team: `conversation_queue` (skills cleared) |
| `conversation_resolve` | bot, queued, assigned → resolved | `resolved_at`, not on hold, first response recorded, next-response clock stopped; participations end (the assignee stays on record) |
| `conversation_reopen` | resolved → bot or queued | no `resolved_at`, assignee, hold or rating; to the bot no queue time or SLA clocks, to the queue as `conversation_queue` in its team |
| `conversation_hand_back` | queued, assigned → bot | no assignee, not on hold, SLA clocks stopped; participations end |
| `conversation_overflow` | queued → queued | team (when the step names one) |

SLA clock values come from conversations.services.sla_clocks (`sla_clocks_*`). The database holds the invariants
too: an assigned conversation has an assignee, a queued or bot one has none, and a
conversation has `resolved_at` exactly when resolved (`Conversation.Meta.constraints`).

Lock order: the conversation row first (the caller's), then what a transition writes:
participants, the routing row, and the agent profile's `last_assigned_at` (callers that
check capacity lock that profile after the conversation row too, as agents.services.routing
documents).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from django.contrib.auth.models import User
from django.db import transaction
from django.utils import timezone

from agents.models import AgentProfile, ConversationRouting, Team
from config import task_names
from config.realtime import agent_group
from config.tasking import enqueue_on_commit
from conversations.agent_events import agent_updated_broadcast
from conversations.events import CREATED, publish_conversation
from conversations.models import Channel, Contact, Conversation, ConversationEvent, Participant
from conversations.queue_events import queue_updated_broadcast
from conversations.services.sla_clocks import (
    first_response_record,
    response_times,
    sla_clocks_cleared,
    sla_clocks_on_assign,
    sla_clocks_on_resolve,
    sla_clocks_started,
    sla_clocks_stopped,
)
from conversations.services.timeline import conversation_event_record
from conversations.services.webhook_outbox import EventType, webhook_conversation_event

Status = Conversation.Status
ActorKind = ConversationEvent.ActorKind

__all__ = [
    "InvalidTransition",
    "conversation_assign",
    "conversation_hand_back",
    "conversation_hold",
    "conversation_overflow",
    "conversation_queue",
    "conversation_reopen",
    "conversation_resolve",
    "conversation_start",
    "conversation_transfer",
    "conversation_unhold",
]


class InvalidTransition(Exception):
    """A transition the conversation's status does not allow. Callers check the status
    first and refuse with their own error; reaching this is a bug in the caller."""


def _require(conversation: Conversation, *allowed: str) -> None:
    if not transaction.get_connection().in_atomic_block:
        raise InvalidTransition("a transition runs inside the caller's transaction, with the row locked")
    if conversation.status not in allowed:
        raise InvalidTransition(f"conversation {conversation.pk} is {conversation.status}, not {' or '.join(allowed)}")


def _set(conversation: Conversation, values: dict[str, Any]) -> list[str]:
    for field, value in values.items():
        setattr(conversation, field, value)
    return list(values)


def _save(conversation: Conversation, fields: Iterable[str]) -> None:
    conversation.save(update_fields=list(dict.fromkeys(fields)))


# --- consequences, each run once per transition ---------------------------------------------


def _publish(conversation: Conversation, *, told: Iterable[int | None] = (), type: str = "conversation.updated") -> None:
    """The conversation's event on commit, also to the users in `told` (who lost it)."""
    publish_conversation(conversation, type, also=[agent_group(user_id) for user_id in told if user_id is not None])


def _queues_changed(*team_ids: int | None) -> None:
    for team_id in dict.fromkeys(team_ids):
        queue_updated_broadcast(team_id)


def _routing_reset(*, conversation: Conversation, team: Team | None, reason: str, at: datetime) -> None:
    """Start the conversation's overflow list afresh at `team` (the agents' routing row)."""
    ConversationRouting.objects.update_or_create(
        conversation=conversation,
        defaults={"home_team": team, "overflow_step": 0, "step_entered_at": at, "any_agent": False, "reason": reason},
    )


def _drain(team: Team | None) -> None:
    enqueue_on_commit(task_names.QUEUE_DRAIN, unique=True, team_id=team.pk if team is not None else None)


def _load_changed(user_id: int, *, profile: AgentProfile | None = None, load: int | None = None) -> None:
    """`agent.updated` for an agent whose load changed (exact when the caller counted it
    under the profile's lock)."""
    if profile is None:
        profile = AgentProfile.objects.select_related("user").get_or_create(user_id=user_id)[0]
    agent_updated_broadcast(profile, load=load)


def _room_freed(user_id: int | None) -> None:
    """An agent carries one conversation less: tell the desks and give them the next one."""
    if user_id is None:
        return
    _load_changed(user_id)
    enqueue_on_commit(task_names.QUEUE_DRAIN_FOR_AGENT, unique=True, user_id=user_id)


def _participations_end(conversation: Conversation, *, at: datetime, only_owner: bool = False,
                        except_user: int | None = None) -> list[int]:
    """End active participations (only the owner's with `only_owner`); returns whose."""
    qs = Participant.objects.filter(conversation=conversation, left_at__isnull=True)
    if only_owner:
        qs = qs.filter(role=Participant.Role.OWNER)
    if except_user is not None:
        qs = qs.exclude(user_id=except_user)
    user_ids = list(qs.values_list("user_id", flat=True))
    if user_ids:
        qs.update(left_at=at)
    return user_ids


def _record(conversation: Conversation, kind: str, *, from_status: str, actor: User | None = None,
            actor_kind: str = ActorKind.SYSTEM, reason: str = "", data: dict[str, Any] | None = None) -> None:
    conversation_event_record(
        conversation=conversation, kind=kind, actor=actor, actor_kind=actor_kind, from_status=from_status,
        to_status=conversation.status, reason=reason, data=data,
    )


def _enter_queue(conversation: Conversation, *, team: Team | None, at: datetime, reason: str,
                 priority: int | None = None, skills: list[str] | None = None,
                 language: str | None = None) -> list[str]:
    """The fields of a conversation entering `team`'s queue (the pool without a team)."""
    values: dict[str, Any] = {
        "status": Status.QUEUED,
        "team": team,
        "queued_at": at,
        "assignee": None,
        "assigned_at": None,
        "on_hold": False,
        **sla_clocks_started(team=team, at=at),
    }
    if priority is not None:
        values["priority"] = priority
    if skills is not None:
        values["required_skills"] = sorted(set(skills))
    if language is not None:
        values["language"] = language
    _routing_reset(conversation=conversation, team=team, reason=reason, at=at)
    return _set(conversation, values)


def _queued_consequences(conversation: Conversation, team: Team | None) -> None:
    _drain(team)
    if team is not None and team.queue_messages_enabled:
        enqueue_on_commit(task_names.QUEUE_MESSAGE_SEND, countdown=2, conversation_id=conversation.pk)


# --- transitions ------------------------------------------------------------------------------


def conversation_start(
    *,
    contact: Contact,
    channel: str = Channel.WHATSAPP,
    reason: str = "customer message",
    actor: User | None = None,
    actor_kind: str = ActorKind.CONTACT,
    team: Team | None = None,
) -> Conversation:
    """A new conversation of `contact`, with the bot (in `team` when given: an agent who
    starts one from the desk, or a web chat inbox's team). Raises IntegrityError when the
    contact already has an open conversation (at most one: a database constraint), so
    callers create inside a savepoint and look again."""
    if not transaction.get_connection().in_atomic_block:
        raise InvalidTransition("a conversation is started inside the caller's transaction")
    now = timezone.now()
    conversation = Conversation.objects.create(
        number_id=contact.number_id,
        contact=contact,
        channel=channel,
        status=Status.BOT,
        team=team,
        created_at=now,
        last_activity_at=now,
    )
    _record(conversation, "created", from_status="", actor=actor, actor_kind=actor_kind, reason=reason,
            data={"team": team.pk} if team is not None else None)
    _publish(conversation, type=CREATED)
    webhook_conversation_event(type=EventType.CONVERSATION_CREATED, conversation=conversation)
    return conversation


def conversation_queue(
    *,
    conversation: Conversation,
    team: Team | None,
    priority: int | None = None,
    skills: list[str] | None = None,
    language: str | None = None,
    reason: str = "",
    actor: User | None = None,
    actor_kind: str = ActorKind.SYSTEM,
    kind: str = "queued",
    data: dict[str, Any] | None = None,
) -> Conversation:
    """Into `team`'s queue (the "any online agent" pool when None), from the bot, another
    queue or an agent; `priority`, `skills` and `language` are kept when None. Its
    first-response clock starts afresh, the previous assignee's capacity is freed, and
    the queue is drained after commit."""
    _require(conversation, Status.BOT, Status.QUEUED, Status.ASSIGNED)
    now = timezone.now()
    from_status = conversation.status
    previous_team = conversation.team_id
    previous_assignee = conversation.assignee_id if from_status == Status.ASSIGNED else None
    fields = _enter_queue(
        conversation, team=team, at=now, reason=reason, priority=priority, skills=skills, language=language
    )
    _save(conversation, fields)
    left = _participations_end(conversation, at=now, only_owner=True)
    _record(
        conversation, kind, from_status=from_status, actor=actor, actor_kind=actor_kind, reason=reason,
        data={
            "team": team.pk if team is not None else None,
            "priority": conversation.priority,
            "skills": conversation.required_skills,
            "language": conversation.language,
            **(data or {}),
        },
    )
    _publish(conversation, told=[previous_assignee, *left])
    if from_status == Status.QUEUED:
        _queues_changed(previous_team, conversation.team_id)
    else:
        _queues_changed(conversation.team_id)
    _queued_consequences(conversation, team)
    _room_freed(previous_assignee)
    if from_status == Status.BOT:
        webhook_conversation_event(type=EventType.CONVERSATION_HANDOFF, conversation=conversation, reason=reason)
    return conversation


def conversation_assign(
    *,
    conversation: Conversation,
    user: User,
    actor: User | None = None,
    actor_kind: str = ActorKind.SYSTEM,
    kind: str = "assigned",
    reason: str = "",
    data: dict[str, Any] | None = None,
    profile: AgentProfile | None = None,
    load_before: int | None = None,
    previous_stays: bool = False,
) -> Conversation:
    """Make `user` the owner. The caller holds the conversation's row lock and `user`'s
    profile row lock, and has checked their capacity; a caller that counted their load
    under that lock passes `profile` and `load_before`. The previous owner is told and
    their capacity freed; with `previous_stays` they stay on as a participant."""
    _require(conversation, Status.BOT, Status.QUEUED, Status.ASSIGNED)
    now = timezone.now()
    from_status = conversation.status
    previous_assignee = conversation.assignee_id if from_status == Status.ASSIGNED else None
    fields: list[str] = []
    if from_status == Status.BOT:  # taken without a queue: the episode starts now
        fields += _set(conversation, {"queued_at": now, **sla_clocks_started(team=conversation.team, at=now)})
    elif conversation.queued_at is None:
        fields += _set(conversation, {"queued_at": now})
    fields += _set(conversation, {"status": Status.ASSIGNED, "assignee": user, "assigned_at": now, "on_hold": False})
    fields += _set(conversation, sla_clocks_on_assign(conversation, at=now))
    _save(conversation, fields)

    left = _participations_end(conversation, at=now, only_owner=True, except_user=user.pk)
    if previous_stays and previous_assignee is not None and previous_assignee != user.pk:
        Participant.objects.create(conversation=conversation, user_id=previous_assignee,
                                   role=Participant.Role.PARTICIPANT, joined_at=now)
    if not Participant.objects.filter(conversation=conversation, user=user, left_at__isnull=True).update(
        role=Participant.Role.OWNER
    ):
        Participant.objects.create(conversation=conversation, user=user, role=Participant.Role.OWNER, joined_at=now)
    AgentProfile.objects.filter(user_id=user.pk).update(last_assigned_at=now)

    wait = (now - conversation.queued_at).total_seconds() if conversation.queued_at else None
    _record(
        conversation, kind, from_status=from_status, actor=actor, actor_kind=actor_kind, reason=reason,
        data={"assignee": user.pk, "previous_assignee": previous_assignee, "wait_seconds": wait, **(data or {})},
    )
    changed_hands = previous_assignee is not None and previous_assignee != user.pk
    _publish(conversation, told=[previous_assignee if changed_hands else None, *left])
    if from_status == Status.QUEUED:
        _queues_changed(conversation.team_id)
    if profile is not None and load_before is not None:
        _load_changed(user.pk, profile=profile, load=load_before + 1)
    else:
        _load_changed(user.pk)
    if changed_hands:
        _room_freed(previous_assignee)
    webhook_conversation_event(type=EventType.CONVERSATION_ASSIGNED, conversation=conversation, reason=reason,
                               previous_assignee=previous_assignee)
    return conversation


def conversation_hold(*, conversation: Conversation, actor: User | None = None) -> Conversation:
    """On hold: it stays with its assignee but no longer counts against their capacity.
    Holding a held conversation changes nothing."""
    _require(conversation, Status.ASSIGNED)
    if conversation.on_hold:
        return conversation
    _save(conversation, _set(conversation, {"on_hold": True}))
    _record(conversation, "held", from_status=conversation.status, actor=actor)
    _publish(conversation)
    _room_freed(conversation.assignee_id)
    return conversation


def conversation_unhold(*, conversation: Conversation, actor: User | None = None) -> Conversation:
    """Off hold: it counts against the assignee's capacity again (the caller checked room)."""
    _require(conversation, Status.ASSIGNED)
    if not conversation.on_hold:
        return conversation
    _save(conversation, _set(conversation, {"on_hold": False}))
    _record(conversation, "unheld", from_status=conversation.status, actor=actor)
    _publish(conversation)
    if conversation.assignee_id is not None:
        _load_changed(conversation.assignee_id)
    return conversation


def conversation_transfer(
    *,
    conversation: Conversation,
    actor: User,
    user: User | None = None,
    team: Team | None = None,
    note: str = "",
    profile: AgentProfile | None = None,
    load_before: int | None = None,
) -> Conversation:
    """To another agent (`user`: as `conversation_assign`, whose requirements apply) or to
    another team's queue (`team`: routing starts afresh there, required skills cleared).
    The note is the event's reason."""
    if (user is None) == (team is None):
        raise InvalidTransition("a transfer goes to an agent or to a team")
    _require(conversation, Status.QUEUED, Status.ASSIGNED)
    if user is not None:
        return conversation_assign(
            conversation=conversation, user=user, actor=actor, kind="transferred", reason=note,
            data={"to_agent": user.pk}, profile=profile, load_before=load_before,
        )
    return conversation_queue(
        conversation=conversation, team=team, skills=[], reason=note, actor=actor, kind="transferred",
        data={"from_team": conversation.team_id, "to_team": team.pk if team is not None else None,
              "previous_assignee": conversation.assignee_id},
    )


def conversation_resolve(
    *, conversation: Conversation, actor: User | None = None, note: str = "", ask_rating: bool = True
) -> Conversation:
    """Resolved: first-response and resolution times recorded (the event's data), the
    assignee's capacity freed, every participation ended, and the customer asked for a
    rating after commit (unless `ask_rating` is False: a conversation closed because the
    customer's other one goes on). The assignee stays on record."""
    _require(conversation, Status.BOT, Status.QUEUED, Status.ASSIGNED)
    now = timezone.now()
    from_status = conversation.status
    first_response_record(conversation=conversation)
    fields = _set(conversation, {"status": Status.RESOLVED, "resolved_at": now, "on_hold": False,
                                 **sla_clocks_on_resolve()})
    _save(conversation, fields)
    left = _participations_end(conversation, at=now)
    _record(conversation, "resolved", from_status=from_status, actor=actor, reason=note,
            data=response_times(conversation))
    _publish(conversation, told=left)
    if from_status == Status.QUEUED:
        _queues_changed(conversation.team_id)
    if from_status == Status.ASSIGNED:
        _room_freed(conversation.assignee_id)
    if ask_rating:
        enqueue_on_commit(task_names.CSAT_REQUEST, conversation_id=conversation.pk)
    webhook_conversation_event(type=EventType.CONVERSATION_RESOLVED, conversation=conversation, note=note)
    return conversation


def conversation_reopen(
    *,
    conversation: Conversation,
    to: str,
    actor: User | None = None,
    actor_kind: str = ActorKind.SYSTEM,
    reason: str = "",
) -> Conversation:
    """Open a resolved conversation again, with the bot (`to="bot"`: the customer wrote
    again) or in its team's queue (`to="queued"`). Either way it has no assignee, hold or
    rating (the previous assignee and score stay in the event's data) and its episode
    starts afresh. Raises IntegrityError, leaving the caller's transaction usable, when the
    contact has another open conversation."""
    _require(conversation, Status.RESOLVED)
    if to not in (Status.BOT, Status.QUEUED):
        raise InvalidTransition(f"a conversation reopens to the bot or a queue, not {to}")
    now = timezone.now()
    data: dict[str, Any] = {}
    if conversation.assignee_id is not None:
        data["previous_assignee"] = conversation.assignee_id
    if conversation.csat_score is not None:
        data["previous_csat_score"] = conversation.csat_score
    fields = _set(conversation, {
        "resolved_at": None,
        "assignee": None,
        "assigned_at": None,
        "on_hold": False,
        "csat_requested_at": None,
        "csat_score": None,
        "last_activity_at": now,
    })
    with transaction.atomic():  # a savepoint: the caller may carry on after a conflict
        if to == Status.BOT:
            fields += _set(conversation, {"status": Status.BOT, "queued_at": None, **sla_clocks_cleared()})
        else:
            fields += _enter_queue(conversation, team=conversation.team, at=now, reason=reason or "reopened")
        _save(conversation, fields)
    _record(conversation, "reopened", from_status=Status.RESOLVED, actor=actor, actor_kind=actor_kind,
            reason=reason, data=data)
    _publish(conversation)
    if to == Status.QUEUED:
        _queues_changed(conversation.team_id)
        _queued_consequences(conversation, conversation.team)
    return conversation


def conversation_hand_back(*, conversation: Conversation, actor: User | None = None, note: str = "") -> Conversation:
    """Back to the bot: no assignee (whose capacity is freed), no agent SLA clock, every
    participation ended."""
    _require(conversation, Status.QUEUED, Status.ASSIGNED)
    now = timezone.now()
    from_status = conversation.status
    previous_assignee = conversation.assignee_id if from_status == Status.ASSIGNED else None
    fields = _set(conversation, {"status": Status.BOT, "assignee": None, "assigned_at": None, "on_hold": False,
                                 **sla_clocks_stopped()})
    _save(conversation, fields)
    left = _participations_end(conversation, at=now)
    _record(conversation, "handed_back", from_status=from_status, actor=actor, reason=note)
    _publish(conversation, told=[previous_assignee, *left])
    if from_status == Status.QUEUED:
        _queues_changed(conversation.team_id)
    _room_freed(previous_assignee)
    return conversation


def conversation_overflow(
    *, conversation: Conversation, team: Team | None, reason: str, data: dict[str, Any] | None = None
) -> Conversation:
    """A queued conversation moves one step along its overflow list: to `team`'s queue, or
    with None to the "any online agent" pool (keeping its team). The caller has moved the
    routing row's step; both queues hear of it and the new one is drained."""
    _require(conversation, Status.QUEUED)
    previous_team = conversation.team_id
    if team is not None:
        _save(conversation, _set(conversation, {"team": team}))
    _record(conversation, "overflowed", from_status=conversation.status, reason=reason, data=data)
    _publish(conversation)
    _queues_changed(previous_team, team.pk if team is not None else None)
    _drain(team)
    return conversation
