"""What a lifecycle transition does besides setting its conversation's fields: its
participations, the routing row, the desk events it publishes on commit, and the queue and
agent consequences (`queue.updated`, drains, `agent.updated`). Only the lifecycle
(conversations.services.conversations) calls these; each runs once per transition, or
once per batch for `conversations_assign`, with one statement per kind of write.

Lock order as the lifecycle documents it: the conversation rows first (the caller's), then
participants, the routing row and the agent profiles.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from django.contrib.auth.models import User

from agents.models import AgentProfile, ConversationRouting, Team
from config import task_names
from config.bulk_rows import rows_update
from config.realtime import agent_group
from config.tasking import enqueue_on_commit
from conversations.agent_events import agent_updated_broadcast
from conversations.events import publish_conversation
from conversations.models import Conversation, ConversationEvent, Participant
from conversations.queue_events import queue_updated_broadcast
from conversations.services.timeline import conversation_event_record


def publish(conversation: Conversation, *, told: Iterable[int | None] = (), type: str = "conversation.updated") -> None:
    """The conversation's event on commit, also to the users in `told` (who lost it)."""
    publish_conversation(conversation, type, also=[agent_group(user_id) for user_id in told if user_id is not None])


def queues_changed(*team_ids: int | None) -> None:
    for team_id in dict.fromkeys(team_ids):
        queue_updated_broadcast(team_id)


def routing_reset(*, conversation: Conversation, team: Team | None, reason: str, at: datetime) -> None:
    """Start the conversation's overflow list afresh at `team` (the agents' routing row)."""
    ConversationRouting.objects.bulk_create(  # one upsert; a queue-message time already set stays
        [ConversationRouting(conversation=conversation, home_team=team, overflow_step=0, step_entered_at=at,
                             any_agent=False, reason=reason)],
        update_conflicts=True, unique_fields=["conversation"],
        update_fields=["home_team", "overflow_step", "step_entered_at", "any_agent", "reason"],
    )


def drain(team: Team | None) -> None:
    enqueue_on_commit(task_names.QUEUE_DRAIN, unique=True, team_id=team.pk if team is not None else None)


def load_changed(user_id: int, *, profile: AgentProfile | None = None, load: int | None = None) -> None:
    """`agent.updated` for an agent whose load changed (exact when the caller counted it
    under the profile's lock)."""
    if profile is None:
        profile = AgentProfile.objects.select_related("user").get_or_create(user_id=user_id)[0]
    agent_updated_broadcast(profile, load=load)


def room_freed(user_id: int | None) -> None:
    """An agent carries one conversation less: tell the desks and give them the next one."""
    if user_id is None:
        return
    load_changed(user_id)
    enqueue_on_commit(task_names.QUEUE_DRAIN_FOR_AGENT, unique=True, user_id=user_id)


def participations_end(conversation: Conversation, *, at: datetime, only_owner: bool = False,
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


def record(conversation: Conversation, kind: str, *, from_status: str, actor: User | None = None,
           actor_kind: str = ConversationEvent.ActorKind.SYSTEM, reason: str = "",
           data: dict[str, Any] | None = None) -> None:
    """The transition's timeline entry, to the conversation's status now."""
    conversation_event_record(
        conversation=conversation, kind=kind, actor=actor, actor_kind=actor_kind, from_status=from_status,
        to_status=conversation.status, reason=reason, data=data,
    )


def queued_consequences(conversation: Conversation, team: Team | None) -> None:
    drain(team)
    if team is not None and team.queue_messages_enabled:
        enqueue_on_commit(task_names.QUEUE_MESSAGE_SEND, countdown=2, conversation_id=conversation.pk)


def owners_change(changes: list[tuple[Conversation, int, datetime, int | None]], *,
                  previous_stays: bool) -> dict[int, list[int]]:
    """The participations of an assignment batch, read in one query: other owners' end, the
    new owner's participation becomes the owner's (or is created), and with
    `previous_stays` the previous owner stays as a participant. Returns who left, per
    conversation."""
    active: dict[int, list[tuple[int, int, str]]] = {}
    rows = Participant.objects.filter(
        conversation_id__in=[conversation.pk for conversation, _user, _at, _previous in changes],
        left_at__isnull=True,
    ).values_list("pk", "conversation_id", "user_id", "role")
    for pk, conversation_id, user_id, role in rows:
        active.setdefault(conversation_id, []).append((pk, user_id, role))
    ended: dict[datetime, list[int]] = {}
    left: dict[int, list[int]] = {}
    promoted: list[int] = []
    created: list[Participant] = []
    for conversation, user_id, now, previous in changes:
        mine = active.get(conversation.pk, [])
        for pk, other, role in mine:
            if role == Participant.Role.OWNER and other != user_id:
                ended.setdefault(now, []).append(pk)
                left.setdefault(conversation.pk, []).append(other)
        if previous_stays and previous is not None and previous != user_id:
            created.append(Participant(conversation=conversation, user_id=previous, role=Participant.Role.PARTICIPANT,
                                       joined_at=now))
        own = [(pk, role) for pk, other, role in mine if other == user_id]
        if not own:
            created.append(Participant(conversation=conversation, user_id=user_id, role=Participant.Role.OWNER,
                                       joined_at=now))
        promoted.extend(pk for pk, role in own if role != Participant.Role.OWNER)
    for at, pks in ended.items():
        Participant.objects.filter(pk__in=pks).update(left_at=at)
    if promoted:
        Participant.objects.filter(pk__in=promoted).update(role=Participant.Role.OWNER)
    if created:
        Participant.objects.bulk_create(created)
    return left




def last_assigned_set(times: dict[int, datetime]) -> None:
    """Each agent's `last_assigned_at` (user id → time), in one statement (the caller holds
    the profiles' row locks)."""
    if len(times) == 1:
        [(user_id, at)] = times.items()
        AgentProfile.objects.filter(user_id=user_id).update(last_assigned_at=at)
    else:
        rows_update(AgentProfile, "user", {user_id: {"last_assigned_at": at} for user_id, at in times.items()})
