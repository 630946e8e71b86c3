"""One stored webhook body: every entry, change and item, each on its own.

One bad item (or an unknown phone number id) is recorded in the event's errors, with
where it was and why, while the rest go through. Items run in savepoints of the event's
transaction, so a failed item leaves nothing half-written.

A database error that says nothing about the item (`OperationalError`: a deadlock with a
concurrent batch, a lock or statement timeout, a lost connection) is not the item's
fault and is not recorded against it: it propagates, the whole event is undone and tried
again (`webhook_intake.webhook_events_process`), so a transient failure loses nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from django.db import OperationalError, transaction

from conversations.models import WebhookEvent, WhatsAppNumber
from conversations.processing.platform import platform_event_record
from conversations.processing.summaries import as_dict
from conversations.services.message_receive import message_echo_record, message_receive
from conversations.services.message_status import status_record

log = logging.getLogger(__name__)


class WebhookInvalid(ValueError):
    """The body is JSON but not a WhatsApp webhook envelope."""


def _error(where: str, exc: BaseException | str, item_id: str = "") -> dict[str, str]:
    why = exc if isinstance(exc, str) else f"{type(exc).__name__}: {exc}"
    entry = {"where": where, "error": why[:1000]}
    if item_id:
        entry["id"] = item_id
    return entry


def _profile_for(contacts: Any, message: dict[str, Any]) -> dict[str, Any]:
    """The `contacts[]` entry describing the sender of `message`."""
    entries = [c for c in contacts if isinstance(c, dict)] if isinstance(contacts, list) else []
    for entry in entries:
        if (message.get("from") and entry.get("wa_id") == message.get("from")) or (
            message.get("from_user_id") and entry.get("user_id") == message.get("from_user_id")
        ):
            return entry
    return entries[0] if len(entries) == 1 else {}


def _each(items: Any, where: str, errors: list[dict[str, str]], handle: Callable[[dict[str, Any]], Any]) -> None:
    if items is None:
        return
    if not isinstance(items, list):
        errors.append(_error(where, "expected a list"))
        return
    for index, item in enumerate(items):
        item_where = f"{where}[{index}]"
        item_id = str(item.get("id") or "") if isinstance(item, dict) else ""
        if not isinstance(item, dict):
            errors.append(_error(item_where, "expected an object"))
            continue
        try:
            with transaction.atomic():
                handle(item)
        except OperationalError:
            raise  # transient: the event is tried again (see the module docstring)
        except Exception as exc:
            log.exception("webhook item %s (%s) failed", item_where, item_id)
            errors.append(_error(item_where, exc, item_id))


def _messages_change(
    event: WebhookEvent, value: dict[str, Any], where: str, numbers: dict[str, WhatsAppNumber | None]
) -> list[dict[str, str]]:
    errors: list[dict[str, str]] = []
    metadata = as_dict(value.get("metadata"))
    phone_number_id = str(metadata.get("phone_number_id") or "")
    if phone_number_id not in numbers:
        numbers[phone_number_id] = WhatsAppNumber.objects.filter(phone_number_id=phone_number_id).first()
    number = numbers[phone_number_id]
    if number is None:
        log.warning("webhook %s: unknown phone_number_id %r, acknowledged and not routed", event.pk, phone_number_id)
        return [_error(where, f"unknown phone_number_id {phone_number_id!r}")]
    contacts = value.get("contacts")
    business_phone = str(metadata.get("display_phone_number") or "")
    _each(
        value.get("messages"),
        f"{where}.value.messages",
        errors,
        lambda m: message_receive(
            number=number,
            profile=_profile_for(contacts, m),
            message=m,
            webhook_event=event,
            business_phone=business_phone,
        ),
    )
    # Messages the business sent from the WhatsApp Business app (`smb_message_echoes`).
    _each(
        value.get("message_echoes"),
        f"{where}.value.message_echoes",
        errors,
        lambda m: message_echo_record(number=number, message=m, webhook_event=event),
    )
    _each(value.get("statuses"), f"{where}.value.statuses", errors, lambda s: status_record(number=number, item=s))
    if value.get("errors"):
        log.warning("webhook %s: Meta reported errors at %s: %s", event.pk, where, value["errors"])
    return errors


Numbers = dict[str, WhatsAppNumber | None]


def payload_process(*, event: WebhookEvent, payload: Any, numbers: Numbers | None = None) -> list[dict[str, str]]:
    """Process a parsed webhook body; returns the item errors (empty when all went
    through). Raises WebhookInvalid when the body is not a webhook envelope at all.
    Call inside the event's transaction. `numbers` (phone number id → number, None for
    one that is not configured) is filled as numbers are looked up; events processed
    one after another in one task pass the same dict, so a number is read once per batch."""
    if not isinstance(payload, dict) or not isinstance(payload.get("entry"), list):
        raise WebhookInvalid("not a WhatsApp webhook: no entry list")
    errors: list[dict[str, str]] = []
    numbers = {} if numbers is None else numbers
    for i, entry in enumerate(payload["entry"]):
        if not isinstance(entry, dict) or not isinstance(entry.get("changes"), list):
            errors.append(_error(f"entry[{i}]", "expected an object with a changes list"))
            continue
        account_id = str(entry.get("id") or "")
        for j, change in enumerate(entry["changes"]):
            where = f"entry[{i}].changes[{j}]"
            if not isinstance(change, dict) or not isinstance(change.get("field"), str):
                errors.append(_error(where, "expected an object with a field"))
                continue
            field, value = change["field"], change.get("value")
            if field in ("messages", "smb_message_echoes"):
                if not isinstance(value, dict):
                    errors.append(_error(where, f"{field} change without a value object"))
                    continue
                errors += _messages_change(event, value, where, numbers)
                continue
            try:
                with transaction.atomic():
                    platform_event_record(
                        webhook_event=event, business_account_id=account_id, field=field, value=value
                    )
            except OperationalError:
                raise
            except Exception as exc:
                log.exception("webhook change %s (%s) failed", where, field)
                errors.append(_error(where, exc))
    return errors
