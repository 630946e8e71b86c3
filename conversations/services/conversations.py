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
  load changed and a drain for agents with room again (conversations.services.transition_effects).

`conversations_assign` assigns a batch (the assignment engine's) with one statement per
kind of write; `conversation_assign` is that batch with one conversation, so both share one path.

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

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.contrib.auth.models import User
from django.db import transaction
from django.utils import timezone

from agents.models import AgentProfile, Team
from config import task_names
from config.bulk_rows import rows_update
from config.realtime import agent_group
from config.tasking import enqueue_on_commit
from conversations.agent_events import agents_updated_broadcast
from conversations.events import CREATED, publish_conversations
from conversations.models import Channel, Contact, Conversation, ConversationEvent
from conversations.services import transition_effects as effects
from conversations.services.sla_clocks import (
    first_response_record,
    response_times,
    sla_clocks_cleared,
    sla_clocks_on_assign,
    sla_clocks_on_resolve,
    sla_clocks_started,
    sla_clocks_stopped,
)
from conversations.services.timeline import conversation_event_build, conversation_events_record
from conversations.services.webhook_outbox import (
    EventType,
    webhook_conversation_event,
    webhook_conversation_events,
)

Status = Conversation.Status
ActorKind = ConversationEvent.ActorKind

__all__ = [
    "Assignment",
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
    "conversations_assign",
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
    effects.routing_reset(conversation=conversation, team=team, reason=reason, at=at)
    return _set(conversation, values)


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
    effects.record(conversation, "created", from_status="", actor=actor, actor_kind=actor_kind, reason=reason,
            data={"team": team.pk} if team is not None else None)
    effects.publish(conversation, type=CREATED)
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
    left = effects.participations_end(conversation, at=now, only_owner=True)
    effects.record(
        conversation, kind, from_status=from_status, actor=actor, actor_kind=actor_kind, reason=reason,
        data={
            "team": team.pk if team is not None else None,
            "priority": conversation.priority,
            "skills": conversation.required_skills,
            "language": conversation.language,
            **(data or {}),
        },
    )
    effects.publish(conversation, told=[previous_assignee, *left])
    if from_status == Status.QUEUED:
        effects.queues_changed(previous_team, conversation.team_id)
    else:
        effects.queues_changed(conversation.team_id)
    effects.queued_consequences(conversation, team)
    effects.room_freed(previous_assignee)
    if from_status == Status.BOT:
        webhook_conversation_event(type=EventType.CONVERSATION_HANDOFF, conversation=conversation, reason=reason)
    return conversation


@dataclass(frozen=True)
class Assignment:
    """One conversation for `conversations_assign` and who takes it: with `profile` and
    `load` (the user's load after this assignment) when the caller counted that load under
    the profile's row lock."""

    conversation: Conversation
    user: User
    profile: AgentProfile | None = None
    load: int | None = None


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
    load = load_before + 1 if load_before is not None else None
    conversations_assign([Assignment(conversation, user, profile, load)], actor=actor, actor_kind=actor_kind,
                         kind=kind, reason=reason, data=data, previous_stays=previous_stays)
    return conversation


def conversations_assign(
    assignments: Sequence[Assignment],
    *,
    actor: User | None = None,
    actor_kind: str = ActorKind.SYSTEM,
    kind: str = "assigned",
    reason: str = "",
    data: dict[str, Any] | None = None,
    previous_stays: bool = False,
) -> None:
    """`conversation_assign` for each of `assignments` (distinct conversations, each read
    under its row lock, which the caller holds with the users' profile locks), with one
    statement per kind of write for all of them: the conversations' fields, the
    participations, the timeline events, the profiles' `last_assigned_at`. Each
    conversation gets what `conversation_assign` gives it (fields, event, publish, webhook,
    the previous owner told and freed); each queue left is counted once, and each agent
    gets one `agent.updated` with their last load."""
    if len({a.conversation.pk for a in assignments}) != len(assignments):
        raise InvalidTransition("a conversation is assigned once per batch")
    steps: list[tuple[Assignment, datetime, str, int | None]] = []  # with when, from which status, from whom
    fields: list[str] = []
    for assignment in assignments:
        conversation = assignment.conversation
        _require(conversation, Status.BOT, Status.QUEUED, Status.ASSIGNED)
        now, from_status = timezone.now(), conversation.status
        steps.append((assignment, now, from_status, conversation.assignee_id if from_status == Status.ASSIGNED else None))
        if from_status == Status.BOT:  # taken without a queue: the episode starts now
            fields += _set(conversation, {"queued_at": now, **sla_clocks_started(team=conversation.team, at=now)})
        elif conversation.queued_at is None:
            fields += _set(conversation, {"queued_at": now})
        fields += _set(conversation, {"status": Status.ASSIGNED, "assignee": assignment.user, "assigned_at": now,
                                      "on_hold": False})
        fields += _set(conversation, sla_clocks_on_assign(conversation, at=now))
    if not steps:
        return
    if len(steps) == 1:
        _save(assignments[0].conversation, fields)
    else:  # one UPDATE; a row that kept a field writes back the value read under its lock
        attnames = {field.name: field.attname for field in Conversation._meta.concrete_fields}
        names = [attnames[name] for name in dict.fromkeys(fields)]
        rows_update(Conversation, "id", {a.conversation.pk: {name: getattr(a.conversation, name) for name in names}
                                         for a in assignments})
    left = effects.owners_change([(a.conversation, a.user.pk, at, previous) for a, at, _from, previous in steps],
                                 previous_stays=previous_stays)
    effects.last_assigned_set({a.user.pk: at for a, at, _from, _previous in steps})
    events: list[ConversationEvent] = []
    published: list[tuple[Conversation, list[str]]] = []
    counted: dict[int, tuple[AgentProfile, int]] = {}
    for assignment, now, from_status, previous in steps:
        conversation, user = assignment.conversation, assignment.user
        wait = (now - conversation.queued_at).total_seconds() if conversation.queued_at else None
        events.append(conversation_event_build(
            conversation=conversation, kind=kind, actor=actor, actor_kind=actor_kind, from_status=from_status,
            to_status=conversation.status, reason=reason,
            data={"assignee": user.pk, "previous_assignee": previous, "wait_seconds": wait, **(data or {})},
        ))
        told = [previous if previous != user.pk else None, *left.get(conversation.pk, [])]
        published.append((conversation, [agent_group(user_id) for user_id in told if user_id is not None]))
        if assignment.profile is not None and assignment.load is not None:
            counted[user.pk] = (assignment.profile, assignment.load)
    conversation_events_record(events)
    publish_conversations(published)
    effects.queues_changed(*(a.conversation.team_id for a, _at, from_status, _p in steps if from_status == Status.QUEUED))
    agents_updated_broadcast(counted.values())
    for user_id in dict.fromkeys(a.user.pk for a, _at, _from, _previous in steps if a.user.pk not in counted):
        effects.load_changed(user_id)
    for assignment, _at, _from, previous in steps:
        if previous is not None and previous != assignment.user.pk:
            effects.room_freed(previous)
    webhook_conversation_events(type=EventType.CONVERSATION_ASSIGNED, events=[
        (a.conversation, {"reason": reason, "previous_assignee": previous}) for a, _at, _from, previous in steps
    ])


def conversation_hold(*, conversation: Conversation, actor: User | None = None) -> Conversation:
    """On hold: it stays with its assignee but no longer counts against their capacity.
    Holding a held conversation changes nothing."""
    _require(conversation, Status.ASSIGNED)
    if conversation.on_hold:
        return conversation
    _save(conversation, _set(conversation, {"on_hold": True}))
    effects.record(conversation, "held", from_status=conversation.status, actor=actor)
    effects.publish(conversation)
    effects.room_freed(conversation.assignee_id)
    return conversation


def conversation_unhold(*, conversation: Conversation, actor: User | None = None) -> Conversation:
    """Off hold: it counts against the assignee's capacity again (the caller checked room)."""
    _require(conversation, Status.ASSIGNED)
    if not conversation.on_hold:
        return conversation
    _save(conversation, _set(conversation, {"on_hold": False}))
    effects.record(conversation, "unheld", from_status=conversation.status, actor=actor)
    effects.publish(conversation)
    if conversation.assignee_id is not None:
        effects.load_changed(conversation.assignee_id)
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
    left = effects.participations_end(conversation, at=now)
    effects.record(conversation, "resolved", from_status=from_status, actor=actor, reason=note,
            data=response_times(conversation))
    effects.publish(conversation, told=left)
    if from_status == Status.QUEUED:
        effects.queues_changed(conversation.team_id)
    if from_status == Status.ASSIGNED:
        effects.room_freed(conversation.assignee_id)
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
    effects.record(conversation, "reopened", from_status=Status.RESOLVED, actor=actor, actor_kind=actor_kind,
            reason=reason, data=data)
    effects.publish(conversation)
    if to == Status.QUEUED:
        effects.queues_changed(conversation.team_id)
        effects.queued_consequences(conversation, conversation.team)
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
    left = effects.participations_end(conversation, at=now)
    effects.record(conversation, "handed_back", from_status=from_status, actor=actor, reason=note)
    effects.publish(conversation, told=[previous_assignee, *left])
    if from_status == Status.QUEUED:
        effects.queues_changed(conversation.team_id)
    effects.room_freed(previous_assignee)
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
    effects.record(conversation, "overflowed", from_status=conversation.status, reason=reason, data=data)
    effects.publish(conversation)
    effects.queues_changed(previous_team, team.pk if team is not None else None)
    effects.drain(team)
    return conversation
