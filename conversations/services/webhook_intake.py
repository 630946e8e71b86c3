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
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from asgiref.sync import sync_to_async
from django.conf import settings
from django.db import DatabaseError, connection, transaction
from django.utils import timezone

from config import task_names
from config.batch_scope import batch_scope
from config.bulk_rows import rows_update
from config.tasking import dispatch, enqueue_on_commit
from conversations.models import WebhookEvent, WhatsAppNumber
from conversations.processing.batch import Numbers, WebhookInvalid, payload_process
from conversations.processing.summaries import as_dict
from conversations.services.message_status import statuses_apply_waiting

log = logging.getLogger(__name__)

# Attempts at processing one event before it is marked failed (a body that keeps
# crashing its worker must not be retried for ever).
MAX_ATTEMPTS = 5
SWEEP_BATCH = 500
SECRETS_TTL_SECONDS = 30.0
INLINE_PARSE_MAX_BYTES = 64 * 1024


@dataclass(frozen=True)
class AppSecrets:
    """Every app secret that may sign our webhooks, decrypted, and whom each may speak for:
    the setting (`WHATSAPP_APP_SECRET`) for any number; a number's own secret for that
    number, and for its business account's account-level events."""

    loaded_at: float
    global_secret: bytes | None
    by_number: dict[str, bytes]
    by_display: dict[str, frozenset[bytes]]
    by_account: dict[str, frozenset[bytes]]
    every: frozenset[bytes]


# Kept briefly in this process so the intake does not read and decrypt every number on
# every request.
_secrets_cache: AppSecrets | None = None


def _digits(value: object) -> str:
    return "".join(ch for ch in str(value or "") if ch.isdigit())


def app_secrets_load() -> AppSecrets:
    """Read every number's app secret (and the setting) into a fresh per-process snapshot."""
    global _secrets_cache
    by_number: dict[str, bytes] = {}
    by_display: dict[str, set[bytes]] = {}
    by_account: dict[str, set[bytes]] = {}
    rows = WhatsAppNumber.objects.values_list(
        "phone_number_id", "display_phone_number", "business_account_id", "app_secret"
    )
    for phone_number_id, display, account, secret in rows:
        if not secret:
            continue
        key = secret.encode()
        by_number[phone_number_id] = key
        for form in {display, _digits(display)} - {""}:
            by_display.setdefault(form, set()).add(key)
        if account:
            by_account.setdefault(account, set()).add(key)
    global_secret = settings.WHATSAPP_APP_SECRET.encode() if settings.WHATSAPP_APP_SECRET else None
    snapshot = AppSecrets(
        loaded_at=time.monotonic(),
        global_secret=global_secret,
        by_number=by_number,
        by_display={k: frozenset(v) for k, v in by_display.items()},
        by_account={k: frozenset(v) for k, v in by_account.items()},
        every=frozenset([*by_number.values(), *([global_secret] if global_secret else [])]),
    )
    _secrets_cache = snapshot
    return snapshot


def app_secrets_forget() -> None:
    """Drop the cached secrets (after a number's secret changes, and between tests)."""
    global _secrets_cache
    _secrets_cache = None


def _cached_secrets() -> AppSecrets | None:
    cached = _secrets_cache
    if cached is None or time.monotonic() - cached.loaded_at > SECRETS_TTL_SECONDS:
        return None
    return cached


# Who a body speaks for, as processing routes it: ("number", phone_number_id),
# ("display", display phone number) or ("account", business account id).
Signer = tuple[str, str]
_MESSAGE_FIELDS = ("messages", "smb_message_echoes")


def webhook_signers(body: bytes) -> list[Signer] | None:
    """Everyone a webhook body speaks for, read the way processing routes it: a message
    change by its `metadata.phone_number_id`; any other change (template, quality and
    account events) by its entry's business account id, and by the number it names
    (`metadata.phone_number_id` or `display_phone_number`) if any. None when the body
    names no one (not JSON, not an envelope): it routes nowhere and is only kept, as
    failed, for the record."""
    try:
        payload = json.loads(body)
    except ValueError:
        return None
    entries = payload.get("entry") if isinstance(payload, dict) else None
    if not isinstance(entries, list):
        return None
    signers: list[Signer] = []
    for entry in entries:
        if not isinstance(entry, dict) or not isinstance(entry.get("changes"), list):
            continue
        account = str(entry.get("id") or "")
        for change in entry["changes"]:
            if not isinstance(change, dict):
                continue
            value = as_dict(change.get("value"))
            metadata = as_dict(value.get("metadata"))
            phone_number_id = str(metadata.get("phone_number_id") or "")
            if change.get("field") in _MESSAGE_FIELDS:
                signers.append(("number", phone_number_id) if phone_number_id else ("account", account))
                continue
            signers.append(("account", account))
            display = str(value.get("display_phone_number") or metadata.get("display_phone_number") or "")
            if phone_number_id:
                signers.append(("number", phone_number_id))
            elif display:
                signers.append(("display", display))
    return signers or None


def allowed_secrets(signers: list[Signer] | None, secrets: AppSecrets) -> frozenset[bytes]:
    """The secrets a body naming `signers` may be signed with: the setting's, or one that
    speaks for every signer at once (a body naming numbers of different apps can only
    carry the setting's signature). A number or account not configured here has no
    secret of its own. A display number matching no number adds no condition (its event
    is not linked to a number). A body naming no one may carry any known secret."""
    if signers is None:
        return secrets.every
    allowed: frozenset[bytes] | None = None
    for kind, key in dict.fromkeys(signers):
        if kind == "number":
            number_secret = secrets.by_number.get(key)
            mine: frozenset[bytes] | None = frozenset([number_secret]) if number_secret else frozenset()
        elif kind == "display":
            mine = secrets.by_display.get(key) or secrets.by_display.get(_digits(key))
        else:
            mine = secrets.by_account.get(key, frozenset())
        if mine is None:
            continue
        allowed = mine if allowed is None else allowed & mine
    result = allowed if allowed is not None else secrets.every
    return result | {secrets.global_secret} if secrets.global_secret else result


def signature_matches(body: bytes, header: str, secrets: Iterable[bytes]) -> bool:
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
    """The body is signed with a secret that speaks for every number (or business
    account) it names: the setting's, or those numbers' own. Checked against the cached
    secrets; on a mismatch, once more against freshly loaded ones (a number added or a
    secret rotated moments ago). Reading the secrets may raise a database error."""
    if not header.startswith("sha256="):
        return False
    # Meta's bodies are a few kilobytes; a large one is parsed off the event loop.
    if len(body) > INLINE_PARSE_MAX_BYTES:
        signers = await sync_to_async(webhook_signers, thread_sensitive=False)(body)
    else:
        signers = webhook_signers(body)
    secrets = _cached_secrets()
    if secrets is not None and signature_matches(body, header, allowed_secrets(signers, secrets)):
        return True
    secrets = await sync_to_async(_secrets_reloaded)()
    return signature_matches(body, header, allowed_secrets(signers, secrets))


def _secrets_reloaded() -> AppSecrets:
    """`app_secrets_load`, its thread's connection given back at once: the intake may be
    answered outside Django's request cycle (conversations.webhook_asgi), whose end would
    otherwise return it to the pool."""
    try:
        return app_secrets_load()
    finally:
        if not connection.in_atomic_block:
            connection.close()


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
    # Events stored within a few milliseconds share one batch task (config.publisher).
    enqueue_on_commit(task_names.WEBHOOK_PROCESS_BATCH, coalesce="event_ids", event_ids=[event.pk])
    return event


def _outcome(event: WebhookEvent, numbers: Numbers) -> tuple[str, list[dict[str, str]]]:
    """What processing the claimed, locked `event` comes to: its new state and errors."""
    if event.attempts > MAX_ATTEMPTS:
        return WebhookEvent.State.FAILED, [{"where": "event", "error": "gave up after repeated attempts"}]
    try:
        payload = json.loads(bytes(event.body))
    except ValueError as exc:
        return WebhookEvent.State.FAILED, [{"where": "body", "error": f"malformed JSON: {exc}"}]
    try:
        errors = payload_process(event=event, payload=payload, numbers=numbers)
    except WebhookInvalid as exc:
        return WebhookEvent.State.FAILED, [{"where": "body", "error": str(exc)}]
    return (WebhookEvent.State.PARTIAL if errors else WebhookEvent.State.PROCESSED), errors


def _claim(event_ids: list[int]) -> list[int]:
    """Count an attempt on each pending event of `event_ids` and return those this call
    won: a compare-and-set on (pending, attempts seen), committed before any work, so of
    concurrent workers exactly one wins each event and an attempt that crashes still
    counts. One read and one UPDATE for the whole batch."""
    seen = list(
        WebhookEvent.objects.filter(pk__in=event_ids, state=WebhookEvent.State.PENDING)
        .order_by()
        .values_list("pk", "attempts")
    )
    if not seen:
        return []
    table = connection.ops.quote_name(WebhookEvent._meta.db_table)
    pairs = " OR ".join(["(id = %s AND attempts = %s)"] * len(seen))
    # Only the model's quoted table name and placeholders go into the text.
    sql = (
        f"UPDATE {table} SET attempts = attempts + 1 WHERE state = %s AND ({pairs}) RETURNING id"  # noqa: S608
    )
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(sql, [WebhookEvent.State.PENDING, *(value for pair in seen for value in pair)])
        won = {row[0] for row in cursor.fetchall()}
    return [pk for pk in event_ids if pk in won]


def _run(claimed: list[int], numbers: Numbers) -> dict[int, str]:
    """Process the claimed events in one transaction, each in a savepoint of its own, in
    the order given; write every outcome with one UPDATE. An event that raises is rolled
    back alone and reported as "error" (still pending, its attempt counted)."""
    states: dict[int, str] = {}
    finished: dict[int, dict[str, Any]] = {}
    with transaction.atomic(), batch_scope():
        # Locked in id order (two batches sharing events cannot deadlock on them); a
        # re-dispatch's claim of these rows now waits and then finds them processed.
        locked = {
            event.pk: event
            for event in WebhookEvent.objects.select_for_update()
            .filter(pk__in=claimed, state=WebhookEvent.State.PENDING)
            .order_by("pk")
        }
        now = timezone.now()
        for pk in claimed:
            event = locked.get(pk)
            if event is None:
                states[pk] = "skipped"
                continue
            try:
                with transaction.atomic():
                    state, errors = _outcome(event, numbers)
            except Exception:
                log.exception("webhook event %s failed; it stays pending", pk)
                states[pk] = "error"
                continue
            if errors:
                log.warning("webhook %s %s with %d error(s): %s", pk, state, len(errors), errors[:3])
            states[pk] = state
            finished[pk] = {"state": state, "errors": errors, "processed_at": now}
        rows_update(WebhookEvent, "id", finished)
    return states


def webhook_events_process(*, event_ids: list[int], numbers: Numbers | None = None) -> list[str]:
    """Process stored events once each; returns each one's new state, in the order of
    `event_ids`: "skipped" when it is not pending or another worker has it, "error" when
    processing raised (it stays pending, its attempt counted, for the sweep).

    Events stored together (intake coalesces them into one task) are claimed together
    (`_claim`) and processed in one transaction (`_run`): their numbers and configuration
    (webhook endpoints, consent keyword rules) are read once, their outcomes written by one
    UPDATE, and the desk events of their conversations built together after commit. Each
    event keeps its own savepoint, so one that raises is undone alone; it is then tried
    again alone at once (a lock-order deadlock with another batch is over by then). If the
    batch's transaction itself fails, each event is tried alone. Malformed JSON or a body
    that is no webhook fails the event, keeping it and the why."""
    ids = list(dict.fromkeys(event_ids))
    claimed = _claim(ids)
    states: dict[int, str] = dict.fromkeys(ids, "skipped")
    if claimed:
        numbers = {} if numbers is None else numbers
        try:
            states.update(_run(claimed, numbers))
        except DatabaseError:
            log.exception("webhook batch %s failed; its events are tried alone", claimed)
            states.update(dict.fromkeys(claimed, "error"))
        if len(claimed) > 1:
            for pk in claimed:
                if states[pk] == "error":
                    states[pk] = webhook_events_process(event_ids=[pk], numbers=numbers)[0]
    return [states[pk] for pk in event_ids]


def webhook_event_process(*, event_id: int) -> str:
    """Process one stored event (`webhook_events_process` for a batch of one)."""
    return webhook_events_process(event_ids=[event_id])[0]


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
            enqueue_on_commit(task_names.WEBHOOK_PROCESS, event_id=event_id)
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
        dispatch(task_names.WEBHOOK_PROCESS, {"event_id": event_id})
    if ids:
        log.info("sweep dispatched %d pending webhook event(s)", len(ids))
    statuses_apply_waiting(older_than_seconds=settings.WEBHOOK_SWEEP_AFTER_SECONDS)
    return len(ids)
