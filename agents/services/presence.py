"""Presence and load: who is online, how many conversations each agent carries, and the
desk heartbeat that keeps an agent online.

Load counts the conversations assigned to an agent and not on hold; it is always counted
from the database (never cached), so the assignment engine can recount it under a lock.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth.models import User
from django.db import DatabaseError, transaction
from django.db.models import Count, Q, QuerySet
from django.utils import timezone

from agents.models import AgentProfile, Team
from config import task_names
from config.realtime import SUPERVISORS_GROUP, agent_group, broadcast_on_commit, team_group
from config.realtime import publish as realtime_publish
from config.tasking import enqueue_on_commit
from conversations.business_hours import team_is_open
from conversations.models import Conversation


def profile_for(user: User) -> AgentProfile:
    """The user's agent profile, created on first use (idempotent under concurrency)."""
    profile = AgentProfile.objects.filter(user_id=user.pk).first()
    if profile is None:
        profile, _ = AgentProfile.objects.get_or_create(user_id=user.pk)
    return profile


def agent_load(*, user_id: int) -> int:
    """Conversations assigned to the agent and not on hold, counted now from the database."""
    return Conversation.objects.filter(
        assignee_id=user_id, status=Conversation.Status.ASSIGNED, on_hold=False
    ).count()


def profiles_with_load(queryset: QuerySet[AgentProfile] | None = None) -> QuerySet[AgentProfile]:
    """Profiles annotated with `load` (one query)."""
    qs = queryset if queryset is not None else AgentProfile.objects.all()
    return qs.select_related("user").annotate(
        load=Count(
            "user__assigned_conversations",
            filter=Q(
                user__assigned_conversations__status=Conversation.Status.ASSIGNED,
                user__assigned_conversations__on_hold=False,
            ),
        )
    )


def profile_load(profile: AgentProfile) -> int:
    """The `load` annotation of a profile from `profiles_with_load`."""
    return int(profile.load)  # type: ignore[attr-defined]


def online_profiles(*, team: Team | None = None) -> QuerySet[AgentProfile]:
    """Online agents (of `team` when given, any team otherwise), with their load."""
    qs = AgentProfile.objects.filter(presence=AgentProfile.Presence.ONLINE, user__is_active=True)
    if team is not None:
        qs = qs.filter(user__teams=team)
    return profiles_with_load(qs)


def team_away(*, team: Team) -> bool:
    """Outside the team's business hours with none of its agents online: a web chat inbox
    of the team then offers its offline form."""
    return not team_is_open(team=team) and not online_profiles(team=team).exists()


def inbox_away(inbox: Any) -> bool:
    """A web chat inbox is away when its team is (`team_away`); one without a team never is."""
    return inbox.team is not None and team_away(team=inbox.team)


def team_has_available_agent(*, team: Team) -> bool:
    """Whether an online member of `team` with the team's required skills has room now."""
    required = set(team.required_skills or [])
    return any(
        profile_load(profile) < profile.capacity and required <= set(profile.skills or [])
        for profile in online_profiles(team=team)
    )


def agent_payload(profile: AgentProfile, load: int | None = None) -> dict[str, Any]:
    user = profile.user
    return {
        "id": user.pk,
        "username": user.get_username(),
        "name": user.get_full_name() or user.get_username(),
        "presence": profile.presence,
        "presence_changed_at": profile.presence_changed_at.isoformat(),
        "load": agent_load(user_id=user.pk) if load is None else load,
        "capacity": profile.capacity,
        "skills": list(profile.skills or []),
        "languages": list(profile.languages or []),
    }


def agent_updated_broadcast(profile: AgentProfile, *, load: int | None = None) -> None:
    """Publish `agent.updated` (presence, load) to the agent, their teams and supervisors
    after commit. With `load` (known exactly by a caller holding the profile's row lock)
    the payload is built now; otherwise at commit time, so it carries the committed load."""
    user_id = profile.user_id
    team_ids = list(Team.objects.filter(members__pk=user_id).values_list("pk", flat=True))
    groups = [agent_group(user_id), SUPERVISORS_GROUP, *(team_group(t) for t in team_ids)]
    if load is not None:
        broadcast_on_commit(groups, {"type": "agent.updated", "agent": agent_payload(profile, load=load)})
        return

    def publish() -> None:
        try:
            fresh = AgentProfile.objects.select_related("user").filter(pk=profile.pk).first()
            payload = agent_payload(fresh) if fresh is not None else None
        except DatabaseError:  # the websocket is a notification; the desk re-reads on reconnect
            return
        if payload is not None:
            realtime_publish(groups, {"type": "agent.updated", "agent": payload})

    transaction.on_commit(publish)


def presence_set(*, user: User, presence: str) -> AgentProfile:
    """Set the agent's presence. Coming online counts as a desk sighting and starts an
    assignment run for the agent's teams after commit."""
    if presence not in AgentProfile.Presence.values:
        raise ValueError(f"unknown presence {presence!r}")
    profile_for(user)
    with transaction.atomic():
        profile = AgentProfile.objects.select_for_update().select_related("user").get(user_id=user.pk)
        _presence_change(profile, presence, automatic=False)
    return profile


def _presence_change(profile: AgentProfile, presence: str, *, automatic: bool) -> None:
    now = timezone.now()
    fields = ["away_is_automatic"]
    profile.away_is_automatic = automatic and presence == AgentProfile.Presence.AWAY
    if presence == AgentProfile.Presence.ONLINE:
        profile.last_seen_at = now
        fields.append("last_seen_at")
    changed = profile.presence != presence
    if changed:
        profile.presence = presence
        profile.presence_changed_at = now
        fields += ["presence", "presence_changed_at"]
    profile.save(update_fields=fields)
    if changed:
        agent_updated_broadcast(profile)
        if presence == AgentProfile.Presence.ONLINE:
            enqueue_on_commit(task_names.QUEUE_DRAIN_FOR_AGENT, user_id=profile.user_id)


def agent_seen(*, user: User) -> None:
    """Record a desk connection, disconnection or heartbeat. An agent the sweep moved to
    away comes back online; a presence the agent chose is left alone."""
    profile_for(user)
    with transaction.atomic():
        AgentProfile.objects.filter(user_id=user.pk).update(last_seen_at=timezone.now())
        profile = (
            AgentProfile.objects.select_for_update()
            .select_related("user")
            .filter(user_id=user.pk, presence=AgentProfile.Presence.AWAY, away_is_automatic=True)
            .first()
        )
        if profile is not None:
            _presence_change(profile, AgentProfile.Presence.ONLINE, automatic=False)


def presence_sweep() -> int:
    """Move online agents without a desk sighting for PRESENCE_AWAY_AFTER_SECONDS to away
    (automatically: their next desk connection brings them back). Each move is a
    compare-and-set, so concurrent sweeps are harmless."""
    cutoff = timezone.now() - timedelta(seconds=settings.PRESENCE_AWAY_AFTER_SECONDS)
    stale = AgentProfile.objects.filter(presence=AgentProfile.Presence.ONLINE).filter(
        Q(last_seen_at__lt=cutoff) | Q(last_seen_at__isnull=True, presence_changed_at__lt=cutoff)
    )
    moved = 0
    for profile_id in list(stale.values_list("pk", flat=True)):
        with transaction.atomic():
            now = timezone.now()
            changed = (
                AgentProfile.objects.filter(pk=profile_id, presence=AgentProfile.Presence.ONLINE)
                .filter(Q(last_seen_at__lt=cutoff) | Q(last_seen_at__isnull=True, presence_changed_at__lt=cutoff))
                .update(presence=AgentProfile.Presence.AWAY, presence_changed_at=now, away_is_automatic=True)
            )
            if changed:
                moved += 1
                agent_updated_broadcast(AgentProfile.objects.select_related("user").get(pk=profile_id))
    return moved
