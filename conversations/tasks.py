"""Conversation tasks: processing stored webhooks and the sweep that keeps none behind.

Tasks take ids, re-fetch and call one service; the services make a second run harmless
(compare-and-set claim on the event, unique message ids and status pairs)."""

from __future__ import annotations

from celery import shared_task

from config import task_names
from conversations.services import retention, webchat
from conversations.services import webhook_intake as intake


@shared_task(name=task_names.WEBHOOK_PROCESS)
def process_webhook_event(event_id: int) -> str:
    """Process stored webhook event `event_id` (skipped if done or held by another worker)."""
    return intake.webhook_event_process(event_id=event_id)


@shared_task(name=task_names.WEBHOOK_PROCESS_BATCH)
def process_webhook_events(event_ids: list[int]) -> list[str]:
    """Process stored webhook events together (intake publishes the events stored within
    a few milliseconds as one task): one claim, one transaction, each event in a savepoint
    of its own. One that fails is logged and left pending for the sweep; the rest go on."""
    return intake.webhook_events_process(event_ids=event_ids)


@shared_task(name=task_names.WEBHOOK_SWEEP)
def sweep_webhook_events() -> int:
    """Dispatch events still pending after WEBHOOK_SWEEP_AFTER_SECONDS; apply waiting statuses."""
    return intake.webhook_events_sweep()


@shared_task(name=task_names.RETENTION_APPLY)
def retention_apply() -> dict[str, int]:
    """Daily: delete or anonymise data older than its retention setting, and finish recent
    erasures (conversations.services.retention)."""
    return retention.retention_apply()


@shared_task(name=task_names.WEBCHAT_EMAIL_SEND)
def webchat_email_send(kind: str, conversation_id: int) -> bool:
    """A web chat email (offline confirmation or transcript); a lost task sends nothing twice."""
    return webchat.webchat_email_send(kind=kind, conversation_id=conversation_id)
