"""The assignment engine: queueing handed-off conversations and giving them to agents.

Guarantees, also with many workers at once:
- an agent never carries more conversations (assigned, not on hold) than their capacity;
- a conversation is never assigned twice;
- the queue is served in order: priority (higher first), then time queued. A conversation
  nobody can take (skills, language) does not block the ones behind it.

Assignment is set-based: one short transaction assigns a batch of the queue's head
(`ASSIGNMENTS_PER_BATCH`). It reads the online agents with room, locks their profile rows
in id order (`FOR UPDATE`: batches for the same agents run one after another, and the
order rules out deadlocks between them), recounts their loads in one grouped query under
those locks, then locks the candidates (`SELECT … FOR UPDATE SKIP LOCKED`: a row another
worker or a desk action holds is passed over, never waited for), and matches them in queue
order to the least busy fitting agent (or round robin), counting each assignment in memory.
The matched batch is then assigned at once by
`conversations.services.conversations.conversations_assign` (the lifecycle's one assignment
path): one UPDATE of the conversations, one read and one insert of participations, one
insert of timeline events, one UPDATE of the profiles' `last_assigned_at`, and on commit
the desk events built from one read of the batch's rows. A drain stops without an empty
extra batch when the last one read the whole head of the queue and skipped nothing. On
SQLite the settings make every transaction IMMEDIATE, which serialises writers.
"""

from __future__ import annotations

import logging
import random
import time
from dataclasses import dataclass
from datetime import UTC, datetime

from django.db import OperationalError, transaction
from django.db.models import Count
from django.utils import timezone

from agents.models import AgentProfile, Team
from agents.services.presence import online_profiles
from conversations.models import Conversation
from conversations.queue_events import queued_in_pool
from conversations.services import conversations as lifecycle

# Conversations assigned per transaction at most, and candidates read for them: enough to
# look past conversations nobody online can take and past rows other workers hold.
ASSIGNMENTS_PER_BATCH = 50
CANDIDATES_PER_BATCH = 100
# A batch that met a transient lock conflict (SQLite busy, PostgreSQL deadlock) is
# retried; this caps the retries.
MAX_RETRIES = 200

log = logging.getLogger(__name__)

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


def assignment_batch(*, team_id: int | None, limit: int = ASSIGNMENTS_PER_BATCH) -> int:
    """Assign up to `limit` conversations from the head of a team's queue (or the "any
    online agent" pool) to online agents with room, in one transaction. Returns how many
    were assigned: 0 when nothing can be assigned now."""
    return _batch(team_id, limit)[0]


def _batch(team_id: int | None, limit: int) -> tuple[int, bool]:
    """`assignment_batch`, and whether another batch right now could assign more: not when
    this one read the whole head of the queue, passed over no row another worker held and
    stopped short of `limit` (what is left waits for capacity, skills or language; a
    later handoff, freed room or an agent coming online drains again)."""
    with transaction.atomic():
        team = None
        if team_id is not None:
            team = Team.objects.filter(pk=team_id).first()
            if team is None or team.routing_mode == Team.RoutingMode.MANUAL:
                return 0, False
        team_skills = frozenset(team.required_skills or []) if team is not None else frozenset()
        agents = [a for a in _online_agents(team) if a.load < a.capacity and team_skills <= a.skills]
        if not agents:
            return 0, False
        candidates = list(
            queued_in_pool(team_id).values_list("pk", "required_skills", "language")[:CANDIDATES_PER_BATCH]
        )
        if not candidates:
            return 0, False
        profiles = {
            profile.pk: profile
            for profile in AgentProfile.objects.select_for_update(of=("self",))
            .select_related("user")
            .filter(pk__in=[a.profile_id for a in agents])
            .order_by("pk")
        }
        loads = _loads([a.user_id for a in agents])
        for agent in agents:
            profile = profiles.get(agent.profile_id)
            online = profile is not None and profile.presence == AgentProfile.Presence.ONLINE
            agent.capacity = profile.capacity if profile is not None else 0
            agent.load = loads.get(agent.user_id, 0) if online else agent.capacity
        if not any(a.load < a.capacity for a in agents):
            return 0, False
        locked = {
            conversation.pk: conversation
            for conversation in queued_in_pool(team_id)
            .filter(pk__in=[pk for pk, _skills, _language in candidates])
            .select_related("contact", "team__sla_policy")
            .select_for_update(skip_locked=True, of=("self",))
        }
        if team is not None and team.routing_mode == Team.RoutingMode.ROUND_ROBIN:
            team = Team.objects.select_for_update().get(pk=team.pk)
        matched: list[lifecycle.Assignment] = []
        for candidate_id, skills, language in candidates:
            conversation = locked.get(candidate_id)
            if conversation is None:  # taken, or being taken by another worker
                continue
            fits = [a for a in agents if a.load < a.capacity and a.fits(skills, language)]
            if not fits:
                continue
            chosen = _choose(team, fits)
            profile = profiles[chosen.profile_id]
            chosen.load += 1
            chosen.last_assigned_at = timezone.now()
            matched.append(lifecycle.Assignment(conversation, profile.user, profile, chosen.load))
            if team is not None:
                team.round_robin_last_user_id = chosen.user_id
            if len(matched) >= limit:
                break
        lifecycle.conversations_assign(matched, reason="routing")
        if matched and team is not None and team.routing_mode == Team.RoutingMode.ROUND_ROBIN:
            Team.objects.filter(pk=team.pk).update(round_robin_last_user_id=team.round_robin_last_user_id)
        more = len(matched) >= limit or len(candidates) >= CANDIDATES_PER_BATCH or len(locked) < len(candidates)
        return len(matched), more


def _loads(user_ids: list[int]) -> dict[int, int]:
    """Conversations assigned and not on hold, per agent, counted now (one query)."""
    rows = (
        Conversation.objects.filter(assignee_id__in=user_ids, status=Conversation.Status.ASSIGNED, on_hold=False)
        .values("assignee_id")
        .annotate(n=Count("id"))
        .values_list("assignee_id", "n")
    )
    return dict(rows)


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
            batch, more = _batch(team_id, ASSIGNMENTS_PER_BATCH)
        except OperationalError as exc:
            if not _transient(exc):
                raise
            retries += 1
            if retries > MAX_RETRIES:
                log.warning("assignment in team %s gave up after %s retries", team_id, retries)
                break
            time.sleep(random.uniform(0.002, 0.02) * min(retries, 10))
            continue
        assigned += batch
        if not batch or not more:
            break
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
    _refreshed(conversation, locked)
    return conversation


def _refreshed(conversation: Conversation, committed: Conversation) -> None:
    """`conversation` as `committed` (the locked row, as this transaction wrote it and
    committed it): what `refresh_from_db` would read, without reading it again."""
    for field in Conversation._meta.concrete_fields:
        setattr(conversation, field.attname, getattr(committed, field.attname))
    conversation._state.db, conversation._state.adding = committed._state.db, False
    conversation._state.fields_cache = dict(committed._state.fields_cache)
    conversation.__dict__.pop("_prefetched_objects_cache", None)
