"""Webhook intake: checking who sent it, storing it, and processing it later.

The request path does only the signature check and one insert; everything else happens
in the `conversations.tasks.process_webhook_event` task, enqueued after the insert
commits. If the broker is down the event still waits in the database, and the periodic
sweep dispatches it again.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import time
from datetime import timedelta

from asgiref.sync import sync_to_async
from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from config.tasking import dispatch, enqueue_on_commit

from .models import WebhookEvent, WhatsAppNumber
from .processing.batch import WebhookInvalid, payload_process
from .statuses import statuses_apply_waiting

log = logging.getLogger(__name__)

PROCESS_TASK = "conversations.tasks.process_webhook_event"
# Intake's task: events stored within a few milliseconds share one (config.publisher).
PROCESS_BATCH_TASK = "conversations.tasks.process_webhook_events"
# Attempts at processing one event before it is marked failed (a body that keeps
# crashing its worker must not be retried for ever).
MAX_ATTEMPTS = 5
SWEEP_BATCH = 500
SECRETS_TTL_SECONDS = 30.0

# App secrets, decrypted, kept briefly in this process so the intake does not read and
# decrypt every number on every request: (loaded at, secrets).
_secrets_cache: tuple[float, tuple[bytes, ...]] | None = None


def app_secrets_load() -> tuple[bytes, ...]:
    """Every app secret that may sign our webhooks: the setting and each number's."""
    global _secrets_cache
    candidates = [settings.WHATSAPP_APP_SECRET, *WhatsAppNumber.objects.values_list("app_secret", flat=True)]
    secrets = tuple(dict.fromkeys(s.encode() for s in candidates if s))
    _secrets_cache = (time.monotonic(), secrets)
    return secrets


def app_secrets_forget() -> None:
    """Drop the cached secrets (after a number's secret changes, and between tests)."""
    global _secrets_cache
    _secrets_cache = None


def _cached_secrets() -> tuple[bytes, ...] | None:
    cached = _secrets_cache
    if cached is None or time.monotonic() - cached[0] > SECRETS_TTL_SECONDS:
        return None
    return cached[1]


def signature_matches(body: bytes, header: str, secrets: tuple[bytes, ...]) -> bool:
    """`header` is `sha256=<hex>`, the HMAC-SHA256 of exactly `body` under one of
    `secrets`. Every secret is compared in constant time."""
    if not header.startswith("sha256="):
        return False
    provided = header[len("sha256=") :].strip().lower().encode("latin-1", errors="replace")
    matched = False
    for secret in secrets:
        expected = hmac.new(secret, body, hashlib.sha256).hexdigest().encode()
        matched |= hmac.compare_digest(expected, provided)
    return matched


async def signature_valid(body: bytes, header: str) -> bool:
    """Check the signature against the cached secrets; on a mismatch, once more against
    freshly loaded ones (a number added or a secret rotated moments ago)."""
    if not header.startswith("sha256="):
        return False
    secrets = _cached_secrets()
    if secrets is not None and signature_matches(body, header, secrets):
        return True
    secrets = await sync_to_async(app_secrets_load)()
    return signature_matches(body, header, secrets)


def verify_token_valid(token: str) -> bool:
    """The handshake's `hub.verify_token` is the configured one or a number's (constant time)."""
    if not token:
        return False
    candidates = [settings.WHATSAPP_VERIFY_TOKEN, *WhatsAppNumber.objects.values_list("verify_token", flat=True)]
    given = token.encode()
    matched = False
    for candidate in candidates:
        if candidate:
            matched |= hmac.compare_digest(candidate.encode(), given)
    return matched


def webhook_event_store(*, body: bytes, signature: str) -> WebhookEvent:
    """Store a signed webhook body as received (one INSERT, its own transaction) and
    enqueue its processing once committed."""
    event = WebhookEvent.objects.create(body=body, signature=signature[:100])
    enqueue_on_commit(PROCESS_BATCH_TASK, coalesce="event_ids", event_ids=[event.pk])
    return event


def _finish(event: WebhookEvent, state: str, errors: list[dict[str, str]]) -> str:
    event.state = state
    event.errors = errors
    event.processed_at = timezone.now()
    event.save(update_fields=["state", "errors", "processed_at"])
    if errors:
        log.warning("webhook %s %s with %d error(s): %s", event.pk, state, len(errors), errors[:3])
    return state


def webhook_event_process(*, event_id: int) -> str:
    """Process a stored event once. Returns its new state, or "skipped" when it is not
    pending or another worker has it.

    The claim is a compare-and-set on (pending, attempts seen), committed before any
    work, so of concurrent workers exactly one goes on, and an attempt that crashes
    still counts. The winner then locks the row for its processing transaction: a later
    re-dispatch's claim waits on that lock and then finds the event no longer pending.
    Malformed JSON or a body that is no webhook fails the event, keeping it and the why.
    """
    seen = WebhookEvent.objects.filter(pk=event_id, state=WebhookEvent.State.PENDING).values_list("attempts", flat=True).first()
    if seen is None:
        return "skipped"
    claimed = WebhookEvent.objects.filter(pk=event_id, state=WebhookEvent.State.PENDING, attempts=seen).update(
        attempts=F("attempts") + 1
    )
    if not claimed:
        return "skipped"
    with transaction.atomic():
        event = (
            WebhookEvent.objects.select_for_update()
            .filter(pk=event_id, state=WebhookEvent.State.PENDING)
            .first()
        )
        if event is None:
            return "skipped"
        if event.attempts > MAX_ATTEMPTS:
            return _finish(event, WebhookEvent.State.FAILED, [{"where": "event", "error": "gave up after repeated attempts"}])
        try:
            payload = json.loads(bytes(event.body))
        except ValueError as exc:
            return _finish(event, WebhookEvent.State.FAILED, [{"where": "body", "error": f"malformed JSON: {exc}"}])
        try:
            errors = payload_process(event=event, payload=payload)
        except WebhookInvalid as exc:
            return _finish(event, WebhookEvent.State.FAILED, [{"where": "body", "error": str(exc)}])
        return _finish(event, WebhookEvent.State.PARTIAL if errors else WebhookEvent.State.PROCESSED, errors)


def webhook_event_reprocess(*, event_ids: list[int]) -> int:
    """Put events back to pending and enqueue their processing (the admin's "reprocess").
    Safe for events already processed: messages, statuses and platform events are
    stored once, so only what failed before takes effect. Returns how many."""
    with transaction.atomic():
        ids = list(WebhookEvent.objects.select_for_update().filter(pk__in=event_ids).values_list("pk", flat=True))
        WebhookEvent.objects.filter(pk__in=ids).update(
            state=WebhookEvent.State.PENDING, attempts=0, processed_at=None, errors=[]
        )
        for event_id in ids:
            enqueue_on_commit(PROCESS_TASK, event_id=event_id)
    return len(ids)


def webhook_events_sweep() -> int:
    """Dispatch again events still pending `WEBHOOK_SWEEP_AFTER_SECONDS` after arrival
    (stored while the broker was down, or lost with a worker), and apply statuses whose
    message has since been stored. Returns how many events were dispatched."""
    cutoff = timezone.now() - timedelta(seconds=settings.WEBHOOK_SWEEP_AFTER_SECONDS)
    ids = list(
        WebhookEvent.objects.filter(state=WebhookEvent.State.PENDING, received_at__lte=cutoff)
        .order_by("received_at")
        .values_list("pk", flat=True)[:SWEEP_BATCH]
    )
    for event_id in ids:
        dispatch(PROCESS_TASK, {"event_id": event_id})
    if ids:
        log.info("sweep dispatched %d pending webhook event(s)", len(ids))
    statuses_apply_waiting(older_than_seconds=settings.WEBHOOK_SWEEP_AFTER_SECONDS)
    return len(ids)
