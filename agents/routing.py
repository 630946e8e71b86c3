"""The assignment engine: queueing handed-off conversations and giving them to agents.

Guarantees, also with many workers at once:
- an agent never carries more conversations (assigned, not on hold) than their capacity;
- a conversation is never assigned twice.
Each assignment is one short transaction that locks, in this order, the chosen
conversation row (`SELECT … FOR UPDATE SKIP LOCKED`, so workers take different rows), the
team row for round robin (its cursor), and the chosen agent's profile row (`FOR UPDATE`, serialising
assignments per agent); the agent's load is then recounted from the database inside the
lock. On SQLite the settings make every transaction IMMEDIATE, which serialises writers.

Queue order: priority (higher first), then time queued. A conversation nobody can take
(skills, language) does not block the ones behind it.
"""

from __future__ import annotations

import logging
import random
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from django.db import DatabaseError, OperationalError, transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from agents.models import AgentProfile, ConversationRouting, Team
from agents.presence import agent_load, agent_updated_broadcast, online_profiles
from agents.sla import first_response_due
from config.realtime import SUPERVISORS_GROUP, publish, team_group
from config.tasking import enqueue_on_commit
from conversations.events import publish_conversation
from conversations.models import Conversation, Participant
from conversations.services import conversation_event_record

# Candidates read per attempt: enough to look past conversations nobody online can take
# and past the rows other workers are assigning.
CANDIDATES_PER_ATTEMPT = 25
# An attempt whose chosen agent filled up meanwhile, or that met a transient lock
# conflict (SQLite busy, PostgreSQL deadlock), is retried; this caps the retries.
MAX_RETRIES = 200

log = logging.getLogger(__name__)

_RETRY = object()


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


def assignment_apply(
    *,
    conversation: Conversation,
    user: Any,
    actor: Any = None,
    kind: str = "assigned",
    reason: str = "",
    data: dict | None = None,
    profile: AgentProfile | None = None,
    load_before: int | None = None,
) -> Conversation:
    """Make `user` the owner of `conversation` (caller holds the conversation's and the
    agent profile's row locks inside its transaction and has checked capacity; callers
    that counted the agent's load under the lock pass `profile` and `load_before`)."""
    now = timezone.now()
    previous_status = conversation.status
    previous_assignee = conversation.assignee_id
    conversation.status = Conversation.Status.ASSIGNED
    conversation.assignee = user
    conversation.assigned_at = now
    conversation.on_hold = False
    fields = ["status", "assignee", "assigned_at", "on_hold"]
    if conversation.first_response_due_at is None and conversation.first_response_at is None:
        conversation.first_response_due_at = first_response_due(
            team=conversation.team, queued_at=conversation.queued_at or now
        )
        fields.append("first_response_due_at")
    conversation.save(update_fields=fields)

    Participant.objects.filter(
        conversation=conversation, role=Participant.Role.OWNER, left_at__isnull=True
    ).exclude(user=user).update(left_at=now)
    updated = Participant.objects.filter(conversation=conversation, user=user, left_at__isnull=True).update(
        role=Participant.Role.OWNER
    )
    if not updated:
        Participant.objects.create(conversation=conversation, user=user, role=Participant.Role.OWNER, joined_at=now)
    AgentProfile.objects.filter(user_id=user.pk).update(last_assigned_at=now)

    wait = (now - conversation.queued_at).total_seconds() if conversation.queued_at else None
    conversation_event_record(
        conversation=conversation,
        kind=kind,
        actor=actor,
        from_status=previous_status,
        to_status=conversation.status,
        reason=reason,
        data={"assignee": user.pk, "previous_assignee": previous_assignee, "wait_seconds": wait, **(data or {})},
    )
    publish_conversation(conversation)
    if previous_status == Conversation.Status.QUEUED:
        queue_updated_broadcast(conversation.team_id)
    if profile is not None and load_before is not None:
        agent_updated_broadcast(profile, load=load_before + 1)
    else:
        agent_updated_broadcast(AgentProfile.objects.select_related("user").get(user_id=user.pk))
    return conversation


@dataclass
class _Agent:
    """What routing needs to know about an online agent (read without model overhead)."""

    profile_id: int
    user_id: int
    capacity: int
    load: int
    skills: frozenset[str]
    languages: list[str]
    last_assigned_at: datetime | None

    def fits(self, skills: list[str], language: str) -> bool:
        if not set(skills or []) <= self.skills:
            return False
        if not language or not self.languages:
            return True
        base = language.split("_")[0].split("-")[0].lower()
        return any(lang.split("_")[0].split("-")[0].lower() == base for lang in self.languages)


def _online_agents(team: Team | None) -> list[_Agent]:
    # `load` is annotated by online_profiles, which the type stubs cannot follow.
    rows = online_profiles(team=team).values_list(  # type: ignore[misc]
        "pk", "user_id", "capacity", "load", "skills", "languages", "last_assigned_at"
    )
    return [
        _Agent(pk, user_id, capacity, load, frozenset(skills or []), list(languages or []), last)
        for pk, user_id, capacity, load, skills, languages, last in rows
    ]


def _choose(team: Team | None, fits: list[_Agent]) -> _Agent:
    if team is not None and team.routing_mode == Team.RoutingMode.ROUND_ROBIN:
        ordered = sorted(fits, key=lambda a: a.user_id)
        cursor = team.round_robin_last_user_id or 0
        return next((a for a in ordered if a.user_id > cursor), ordered[0])
    # Least busy; ties go to the agent idle longest (never assigned counts as longest).
    floor = datetime.min.replace(tzinfo=UTC)
    return min(fits, key=lambda a: (a.load, a.last_assigned_at or floor, a.user_id))


def assignment_attempt(*, team_id: int | None) -> Any:
    """Assign the first conversation of the pool that an online agent with room can take.
    Returns the conversation, `None` when nothing can be assigned now, or `_RETRY` when
    the chosen agent filled up concurrently.

    Candidates are read without locks in queue order; the first one that fits is then
    locked with SKIP LOCKED (a row another worker holds is passed over, so workers
    serve the head of the queue side by side instead of queueing behind each other)."""
    with transaction.atomic():
        candidates = list(
            queued_in_pool(team_id).values_list("pk", "required_skills", "language")[:CANDIDATES_PER_ATTEMPT]
        )
        if not candidates:
            return None
        team = None
        if team_id is not None:
            team = Team.objects.filter(pk=team_id).first()
            if team is None or team.routing_mode == Team.RoutingMode.MANUAL:
                return None
        team_skills = frozenset(team.required_skills or []) if team is not None else frozenset()
        available = [a for a in _online_agents(team) if a.load < a.capacity and team_skills <= a.skills]
        if not available:
            return None
        for candidate_id, skills, language in candidates:
            fits = [a for a in available if a.fits(skills, language)]
            if not fits:
                continue
            conversation = (
                queued_in_pool(team_id)
                .filter(pk=candidate_id)
                .select_related("contact", "team")
                .select_for_update(skip_locked=True, of=("self",))
                .first()
            )
            if conversation is None:  # taken or being taken by another worker
                continue
            if team is not None and team.routing_mode == Team.RoutingMode.ROUND_ROBIN:
                team = Team.objects.select_for_update().get(pk=team.pk)
            chosen = _choose(team, fits)
            profile = AgentProfile.objects.select_for_update(of=("self",)).select_related("user").get(
                pk=chosen.profile_id
            )
            load = agent_load(user_id=profile.user_id)
            if profile.presence != AgentProfile.Presence.ONLINE or load >= profile.capacity:
                return _RETRY
            assignment_apply(
                conversation=conversation, user=profile.user, reason="routing", profile=profile, load_before=load
            )
            if team is not None and team.routing_mode == Team.RoutingMode.ROUND_ROBIN:
                Team.objects.filter(pk=team.pk).update(round_robin_last_user=profile.user)
            return conversation
        return None


def queue_drain(*, team_id: int | None) -> int:
    """Assign from a team's queue (or the "any online agent" pool) until nobody can take
    more. Safe to run concurrently and repeatedly (workers serve different rows of the
    queue's head side by side). Returns the number assigned."""
    return _drain_pool(team_id)


def _drain_pool(team_id: int | None) -> int:
    assigned = 0
    retries = 0
    while True:
        try:
            result = assignment_attempt(team_id=team_id)
        except OperationalError as exc:
            if not _transient(exc):
                raise
            result = _RETRY
            time.sleep(random.uniform(0.002, 0.02) * min(retries + 1, 10))
        if result is _RETRY:
            retries += 1
            if retries > MAX_RETRIES:
                log.warning("assignment in team %s gave up after %s retries", team_id, retries)
                break
            continue
        if result is None:
            break
        assigned += 1
    return assigned


def _transient(exc: OperationalError) -> bool:
    text = str(exc).lower()
    return any(word in text for word in ("locked", "deadlock", "could not serialize", "could not obtain lock"))


def queue_drain_for_user(*, user_id: int) -> int:
    """Drain every queue the agent can serve (their teams and the "any online agent" pool):
    run when they come online or capacity frees up."""
    assigned = 0
    for team_id in Team.objects.filter(members__pk=user_id).values_list("pk", flat=True):
        assigned += queue_drain(team_id=team_id)
    return assigned + queue_drain(team_id=None)


def queue_drain_all() -> int:
    """Drain every queue that has waiting conversations (the periodic sweep)."""
    team_ids = set(
        Conversation.objects.filter(status=Conversation.Status.QUEUED, team__isnull=False)
        .values_list("team_id", flat=True)
        .distinct()
    )
    assigned = sum(queue_drain(team_id=team_id) for team_id in sorted(team_ids))
    return assigned + queue_drain(team_id=None)


def conversation_enqueue(
    *,
    conversation: Conversation,
    team: Team | None = None,
    priority: int = 0,
    reason: str = "",
    skills: list[str] | None = None,
    language: str = "",
) -> Conversation:
    """Put a conversation in a team's queue (the conversation's team when `team` is None;
    the "any online agent" pool when it has none), with the handoff's skills and language,
    start its first-response clock, record an event, and try to assign it after commit.
    A conversation already queued or assigned is returned unchanged."""
    with transaction.atomic():
        locked = Conversation.objects.select_for_update().select_related("contact").get(pk=conversation.pk)
        if locked.status in (Conversation.Status.QUEUED, Conversation.Status.ASSIGNED):
            return locked
        team = team or locked.team
        now = timezone.now()
        previous_status = locked.status
        locked.status = Conversation.Status.QUEUED
        locked.team = team
        locked.priority = priority
        locked.required_skills = sorted(set(skills or []))
        locked.language = language or locked.language or locked.contact.language
        locked.queued_at = now
        locked.assignee = None
        locked.assigned_at = None
        locked.on_hold = False
        locked.first_response_at = None
        locked.first_response_due_at = first_response_due(team=team, queued_at=now)
        locked.next_response_due_at = None
        locked.save(
            update_fields=[
                "status", "team", "priority", "required_skills", "language", "queued_at", "assignee",
                "assigned_at", "on_hold", "first_response_at", "first_response_due_at", "next_response_due_at",
            ]
        )
        routing_reset(conversation=locked, team=team, reason=reason, at=now)
        conversation_event_record(
            conversation=locked,
            kind="queued",
            actor_kind="bot" if previous_status == Conversation.Status.BOT else "system",
            from_status=previous_status,
            to_status=locked.status,
            reason=reason,
            data={"team": team.pk if team else None, "priority": priority, "skills": locked.required_skills,
                  "language": locked.language},
        )
        publish_conversation(locked)
        queue_updated_broadcast(team.pk if team else None)
        enqueue_on_commit("agents.tasks.queue_drain", team_id=team.pk if team else None)
        if team is not None and team.queue_messages_enabled:
            enqueue_on_commit("agents.tasks.queue_message_send", countdown=2, conversation_id=locked.pk)
    conversation.refresh_from_db()
    return conversation


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
