"""`/webhooks/whatsapp/`: Meta's verification handshake (GET) and inbound events (POST).

POST does only two things before answering: the signature check over the raw body, and
the insert of that body (under the server on PostgreSQL, from the event loop together with
the bodies arriving at the same moment: conversations.services.webhook_store). Processing
runs later in a task (conversations.services.webhook_intake).
Oversized bodies never get here: config.body_limit refuses them with 413.
Where the store is batched, the POST is answered in front of Django's request cycle
(conversations.webhook_asgi) by the same `receive`; this view answers it elsewhere.

200 means stored. While the database cannot be reached the answer is 503 with
`Retry-After` (Meta delivers again later); after one such failure the next
`DATABASE_DOWN_HOLD_SECONDS` get their 503 at once instead of each waiting for the
connection pool's timeout.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

from asgiref.sync import sync_to_async
from django.db import InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse, HttpResponseForbidden, HttpResponseNotAllowed
from django.views.decorators.csrf import csrf_exempt

from conversations.services import webhook_store
from conversations.services.webhook_intake import signature_valid, verify_token_valid, webhook_event_store

log = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Hub-Signature-256"
DATABASE_DOWN_HOLD_SECONDS = 2.0
RETRY_AFTER_SECONDS = 10

# When the database last failed us (monotonic seconds); 0: not recently.
_database_failed_at = 0.0


def database_outage_forget() -> None:
    """Forget a recent database failure (tests; the hold ends by itself)."""
    global _database_failed_at
    _database_failed_at = 0.0


def _database_recently_down() -> bool:
    return _database_failed_at > 0 and time.monotonic() - _database_failed_at < DATABASE_DOWN_HOLD_SECONDS


@dataclass(frozen=True)
class Answer:
    """What the intake answers a POST: the status, a plain-text body and extra headers."""

    status: int
    text: str
    headers: tuple[tuple[str, str], ...] = ()

    def response(self) -> HttpResponse:
        response = HttpResponse(self.text, status=self.status, content_type="text/plain")
        for name, value in self.headers:
            response[name] = value
        return response


STORED = Answer(200, "OK")
FORBIDDEN = Answer(403, "Invalid signature")


def _unavailable(exc: BaseException | None = None) -> Answer:
    global _database_failed_at
    if exc is not None:
        _database_failed_at = time.monotonic()
        log.warning("webhook answered 503: the database is unavailable (%s: %s)", type(exc).__name__, exc)
    return Answer(503, "Database unavailable, try again later", (("Retry-After", str(RETRY_AFTER_SECONDS)),))


async def _handshake(request: HttpRequest) -> HttpResponse:
    mode = request.GET.get("hub.mode", "")
    token = request.GET.get("hub.verify_token", "")
    challenge = request.GET.get("hub.challenge", "")
    try:
        valid = mode == "subscribe" and await sync_to_async(verify_token_valid)(token)
    except (OperationalError, InterfaceError) as exc:
        return _unavailable(exc).response()
    if valid:
        return HttpResponse(challenge, content_type="text/plain; charset=utf-8")
    log.warning("webhook verification refused (mode %r)", mode)
    return HttpResponseForbidden("Verification failed", content_type="text/plain")


async def receive(body: bytes, signature: str) -> Answer:
    """A POST's body (the raw bytes as sent, never re-serialised: the signature covers
    exactly these) and its signature header: checked, then stored."""
    if _database_recently_down():
        return _unavailable()
    try:
        if not await signature_valid(body, signature):
            log.warning("webhook refused: missing or wrong %s", SIGNATURE_HEADER)
            return FORBIDDEN
        if webhook_store.batched():
            await webhook_store.store(body, signature)
        else:
            await sync_to_async(webhook_event_store)(body=body, signature=signature)
    except (OperationalError, InterfaceError) as exc:
        # Not stored, so not 200: Meta delivers it again.
        return _unavailable(exc)
    return STORED


@csrf_exempt
async def whatsapp_webhook(request: HttpRequest) -> HttpResponse:
    if request.method == "GET":
        return await _handshake(request)
    if request.method == "POST":
        # Read from the stream so Django's general upload cap does not apply here; the
        # ASGI body limit already bounds it.
        answer = await receive(request.read(), request.headers.get(SIGNATURE_HEADER, ""))
        return answer.response()
    return HttpResponseNotAllowed(["GET", "POST"])
