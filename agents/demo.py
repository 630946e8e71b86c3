"""Demo data for agents: roles, profiles (skills, languages, capacity), an SLA policy, and
teams open around the clock so the demo's handoffs are assigned. Idempotent; the users
and teams come from conversations.demo (missing ones are created here too)."""

from __future__ import annotations

from typing import TextIO

from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone

from agents.models import AgentProfile, SlaPolicy, Team, TeamOverflow
from agents.roles import ADMIN, AGENT, SUPERVISOR, role_grant, roles_ensure

# username: (role, skills, languages, capacity)
PROFILES = {
    "agent1": (AGENT, ["orders"], ["en", "es"], 3),
    "agent2": (AGENT, ["orders", "billing"], ["en"], 3),
    "agent3": (AGENT, ["billing"], ["en", "pt"], 2),
    "supervisor": (SUPERVISOR, ["orders", "billing"], ["en"], 2),
    "admin": (ADMIN, [], [], 3),
}
TEAMS = {"support": "Support", "billing": "Billing"}


def load(stdout: TextIO) -> None:
    User = get_user_model()
    now = timezone.now()
    with transaction.atomic():
        roles_ensure()
        policy, _ = SlaPolicy.objects.get_or_create(
            name="Standard",
            defaults={"first_response_seconds": 300, "next_response_seconds": 600, "business_hours_only": True},
        )
        teams = {}
        for slug, name in TEAMS.items():
            team, _ = Team.objects.get_or_create(slug=slug, defaults={"name": name})
            if team.sla_policy_id is None:
                team.sla_policy = policy
                team.save(update_fields=["sla_policy"])
            # No weekly hours: open around the clock.
            team.business_hours.all().delete()
            teams[slug] = team
        # Support overflows to Billing after two minutes, then to any online agent.
        for position, (target, after) in enumerate([(teams["billing"], 120), (None, 300)], start=1):
            TeamOverflow.objects.update_or_create(
                team=teams["support"], position=position, defaults={"target_team": target, "after_seconds": after}
            )
        for username, (role, skills, languages, capacity) in PROFILES.items():
            user, created = User.objects.get_or_create(username=username)
            if created:
                user.set_unusable_password()
                user.save()
            role_grant(user=user, role=role)
            # Demo agents start online; without a desk connection the presence sweep moves
            # them to away, and opening the desk brings them back.
            AgentProfile.objects.update_or_create(
                user=user,
                defaults={"skills": skills, "languages": languages, "capacity": capacity,
                          "presence": AgentProfile.Presence.ONLINE, "presence_changed_at": now,
                          "last_seen_at": now, "away_is_automatic": False},
            )
    stdout.write("Agents: profiles and roles (agent, supervisor, admin), SLA policy 'Standard', teams open 24/7;\n")
    stdout.write("  demo agents start online (set presence on the desk or PATCH /api/v1/agents/me/).\n")
