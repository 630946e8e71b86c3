"""Reads on conversations, and the access rules every page, API call and websocket
subscription goes through.

Visibility: superusers and members of the `admin` group see every conversation;
supervisors see the conversations of the teams they supervise and those without a team;
agents see the conversations of their teams, those assigned to them and those where they
are an active participant. A user who is several of these sees the union. Contacts follow
their conversations (`contacts_visible_to`), plus those a user created.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.db.models import Exists, OuterRef, Prefetch, Q, QuerySet
from django.http import Http404

from agents.models import Team

from .models import Contact, Conversation, ConversationEvent, Message, Participant, WhatsAppNumber

ADMIN_GROUP = "admin"


def user_is_admin(user: Any) -> bool:
    """Superusers and members of the `admin` group."""
    if user is None or not getattr(user, "is_authenticated", False) or not user.is_active:
        return False
    if user.is_superuser:
        return True
    cached = getattr(user, "_handoff_is_admin", None)
    if cached is None:
        cached = user.groups.filter(name=ADMIN_GROUP).exists()
        user._handoff_is_admin = cached
    return bool(cached)


def user_is_supervisor_of(user: Any, team: Team | None) -> bool:
    """Admins supervise every team; otherwise the user must be one of `team`'s supervisors."""
    if user is None or team is None or not getattr(user, "is_authenticated", False) or not user.is_active:
        return False
    if user_is_admin(user):
        return True
    return team.supervisors.filter(pk=user.pk).exists()


def _user_team_ids(user: Any) -> QuerySet:
    return Team.members.through.objects.filter(user_id=user.pk).values("team_id")


def _supervised_team_ids(user: Any) -> QuerySet:
    return Team.supervisors.through.objects.filter(user_id=user.pk).values("team_id")


def _active_participations(user: Any) -> QuerySet:
    return Participant.objects.filter(user_id=user.pk, left_at__isnull=True).values("conversation_id")


def conversations_visible_to(user: Any) -> QuerySet[Conversation]:
    """Every conversation `user` may see, unordered beyond the model's default and without
    joins that could duplicate rows (memberships are matched through subqueries)."""
    if user is None or not getattr(user, "is_authenticated", False) or not user.is_active:
        return Conversation.objects.none()
    if user_is_admin(user):
        return Conversation.objects.all()
    rule = (
        Q(team_id__in=_user_team_ids(user))
        | Q(assignee_id=user.pk)
        | Q(pk__in=_active_participations(user))
        | Q(team_id__in=_supervised_team_ids(user))
    )
    if Team.supervisors.through.objects.filter(user_id=user.pk).exists():
        rule |= Q(team__isnull=True)
    return Conversation.objects.filter(rule)


def conversation_for_user(user: Any, conversation_id: int | str) -> Conversation:
    """The conversation, if it exists and `user` may see it; `Http404` otherwise (whether it
    exists is never revealed)."""
    try:
        conversation_id = int(conversation_id)
    except (TypeError, ValueError):
        raise Http404("No such conversation.") from None
    conversation = (
        conversations_visible_to(user)
        .select_related("contact", "number", "team", "assignee")
        .filter(pk=conversation_id)
        .first()
    )
    if conversation is None:
        raise Http404("No such conversation.")
    return conversation


def user_is_active_participant(user: Any, conversation: Conversation) -> bool:
    return Participant.objects.filter(conversation=conversation, user_id=user.pk, left_at__isnull=True).exists()


def user_may_reply(user: Any, conversation: Conversation) -> bool:
    """Free-text replies to a conversation assigned to somebody else need a part in it:
    its assignee or an active participant, a supervisor of its team, or an admin."""
    if conversation.assignee_id is None or conversation.assignee_id == user.pk:
        return True
    if user_is_admin(user) or user_is_supervisor_of(user, conversation.team):
        return True
    return user_is_active_participant(user, conversation)


def _active_participants() -> Prefetch:
    return Prefetch(
        "participants",
        queryset=Participant.objects.filter(left_at__isnull=True).select_related("user").order_by("joined_at", "id"),
        to_attr="active_participants",
    )


def conversation_list(
    *,
    user: Any,
    status: str | None = None,
    team_id: int | None = None,
    assignee_id: int | None = None,
    unassigned: bool = False,
    since: datetime | None = None,
) -> QuerySet[Conversation]:
    """Visible conversations, newest activity first, with everything a list row shows
    loaded in a constant number of queries."""
    qs = conversations_visible_to(user)
    if status:
        qs = qs.filter(status=status)
    if team_id is not None:
        qs = qs.filter(team_id=team_id)
    if assignee_id is not None:
        qs = qs.filter(assignee_id=assignee_id)
    if unassigned:
        qs = qs.filter(assignee__isnull=True)
    if since is not None:
        qs = qs.filter(last_activity_at__gt=since)
    return (
        qs.select_related("contact", "number", "team", "assignee")
        .prefetch_related(_active_participants())
        .order_by("-last_activity_at", "-id")
    )


def conversation_detail(*, user: Any, conversation_id: int | str) -> Conversation:
    """One visible conversation with its active participants and the latest handoff context
    (`handoff_context`) loaded; `Http404` when missing or not visible."""
    conversation = conversation_for_user(user, conversation_id)
    participants = list(
        Participant.objects.filter(conversation=conversation, left_at__isnull=True)
        .select_related("user")
        .order_by("joined_at", "id")
    )
    conversation.active_participants = participants  # type: ignore[attr-defined]
    conversation.handoff_context = conversation_latest_handoff(conversation)  # type: ignore[attr-defined]
    return conversation


def conversation_latest_handoff(conversation: Conversation) -> dict | None:
    """The context of the latest handoff from a bot, when the bots app recorded any."""
    handoffs = getattr(conversation, "handoffs", None)
    if handoffs is None:
        return None
    latest = handoffs.order_by("-created_at", "-id").first()
    return latest.as_context() if latest is not None else None


def messages_for_conversation(
    conversation: Conversation, after_id: int | None = None, *, include_internal: bool = True
) -> QuerySet[Message]:
    """The conversation's messages, oldest first; only those after message `after_id` when given."""
    qs = (
        Message.objects.filter(conversation=conversation)
        .select_related("sender_user", "conversation__contact")
        .order_by("created_at", "id")
    )
    if after_id is not None:
        # A cursor follows insertion order, so a late-stored message is never skipped.
        qs = qs.filter(id__gt=after_id).order_by("id")
    if not include_internal:
        qs = qs.filter(internal=False)
    return qs


def message_in_conversation(conversation: Conversation, message_id: int) -> Message | None:
    return Message.objects.filter(conversation=conversation, pk=message_id).first()


def conversation_events(conversation: Conversation) -> QuerySet[ConversationEvent]:
    return ConversationEvent.objects.filter(conversation=conversation).select_related("actor").order_by("created_at", "id")


def contacts_visible_to(user: Any, *, q: str = "") -> QuerySet[Contact]:
    """Contacts `user` may see, newest first: admins all; everyone else the contacts of the
    conversations they may see (the rule of `conversations_visible_to`, checked with EXISTS
    so a contact with many conversations is one row) and the contacts they created
    themselves that have no visible conversation yet. `q` searches name, WhatsApp id and
    business-scoped user id."""
    if user is None or not getattr(user, "is_authenticated", False) or not user.is_active:
        return Contact.objects.none()
    qs = Contact.objects.select_related("number").order_by("-created_at", "-id")
    if not user_is_admin(user):
        seen = Exists(conversations_visible_to(user).filter(contact_id=OuterRef("pk")))
        qs = qs.filter(seen | Q(created_by_id=user.pk))
    q = q.strip()
    if q:
        digits = q.lstrip("+").replace(" ", "")
        qs = qs.filter(Q(profile_name__icontains=q) | Q(wa_id__icontains=digits or q) | Q(user_id__icontains=q))
    return qs


def contact_for_user(user: Any, contact_id: int | str) -> Contact:
    """The contact, if it exists and `user` may see it; `Http404` otherwise (whether it
    exists is never revealed), as for conversations."""
    try:
        contact_id = int(contact_id)
    except (TypeError, ValueError):
        raise Http404("No such contact.") from None
    contact = contacts_visible_to(user).filter(pk=contact_id).first()
    if contact is None:
        raise Http404("No such contact.")
    return contact


def number_for_new_contact(*, number_id: int | None = None) -> WhatsAppNumber | None:
    """The number a new contact belongs to: the one named, else the default number."""
    if number_id is not None:
        return WhatsAppNumber.objects.filter(pk=number_id).first()
    return WhatsAppNumber.objects.filter(is_default=True).first()
