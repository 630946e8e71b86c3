"""Celery tasks for outbound delivery: send a message, sweep stalled ones, read receipts.

Each task takes ids and calls one service in conversations.services.message_delivery; the services make a
second run harmless, so `acks_late` redelivery is safe.

Retries. On Celery workers a retry is `self.retry(countdown=...)`. Run in-process
(`task.apply()`, the embedded and test modes), Celery re-runs a retried task at once
and ignores the countdown, so:
- ``inline`` (tests): a retry after a provider error re-runs at once, bounded by the
  message's attempt cap; a retry that only waits for pacing or ordering is left to the
  sweep instead of spinning;
- ``thread`` (embedded): the retry is dispatched again after its countdown from a timer,
  without holding a worker thread while it waits.
The periodic sweep catches anything a lost retry leaves behind.
"""

from __future__ import annotations

import threading

from celery import shared_task
from django.conf import settings

from config import task_names
from config.tasking import dispatch
from conversations.services.message_delivery import (
    DeliveryResult,
    message_deliver,
    messages_deliver,
    messages_redispatch_due,
    read_receipt_deliver,
)

# Celery-level retries before the sweep takes over (provider errors are capped by
# WHATSAPP_SEND_MAX_ATTEMPTS on the message itself; this bounds pacing waits).
MAX_TASK_RETRIES = 200


def _dispatch_later(seconds: float, message_id: int) -> None:
    timer = threading.Timer(seconds, dispatch, args=(task_names.MESSAGE_DELIVER, {"message_id": message_id}))
    timer.daemon = True
    timer.start()


@shared_task(bind=True, name=task_names.MESSAGE_DELIVER, max_retries=MAX_TASK_RETRIES, ignore_result=True)
def deliver_message(self, message_id: int) -> str:
    result = message_deliver(message_id=message_id)
    if result.retry_in is None:
        return result.outcome
    if not self.request.is_eager:
        raise self.retry(countdown=result.retry_in)
    if settings.TASKS_MODE == "thread":
        _dispatch_later(result.retry_in, message_id)
    elif result.after_error:
        # apply() runs the retry right away, in this thread.
        raise self.retry(countdown=result.retry_in)
    return result.outcome


@shared_task(bind=True, name=task_names.MESSAGES_DELIVER, ignore_result=True)
def deliver_messages(self, message_ids: list[int]) -> int:
    """A batch of messages (a campaign's), sent one after another; each one that asks for
    a retry goes on as a single `deliver_message`, as its own retry would. Returns how
    many were sent."""
    results = messages_deliver(message_ids=message_ids)
    for message_id, result in results.items():
        if result.retry_in is not None:
            _retry_single(self.request.is_eager, message_id, result)
    return sum(1 for result in results.values() if result.outcome == "sent")


def _retry_single(eager: bool, message_id: int, result: DeliveryResult) -> None:
    assert result.retry_in is not None
    if not eager:
        dispatch(task_names.MESSAGE_DELIVER, {"message_id": message_id}, countdown=result.retry_in)
    elif settings.TASKS_MODE == "thread":
        _dispatch_later(result.retry_in, message_id)
    elif result.after_error:
        dispatch(task_names.MESSAGE_DELIVER, {"message_id": message_id})


@shared_task(name=task_names.MESSAGES_SWEEP_PENDING, ignore_result=True)
def sweep_pending_messages() -> int:
    return messages_redispatch_due()


@shared_task(name=task_names.READ_RECEIPT_SEND, ignore_result=True)
def send_read_receipt(message_id: int, typing: bool = False) -> bool:
    return read_receipt_deliver(message_id=message_id, typing=typing)
