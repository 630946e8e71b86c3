"""Notification tasks: take ids, re-fetch, call one service. Each is safe to run twice."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable

from celery import shared_task
from django.conf import settings

from config import task_names
from config.tasking import dispatch
from conversations.models import WhatsAppNumber
from notifications.models import Campaign
from notifications.services import (
    alerts,
    campaign_sending,
    campaigns,
    number_health,
    remediation,
    template_sync,
    webhook_delivery,
)
from notifications.services import platform_events as platform

log = logging.getLogger(__name__)


@shared_task(name=task_names.PLATFORM_EVENT_APPLY)
def apply_platform_event(event_id: int) -> bool:
    """Apply a stored PlatformEvent (template, number health, account, user preferences)."""
    return platform.platform_event_handle(event_id=event_id)


@shared_task(name=task_names.TEMPLATES_SYNC_NUMBER)
def templates_sync_number(number_id: int) -> dict | None:
    number = WhatsAppNumber.objects.filter(pk=number_id).first()
    if number is None or not number.business_account_id:
        return None
    return template_sync.templates_sync(number=number)


def _each_number(numbers: Iterable[WhatsAppNumber], action: Callable[..., object], what: str) -> int:
    """Run `action(number=…)` for each number; one number's failure is logged and does not
    stop the others. Returns how many succeeded."""
    done = 0
    for number in numbers:
        try:
            action(number=number)
            done += 1
        except Exception:
            log.exception("%s failed for number %s", what, number.pk)
    return done


@shared_task(name=task_names.TEMPLATES_SYNC_ALL)
def templates_sync_all() -> int:
    """Periodic: sync every number's business account once (numbers sharing an account once)."""
    first_of_account: dict[str, WhatsAppNumber] = {}
    for number in WhatsAppNumber.objects.exclude(business_account_id="").order_by("pk"):
        first_of_account.setdefault(number.business_account_id, number)
    return _each_number(first_of_account.values(), template_sync.templates_sync, "template sync")


@shared_task(name=task_names.NUMBER_LIMITS_REFRESH_ALL, ignore_result=True)
def number_limits_refresh_all() -> int:
    """Periodic: read every number's messaging limit and quality from Graph (what the
    numbers' admin action does), so they stay current when a webhook was missed. The demo
    sandbox's numbers are left out (its stand-in Graph does not answer this); one number's
    failure does not stop the others. Returns the numbers read."""
    numbers = WhatsAppNumber.objects.filter(is_sandbox=False).select_related("portfolio").order_by("pk")
    return _each_number(numbers, number_health.number_limits_refresh, "reading messaging limits")


@shared_task(bind=True, name=task_names.CAMPAIGN_RUN, ignore_result=True)
def campaign_run(self, campaign_id: int) -> None:
    """Send a slice of a running campaign, then schedule the next slice."""
    again = campaign_sending.campaign_run_slice(campaign_id=campaign_id)
    if again is None:
        return
    if settings.TASKS_MODE == "thread":
        timer = threading.Timer(again, dispatch, args=(task_names.CAMPAIGN_RUN, {"campaign_id": campaign_id}))
        timer.daemon = True
        timer.start()
    elif not self.request.is_eager:
        dispatch(task_names.CAMPAIGN_RUN, {"campaign_id": campaign_id}, countdown=again)
    # In-process eager runs (tests) leave the rest to campaigns_tick.


@shared_task(name=task_names.CAMPAIGNS_TICK, ignore_result=True)
def campaigns_tick() -> int:
    """Periodic: start scheduled campaigns that are due, put back rows of crashed workers,
    and keep every running campaign moving (a slice already running makes a kick a no-op)."""
    campaigns.campaigns_start_due()
    campaign_sending.recipients_sweep_stale()
    running = list(Campaign.objects.filter(state=Campaign.State.RUNNING).values_list("pk", flat=True))
    for campaign_id in running:
        for _ in range(max(settings.CAMPAIGN_PARALLEL_SLICES, 1)):
            dispatch(task_names.CAMPAIGN_RUN, {"campaign_id": campaign_id})
    return len(running)


@shared_task(name=task_names.ALERT_EMAIL)
def alert_email(alert_id: int) -> int:
    """Email a new alert to the admins and the number's supervisors, once."""
    return alerts.alert_email_send(alert_id=alert_id)


@shared_task(name=task_names.REMEDIATION_TICK, ignore_result=True)
def remediation_tick() -> dict:
    """Periodic: the remediation countdown (days left, 3-day and 1-day reminders, expiry)."""
    return remediation.remediation_cases_tick()


@shared_task(name=task_names.WEBHOOK_DELIVER, ignore_result=True)
def webhook_deliver(delivery_ids: list[int]) -> dict[int, str]:
    """One attempt of each due outgoing webhook delivery named (claimed rows: running twice
    posts once); more than a batch goes on in a task of its own."""
    batch, rest = delivery_ids[: webhook_delivery.BATCH], delivery_ids[webhook_delivery.BATCH :]
    if rest:
        dispatch(task_names.WEBHOOK_DELIVER, {"delivery_ids": rest})
    return webhook_delivery.webhook_deliveries_send(delivery_ids=batch)


@shared_task(name=task_names.WEBHOOK_DELIVERIES_SWEEP, ignore_result=True)
def webhook_deliveries_sweep() -> int:
    """Periodic: dispatch outgoing webhook deliveries that are due (retries, lost dispatches)."""
    due = webhook_delivery.webhook_deliveries_due()
    for start in range(0, len(due), webhook_delivery.BATCH):
        dispatch(task_names.WEBHOOK_DELIVER, {"delivery_ids": due[start : start + webhook_delivery.BATCH]})
    return len(due)
