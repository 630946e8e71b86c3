"""The assignment engine: queueing handed-off conversations and giving them to agents.

Guarantees, also with many workers at once:
- an agent never carries more conversations (assigned, not on hold) than their capacity;
- a conversation is never assigned twice.
Each assignment is one short transaction that locks, in this order, the chosen
conversation row (`SELECT … FOR UPDATE SKIP LOCKED`, so workers take different rows), the
team row for round robin (its cursor), and the chosen agent's profile row (`FOR UPDATE`, serialising
assignments per agent); the agent's load is then recounted from the database inside the
lock. On SQLite the settings make every transaction IMMEDIATE, which serialises writers.
Routing chooses the conversation and the agent; the assignment itself (its fields, event
and publish) is `conversations.services.conversations.conversation_assign`, run under those locks.

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

from django.db import OperationalError, transaction

from agents.models import AgentProfile, Team
from agents.services.presence import agent_load, online_profiles
from agents.services.queues import queue_updated_broadcast, queued_in_pool, routing_reset
from conversations.models import Conversation
from conversations.services import conversations as lifecycle

# Candidates read per attempt: enough to look past conversations nobody online can take
# and past the rows other workers are assigning.
CANDIDATES_PER_ATTEMPT = 25
# An attempt whose chosen agent filled up meanwhile, or that met a transient lock
# conflict (SQLite busy, PostgreSQL deadlock), is retried; this caps the retries.
MAX_RETRIES = 200

log = logging.getLogger(__name__)

_RETRY = object()

# Read by other modules from here too.
__all__ = ["conversation_enqueue", "queue_drain", "queue_drain_all", "queue_drain_for_user", "queue_updated_broadcast",
           "queued_in_pool", "routing_reset"]


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
            lifecycle.conversation_assign(
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
    """Hand a conversation that is with the bot to a team's queue (the conversation's team
    when `team` is None; the "any online agent" pool when it has none), with the handoff's
    skills and language (`conversations.services.conversations.conversation_queue`: first-response
    clock, event, one publish, a drain after commit). A conversation that is not with the
    bot (already queued, assigned or resolved) is returned unchanged."""
    with transaction.atomic():
        locked = (
            Conversation.objects.select_for_update(of=("self",)).select_related("contact", "team").get(pk=conversation.pk)
        )
        if locked.status != Conversation.Status.BOT:
            return locked
        lifecycle.conversation_queue(
            conversation=locked,
            team=team or locked.team,
            priority=priority,
            skills=skills or [],
            language=language or locked.language or locked.contact.language,
            reason=reason,
            actor_kind="bot",
        )
    conversation.refresh_from_db()
    return conversation
