"""Writes on conversations and their timeline. Every write that users see lives in a
service; events reach the desk only after commit (config.realtime)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.contrib.auth.models import User

from conversations.models import Conversation, ConversationEvent


def conversation_event_build(
    *,
    conversation: Conversation,
    kind: str,
    actor: User | None = None,
    actor_kind: str = ConversationEvent.ActorKind.SYSTEM,
    from_status: str = "",
    to_status: str = "",
    reason: str = "",
    data: dict[str, Any] | None = None,
) -> ConversationEvent:
    """One timeline entry, not saved yet (`conversation_events_record` writes several at once)."""
    if actor is not None and actor_kind == ConversationEvent.ActorKind.SYSTEM:
        actor_kind = ConversationEvent.ActorKind.AGENT
    return ConversationEvent(
        conversation=conversation,
        kind=kind,
        actor=actor,
        actor_kind=actor_kind,
        from_status=from_status,
        to_status=to_status,
        reason=reason,
        data=data or {},
    )


def conversation_events_record(events: Sequence[ConversationEvent]) -> None:
    """Append built entries to their conversations' timelines in one statement (call inside
    the write's transaction)."""
    ConversationEvent.objects.bulk_create(events)


def conversation_event_record(
    *,
    conversation: Conversation,
    kind: str,
    actor: User | None = None,
    actor_kind: str = ConversationEvent.ActorKind.SYSTEM,
    from_status: str = "",
    to_status: str = "",
    reason: str = "",
    data: dict[str, Any] | None = None,
) -> ConversationEvent:
    """Append one entry to the conversation's timeline (call inside the write's transaction)."""
    event = conversation_event_build(
        conversation=conversation, kind=kind, actor=actor, actor_kind=actor_kind, from_status=from_status,
        to_status=to_status, reason=reason, data=data,
    )
    event.save(force_insert=True)
    return event
