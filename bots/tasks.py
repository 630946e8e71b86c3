"""Bot work run by the task queue: one bot turn per inbound customer message."""

from __future__ import annotations

from celery import shared_task


@shared_task(name="bots.tasks.bot_turn")
def bot_turn(message_id: int) -> None:
    """Let the conversation's bot answer inbound message `message_id`.

    Idempotent: the engine claims the message once (a second run for the same message
    does nothing), and does nothing unless the conversation is still with the bot.
    """
    # Imported here so the worker registers the task without loading the engine's models
    # before Django's app registry is ready.
    from bots.engine import turn
    from conversations.models import Message

    message = Message.objects.select_related("conversation", "conversation__contact", "conversation__number").filter(
        pk=message_id
    ).first()
    if message is None:
        return
    turn(message=message)
