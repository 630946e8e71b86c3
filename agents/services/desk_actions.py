"""Desk actions on conversations: assign, transfer, resolve, reopen, hold and unhold, and
hand back to the bot. Each is one transaction that locks the conversation row (then the
agent's profile row when capacity matters), checks who may act and what the state allows,
and runs the transition in `conversations.services.conversations`, which sets the fields, records the
event, publishes once after commit and starts an assignment run for capacity it frees.
Supervisors' actions on other people's conversations go to the audit log.

Who may act is `conversations.access` (its `refusal` rule, checked here on the locked
row), and so are the statuses each action needs (`ACTION_STATUSES`). Refusals:
`PermissionDenied` for who, `ActionRefused(code, detail)` for what.
"""

from __future__ import annotations

from django.contrib.auth.models import User
from django.db import IntegrityError, transaction
from django.utils.translation import gettext, gettext_noop

from agents.models import AgentProfile, Team
from agents.services.audit import audit_record
from agents.services.presence import profile_for
from config.refusals import Refused
from conversations import access
from conversations.agent_events import agent_load
from conversations.models import Conversation
from conversations.services import conversations as lifecycle

Status = Conversation.Status


class ActionRefused(Refused):
    """The action does not fit the conversation's state (`code`: invalid_status,
    over_capacity, not_in_team, conflict, invalid)."""


def _lock(conversation: Conversation) -> Conversation:
    return Conversation.objects.select_for_update(of=("self",)).select_related("team", "contact").get(pk=conversation.pk)


# One sentence per status, so each reads naturally in every language.
NOT_WHILE: dict[str, str] = {
    Status.BOT: gettext_noop("Not possible while the conversation is with the bot."),
    Status.QUEUED: gettext_noop("Not possible while the conversation is queued."),
    Status.ASSIGNED: gettext_noop("Not possible while the conversation is assigned."),
    Status.RESOLVED: gettext_noop("Not possible while the conversation is resolved."),
}


def _require_status(conversation: Conversation, action: str) -> None:
    if conversation.status not in access.ACTION_STATUSES[action]:
        raise ActionRefused("invalid_status", gettext(NOT_WHILE.get(conversation.status, NOT_WHILE[Status.RESOLVED])))


def agent_room_lock(user: User) -> tuple[AgentProfile, int]:
    """Lock the agent's profile and check their load against capacity (inside the lock);
    returns the locked profile and the load counted."""
    profile_for(user)
    profile = AgentProfile.objects.select_for_update(of=("self",)).select_related("user").get(user_id=user.pk)
    load = agent_load(user_id=user.pk)
    if load >= profile.capacity:
        raise ActionRefused("over_capacity", gettext("%(agent)s has no room for another conversation.")
                            % {"agent": user.get_username()})
    return profile, load


def conversation_assign(*, conversation: Conversation, actor: User, agent: User | None = None) -> Conversation:
    """Assign to `agent` (the actor when None). Agents may take conversations of their
    teams that nobody else holds; supervisors and admins may give any of their teams'
    conversations to a member. Never beyond the agent's capacity."""
    agent = agent or actor
    with transaction.atomic():
        locked = _lock(conversation)
        target = None if agent.pk == actor.pk else access.roles_for(agent)
        roles = access.require(actor, locked, "assign", target=target)
        target = target or roles
        _require_status(locked, "assign")
        if not access.may_give_to(roles, locked.team_id, target):
            raise ActionRefused("not_in_team", gettext("%(agent)s is not in the team %(team)s.")
                                % {"agent": agent.get_username(), "team": locked.team})
        if locked.status == Status.ASSIGNED and locked.assignee_id == agent.pk:
            return locked
        profile, load = agent_room_lock(agent)
        previous_user = locked.assignee
        lifecycle.conversation_assign(
            conversation=locked,
            user=agent,
            actor=actor,
            reason="taken" if agent.pk == actor.pk else f"assigned by {actor.get_username()}",
            profile=profile,
            load_before=load,
        )
        if agent.pk != actor.pk:  # taking a conversation yourself is everyday desk work
            audit_record(actor=actor, action="conversation.assign", target=locked,
                         changes={"assignee": [previous_user, agent]})
    return locked


def conversation_transfer(
    *, conversation: Conversation, actor: User, agent: User | None = None, team: Team | None = None, note: str = ""
) -> Conversation:
    """Hand the conversation to another agent of its team (who must have room), or to
    another team's queue (routing starts afresh there). The note goes on the timeline."""
    if (agent is None) == (team is None):
        raise ActionRefused("invalid", gettext("Transfer to an agent or to a team, not both or neither."))
    with transaction.atomic():
        locked = _lock(conversation)
        roles = access.require(actor, locked, "transfer")
        _require_status(locked, "transfer")
        audit_diff = {"assignee": [locked.assignee, agent]} if agent is not None else {
            "team": [locked.team, team], "assignee": [locked.assignee, None]}
        if agent is not None:
            if not access.may_give_to(roles, locked.team_id, access.roles_for(agent)):
                raise ActionRefused(
                    "not_in_team", gettext("%(agent)s is not in the team %(team)s; transfer to the team.")
                    % {"agent": agent.get_username(), "team": locked.team}
                )
            if locked.assignee_id == agent.pk:
                raise ActionRefused("invalid", gettext("The conversation is already with this agent."))
            profile, load = agent_room_lock(agent)
            lifecycle.conversation_transfer(
                conversation=locked, actor=actor, user=agent, note=note, profile=profile, load_before=load
            )
        else:
            lifecycle.conversation_transfer(conversation=locked, actor=actor, team=team, note=note)
        audit_record(actor=actor, action="conversation.transfer", target=locked, changes=audit_diff)
    return locked


def conversation_resolve(*, conversation: Conversation, actor: User, note: str = "") -> Conversation:
    """Close the conversation; records first-response and resolution times, frees the
    assignee's capacity, and asks the customer for a rating after commit."""
    with transaction.atomic():
        locked = _lock(conversation)
        access.require(actor, locked, "resolve")
        _require_status(locked, "resolve")
        lifecycle.conversation_resolve(conversation=locked, actor=actor, note=note)
    return locked


def conversation_reopen(*, conversation: Conversation, actor: User) -> Conversation:
    """Open a resolved conversation again: assigned to the actor when they are in its team
    and have room, queued in its team otherwise."""
    with transaction.atomic():
        locked = _lock(conversation)
        roles = access.require(actor, locked, "reopen")
        _require_status(locked, "reopen")
        try:
            lifecycle.conversation_reopen(conversation=locked, to=Status.QUEUED, actor=actor)
        except IntegrityError:
            raise ActionRefused("conflict", gettext("The customer already has another open conversation.")) from None
        in_team = locked.team_id is None or locked.team_id in roles.member_of
        if in_team and agent_load(user_id=actor.pk) < profile_for(actor).capacity:
            profile, load = agent_room_lock(actor)
            lifecycle.conversation_assign(
                conversation=locked, user=actor, actor=actor, reason="reopened", profile=profile, load_before=load
            )
    return locked


def conversation_hold(*, conversation: Conversation, actor: User) -> Conversation:
    """Put an assigned conversation on hold: it stays with its assignee but no longer
    counts against their capacity."""
    with transaction.atomic():
        locked = _lock(conversation)
        access.require(actor, locked, "hold")
        _require_status(locked, "hold")
        lifecycle.conversation_hold(conversation=locked, actor=actor)
    return locked


def conversation_unhold(*, conversation: Conversation, actor: User) -> Conversation:
    """Take a conversation off hold; refused when its assignee has no room for it now."""
    with transaction.atomic():
        locked = _lock(conversation)
        access.require(actor, locked, "unhold")
        _require_status(locked, "unhold")
        if not locked.on_hold:
            return locked
        if locked.assignee is not None:
            agent_room_lock(locked.assignee)
        lifecycle.conversation_unhold(conversation=locked, actor=actor)
    return locked


def conversation_handback(*, conversation: Conversation, actor: User, note: str = "") -> Conversation:
    """Return the conversation to the bot; the assignee's capacity is freed."""
    with transaction.atomic():
        locked = _lock(conversation)
        access.require(actor, locked, "handback")
        _require_status(locked, "handback")
        lifecycle.conversation_hand_back(conversation=locked, actor=actor, note=note)
    return locked
