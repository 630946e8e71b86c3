"""Posting outgoing webhooks: attempts in batches, retries with backoff, the log, and an
endpoint disabled when it has failed for a day.

A task gets the deliveries of the events committed together (the publisher merges their
tasks, config.publisher) and makes one attempt of each that is due. Deliveries are claimed
with a compare-and-set update (pending and due → sending) before any POST, so a task run
twice posts once; the results are written together after. The body is the event's
payload as compact JSON, identical on every attempt; the `Handoff-Signature` header is
`t=<unix time>,v1=<hex HMAC-SHA256 of "<t>.<body>" with the endpoint's secret>` (receivers
recompute it over the raw body and refuse old timestamps: replay protection).

Failures (no answer in time, a connection error, a refused target, any status outside
2xx, redirects included) are retried after `WEBHOOK_RETRY_BASE_SECONDS` × 2^(attempt-1),
at most `WEBHOOK_RETRY_MAX_DELAY_SECONDS` apart, until `WEBHOOK_RETRY_FOR_SECONDS` after
the event (3 days), then the delivery is failed. An endpoint with no success for
`WEBHOOK_DISABLE_AFTER_SECONDS` (a day) since its first failure is disabled and an alert
raised; its pending deliveries wait until an admin enables it again.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import time
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext, gettext_noop

from config import task_names
from config.outbound_http import OutboundFailed, OutboundRefused, OutboundResponse, request
from config.refusals import Refused
from config.tasking import enqueue_on_commit
from notifications.models import Alert, OutboxEvent, WebhookAttempt, WebhookDelivery, WebhookEndpoint
from notifications.services.alerts import AlertText, alert_close, alert_raise

log = logging.getLogger(__name__)

State = WebhookDelivery.State
SIGNATURE_HEADER = "Handoff-Signature"
EXCERPT_CHARS = 1000
# An answer is read up to this size (only an excerpt is kept).
MAX_ANSWER_BYTES = 64 * 1024
# Deliveries one task sends (tasks enqueued together are merged by the publisher).
BATCH = 50


def event_body(event: OutboxEvent) -> bytes:
    """The raw body posted for `event` (the same bytes on every attempt)."""
    return json.dumps(event.payload, separators=(",", ":"), ensure_ascii=False, sort_keys=True).encode()


def webhook_signature(*, secret: str, timestamp: int, body: bytes) -> str:
    digest = hmac.new(secret.encode(), str(timestamp).encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def webhook_signature_verify(*, secret: str, header: str, body: bytes, tolerance: float = 300,
                             now: float | None = None) -> bool:
    """What a receiver does (and the tests): the signature matches the raw body and the
    timestamp is at most `tolerance` seconds old."""
    parts = dict(item.split("=", 1) for item in header.split(",") if "=" in item)
    try:
        timestamp = int(parts.get("t", ""))
    except ValueError:
        return False
    if abs((now if now is not None else time.time()) - timestamp) > tolerance:
        return False
    expected = webhook_signature(secret=secret, timestamp=timestamp, body=body).split("v1=", 1)[1]
    return hmac.compare_digest(expected, parts.get("v1", ""))


def retry_delay(attempts: int) -> timedelta:
    """The wait after the `attempts`-th failed attempt."""
    seconds = settings.WEBHOOK_RETRY_BASE_SECONDS * (2 ** max(attempts - 1, 0))
    return timedelta(seconds=min(seconds, settings.WEBHOOK_RETRY_MAX_DELAY_SECONDS))


def _post(endpoint: WebhookEndpoint, event: OutboxEvent, delivery_id: int) -> OutboundResponse:
    body = event_body(event)
    timestamp = int(time.time())
    headers = {
        "Content-Type": "application/json",
        SIGNATURE_HEADER: webhook_signature(secret=endpoint.secret, timestamp=timestamp, body=body),
        "Handoff-Event-Id": event.event_id,
        "Handoff-Event-Type": event.type,
        "Handoff-Delivery": str(delivery_id),
    }
    return request("POST", endpoint.url, body=body, headers=headers, timeout=settings.WEBHOOK_TIMEOUT_SECONDS,
                   max_bytes=MAX_ANSWER_BYTES)


@dataclass
class _Outcome:
    status: int | None = None
    latency: int = 0
    excerpt: str = ""
    error: str = ""
    unreachable: bool = False  # no answer at all: the endpoint's other deliveries wait


def _attempt(delivery: WebhookDelivery) -> _Outcome:
    try:
        response = _post(delivery.endpoint, delivery.event, delivery.pk)
    except OutboundRefused as exc:
        return _Outcome(error=f"refused: {exc.detail}"[:300], unreachable=True)
    except OutboundFailed as exc:
        return _Outcome(latency=exc.elapsed_ms, error=f"{exc.code}: {exc.detail}"[:300], unreachable=True)
    outcome = _Outcome(status=response.status, latency=response.elapsed_ms, excerpt=response.excerpt(EXCERPT_CHARS))
    if not response.ok:
        outcome.error = f"answered {response.status}"
        if 300 <= response.status < 400:
            outcome.error += " (redirects are not followed)"
    return outcome


def webhook_deliver(*, delivery_id: int) -> str | None:
    """Make one attempt of a due delivery. Returns the delivery's new state, or None when
    there was nothing to do (not due, already claimed or done, endpoint disabled)."""
    return webhook_deliveries_send(delivery_ids=[delivery_id]).get(delivery_id)


def webhook_deliveries_send(*, delivery_ids: list[int]) -> dict[int, str]:
    """One attempt of each due delivery of `delivery_ids` (at most BATCH; the sweep finds the
    rest), in id order: claimed together, posted one by one, results written together.
    When an endpoint does not answer at all (timeout, connection, refused target), its
    other deliveries in the batch are not tried now: they wait for their next attempt
    (one retry delay), so a hanging endpoint costs one timeout per batch. Returns each
    handled delivery's new state."""
    ids = sorted(set(delivery_ids))[:BATCH]
    now = timezone.now()
    claimed = WebhookDelivery.objects.filter(
        pk__in=ids, state=State.PENDING, next_attempt_at__lte=now, endpoint__enabled=True
    ).update(state=State.SENDING, claimed_at=now)
    if not claimed:
        return {}
    rows = list(
        WebhookDelivery.objects.select_related("endpoint", "event")
        .filter(pk__in=ids, state=State.SENDING, claimed_at=now)
        .order_by("pk")
    )
    tried: list[tuple[WebhookDelivery, _Outcome]] = []
    waiting: list[WebhookDelivery] = []
    unreachable: set[int] = set()
    for delivery in rows:
        if delivery.endpoint_id in unreachable:
            waiting.append(delivery)
            continue
        outcome = _attempt(delivery)
        if outcome.unreachable:
            unreachable.add(delivery.endpoint_id)
        tried.append((delivery, outcome))
    return _record(tried, waiting)


def _record(tried: list[tuple[WebhookDelivery, _Outcome]], waiting: list[WebhookDelivery]) -> dict[int, str]:
    now = timezone.now()
    states: dict[int, str] = {}
    with transaction.atomic():
        WebhookAttempt.objects.bulk_create([
            WebhookAttempt(delivery=delivery, attempted_at=now, status_code=outcome.status, latency_ms=outcome.latency,
                           succeeded=not outcome.error, error=outcome.error, response_excerpt=outcome.excerpt)
            for delivery, outcome in tried
        ])
        # Successes: one update per status code (nearly always one).
        by_status: dict[int | None, list[int]] = {}
        recovered: set[int] = set()
        for delivery, outcome in tried:
            if not outcome.error:
                by_status.setdefault(outcome.status, []).append(delivery.pk)
                states[delivery.pk] = State.DELIVERED
                if delivery.endpoint.failing_since is not None:
                    recovered.add(delivery.endpoint_id)
        for status, pks in by_status.items():
            WebhookDelivery.objects.filter(pk__in=pks, state=State.SENDING).update(
                state=State.DELIVERED, delivered_at=now, next_attempt_at=None, attempts=F("attempts") + 1,
                last_status_code=status, last_error="", claimed_at=None,
            )
        if recovered:
            WebhookEndpoint.objects.filter(pk__in=recovered).update(failing_since=None)
        for delivery, outcome in tried:
            if not outcome.error:
                continue
            attempts = delivery.attempts + 1
            next_at = now + retry_delay(attempts)
            give_up = next_at > delivery.event.created_at + timedelta(seconds=settings.WEBHOOK_RETRY_FOR_SECONDS)
            states[delivery.pk] = State.FAILED if give_up else State.PENDING
            WebhookDelivery.objects.filter(pk=delivery.pk, state=State.SENDING).update(
                state=states[delivery.pk], next_attempt_at=None if give_up else next_at, attempts=attempts,
                last_status_code=outcome.status, last_error=outcome.error, claimed_at=None,
            )
        for endpoint_id, why in {d.endpoint_id: o.error for d, o in tried if o.error}.items():
            _endpoint_failed(endpoint_id, at=now, why=why)
        if waiting:
            WebhookDelivery.objects.filter(pk__in=[d.pk for d in waiting], state=State.SENDING).update(
                state=State.PENDING, claimed_at=None, next_attempt_at=now + retry_delay(1)
            )
            states.update({d.pk: State.PENDING for d in waiting})
    for delivery, outcome in tried:
        log.info("webhook delivery %s attempt %s: %s", delivery.pk, delivery.attempts + 1, outcome.error or "ok")
    return {pk: str(state) for pk, state in states.items()}


def _endpoint_failed(endpoint_id: int, *, at, why: str) -> None:
    """Note the endpoint's first failure; disable it (once) when it has failed for a day."""
    WebhookEndpoint.objects.filter(pk=endpoint_id, failing_since__isnull=True).update(failing_since=at)
    endpoint = WebhookEndpoint.objects.get(pk=endpoint_id)
    since = endpoint.failing_since
    if since is None or at - since < timedelta(seconds=settings.WEBHOOK_DISABLE_AFTER_SECONDS):
        return
    reason = f"No successful delivery since {since:%Y-%m-%d %H:%M} UTC; last error: {why}"[:300]
    if not WebhookEndpoint.objects.filter(pk=endpoint_id, enabled=True).update(
        enabled=False, disabled_at=at, disabled_reason=reason
    ):
        return
    alert_raise(
        kind=Alert.Kind.WEBHOOK_DISABLED,
        incident=f"webhook:{endpoint.pk}:disabled",
        title=AlertText(gettext_noop("Webhook endpoint disabled: %(url)s"), {"url": endpoint.url[:150]}),
        detail=[
            AlertText(gettext_noop("No successful delivery since %(since)s UTC; last error: %(error)s."),
                      {"since": f"{since:%Y-%m-%d %H:%M}", "error": str(why)[:200]}),
            AlertText(gettext_noop("Events for it are kept; fix the receiver and enable the endpoint again in the "
                                   "admin.")),
        ],
        link=f"/admin/notifications/webhookendpoint/{endpoint.pk}/change/",
        severity=Alert.Severity.CRITICAL,
    )


def webhook_endpoint_enable(*, endpoint: WebhookEndpoint, actor=None) -> WebhookEndpoint:
    """Enable an endpoint again: its failure clock restarts, its alert closes and the
    deliveries it missed are tried (those past the 3 days fail at their next attempt)."""
    now = timezone.now()
    with transaction.atomic():
        WebhookEndpoint.objects.filter(pk=endpoint.pk).update(
            enabled=True, failing_since=None, disabled_at=None, disabled_reason=""
        )
        alert_close(incident=f"webhook:{endpoint.pk}:disabled", actor=actor, reason="endpoint enabled")
        due = WebhookDelivery.objects.filter(endpoint=endpoint, state=State.PENDING)
        due.update(next_attempt_at=now)
        pks = list(due.order_by("pk").values_list("pk", flat=True)[:500])
        for start in range(0, len(pks), BATCH):
            enqueue_on_commit(task_names.WEBHOOK_DELIVER, coalesce="delivery_ids", delivery_ids=pks[start:start + BATCH])
    endpoint.refresh_from_db()
    return endpoint


def webhook_delivery_resend(*, delivery: WebhookDelivery) -> WebhookDelivery:
    """Send a delivery again now, whatever its state (the event keeps its id, so a receiver
    that already has it can tell). Refused while its endpoint is disabled or it is sending."""
    with transaction.atomic():
        locked = WebhookDelivery.objects.select_for_update().select_related("endpoint").get(pk=delivery.pk)
        if not locked.endpoint.enabled:
            raise Refused("invalid_state", gettext("The endpoint is disabled: enable it first."))
        if locked.state == State.SENDING:
            raise Refused("invalid_state", gettext("The delivery is being sent right now."))
        locked.state = State.PENDING
        locked.next_attempt_at = timezone.now()
        locked.save(update_fields=["state", "next_attempt_at"])
        enqueue_on_commit(task_names.WEBHOOK_DELIVER, coalesce="delivery_ids", delivery_ids=[locked.pk])
    return locked


def webhook_deliveries_due(*, limit: int = 500) -> list[int]:
    """For the periodic sweep: put back deliveries whose worker died mid-post, and return
    the ids of those due (retries, and first attempts whose dispatch was lost)."""
    now = timezone.now()
    # A batch may take a timeout per delivery: only claims older than that are a dead worker's.
    stale = now - timedelta(seconds=BATCH * settings.WEBHOOK_TIMEOUT_SECONDS + 60)
    WebhookDelivery.objects.filter(state=State.SENDING, claimed_at__lt=stale).update(
        state=State.PENDING, claimed_at=None, next_attempt_at=now
    )
    return list(
        WebhookDelivery.objects.filter(Q(state=State.PENDING), next_attempt_at__lte=now, endpoint__enabled=True)
        .order_by("next_attempt_at")
        .values_list("pk", flat=True)[:limit]
    )
