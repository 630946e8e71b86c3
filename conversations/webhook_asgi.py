"""`POST /webhooks/whatsapp/` answered at the ASGI layer, in front of Django's handler.

The intake's own work is small (the signature check and a share of one batched insert:
conversations.webhooks.receive), and Django's per-request machinery around an async view
cost several times that: a thread started and joined for every request (its thread-
sensitive context, the request_started and request_finished signals), the middleware
chain, the URL resolver. Under the server on PostgreSQL, where the store is batched from
the event loop (`webhook_store.batched()`), this application answers the POST itself:
same answer, same storage, same security headers and error logs, about a third of the
CPU per request.

It keeps Django's rules by using Django's own pieces: the request is a Django
`ASGIRequest`, so the host is checked against ALLOWED_HOSTS and HTTPS is recognised as
Django does (`SECURE_PROXY_SSL_HEADER`); the response gets its headers from Django's
security and clickjacking middleware; an unexpected error is answered and logged by
Django's handler for exceptions. Anything else goes to Django unchanged: another path or
method (the GET handshake), an unbatched store (SQLite, inline tasks), a host Django would
refuse (400 from Django), a request Django would redirect to HTTPS, a root path.
"""

from __future__ import annotations

import io
from typing import Any

from django.conf import settings
from django.core.exceptions import DisallowedHost
from django.core.handlers.asgi import ASGIRequest
from django.core.handlers.exception import response_for_exception
from django.http import HttpResponse
from django.middleware.clickjacking import XFrameOptionsMiddleware
from django.middleware.security import SecurityMiddleware
from django.urls import reverse
from django.utils.log import log_response

from config.body_limit import replaying
from conversations.services import webhook_store
from conversations.webhooks import SIGNATURE_HEADER, receive

Scope = dict[str, Any]


def _passthrough(response: Any) -> Any:
    return response


class WebhookReceiver:
    """ASGI middleware: the webhook POST answered here when it may be, the rest to `app`."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self._path: str | None = None

    @property
    def path(self) -> str:
        if self._path is None:
            self._path = reverse("whatsapp-webhook")
        return self._path

    async def __call__(self, scope: Scope, receive_message: Any, send: Any) -> None:
        if not self._candidate(scope):
            return await self.app(scope, receive_message, send)
        body = await _read(receive_message)
        if body is None:
            return None  # the client went away before its body was in
        request = ASGIRequest(scope, io.BytesIO(body))
        if not _served_here(request):
            return await self.app(scope, replaying(body, receive_message), send)
        try:
            response = (await receive(body, request.headers.get(SIGNATURE_HEADER, ""))).response()
        except Exception as exc:  # answered and logged by Django's handler, as in a view
            response = response_for_exception(request, exc)
        await _send(send, _finished(request, response))

    def _candidate(self, scope: Scope) -> bool:
        return (
            scope["type"] == "http"
            and scope.get("method") == "POST"
            and not scope.get("root_path")
            and scope.get("path") == self.path
            and webhook_store.batched()
        )


def _served_here(request: ASGIRequest) -> bool:
    """Whether Django would serve this request as it is (else Django answers it)."""
    try:
        request.get_host()
    except DisallowedHost:
        return False
    return not (settings.SECURE_SSL_REDIRECT and not request.is_secure())


def _finished(request: ASGIRequest, response: HttpResponse) -> HttpResponse:
    """The headers Django's middleware would add to this answer: the security ones
    (HSTS on HTTPS, nosniff, referrer and opener policies) and X-Frame-Options; an error
    answer logged on `django.request` as Django's handler logs it."""
    if response.status_code >= 400:
        log_response("%s: %s", response.reason_phrase, request.path, response=response, request=request)
    response = SecurityMiddleware(_passthrough).process_response(request, response)
    response = XFrameOptionsMiddleware(_passthrough).process_response(request, response)
    response["Content-Length"] = str(len(response.content))
    return response


async def _read(receive_message: Any) -> bytes | None:
    """The whole body (config.body_limit, in front, has already bounded it); None if the
    client disconnected first."""
    chunks = []
    while True:
        message = await receive_message()
        if message["type"] != "http.request":
            return None
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks)


async def _send(send: Any, response: HttpResponse) -> None:
    headers = [(name.encode("latin-1"), str(value).encode("latin-1")) for name, value in response.items()]
    await send({"type": "http.response.start", "status": response.status_code, "headers": headers})
    await send({"type": "http.response.body", "body": response.content})
