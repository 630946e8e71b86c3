"""Posting outgoing webhooks: one attempt per task run, retries with backoff, the log, and
an endpoint disabled when it has failed for a day.

A delivery is claimed with a compare-and-set update (pending and due → sending) before the
POST, so a task run twice posts once; the result is written after. The body is the event's
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
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from config import task_names
from config.outbound_http import OutboundFailed, OutboundRefused, OutboundResponse, request
from config.refusals import Refused
from config.tasking import enqueue_on_commit
from notifications.models import Alert, OutboxEvent, WebhookAttempt, WebhookDelivery, WebhookEndpoint
from notifications.services.alerts import alert_close, alert_raise

log = logging.getLogger(__name__)

State = WebhookDelivery.State
SIGNATURE_HEADER = "Handoff-Signature"
EXCERPT_CHARS = 1000
# An answer is read up to this size (only an excerpt is kept).
MAX_ANSWER_BYTES = 64 * 1024


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


def webhook_deliver(*, delivery_id: int) -> str | None:
    """Make one attempt of a due delivery. Returns the delivery's new state, or None when
    there was nothing to do (not due, already claimed or done, endpoint disabled)."""
    now = timezone.now()
    claimed = WebhookDelivery.objects.filter(
        pk=delivery_id, state=State.PENDING, next_attempt_at__lte=now, endpoint__enabled=True
    ).update(state=State.SENDING, claimed_at=now)
    if not claimed:
        return None
    delivery = WebhookDelivery.objects.select_related("endpoint", "event").get(pk=delivery_id)
    endpoint, event = delivery.endpoint, delivery.event
    status: int | None = None
    excerpt = error = ""
    latency = 0
    try:
        response = _post(endpoint, event, delivery.pk)
    except OutboundRefused as exc:
        error = f"refused: {exc.detail}"
    except OutboundFailed as exc:
        error, latency = f"{exc.code}: {exc.detail}", exc.elapsed_ms
    else:
        status, latency, excerpt = response.status, response.elapsed_ms, response.excerpt(EXCERPT_CHARS)
        if not response.ok:
            error = f"answered {response.status}"
            if 300 <= response.status < 400:
                error += " (redirects are not followed)"
    return _record(delivery, status=status, latency=latency, excerpt=excerpt, error=error[:300])


def _record(delivery: WebhookDelivery, *, status: int | None, latency: int, excerpt: str, error: str) -> str:
    now = timezone.now()
    succeeded = not error
    with transaction.atomic():
        WebhookAttempt.objects.create(
            delivery=delivery, attempted_at=now, status_code=status, latency_ms=latency, succeeded=succeeded,
            error=error, response_excerpt=excerpt,
        )
        attempts = delivery.attempts + 1
        fields: dict[str, Any] = {"attempts": attempts, "last_status_code": status, "last_error": error, "claimed_at": None}
        if succeeded:
            fields.update(state=State.DELIVERED, delivered_at=now, next_attempt_at=None)
            if delivery.endpoint.failing_since is not None:
                WebhookEndpoint.objects.filter(pk=delivery.endpoint_id).update(failing_since=None)
        else:
            next_at = now + retry_delay(attempts)
            give_up = next_at > delivery.event.created_at + timedelta(seconds=settings.WEBHOOK_RETRY_FOR_SECONDS)
            fields.update(state=State.FAILED if give_up else State.PENDING, next_attempt_at=None if give_up else next_at)
        WebhookDelivery.objects.filter(pk=delivery.pk, state=State.SENDING).update(**fields)
        if not succeeded:
            _endpoint_failed(delivery.endpoint, at=now, why=error)
    log.info("webhook delivery %s attempt %s: %s", delivery.pk, attempts, "ok" if succeeded else error)
    return str(fields["state"])


def _endpoint_failed(endpoint: WebhookEndpoint, *, at, why: str) -> None:
    """Note the endpoint's first failure; disable it (once) when it has failed for a day."""
    WebhookEndpoint.objects.filter(pk=endpoint.pk, failing_since__isnull=True).update(failing_since=at)
    since = WebhookEndpoint.objects.filter(pk=endpoint.pk).values_list("failing_since", flat=True).first()
    if since is None or at - since < timedelta(seconds=settings.WEBHOOK_DISABLE_AFTER_SECONDS):
        return
    reason = f"No successful delivery since {since:%Y-%m-%d %H:%M} UTC; last error: {why}"[:300]
    if not WebhookEndpoint.objects.filter(pk=endpoint.pk, enabled=True).update(
        enabled=False, disabled_at=at, disabled_reason=reason
    ):
        return
    alert_raise(
        kind=Alert.Kind.WEBHOOK_DISABLED,
        incident=f"webhook:{endpoint.pk}:disabled",
        title=f"Webhook endpoint disabled: {endpoint.url}"[:200],
        detail=f"{reason}. Events for it are kept; fix the receiver and enable the endpoint again in the admin.",
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
        for pk in due.values_list("pk", flat=True)[:500]:
            enqueue_on_commit(task_names.WEBHOOK_DELIVER, delivery_id=pk)
    endpoint.refresh_from_db()
    return endpoint


def webhook_delivery_resend(*, delivery: WebhookDelivery) -> WebhookDelivery:
    """Send a delivery again now, whatever its state (the event keeps its id, so a receiver
    that already has it can tell). Refused while its endpoint is disabled or it is sending."""
    with transaction.atomic():
        locked = WebhookDelivery.objects.select_for_update().select_related("endpoint").get(pk=delivery.pk)
        if not locked.endpoint.enabled:
            raise Refused("invalid_state", "The endpoint is disabled: enable it first.")
        if locked.state == State.SENDING:
            raise Refused("invalid_state", "The delivery is being sent right now.")
        locked.state = State.PENDING
        locked.next_attempt_at = timezone.now()
        locked.save(update_fields=["state", "next_attempt_at"])
        enqueue_on_commit(task_names.WEBHOOK_DELIVER, delivery_id=locked.pk)
    return locked


def webhook_deliveries_due(*, limit: int = 500) -> list[int]:
    """For the periodic sweep: put back deliveries whose worker died mid-post, and return
    the ids of those due (retries, and first attempts whose dispatch was lost)."""
    now = timezone.now()
    stale = now - timedelta(seconds=settings.WEBHOOK_TIMEOUT_SECONDS + 60)
    WebhookDelivery.objects.filter(state=State.SENDING, claimed_at__lt=stale).update(
        state=State.PENDING, claimed_at=None, next_attempt_at=now
    )
    return list(
        WebhookDelivery.objects.filter(Q(state=State.PENDING), next_attempt_at__lte=now, endpoint__enabled=True)
        .order_by("next_attempt_at")
        .values_list("pk", flat=True)[:limit]
    )
