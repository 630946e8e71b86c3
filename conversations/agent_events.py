"""`agent.updated`: an agent's presence and load as the desk and the monitor show them.

Load counts the conversations assigned to an agent and not on hold; it is always counted
from the database (never cached), so the assignment engine can recount it under a lock.
Published by the conversation lifecycle when a transition changes an agent's load and by
agents.services.presence when the presence changes.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.db import DatabaseError, transaction

from agents.models import AgentProfile, Team
from config.realtime import SUPERVISORS_GROUP, agent_group, broadcast_on_commit, team_group
from config.realtime import publish as realtime_publish
from conversations.models import Conversation


def agent_load(*, user_id: int) -> int:
    """Conversations assigned to the agent and not on hold, counted now from the database."""
    return Conversation.objects.filter(
        assignee_id=user_id, status=Conversation.Status.ASSIGNED, on_hold=False
    ).count()


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
    groups = _groups(user_id, team_ids)
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


def agents_updated_broadcast(loads: Iterable[tuple[AgentProfile, int]]) -> None:
    """`agent.updated` for several agents whose loads the caller counted exactly under their
    profiles' row locks (an assignment batch): their teams read in one query, each payload
    built now and sent after commit."""
    loads = list(loads)
    if not loads:
        return
    teams: dict[int, list[int]] = {profile.user_id: [] for profile, _load in loads}
    memberships = Team.members.through.objects.filter(user_id__in=list(teams)).values_list("user_id", "team_id")
    for user_id, team_id in memberships.order_by("team_id"):
        teams[user_id].append(team_id)
    for profile, load in loads:
        broadcast_on_commit(
            _groups(profile.user_id, teams[profile.user_id]),
            {"type": "agent.updated", "agent": agent_payload(profile, load=load)},
        )


def _groups(user_id: int, team_ids: Iterable[int]) -> list[str]:
    return [agent_group(user_id), SUPERVISORS_GROUP, *(team_group(t) for t in team_ids)]
