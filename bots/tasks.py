"""Bot work run by the task queue: one bot turn per inbound customer message, and the
sweep that finds messages whose turn never ran."""

from __future__ import annotations

from celery import shared_task
from django.db import DatabaseError

from bots.engine import turn
from bots.sweeps import unanswered_messages_sweep
from config import task_names
from conversations.models import Message


@shared_task(
    name=task_names.BOT_TURN,
    autoretry_for=(DatabaseError,),
    retry_backoff=2,
    retry_backoff_max=30,
    max_retries=3,
)
def bot_turn(message_id: int) -> None:
    """Let the conversation's bot answer inbound message `message_id`.

    Idempotent: the engine claims the message once (a second run for the same message
    does nothing), and does nothing unless the conversation is still with the bot. A
    database error releases the claim, so the retry (or the sweep) answers it.
    """
    message = Message.objects.filter(pk=message_id).first()
    if message is None:
        return
    turn(message=message)


@shared_task(name=task_names.BOT_SWEEP_UNANSWERED)
def sweep_unanswered_messages() -> int:
    return unanswered_messages_sweep()
