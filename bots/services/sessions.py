"""Writes on bot sessions: finding or starting a conversation's session, and starting it
afresh when the conversation comes back to the bot."""

from __future__ import annotations

from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from bots.models import BotSession
from conversations.models import Conversation

_FRESH: dict[str, Any] = {
    "current_step": None,
    "values": {},
    "state": {},
    "misunderstood_count": 0,
    "repeat_step_key": "",
    "repeat_count": 0,
    "last_intent": "",
    "ended_at": None,
    "handed_off_at": None,
}


def _needs_restart(session: BotSession, conversation: Conversation) -> bool:
    """A session starts afresh after a handoff or an end, and when the conversation came
    back to the bot since the session last moved (reopened, or handed back by an agent)."""
    if session.handed_off_at is not None or session.ended_at is not None:
        return True
    return conversation.events.filter(to_status=Conversation.Status.BOT, created_at__gt=session.updated_at).exists()


def bot_session_for(*, conversation: Conversation) -> BotSession:
    """The conversation's bot session, created on first use, restarted when the
    conversation came back to the bot. `last_message_id` survives a restart, so a message
    already answered is never answered again."""
    session = BotSession.objects.filter(conversation=conversation).select_related("current_step", "bot").first()
    if session is None:
        try:
            with transaction.atomic():
                return BotSession.objects.create(conversation=conversation)
        except IntegrityError:
            session = BotSession.objects.select_related("current_step", "bot").get(conversation=conversation)
    if _needs_restart(session, conversation):
        bot_session_reset(conversation=conversation)
        session.refresh_from_db()
    return session


def bot_session_reset(*, conversation: Conversation) -> None:
    """Start the conversation's bot from the beginning on the customer's next message
    (hand back to the bot). Idempotent."""
    now = timezone.now()
    with transaction.atomic():
        updated = BotSession.objects.filter(conversation=conversation).update(**_FRESH, started_at=now, updated_at=now)
        if not updated:
            BotSession.objects.get_or_create(conversation=conversation)
