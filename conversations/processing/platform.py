"""Non-message webhook changes (template status and quality, number quality, account
updates, user preferences, capability changes and fields not known yet), stored once
each for the notifications work."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from django.db import IntegrityError, transaction

from config import task_names
from config.tasking import enqueue_on_commit
from conversations.models import PlatformEvent, WebhookEvent, WhatsAppNumber
from conversations.processing.summaries import as_dict


def platform_dedupe_key(*, field: str, value: Any, business_account_id: str) -> str:
    """The same change redelivered gives the same key: field, canonical JSON of the
    value and the business account id, hashed."""
    canonical = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    return hashlib.sha256(f"{field}\n{canonical}\n{business_account_id}".encode()).hexdigest()


def _number_for(value: Any) -> WhatsAppNumber | None:
    if not isinstance(value, dict):
        return None
    metadata = as_dict(value.get("metadata"))
    if metadata.get("phone_number_id"):
        return WhatsAppNumber.objects.filter(phone_number_id=str(metadata["phone_number_id"])).first()
    display = value.get("display_phone_number") or metadata.get("display_phone_number")
    if display:
        digits = "".join(ch for ch in str(display) if ch.isdigit())
        return WhatsAppNumber.objects.filter(display_phone_number__in=[str(display), digits]).first()
    return None


def platform_event_record(
    *, webhook_event: WebhookEvent | None, business_account_id: str, field: str, value: Any
) -> PlatformEvent | None:
    """Store one change and enqueue its handling; a duplicate returns None and changes nothing."""
    key = platform_dedupe_key(field=field, value=value, business_account_id=business_account_id)
    with transaction.atomic():
        try:
            with transaction.atomic():
                event = PlatformEvent.objects.create(
                    webhook=webhook_event,
                    number=_number_for(value),
                    business_account_id=business_account_id[:64],
                    field=field[:64],
                    payload=value if isinstance(value, dict) else {"value": value},
                    dedupe_key=key,
                )
        except IntegrityError:
            return None
        enqueue_on_commit(task_names.PLATFORM_EVENT_APPLY, event_id=event.pk)
        return event
