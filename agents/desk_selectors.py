"""Reads for the desk and the supervisor monitor: inbox rows (with unread counts, SLA
times and the actions the user may take), a conversation's side panel, and the monitor's
figures, each in a constant number of queries. What a user sees and may do is
`conversations.access`; each read takes the user's `Roles` once (or reads them)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.contrib.auth.models import User
from django.db.models import Count, Exists, Min, OuterRef, Q, QuerySet
from django.utils import timezone

from agents.desk_parts import new_conversation_parts, panel_parts
from agents.models import AgentProfile, SlaBreach, Team
from agents.services.presence import profiles_with_load
from conversations.access import (
    ConversationShape,
    Roles,
    allowed_actions,
    conversation_shape,
    conversations_visible_to,
    oversees,
    roles_for,
    supervised_team_ids,
)
from conversations.events import conversation_data
from conversations.languages import LANGUAGE_CHOICES
from conversations.models import Conversation, ConversationEvent, Message, Participant, WhatsAppNumber
from conversations.payloads import with_payload_rows
from conversations.pricing import messages_pricing
from conversations.selectors import conversation_latest_handoff

INBOX_LIMIT = 500
OPEN = (Conversation.Status.BOT, Conversation.Status.QUEUED, Conversation.Status.ASSIGNED)


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _unread() -> Count:
    return Count(
        "messages",
        filter=Q(messages__direction=Message.Direction.INBOUND, messages__read_at__isnull=True, messages__internal=False),
    )


def _rows(qs: QuerySet[Conversation], roles: Roles) -> list[dict[str, Any]]:
    """Inbox rows: the conversation's payload (what its `conversation.updated` events carry
    too) plus what is the viewer's own: the unread count and the actions they may take."""
    conversations = list(
        with_payload_rows(qs).annotate(unread=_unread()).order_by("-last_activity_at", "-id")[:INBOX_LIMIT]
    )
    rows = []
    for conversation in conversations:
        row = conversation_data(conversation)
        row.update(
            {
                "unread": conversation.unread,  # type: ignore[attr-defined]
                "actions": allowed_actions(roles, conversation_shape(conversation)),
            }
        )
        rows.append(row)
    return rows


def desk_inbox(*, user: User, since: datetime | None = None, roles: Roles | None = None) -> list[dict[str, Any]]:
    """Open conversations the user may see, newest activity first; with `since`, every
    visible conversation changed after it (resolved ones too, so the desk drops them)."""
    roles = roles or roles_for(user)
    qs = conversations_visible_to(roles)
    if since is None:
        qs = qs.filter(status__in=OPEN)
    else:
        changed = ConversationEvent.objects.filter(conversation=OuterRef("pk"), created_at__gt=since)
        qs = qs.filter(Q(last_activity_at__gt=since) | Exists(changed))
    return _rows(qs, roles)


def desk_row(*, user: User, conversation: Conversation, roles: Roles | None = None) -> dict[str, Any] | None:
    """The conversation's inbox row, read afresh; None when the user may not see it."""
    roles = roles or roles_for(user)
    rows = _rows(conversations_visible_to(roles).filter(pk=conversation.pk), roles)
    return rows[0] if rows else None


def _participant_role(user: User, conversation: Conversation) -> str:
    if conversation.assignee_id == user.pk:
        return Participant.Role.OWNER
    role = (
        Participant.objects.filter(conversation=conversation, user_id=user.pk, left_at__isnull=True)
        .values_list("role", flat=True)
        .first()
    )
    return role or ""


def new_conversation_options(*, user: User, number_id: int | None = None) -> dict[str, Any]:
    """What the desk's *New conversation* form offers: the WhatsApp numbers to write from
    (the default first), the approved templates of the chosen one (the default number
    unless `number_id` names another), and whether the user may record an opt-in."""
    numbers = list(WhatsAppNumber.objects.order_by("-is_default", "name", "pk"))
    chosen = next((n for n in numbers if n.pk == number_id), None) if number_id is not None else None
    if chosen is None and number_id is None and numbers:
        chosen = numbers[0]
    return {
        "numbers": [
            {"id": n.pk, "name": n.name, "display_phone_number": n.display_phone_number, "default": n.is_default}
            for n in numbers
        ],
        "number": chosen.pk if chosen is not None else None,
        # The notifications app's: "templates" and "may_record_opt_in" (agents.desk_parts).
        **new_conversation_parts(user=user, number=chosen),
    }


def desk_context(*, user: User, conversation: Conversation, roles: Roles | None = None) -> dict[str, Any]:
    """What the conversation's side panel shows: the customer, their earlier conversations
    and consent, the handoff card, templates for a closed window, and the user's part:
    `my_role`, `supervisor` (oversees it) and `actions` (what they may do now)."""
    roles = roles or roles_for(user)
    row = desk_row(user=user, conversation=conversation, roles=roles)
    contact = conversation.contact
    earlier = [
        {
            "id": c.pk,
            "status": c.status,
            "created_at": _iso(c.created_at),
            "resolved_at": _iso(c.resolved_at),
            "preview": c.last_message_preview,
        }
        for c in conversations_visible_to(roles).filter(contact=contact).exclude(pk=conversation.pk).order_by("-created_at")[:20]
    ]
    team = conversation.team
    return {
        "conversation": row,
        "contact": {
            "id": contact.pk,
            "name": contact.profile_name,
            "wa_id": contact.wa_id,
            "user_id": contact.user_id,
            "parent_user_id": contact.parent_user_id,
            "language": contact.language,
            "language_source": contact.language_source,
            # The languages a person may choose for the customer (their texts ship with Handoff).
            "languages": [[code, name] for code, name in LANGUAGE_CHOICES],
            "tags": contact.tags,
            "attributes": contact.attributes,
            "created_at": _iso(contact.created_at),
        },
        "earlier": earlier,
        # What WhatsApp reported charging for this conversation's messages, per category.
        "pricing": messages_pricing(
            Message.objects.filter(conversation=conversation, direction=Message.Direction.OUTBOUND, internal=False)
        ),
        "handoff": conversation_latest_handoff(conversation),
        # The notifications app's: "consent" and "templates" (agents.desk_parts).
        **panel_parts(user=user, conversation=conversation),
        "window_open": conversation.window_open(),
        "my_role": _participant_role(user, conversation),
        "supervisor": oversees(roles, ConversationShape(team_id=conversation.team_id)),
        "actions": row["actions"] if row is not None else [],
        "announce_participants": bool(getattr(team, "announce_participants", False)),
        "teams": [{"id": t.pk, "name": t.name} for t in Team.objects.order_by("name")],
        "team_members": [
            {"id": u.pk, "name": u.get_full_name() or u.get_username()}
            for u in (team.members.filter(is_active=True).order_by("username") if team else [])
        ],
    }


def monitor_overview(*, user: User, roles: Roles | None = None) -> dict[str, Any]:
    """The supervisor monitor: per team its queue (waiting, longest wait) and agents
    (presence, load against capacity), open SLA breaches, and the teams' open conversations
    (each with the actions the supervisor may take)."""
    roles = roles or roles_for(user)
    team_ids = supervised_team_ids(roles)
    now = timezone.now()
    teams = list(
        Team.objects.filter(pk__in=team_ids)
        .annotate(
            waiting=Count("conversations", filter=Q(conversations__status=Conversation.Status.QUEUED)),
            oldest=Min("conversations__queued_at", filter=Q(conversations__status=Conversation.Status.QUEUED)),
            open_count=Count("conversations", filter=Q(conversations__status=Conversation.Status.ASSIGNED)),
        )
        .order_by("name")
    )
    profiles = profiles_with_load(
        AgentProfile.objects.filter(Q(user__teams__in=team_ids) | Q(user__supervised_teams__in=team_ids), user__is_active=True)
        .distinct()
        .prefetch_related("user__teams")
    )
    agents = [
        {
            "id": p.user_id,
            "name": p.user.get_full_name() or p.user.get_username(),
            "presence": p.presence,
            "load": p.load,  # type: ignore[attr-defined]
            "capacity": p.capacity,
            "last_seen_at": _iso(p.last_seen_at),
            "teams": [t.pk for t in p.user.teams.all() if t.pk in team_ids],
        }
        for p in profiles
    ]
    breaches = [
        {
            "conversation": b.conversation_id,
            "team": b.team_id,
            "kind": b.kind,
            "due_at": _iso(b.due_at),
            "breached_at": _iso(b.breached_at),
            "contact_name": str(b.conversation.contact),
        }
        for b in SlaBreach.objects.filter(
            conversation__status__in=OPEN, conversation__in=conversations_visible_to(roles)
        ).select_related("conversation__contact")[:100]
    ]
    conversations = _rows(
        conversations_visible_to(roles).filter(status__in=OPEN).filter(Q(team_id__in=team_ids) | Q(team__isnull=True)),
        roles,
    )
    return {
        "server_time": now.isoformat(),
        "teams": [
            {
                "id": t.pk,
                "name": t.name,
                "waiting": t.waiting,  # type: ignore[attr-defined]
                "longest_wait_seconds": int((now - t.oldest).total_seconds()) if t.oldest else 0,  # type: ignore[attr-defined]
                "assigned": t.open_count,  # type: ignore[attr-defined]
            }
            for t in teams
        ],
        "agents": agents,
        "breaches": breaches,
        "conversations": conversations,
    }
