"""Apply WhatsApp's non-message webhook changes (stored by intake as PlatformEvent rows):
template status, quality and category; number quality, capability and account updates;
users' marketing preferences (stop / resume) as consent changes; business-scoped user id
changes forwarded as `user_id_update`."""

from __future__ import annotations

import logging
from typing import Any

from django.db import transaction
from django.utils import timezone

from conversations.models import Contact, PlatformEvent, WhatsAppNumber
from conversations.services.contacts import (
    contact_for_identity_change,
    contact_identity_change,
    identity_change_of_update,
)
from notifications.models import ConsentCategory, ConsentSource
from notifications.services import number_health as health
from notifications.services import template_sync
from notifications.services.consent import consent_opt_in, consent_opt_out

log = logging.getLogger(__name__)


def _value(event: PlatformEvent) -> dict[str, Any]:
    payload = event.payload or {}
    # Intake stores the change's `value`; a whole change ({"field", "value"}) is accepted too.
    if isinstance(payload.get("value"), dict) and "field" in payload:
        return payload["value"]
    return payload


def _number(event: PlatformEvent, value: dict[str, Any]) -> WhatsAppNumber | None:
    if event.number_id:
        return event.number
    phone_number_id = (value.get("metadata") or {}).get("phone_number_id")
    if phone_number_id:
        found = WhatsAppNumber.objects.filter(phone_number_id=phone_number_id).first()
        if found:
            return found
    display = str(value.get("display_phone_number") or value.get("phone_number") or "")
    numbers = WhatsAppNumber.objects.all()
    if display:
        found = numbers.filter(display_phone_number=display).first()
        if found:
            return found
    if event.business_account_id:
        by_account = list(numbers.filter(business_account_id=event.business_account_id)[:2])
        if len(by_account) == 1:
            return by_account[0]
    return None


def user_preferences_apply(*, number: WhatsAppNumber, value: dict[str, Any]) -> int:
    """`user_preferences`: a user stopped (or resumed) marketing messages. Each item is an
    opt-out (or opt-in) for marketing with source `whatsapp_preference`. Unknown users are
    created as contacts so the opt-out is kept before they ever write. Returns items applied."""
    applied = 0
    for item in value.get("user_preferences") or []:
        if not isinstance(item, dict):
            continue
        wa_id = str(item.get("wa_id") or "")
        user_id = str(item.get("user_id") or "")
        category = str(item.get("category") or "marketing_messages")
        choice = str(item.get("value") or "").lower()
        if not (wa_id or user_id) or not category.startswith("marketing") or choice not in ("stop", "resume"):
            continue
        with transaction.atomic():
            if wa_id:
                contact, _ = Contact.objects.get_or_create(number=number, wa_id=wa_id)
            else:
                contact, _ = Contact.objects.get_or_create(number=number, user_id=user_id)
            proof = f"user_preferences {choice}: {item.get('detail', '')} at {item.get('timestamp', '')}".strip()
            change = consent_opt_out if choice == "stop" else consent_opt_in
            change(contact=contact, category=ConsentCategory.MARKETING, source=ConsentSource.WHATSAPP_PREFERENCE,
                   proof=proof)
        applied += 1
    return applied


def user_id_updates_apply(*, number: WhatsAppNumber, value: dict[str, Any]) -> int:
    """`user_id_update` (as some providers forward WhatsApp's business-scoped user id
    changes; WhatsApp itself reports them as `system` messages): each known contact takes
    its new user id and keeps its history. Returns the contacts changed."""
    items = value.get("user_id_update") or value.get("user_id_updates") or [value]
    changed = 0
    for item in items if isinstance(items, list) else []:
        change = identity_change_of_update(item) if isinstance(item, dict) else None
        if change is None:
            continue
        with transaction.atomic():
            contact = contact_for_identity_change(number=number, change=change)
            if contact is not None and contact_identity_change(contact=contact, change=change):
                changed += 1
    return changed


def platform_event_apply(*, event: PlatformEvent) -> None:
    """Apply one stored platform event. Each handler is idempotent (it sets states rather
    than counting), so a redelivered or re-run event changes nothing more."""
    value = _value(event)
    number = _number(event, value)
    field = event.field
    waba = event.business_account_id or (number.business_account_id if number else "")
    if field == "message_template_status_update":
        template_sync.template_status_apply(waba=waba, number=number, value=value)
    elif field == "message_template_quality_update":
        template_sync.template_quality_apply(waba=waba, number=number, value=value)
    elif field == "template_category_update":
        template_sync.template_category_apply(waba=waba, number=number, value=value)
    elif field in ("phone_number_quality_update", "business_capability_update", "account_update",
                   health.PORTFOLIO_LIMIT_FIELDS[0]):
        if field == health.PORTFOLIO_LIMIT_FIELDS[0]:  # the portfolio's limit as a field of its own
            field, value = "business_capability_update", {field: value}
        targets = [number] if number else list(WhatsAppNumber.objects.filter(business_account_id=waba)) if waba else []
        apply = {
            "phone_number_quality_update": health.number_quality_apply,
            "business_capability_update": health.business_capability_apply,
            "account_update": health.account_update_apply,
        }[field]
        for target in targets:
            apply(number=target, value=value, platform_event=event if len(targets) == 1 else None)
        if not targets:
            log.warning("platform event %s (%s) names no known number", event.pk, field)
    elif field == "user_id_update":
        if number is None:
            raise ValueError("user_id_update event for an unknown number")
        user_id_updates_apply(number=number, value=value)
    elif field == "user_preferences":
        if number is None:
            raise ValueError("user_preferences event for an unknown number")
        user_preferences_apply(number=number, value=value)
    else:
        log.info("platform event %s: field %s needs no action", event.pk, field)


def platform_event_handle(*, event_id: int) -> bool:
    """Apply the event once: skipped when already handled; errors are kept on the row."""
    event = PlatformEvent.objects.select_related("number").filter(pk=event_id).first()
    if event is None or event.handled_at is not None:
        return False
    try:
        platform_event_apply(event=event)
    except Exception as exc:
        log.exception("platform event %s could not be applied", event_id)
        PlatformEvent.objects.filter(pk=event_id).update(error=f"{type(exc).__name__}: {exc}"[:2000])
        raise
    PlatformEvent.objects.filter(pk=event_id, handled_at__isnull=True).update(handled_at=timezone.now(), error="")
    return True
