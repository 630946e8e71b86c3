"""`/webhooks/whatsapp/`: Meta's verification handshake (GET) and inbound events (POST).

POST does only two things before answering: the signature check over the raw body, and
one insert of that body. Processing runs later in a task (conversations.intake).
Oversized bodies never get here: config.body_limit refuses them with 413.
"""

from __future__ import annotations

import logging

from asgiref.sync import sync_to_async
from django.http import HttpRequest, HttpResponse, HttpResponseForbidden, HttpResponseNotAllowed
from django.views.decorators.csrf import csrf_exempt

from .intake import signature_valid, verify_token_valid, webhook_event_store

log = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Hub-Signature-256"


async def _handshake(request: HttpRequest) -> HttpResponse:
    mode = request.GET.get("hub.mode", "")
    token = request.GET.get("hub.verify_token", "")
    challenge = request.GET.get("hub.challenge", "")
    if mode == "subscribe" and await sync_to_async(verify_token_valid)(token):
        return HttpResponse(challenge, content_type="text/plain; charset=utf-8")
    log.warning("webhook verification refused (mode %r)", mode)
    return HttpResponseForbidden("Verification failed", content_type="text/plain")


async def _receive(request: HttpRequest) -> HttpResponse:
    # The raw bytes as sent, never re-serialised: the signature covers exactly these.
    # Read from the stream so Django's general upload cap does not apply here; the
    # ASGI body limit already bounds it.
    body = request.read()
    signature = request.headers.get(SIGNATURE_HEADER, "")
    if not await signature_valid(body, signature):
        log.warning("webhook refused: missing or wrong %s", SIGNATURE_HEADER)
        return HttpResponseForbidden("Invalid signature", content_type="text/plain")
    await sync_to_async(webhook_event_store)(body=body, signature=signature)
    return HttpResponse("OK", content_type="text/plain")


@csrf_exempt
async def whatsapp_webhook(request: HttpRequest) -> HttpResponse:
    if request.method == "GET":
        return await _handshake(request)
    if request.method == "POST":
        return await _receive(request)
    return HttpResponseNotAllowed(["GET", "POST"])
