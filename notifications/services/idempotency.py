"""One effect per idempotency key: the first request's response is stored with the key
(a unique constraint per user) and returned again for every repeat."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from typing import Any

from django.contrib.auth.models import User
from django.db import IntegrityError, transaction

from config.refusals import Refused
from notifications.models import IdempotencyKey


class IdempotencyConflict(Refused):
    """A repeated key that cannot be answered: `idempotency_key_reused` (another body) or
    `idempotency_in_progress` (its first request still runs)."""


def request_fingerprint(data: Any) -> str:
    return hashlib.sha256(json.dumps(data, sort_keys=True, default=str).encode()).hexdigest()


def idempotent_call(
    *, user: User, key: str, data: Any, action: Callable[[], tuple[int, dict, int | None]]
) -> tuple[int, dict, bool]:
    """Run `action` (returning status, body, message id) once per (user, key), in the same
    transaction as the key's row: a concurrent repeat waits on the unique index and then
    gets the stored answer. Returns (status, body, replayed). A repeat with a different
    request body raises IdempotencyConflict."""
    fingerprint = request_fingerprint(data)
    with transaction.atomic():
        try:
            with transaction.atomic():
                row = IdempotencyKey.objects.create(user=user, key=key, request_hash=fingerprint)
        except IntegrityError:
            row = None
        if row is not None:
            status, body, message_id = action()
            row.response_status, row.response_body, row.message_id = status, body, message_id
            row.save(update_fields=["response_status", "response_body", "message"])
            return status, body, False
    stored = IdempotencyKey.objects.filter(user=user, key=key).first()
    if stored is None or stored.response_status is None:
        raise IdempotencyConflict("idempotency_in_progress", "A request with this Idempotency-Key is still running.")
    if stored.request_hash != fingerprint:
        raise IdempotencyConflict(
            "idempotency_key_reused", "This Idempotency-Key was used with a different request body."
        )
    return stored.response_status, stored.response_body or {}, True
