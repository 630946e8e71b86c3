"""Delivery statuses of our outbound messages, from `statuses[]` webhook items.

Every status is stored once per (wamid, status) — the database constraint turns a
redelivered webhook into a no-op — and then applied to its message, forward only:
pending < sending < sent < delivered < read (`delivered` may be skipped; `played`, for
voice messages, counts as read). `failed` is terminal and keeps the provider's error.
A status for a wamid not stored yet (the send's response not recorded) waits, unapplied,
until `statuses_apply_pending` runs for that message; unless it carries our delivery
handle (`biz_opaque_callback_data`, see conversations.services.message_delivery): then it names the
message, and a message still `sending` (or `pending`) without a wamid is settled by it:
the wamid is recorded, the message counts as sent, and neither the sweep nor a retry
sends it again.

Per-message pricing: a status may carry WhatsApp's `pricing` object (`pricing_model`
"PMP", `category` marketing / utility / authentication / service / …, `type` regular,
free_customer_service or free_entry_point). It is stored on the message as sent (any
shape, unread fields included) with its category, type and model picked out when they
are strings; an object of an unknown shape is kept as it came, logged, and never stops
the status from applying.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from conversations.events import publish_message
from conversations.models import (
    PRICING_TYPE_REGULAR,
    STATUS_RANK,
    Message,
    MessageStatusEvent,
    WhatsAppNumber,
)
from conversations.processing.summaries import as_dict, provider_time
from conversations.services.delivery_outcomes import message_id_from_handle, message_mark_failed
from conversations.services.webhook_outbox import EventType, webhook_message_event

log = logging.getLogger(__name__)

# Where each status leaves its time on the message.
_TIME_FIELDS = {"sent": "sent_at", "delivered": "delivered_at", "read": "read_at"}
# Order in which waiting statuses are applied: forward, failure last.
_APPLY_ORDER = {"sent": 0, "delivered": 1, "read": 2, "played": 2, "failed": 3}


def _error_of(event: MessageStatusEvent) -> tuple[str, str, str]:
    errors = event.errors if isinstance(event.errors, list) else []
    first = errors[0] if errors and isinstance(errors[0], dict) else {}
    error_data = as_dict(first.get("error_data"))
    title = str(first.get("title") or first.get("message") or "Failed")
    details = str(error_data.get("details") or first.get("message") or "")
    return str(first.get("code") or ""), title, "" if details == title else details


def pricing_fields(value: Any) -> dict[str, Any]:
    """The message fields a status's `pricing` object sets: the raw object (a value that
    is not an object is kept under "raw") and its category, type and model where they are
    strings. The older conversation-based shape (`billable` without `type`) gives type
    "regular" when billable and "free" when not."""
    if not isinstance(value, dict):
        return {"pricing": {"raw": value}, "pricing_category": "", "pricing_type": "", "pricing_model": ""}

    def text(key: str, size: int) -> str:
        item = value.get(key)
        return item.strip().lower()[:size] if isinstance(item, str) else ""

    kind = text("type", 40)
    if not kind and isinstance(value.get("billable"), bool):
        kind = PRICING_TYPE_REGULAR if value["billable"] else "free"
    return {
        "pricing": value,
        "pricing_category": text("category", 40),
        "pricing_type": kind,
        "pricing_model": text("pricing_model", 16).upper(),
    }


def _apply_pricing(message: Message, event: MessageStatusEvent) -> list[str]:
    """Record the status's pricing object on the message; returns the fields it changed."""
    payload = event.payload if isinstance(event.payload, dict) else {}
    if "pricing" not in payload or payload["pricing"] in (None, {}):
        return []
    fields = pricing_fields(payload["pricing"])
    if not fields["pricing_category"] or not fields["pricing_type"]:
        log.warning("status %s of %s: pricing of an unknown shape kept as it came: %r",
                    event.status, event.provider_message_id, payload["pricing"])
    changed = []
    for name, value in fields.items():
        if getattr(message, name) != value:
            setattr(message, name, value)
            changed.append(name)
    return changed


def _apply_one(message: Message, event: MessageStatusEvent) -> list[str]:
    """Apply one status to the (locked) message; returns the fields it changed."""
    if message.direction != Message.Direction.OUTBOUND:
        return []
    status = "read" if event.status == "played" else event.status
    if status not in STATUS_RANK:
        log.info("status %s of %s noted, nothing to apply", event.status, event.provider_message_id)
        return []
    changed: list[str] = []
    time_field = _TIME_FIELDS.get(status)
    if time_field and getattr(message, time_field) is None:
        setattr(message, time_field, event.timestamp)
        changed.append(time_field)
    current = STATUS_RANK.get(message.status, -1)  # type: ignore[call-overload]
    if message.status != Message.Status.FAILED and STATUS_RANK[status] > current:  # type: ignore[index]
        message.status = status
        changed.append("status")
    return changed


def _apply(message: Message, events: list[MessageStatusEvent]) -> None:
    """Apply statuses to a message locked by the caller, in forward order; a failure
    last, through the delivery's failure policy (terminal, keeps the provider's error,
    records an opt-out for 131050, alerts on account errors)."""
    changed: list[str] = []
    failure: MessageStatusEvent | None = None
    for event in sorted(events, key=lambda e: (_APPLY_ORDER.get(e.status, 0), e.timestamp)):
        if message.direction == Message.Direction.OUTBOUND:
            changed += _apply_pricing(message, event)
        if event.status == Message.Status.FAILED:
            failure = failure or event
        else:
            changed += _apply_one(message, event)
    MessageStatusEvent.objects.filter(pk__in=[e.pk for e in events]).update(applied_at=timezone.now())
    if changed:
        message.save(update_fields=list(dict.fromkeys(changed)))
        publish_message(message, "message.updated")
        if "status" in changed:
            webhook_message_event(type=EventType.MESSAGE_STATUS, message=message)
    if (
        failure is not None
        and message.direction == Message.Direction.OUTBOUND
        and message.status != Message.Status.FAILED
    ):
        code, title, details = _error_of(failure)
        message_mark_failed(message=message, code=code, title=title, details=details)


def _settle_by_handle(
    *, number: WhatsAppNumber, item: dict[str, Any], wamid: str, event: MessageStatusEvent
) -> Message | None:
    """The message a status's delivery handle names, locked, with `wamid` recorded on it
    if its send's answer was never stored; None when the handle names nothing that
    may take this wamid (another number's message, another recipient, or a message that
    already holds a different wamid: a second copy went out)."""
    message_id = message_id_from_handle(item.get("biz_opaque_callback_data"))
    if message_id is None:
        return None
    message = (
        Message.objects.select_for_update()
        .select_related("conversation__contact")
        .filter(
            pk=message_id,
            direction=Message.Direction.OUTBOUND,
            internal=False,
            conversation__number=number,
        )
        .first()
    )
    if message is None:
        log.warning("status %s for %s names message %s, not one of number %s", event.status, wamid, message_id, number.pk)
        return None
    if message.provider_message_id == wamid:  # stored while we waited for the row lock
        return message
    contact = message.conversation.contact
    recipient = str(item.get("recipient_id") or item.get("recipient_user_id") or "")
    if recipient and recipient not in {contact.wa_id, contact.user_id} - {""}:
        log.warning("status %s for %s names message %s of another recipient", event.status, wamid, message_id)
        return None
    if message.provider_message_id or message.status not in (Message.Status.PENDING, Message.Status.SENDING):
        log.warning(
            "status %s for %s names message %s, stored as %s (%s): a second copy went out",
            event.status,
            wamid,
            message.pk,
            message.provider_message_id,
            message.status,
        )
        return None
    message.provider_message_id = wamid
    message.status = Message.Status.SENT
    message.sent_at = message.sent_at or event.timestamp
    message.next_attempt_at = None
    message.error_code = message.error_text = ""
    message.save(update_fields=["provider_message_id", "status", "sent_at", "next_attempt_at", "error_code", "error_text"])
    log.info("message %s settled by its %s status (%s): its send's answer was never stored", message.pk, event.status, wamid)
    publish_message(message, "message.updated")
    webhook_message_event(type=EventType.MESSAGE_STATUS, message=message)
    return message


def status_record(*, number: WhatsAppNumber, item: dict[str, Any]) -> None:
    """Store one `statuses[]` item and apply it to its message if the message is known
    by its wamid or, failing that, by the delivery handle the status carries (which
    settles a send whose answer was never stored). A duplicate (same wamid and status)
    changes nothing."""
    wamid = str(item.get("id") or "").strip()
    status = str(item.get("status") or "").strip().lower()
    if not wamid or not status:
        raise ValueError("status without a message id or a status")
    errors = item.get("errors")
    # No savepoint of its own: an error leaves this function, and the caller's atomic block
    # (a webhook item's savepoint) or this one as the transaction rolls it all back.
    with transaction.atomic(savepoint=False):
        try:
            with transaction.atomic():
                event = MessageStatusEvent.objects.create(
                    provider_message_id=wamid,
                    status=status,
                    timestamp=provider_time(item.get("timestamp")) or timezone.now(),
                    recipient_id=str(item.get("recipient_id") or item.get("recipient_user_id") or "")[:128],
                    errors=errors if isinstance(errors, list) else [],
                    payload=item,
                )
        except IntegrityError:
            return
        message = (
            Message.objects.select_for_update()
            .select_related("conversation__contact")
            .filter(provider_message_id=wamid)
            .first()
        )
        if message is None:
            message = _settle_by_handle(number=number, item=item, wamid=wamid, event=event)
        if message is None:
            log.info("status %s for %s (number %s) waits for its message", status, wamid, number.pk)
            return
        _apply(message, [event])


def statuses_apply_pending(*, message: Message) -> None:
    """Apply statuses that arrived before `message`'s wamid was stored. The delivery
    task calls this right after storing the wamid; running it twice is harmless."""
    if not message.provider_message_id:
        return
    waiting = MessageStatusEvent.objects.filter(provider_message_id=message.provider_message_id, applied_at__isnull=True)
    if not waiting.exists():  # the common case: nothing to lock
        return
    with transaction.atomic():
        locked = (
            Message.objects.select_for_update()
            .select_related("conversation__contact")
            .filter(pk=message.pk)
            .first()
        )
        if locked is None:
            return
        events = list(
            MessageStatusEvent.objects.filter(provider_message_id=locked.provider_message_id, applied_at__isnull=True)
        )
        if events:
            _apply(locked, events)
    for field in ("status", "sent_at", "delivered_at", "read_at", "failed_at", "error_code", "error_text",
                  "pricing", "pricing_category", "pricing_type", "pricing_model"):
        setattr(message, field, getattr(locked, field))


def statuses_apply_waiting(*, older_than_seconds: float = 30, limit: int = 500) -> int:
    """Apply waiting statuses whose message has since been stored (closes the race where
    a status and its wamid are committed at the same moment). Returns messages updated."""
    now = timezone.now()
    wamids = list(
        MessageStatusEvent.objects.filter(
            applied_at__isnull=True,
            received_at__lt=now - timedelta(seconds=older_than_seconds),
            received_at__gte=now - timedelta(days=1),
            provider_message_id__in=Message.objects.filter(provider_message_id__isnull=False).values(
                "provider_message_id"
            ),
        )
        .values_list("provider_message_id", flat=True)
        .distinct()[:limit]
    )
    count = 0
    for message in Message.objects.filter(provider_message_id__in=wamids):
        statuses_apply_pending(message=message)
        count += 1
    return count
