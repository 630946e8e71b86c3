"""Reads on conversations, messages and contacts for pages, the API and the desk, each in
a constant number of queries. Who may see what is `conversations.access`: every read
here starts from its visible querysets.
"""

from __future__ import annotations

from datetime import datetime

from django.contrib.auth.models import User
from django.db.models import Prefetch, QuerySet

# `contact_for_user` and `user_is_admin` stay importable here for notifications.api;
# they are conversations.access's.
from conversations.access import (
    contact_for_user,
    conversation_for_user,
    conversations_visible_to,
    user_is_admin,
)
from conversations.models import (
    Contact,
    Conversation,
    ConversationEvent,
    Message,
    MessageMedia,
    Participant,
    WebChatInbox,
    WhatsAppNumber,
)

__all__ = [
    "contact_for_user",
    "conversation_detail",
    "conversation_events",
    "conversation_latest_handoff",
    "conversation_list",
    "message_in_conversation",
    "messages_for_conversation",
    "number_for_new_contact",
    "user_is_admin",
]


def _active_participants() -> Prefetch:
    return Prefetch(
        "participants",
        queryset=Participant.objects.filter(left_at__isnull=True).select_related("user").order_by("joined_at", "id"),
        to_attr="active_participants",
    )


def conversation_list(
    *,
    user: User,
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


def conversation_detail(*, user: User, conversation_id: int | str) -> Conversation:
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
        .select_related("sender_user", "conversation__contact", "media")
        .order_by("created_at", "id")
    )
    if after_id is not None:
        # A cursor follows insertion order, so a late-stored message is never skipped.
        qs = qs.filter(id__gt=after_id).order_by("id")
    if not include_internal:
        qs = qs.filter(internal=False)
    return qs


def message_in_conversation(conversation: Conversation, message_id: int) -> Message | None:
    return Message.objects.filter(conversation=conversation, pk=message_id).select_related("media").first()


def conversation_events(conversation: Conversation) -> QuerySet[ConversationEvent]:
    return ConversationEvent.objects.filter(conversation=conversation).select_related("actor").order_by("created_at", "id")


def number_for_new_contact(*, number_id: int | None = None) -> WhatsAppNumber | None:
    """The number a new contact belongs to: the one named, else the default number."""
    if number_id is not None:
        return WhatsAppNumber.objects.filter(pk=number_id).first()
    return WhatsAppNumber.objects.filter(is_default=True).first()


def webchat_inbox_by_key(key: str) -> WebChatInbox | None:
    """The active web chat inbox with this public key, with its number and team."""
    if not key or len(key) > 32:
        return None
    return WebChatInbox.objects.select_related("number", "team").filter(key=key, is_active=True).first()


def webchat_visitor_media(*, inbox: WebChatInbox, message_id: int) -> MessageMedia | None:
    """The stored file of message `message_id` when the message is in a conversation of one
    of this inbox's visitors and they may see it (their own, or sent to them: never a note,
    nothing still waiting to go out), in one query; None otherwise, whether it exists or not."""
    return (
        MessageMedia.objects.select_related("message")
        .filter(
            message_id=message_id,
            state=MessageMedia.State.STORED,
            message__internal=False,
            message__conversation__contact__number_id=inbox.number_id,
            message__conversation__contact__user_id__startswith=f"webchat:{inbox.pk}:",
        )
        .exclude(message__direction=Message.Direction.OUTBOUND, message__provider_message_id__isnull=True)
        .first()
    )


def webchat_visitor_files(*, contact: Contact, upto: int, limit: int) -> list[MessageMedia]:
    """The stored files among the visitor's messages up to id `upto` that they may see (as in
    `webchat_visitor_media`), newest first, at most `limit`, in one query."""
    return list(
        MessageMedia.objects.filter(
            message__conversation__contact=contact,
            message__internal=False,
            message_id__lte=upto,
            state=MessageMedia.State.STORED,
        )
        .exclude(file="")
        .exclude(message__direction=Message.Direction.OUTBOUND, message__provider_message_id__isnull=True)
        .only("message_id", "thumbnail")
        .order_by("-message_id")[:limit]
    )
