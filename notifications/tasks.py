"""Notification tasks: take ids, re-fetch, call one service. Each is safe to run twice."""

from __future__ import annotations

import logging

from celery import shared_task

from conversations.models import WhatsAppNumber

from . import platform, template_sync

log = logging.getLogger(__name__)


@shared_task(name="notifications.tasks.apply_platform_event")
def apply_platform_event(event_id: int) -> bool:
    """Apply a stored PlatformEvent (template, number health, account, user preferences)."""
    return platform.platform_event_handle(event_id=event_id)


@shared_task(name="notifications.tasks.templates_sync_number")
def templates_sync_number(number_id: int) -> dict | None:
    number = WhatsAppNumber.objects.filter(pk=number_id).first()
    if number is None or not number.business_account_id:
        return None
    return template_sync.templates_sync(number=number)


@shared_task(name="notifications.tasks.templates_sync_all")
def templates_sync_all() -> int:
    """Periodic: sync every number's business account once (numbers sharing an account once)."""
    seen: set[str] = set()
    synced = 0
    for number in WhatsAppNumber.objects.exclude(business_account_id="").order_by("pk"):
        if number.business_account_id in seen:
            continue
        seen.add(number.business_account_id)
        try:
            template_sync.templates_sync(number=number)
            synced += 1
        except Exception:
            log.exception("template sync failed for number %s", number.pk)
    return synced
