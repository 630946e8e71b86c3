"""Desk websocket events for messages and conversations: one place that builds their
payloads and decides who receives them.

Every service that changes a message or a conversation publishes through
`publish_message` / `publish_conversation`, which send only after the write commits
(config.realtime.broadcast_on_commit). Payloads carry ids and the fields the desk
renders; the desk places them by id, so a repeated event replaces rather than duplicates.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from config.realtime import (
    SUPERVISORS_GROUP,
    agent_group,
    broadcast_on_commit,
    conversation_group,
    team_group,
)

from .models import Conversation, Message, Participant


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _sender_name(message: Message) -> str:
    if message.sender_kind == Message.SenderKind.CONTACT:
        contact = message.conversation.contact
        return contact.profile_name or contact.wa_id or contact.user_id
    if message.sender_user_id is not None and message.sender_user is not None:
        user = message.sender_user
        return user.get_full_name() or user.get_username()
    return message.get_sender_kind_display()


def message_data(message: Message) -> dict[str, Any]:
    """The message as the desk renders it."""
    return {
        "id": message.pk,
        "conversation": message.conversation_id,
        "direction": message.direction,
        "sender_kind": message.sender_kind,
        "sender_user": message.sender_user_id,
        "sender_name": _sender_name(message),
        "type": message.type,
        "text": message.text,
        "status": message.status,
        "internal": message.internal,
        "whisper": message.whisper,
        "reply_to": message.reply_to_id,
        "error_code": message.error_code,
        "error_text": message.error_text,
        "created_at": _iso(message.created_at),
        "sent_at": _iso(message.sent_at),
        "delivered_at": _iso(message.delivered_at),
        "read_at": _iso(message.read_at),
    }


def message_event(message: Message, type: str = "message.created") -> dict[str, Any]:
    """`message.created` or `message.updated` (status changes) for the desk."""
    return {"type": type, "conversation": message.conversation_id, "message": message_data(message)}


def conversation_data(conversation: Conversation) -> dict[str, Any]:
    """The conversation as the desk's lists and header render it."""
    contact = conversation.contact
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
        "contact_name": contact.profile_name or contact.wa_id or contact.user_id,
        "team": conversation.team_id,
        "assignee": conversation.assignee_id,
        "priority": conversation.priority,
        "preview": conversation.last_message_preview,
        "last_activity_at": _iso(conversation.last_activity_at),
        "last_customer_message_at": _iso(conversation.last_customer_message_at),
        "window_expires_at": _iso(conversation.window_expires_at),
        "created_at": _iso(conversation.created_at),
        "resolved_at": _iso(conversation.resolved_at),
    }


def conversation_event(conversation: Conversation, type: str = "conversation.updated") -> dict[str, Any]:
    """`conversation.created` or `conversation.updated` (status, assignee, participants, window)."""
    return {"type": type, "conversation": conversation_data(conversation)}


def conversation_groups(conversation: Conversation) -> list[str]:
    """Who hears about a conversation: its own group, the assignee, active participants,
    the team's queue and the supervisors."""
    groups = [conversation_group(conversation.pk)]
    if conversation.assignee_id is not None:
        groups.append(agent_group(conversation.assignee_id))
    participant_ids = Participant.objects.filter(conversation=conversation, left_at__isnull=True).values_list(
        "user_id", flat=True
    )
    groups.extend(agent_group(user_id) for user_id in participant_ids)
    if conversation.team_id is not None:
        groups.append(team_group(conversation.team_id))
    groups.append(SUPERVISORS_GROUP)
    return list(dict.fromkeys(groups))


def publish_message(message: Message, type: str = "message.created") -> None:
    """Send the message's event to everyone following its conversation, after commit.
    Internal notes and whispers go to the same desk groups: customers never receive events."""
    broadcast_on_commit(conversation_groups(message.conversation), message_event(message, type))


def publish_conversation(conversation: Conversation, type: str = "conversation.updated") -> None:
    """Send the conversation's event to everyone following it, after commit."""
    broadcast_on_commit(conversation_groups(conversation), conversation_event(conversation, type))
