"""What a conversation looks like outside the database: one builder for the desk's pushed
events (`conversation.created` / `conversation.updated`), the desk's list rows and the
API's conversation resource, so the three never disagree (the assignee's name, the
participants, the window's end).

`conversation_payload` is a plain function over a conversation whose related rows were
loaded by `with_payload_rows` (contact, team, assignee; active participants with their
users, oldest first): no query of its own then, so a list of any length costs the same
queries. Values are Python values (datetimes stay datetimes); `payload_json` turns them
into what JSON and the channel layer carry.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth.models import User
from django.db.models import Prefetch, QuerySet
from django.urls import reverse
from django.utils import timezone

from conversations.media_types import KINDS, served_inline
from conversations.models import Channel, Conversation, Message, MessageMedia, Participant

ACTIVE_PARTICIPANTS = "active_participants"


def with_payload_rows(queryset: QuerySet[Conversation]) -> QuerySet[Conversation]:
    """`queryset` with what `conversation_payload` reads: two queries for any number of rows."""
    return queryset.select_related("contact", "team", "assignee").prefetch_related(
        Prefetch(
            "participants",
            queryset=Participant.objects.filter(left_at__isnull=True).select_related("user").order_by("joined_at", "id"),
            to_attr=ACTIVE_PARTICIPANTS,
        )
    )


# What conversation_payload and the desk's event groups read of a conversation and of its
# contact, team and assignee: all of it, and nothing else, loaded by `conversation_for_event`.
_OWN = (
    "id", "number_id", "contact_id", "channel", "status", "on_hold", "team_id", "assignee_id", "priority",
    "last_message_preview", "last_activity_at", "last_customer_message_at", "window_expires_at", "created_at",
    "resolved_at", "queued_at", "first_response_at", "first_response_due_at", "next_response_due_at",
    "sla_breached_at",
)
_RELATED = {
    "contact": ("id", "profile_name", "wa_id", "user_id"),
    "team": ("id", "name"),
    "assignee": ("id", "username", "first_name", "last_name"),
}
_PARTICIPANT = ("id", "user_id", "role", "joined_at")
_PERSON = ("id", "username", "first_name", "last_name")


def _partial(model: Any, db: str, names: tuple[str, ...], values: Any) -> Any:
    """An instance of `model` from some of its columns (Django's `from_db`): a field not
    among `names` is deferred, so reading one would load it rather than give a default."""
    given = {model._meta.get_field(name).attname: value for name, value in zip(names, values, strict=True)}
    fields = [field.attname for field in model._meta.concrete_fields if field.attname in given]
    return model.from_db(db, fields, [given[attname] for attname in fields])  # in the model's field order


def conversation_for_event(pk: int) -> Conversation | None:
    """The conversation with exactly what `conversation_payload` and the desk's event groups
    read, for an event built at commit: its columns and those of its contact, team and
    assignee in one query of values (no model rows joined), then its active participants
    with their users' names. The same payload as `with_payload_rows` gives (tests hold the
    two equal) for less than half the ORM work, which every inbound message pays once."""
    return conversations_for_event([pk]).get(pk)


def conversations_for_event(pks: list[int]) -> dict[int, Conversation]:
    """`conversation_for_event` for several conversations (an assignment batch's), in the
    same two queries for all of them; by id, without those that are gone."""
    related = [f"{relation}__{name}" for relation, names in _RELATED.items() for name in names]
    rows = Conversation.objects.filter(pk__in=pks).order_by()  # by id: the list's default order is no use
    found: dict[int, Conversation] = {}
    for row in rows.values_list(*_OWN, *related):
        conversation = _partial(Conversation, rows.db, _OWN, row[: len(_OWN)])
        offset = len(_OWN)
        for relation, names in _RELATED.items():
            values = row[offset : offset + len(names)]
            offset += len(names)
            model = Conversation._meta.get_field(relation).related_model
            setattr(conversation, relation, _partial(model, rows.db, names, values) if values[0] is not None else None)
        setattr(conversation, ACTIVE_PARTICIPANTS, [])
        found[conversation.pk] = conversation
    if not found:
        return found
    people = [f"user__{name}" for name in _PERSON]
    participants = (
        Participant.objects.filter(conversation_id__in=list(found), left_at__isnull=True)
        .order_by("joined_at", "id")
        .values_list("conversation_id", *_PARTICIPANT, *people)
    )
    for conversation_id, *values in participants:
        participant = _partial(Participant, participants.db, _PARTICIPANT, values[: len(_PARTICIPANT)])
        participant.user = _partial(User, participants.db, _PERSON, values[len(_PARTICIPANT) :])
        getattr(found[conversation_id], ACTIVE_PARTICIPANTS).append(participant)
    return found


def active_participants(conversation: Conversation) -> list[Participant]:
    """The people in the conversation now, oldest first (as loaded by `with_payload_rows`;
    read here, with one query and not kept, when they were not)."""
    loaded = getattr(conversation, ACTIVE_PARTICIPANTS, None)
    if loaded is not None:
        return loaded
    return list(
        Participant.objects.filter(conversation=conversation, left_at__isnull=True)
        .select_related("user")
        .order_by("joined_at", "id")
    )


def person_name(user: User) -> str:
    return user.get_full_name() or user.get_username()


def window_expiry(conversation: Conversation) -> datetime | None:
    """When the 24-hour window closes (or closed): stored with the customer's last message,
    else counted from it. A web chat conversation has none."""
    if conversation.channel == Channel.WEBCHAT:
        return None
    if conversation.window_expires_at is not None:
        return conversation.window_expires_at
    if conversation.last_customer_message_at is None:
        return None
    return conversation.last_customer_message_at + timedelta(hours=settings.CUSTOMER_SERVICE_WINDOW_HOURS)


def conversation_payload(conversation: Conversation) -> dict[str, Any]:
    """The conversation as the desk's lists and header, its events and the API show it."""
    contact = conversation.contact
    team = conversation.team
    assignee = conversation.assignee
    return {
        "id": conversation.pk,
        "status": conversation.status,
        "on_hold": conversation.on_hold,
        "channel": conversation.channel,
        "number": conversation.number_id,
        "contact": {
            "id": contact.pk,
            "name": contact.profile_name,
            "wa_id": contact.wa_id,
            "user_id": contact.user_id,
        },
        "contact_name": contact.profile_name or contact.wa_id
        or ("Web visitor" if conversation.channel == Channel.WEBCHAT else contact.user_id),
        "team": conversation.team_id,
        "team_name": team.name if team is not None else "",
        "assignee": conversation.assignee_id,
        "assignee_name": person_name(assignee) if assignee is not None else "",
        "participants": [
            {
                "id": p.user_id,
                "username": p.user.get_username(),
                "name": person_name(p.user),
                "role": p.role,
                "joined_at": p.joined_at,
            }
            for p in active_participants(conversation)
        ],
        "priority": conversation.priority,
        "preview": conversation.last_message_preview,
        "last_activity_at": conversation.last_activity_at,
        "last_customer_message_at": conversation.last_customer_message_at,
        "window_expires_at": window_expiry(conversation),
        "window_open": conversation.window_open(at=timezone.now()),
        "created_at": conversation.created_at,
        "resolved_at": conversation.resolved_at,
        "queued_at": conversation.queued_at,
        # Shown while the first response is still owed.
        "first_response_due_at": conversation.first_response_due_at if conversation.first_response_at is None else None,
        "next_response_due_at": conversation.next_response_due_at,
        "sla_breached_at": conversation.sla_breached_at,
    }


PRICING_TYPE_LABELS = {
    "regular": "charged",
    "free_customer_service": "free: inside the customer-service window",
    "free_entry_point": "free: entry point (ad or page button)",
    "free": "free",
}


def iso(value: datetime | None) -> str | None:
    """A moment as ISO 8601 text, or None."""
    return value.isoformat() if value is not None else None


def message_fields(message: Message) -> dict[str, Any]:
    """What every serialisation of a message carries (the desk's events, outgoing webhooks):
    who sent what, its delivery status and when it moved."""
    return {
        "id": message.pk,
        "conversation": message.conversation_id,
        "direction": message.direction,
        "sender_kind": message.sender_kind,
        "sender_user": message.sender_user_id,
        "type": message.type,
        "text": message.text,
        "status": message.status,
        "error_code": message.error_code,
        "error_text": message.error_text,
        "created_at": iso(message.created_at),
        "sent_at": iso(message.sent_at),
        "delivered_at": iso(message.delivered_at),
        "read_at": iso(message.read_at),
    }


def message_pricing(message: Message) -> dict[str, Any] | None:
    """What WhatsApp charges for the message (from its status webhooks), as the desk's
    tooltip and the API show it; None while nothing was reported."""
    if not (message.pricing_category or message.pricing_type or message.pricing):
        return None
    category = message.pricing_category or "unknown"
    kind = message.pricing_type
    label = category.replace("_", " ")
    if kind:
        label = f"{label} ({PRICING_TYPE_LABELS.get(kind, kind.replace('_', ' '))})"
    return {
        "category": message.pricing_category,
        "type": kind,
        "model": message.pricing_model,
        "charged": message.charged,
        "summary": label,
    }


def payload_json(value: Any) -> Any:
    """`value` with datetimes as ISO 8601 strings, for JSON and the channel layer."""
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, dict):
        return {key: payload_json(item) for key, item in value.items()}
    if isinstance(value, list):
        return [payload_json(item) for item in value]
    return value


def message_media(message: Message) -> MessageMedia | None:
    """The message's media row (loaded with `select_related("media")`, or read here for a
    media message only), or None."""
    if message.type not in KINDS:
        return None
    try:
        return message.media
    except MessageMedia.DoesNotExist:
        return None


def media_payload(message: Message) -> dict[str, Any] | None:
    """A media message's file as the desk and the API show it: kind, state, type, name,
    size, and the access-checked URLs of the file and its thumbnail once stored; the
    reason when its download failed. None for other messages."""
    media = message_media(message)
    if media is None:
        return None
    stored = media.state == MessageMedia.State.STORED
    return {
        "kind": media.kind,
        "state": media.state,
        "voice": media.voice,
        "mime_type": media.mime_type,
        "file_name": media.file_name,
        "size": media.size,
        "inline": stored and served_inline(media.mime_type),
        "url": reverse("message-media", args=[message.pk]) if stored else None,
        "thumbnail_url": reverse("message-media-thumbnail", args=[message.pk]) if stored and media.thumbnail else None,
        "failure_code": media.failure_code,
        "failure_reason": media.failure_reason,
    }
