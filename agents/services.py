"""Desk actions on conversations: assign, transfer, resolve, reopen, hold and unhold, and
hand back to the bot. Each is one transaction that locks the conversation row (then the
agent's profile row when capacity matters), checks who may act, records an event, and
publishes after commit. Capacity freed by an action starts an assignment run after commit.

Who may act: admins everywhere; supervisors on their teams' conversations; agents on
their teams' conversations, and, once a conversation is assigned to somebody else, only
its assignee (or a supervisor or admin) may transfer, resolve, hold or hand it back.
Refusals: `PermissionDenied` for who, `ActionRefused(code, detail)` for what.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied
from django.db import IntegrityError, transaction
from django.utils import timezone

from agents.audit import audit_record
from agents.models import AgentProfile, Team
from agents.presence import agent_load, agent_updated_broadcast, profile_for
from agents.routing import assignment_apply, queue_updated_broadcast, routing_reset
from agents.sla import first_response_due, first_response_record, response_times
from config.realtime import agent_group, broadcast_on_commit
from config.tasking import enqueue_on_commit
from conversations.events import conversation_event, publish_conversation
from conversations.models import Conversation, Participant
from conversations.selectors import user_is_admin, user_is_supervisor_of
from conversations.services import conversation_event_record

Status = Conversation.Status


class ActionRefused(Exception):
    """The action does not fit the conversation's state (`code`: invalid_status,
    over_capacity, not_in_team, conflict, invalid)."""

    def __init__(self, code: str, detail: str):
        super().__init__(detail)
        self.code = code
        self.detail = detail


def user_is_member(user: Any, team: Team | None) -> bool:
    return team is not None and team.members.filter(pk=user.pk).exists()


def user_works_in(user: Any, team: Team | None) -> bool:
    """Members and supervisors of the team may hold its conversations."""
    return team is not None and (user_is_member(user, team) or team.supervisors.filter(pk=user.pk).exists())


def user_oversees(user: Any, conversation: Conversation) -> bool:
    """Admins, and supervisors of the conversation's team."""
    return user_is_admin(user) or user_is_supervisor_of(user, conversation.team)


def _require_access(actor: Any, conversation: Conversation, *, owner_only: bool = True) -> None:
    if not getattr(actor, "is_authenticated", False) or not actor.is_active:
        raise PermissionDenied("Sign in first.")
    if user_oversees(actor, conversation):
        return
    in_team = user_is_member(actor, conversation.team)
    if not in_team and conversation.assignee_id != actor.pk:
        raise PermissionDenied("This conversation belongs to a team you are not in.")
    if owner_only and conversation.assignee_id not in (None, actor.pk):
        raise PermissionDenied("Only the assignee, a supervisor or an admin may do this.")


def _lock(conversation: Conversation) -> Conversation:
    return Conversation.objects.select_for_update(of=("self",)).select_related("team", "contact").get(pk=conversation.pk)


def _require_status(conversation: Conversation, *allowed: str) -> None:
    if conversation.status not in allowed:
        raise ActionRefused(
            "invalid_status", f"Not possible while the conversation is {conversation.get_status_display().lower()}."
        )


def _require_room(user: Any) -> AgentProfile:
    """Lock the agent's profile and check their load against capacity (inside the lock)."""
    profile_for(user)
    profile = AgentProfile.objects.select_for_update().select_related("user").get(user_id=user.pk)
    if agent_load(user_id=user.pk) >= profile.capacity:
        raise ActionRefused("over_capacity", f"{user.get_username()} has no room for another conversation.")
    return profile


def _end_participations(conversation: Conversation, *, only_owner: bool = False) -> None:
    qs = Participant.objects.filter(conversation=conversation, left_at__isnull=True)
    if only_owner:
        qs = qs.filter(role=Participant.Role.OWNER)
    qs.update(left_at=timezone.now())


def _capacity_freed(user_id: int | None) -> None:
    if user_id is None:
        return
    agent_updated_broadcast(AgentProfile.objects.select_related("user").get_or_create(user_id=user_id)[0])
    enqueue_on_commit("agents.tasks.queue_drain_for_agent", user_id=user_id)


def _tell_previous_assignee(conversation: Conversation, previous_assignee: int | None) -> None:
    if previous_assignee is not None and previous_assignee != conversation.assignee_id:
        broadcast_on_commit([agent_group(previous_assignee)], conversation_event(conversation))


def conversation_assign(*, conversation: Conversation, actor: Any, agent: Any = None) -> Conversation:
    """Assign to `agent` (the actor when None). Agents may take conversations of their
    teams that nobody else holds; supervisors and admins may give any of their teams'
    conversations to a member. Never beyond the agent's capacity."""
    agent = agent or actor
    with transaction.atomic():
        locked = _lock(conversation)
        oversees = user_oversees(actor, locked)
        if agent.pk != actor.pk and not oversees:
            raise PermissionDenied("Only a supervisor or an admin may assign to somebody else.")
        _require_access(actor, locked)
        _require_status(locked, Status.BOT, Status.QUEUED, Status.ASSIGNED)
        if locked.team is not None and not user_works_in(agent, locked.team) and not user_is_admin(actor):
            raise ActionRefused("not_in_team", f"{agent.get_username()} is not in the team {locked.team}.")
        if locked.status == Status.ASSIGNED and locked.assignee_id == agent.pk:
            return locked
        _require_room(agent)
        previous_assignee = locked.assignee_id
        if locked.queued_at is None:
            locked.queued_at = timezone.now()
            locked.save(update_fields=["queued_at"])
        previous_user = locked.assignee
        assignment_apply(
            conversation=locked,
            user=agent,
            actor=actor,
            reason="taken" if agent.pk == actor.pk else f"assigned by {actor.get_username()}",
        )
        if agent.pk != actor.pk:  # taking a conversation yourself is everyday desk work
            audit_record(actor=actor, action="conversation.assign", target=locked,
                         changes={"assignee": [previous_user, agent]})
        _tell_previous_assignee(locked, previous_assignee)
        _capacity_freed(previous_assignee)
    return locked


def conversation_transfer(
    *, conversation: Conversation, actor: Any, agent: Any = None, team: Team | None = None, note: str = ""
) -> Conversation:
    """Hand the conversation to another agent of its team (who must have room), or to
    another team's queue (routing starts afresh there). The note goes on the timeline."""
    if (agent is None) == (team is None):
        raise ActionRefused("invalid", "Transfer to an agent or to a team, not both or neither.")
    with transaction.atomic():
        locked = _lock(conversation)
        _require_access(actor, locked)
        _require_status(locked, Status.QUEUED, Status.ASSIGNED)
        previous_assignee = locked.assignee_id
        previous_team = locked.team_id
        audit_diff = {"assignee": [locked.assignee, agent]} if agent is not None else {
            "team": [locked.team, team], "assignee": [locked.assignee, None]}
        if agent is not None:
            if locked.team is not None and not user_works_in(agent, locked.team):
                raise ActionRefused(
                    "not_in_team", f"{agent.get_username()} is not in the team {locked.team}; transfer to the team."
                )
            if previous_assignee == agent.pk:
                raise ActionRefused("invalid", "The conversation is already with this agent.")
            _require_room(agent)
            assignment_apply(
                conversation=locked, user=agent, actor=actor, kind="transferred", reason=note,
                data={"to_agent": agent.pk},
            )
        elif team is not None:
            now = timezone.now()
            from_status = locked.status
            _end_participations(locked, only_owner=True)
            locked.status = Status.QUEUED
            locked.team = team
            locked.assignee = None
            locked.assigned_at = None
            locked.on_hold = False
            locked.queued_at = now
            locked.required_skills = []
            if locked.first_response_at is None:
                locked.first_response_due_at = first_response_due(team=team, queued_at=now)
            locked.save(
                update_fields=["status", "team", "assignee", "assigned_at", "on_hold", "queued_at",
                               "required_skills", "first_response_due_at"]
            )
            routing_reset(conversation=locked, team=team, reason=note, at=now)
            conversation_event_record(
                conversation=locked, kind="transferred", actor=actor, from_status=from_status,
                to_status=locked.status, reason=note,
                data={"from_team": previous_team, "to_team": team.pk, "previous_assignee": previous_assignee},
            )
            publish_conversation(locked)
            queue_updated_broadcast(team.pk)
            enqueue_on_commit("agents.tasks.queue_drain", team_id=team.pk)
        audit_record(actor=actor, action="conversation.transfer", target=locked, changes=audit_diff)
        _tell_previous_assignee(locked, previous_assignee)
        _capacity_freed(previous_assignee)
    return locked


def conversation_resolve(*, conversation: Conversation, actor: Any, note: str = "") -> Conversation:
    """Close the conversation; records first-response and resolution times, frees the
    assignee's capacity, and asks the customer for a rating after commit."""
    with transaction.atomic():
        locked = _lock(conversation)
        _require_access(actor, locked)
        _require_status(locked, Status.BOT, Status.QUEUED, Status.ASSIGNED)
        from_status = locked.status
        first_response_record(conversation=locked)
        locked.status = Status.RESOLVED
        locked.resolved_at = timezone.now()
        locked.on_hold = False
        locked.next_response_due_at = None
        locked.save(update_fields=["status", "resolved_at", "on_hold", "next_response_due_at"])
        _end_participations(locked)
        conversation_event_record(
            conversation=locked, kind="resolved", actor=actor, from_status=from_status, to_status=locked.status,
            reason=note, data=response_times(locked),
        )
        publish_conversation(locked)
        if from_status == Status.QUEUED:
            queue_updated_broadcast(locked.team_id)
        if from_status == Status.ASSIGNED:
            _capacity_freed(locked.assignee_id)
        enqueue_on_commit("agents.tasks.csat_request", conversation_id=locked.pk)
    return locked


def conversation_reopen(*, conversation: Conversation, actor: Any) -> Conversation:
    """Open a resolved conversation again: assigned to the actor when they are in its team
    and have room, queued in its team otherwise."""
    with transaction.atomic():
        locked = _lock(conversation)
        _require_access(actor, locked, owner_only=False)
        _require_status(locked, Status.RESOLVED)
        now = timezone.now()
        locked.status = Status.QUEUED
        locked.resolved_at = None
        locked.assignee = None
        locked.assigned_at = None
        locked.queued_at = now
        locked.csat_requested_at = None
        locked.csat_score = None
        try:
            with transaction.atomic():
                locked.save(update_fields=["status", "resolved_at", "assignee", "assigned_at", "queued_at",
                                           "csat_requested_at", "csat_score"])
        except IntegrityError:
            raise ActionRefused("conflict", "The customer already has another open conversation.") from None
        routing_reset(conversation=locked, team=locked.team, reason="reopened", at=now)
        conversation_event_record(
            conversation=locked, kind="reopened", actor=actor, from_status=Status.RESOLVED, to_status=Status.QUEUED
        )
        in_team = locked.team is None or user_is_member(actor, locked.team)
        profile = profile_for(actor)
        if in_team and agent_load(user_id=actor.pk) < profile.capacity:
            _require_room(actor)
            assignment_apply(conversation=locked, user=actor, actor=actor, reason="reopened")
        else:
            publish_conversation(locked)
            queue_updated_broadcast(locked.team_id)
            enqueue_on_commit("agents.tasks.queue_drain", team_id=locked.team_id)
    return locked


def conversation_hold(*, conversation: Conversation, actor: Any) -> Conversation:
    """Put an assigned conversation on hold: it stays with its assignee but no longer
    counts against their capacity."""
    with transaction.atomic():
        locked = _lock(conversation)
        _require_access(actor, locked)
        _require_status(locked, Status.ASSIGNED)
        if locked.on_hold:
            return locked
        locked.on_hold = True
        locked.save(update_fields=["on_hold"])
        conversation_event_record(conversation=locked, kind="held", actor=actor, from_status=locked.status,
                                  to_status=locked.status)
        publish_conversation(locked)
        _capacity_freed(locked.assignee_id)
    return locked


def conversation_unhold(*, conversation: Conversation, actor: Any) -> Conversation:
    """Take a conversation off hold; refused when its assignee has no room for it now."""
    with transaction.atomic():
        locked = _lock(conversation)
        _require_access(actor, locked)
        _require_status(locked, Status.ASSIGNED)
        if not locked.on_hold:
            return locked
        _require_room(locked.assignee)
        locked.on_hold = False
        locked.save(update_fields=["on_hold"])
        conversation_event_record(conversation=locked, kind="unheld", actor=actor, from_status=locked.status,
                                  to_status=locked.status)
        publish_conversation(locked)
        agent_updated_broadcast(profile_for(locked.assignee))
    return locked


def conversation_handback(*, conversation: Conversation, actor: Any, note: str = "") -> Conversation:
    """Return the conversation to the bot; the assignee's capacity is freed."""
    with transaction.atomic():
        locked = _lock(conversation)
        _require_access(actor, locked)
        _require_status(locked, Status.QUEUED, Status.ASSIGNED)
        from_status = locked.status
        previous_assignee = locked.assignee_id if from_status == Status.ASSIGNED else None
        locked.status = Status.BOT
        locked.assignee = None
        locked.assigned_at = None
        locked.on_hold = False
        locked.first_response_due_at = None
        locked.next_response_due_at = None
        locked.save(update_fields=["status", "assignee", "assigned_at", "on_hold", "first_response_due_at",
                                   "next_response_due_at"])
        _end_participations(locked)
        conversation_event_record(conversation=locked, kind="handed_back", actor=actor, from_status=from_status,
                                  to_status=locked.status, reason=note)
        publish_conversation(locked)
        if from_status == Status.QUEUED:
            queue_updated_broadcast(locked.team_id)
        _tell_previous_assignee(locked, previous_assignee)
        _capacity_freed(previous_assignee)
    return locked
