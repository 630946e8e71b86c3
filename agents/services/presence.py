"""Presence and load: who is online, how many conversations each agent carries, and the
desk heartbeat that keeps an agent online.

Load counts the conversations assigned to an agent and not on hold, always from the
database (conversations.agent_events, which also publishes `agent.updated`).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth.models import User
from django.db import transaction
from django.db.models import Count, Q, QuerySet
from django.utils import timezone

from agents.models import AgentProfile, Team
from config import task_names
from config.tasking import enqueue_on_commit
from conversations.agent_events import agent_updated_broadcast
from conversations.business_hours import team_is_open
from conversations.models import Conversation


def profile_for(user: User) -> AgentProfile:
    """The user's agent profile, created on first use (idempotent under concurrency)."""
    profile = AgentProfile.objects.filter(user_id=user.pk).first()
    if profile is None:
        profile, _ = AgentProfile.objects.get_or_create(user_id=user.pk)
    return profile


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
            enqueue_on_commit(task_names.QUEUE_DRAIN_FOR_AGENT, unique=True, user_id=profile.user_id)


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
