"""Bot work run by the task queue: one bot turn per inbound customer message."""

from __future__ import annotations

from celery import shared_task

from bots.engine import turn
from conversations.models import Message


@shared_task(name="bots.tasks.bot_turn")
def bot_turn(message_id: int) -> None:
    """Let the conversation's bot answer inbound message `message_id`.

    Idempotent: the engine claims the message once (a second run for the same message
    does nothing), and does nothing unless the conversation is still with the bot.
    """
    message = Message.objects.filter(pk=message_id).first()
    if message is None:
        return
    turn(message=message)
