"""Every API error is `{"code": "...", "detail": "..."}` with a fitting status.

`exception_handler` shapes every failure of an API view, `api_not_found` answers paths
under /api/ that match no view, `ApiErrorBodies` reshapes what Django answers around the
views, and `ErrorSerializer` is the one schema component that documents them all
(config.api_schema attaches it to every error response).
"""

import json
import logging
from http import HTTPStatus
from typing import Any

from django.core.exceptions import BadRequest, RequestDataTooBig, SuspiciousOperation
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.db import InterfaceError, OperationalError
from django.http import Http404, HttpRequest, JsonResponse
from django.http.multipartparser import MultiPartParserError
from django.utils.translation import gettext, gettext_noop
from django.views.decorators.csrf import csrf_exempt
from rest_framework import exceptions, serializers, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler
from rest_framework.views import set_rollback

from config.refusals import Refused

log = logging.getLogger(__name__)

# Every refusal code's one HTTP status, for every endpoint that answers it (the README's
# error list). A code missing here answers 400.
REFUSAL_STATUS: dict[str, int] = {
    "invalid": status.HTTP_400_BAD_REQUEST,
    "template_invalid": status.HTTP_400_BAD_REQUEST,
    "forbidden": status.HTTP_403_FORBIDDEN,
    "not_found": status.HTTP_404_NOT_FOUND,
    # messaging rules
    "window_closed": status.HTTP_409_CONFLICT,
    "not_opted_in": status.HTTP_409_CONFLICT,
    "template_not_approved": status.HTTP_409_CONFLICT,
    # what exists already or the state does not allow
    "contact_exists": status.HTTP_409_CONFLICT,
    "template_exists": status.HTTP_409_CONFLICT,
    "invalid_state": status.HTTP_409_CONFLICT,
    "quality_red": status.HTTP_409_CONFLICT,
    "account_restricted": status.HTTP_409_CONFLICT,
    "idempotency_key_reused": status.HTTP_409_CONFLICT,
    "idempotency_in_progress": status.HTTP_409_CONFLICT,
    # desk actions and conference chats
    "invalid_status": status.HTTP_409_CONFLICT,
    "over_capacity": status.HTTP_409_CONFLICT,
    "not_in_team": status.HTTP_409_CONFLICT,
    "conflict": status.HTTP_409_CONFLICT,
    "owner_must_transfer": status.HTTP_409_CONFLICT,
    "not_participant": status.HTTP_409_CONFLICT,
    # web chat visitors
    "prechat_required": status.HTTP_409_CONFLICT,
    # outbound addresses (webhook endpoints, lookup services)
    "bad_url": status.HTTP_400_BAD_REQUEST,
    "https_required": status.HTTP_400_BAD_REQUEST,
    "private_address": status.HTTP_400_BAD_REQUEST,
}


def refusal_status(code: str) -> int:
    """The HTTP status that answers refusal `code`."""
    return REFUSAL_STATUS.get(code, status.HTTP_400_BAD_REQUEST)


class ErrorSerializer(serializers.Serializer):
    """Every error: a stable machine `code` and a readable `detail`; validation errors add `fields`."""

    code = serializers.CharField()
    detail = serializers.CharField()
    # The error body's key is `fields`; DRF's metaclass moves declared fields out of the
    # class namespace, so this does not shadow `Serializer.fields`.
    fields = serializers.DictField(  # type: ignore[assignment]
        required=False,
        help_text="Per-field messages, for validation errors only.",
    )

    class Meta:
        ref_name = "Error"


class ApiError(exceptions.APIException):
    """An error with a stable machine code. Its status is the code's in REFUSAL_STATUS
    unless given (for answers that are no refusal: 413, 502)."""

    def __init__(self, code: str, detail: str, status_code: int | None = None):
        super().__init__(detail=gettext(detail) if detail else detail, code=code)
        self.status_code = status_code if status_code is not None else refusal_status(code)
        self.error_code = code


def refusal_body(refusal: Refused) -> dict:
    """The error body of a refusal: code and detail, and `fields` when it concerns one input."""
    body: dict = {"code": refusal.code, "detail": refusal.detail}
    if refusal.field:
        body["fields"] = {refusal.field: [refusal.detail]}
    return body


def _flatten(detail) -> str:
    if isinstance(detail, dict):
        return "; ".join(f"{key}: {_flatten(value)}" for key, value in detail.items())
    if isinstance(detail, list):
        return " ".join(_flatten(item) for item in detail)
    return str(detail)


def exception_handler(exc, context):
    # Services' refusals answer with their code's one status.
    if isinstance(exc, Refused):
        set_rollback()
        return Response(refusal_body(exc), status=refusal_status(exc.code))
    # Django's own exceptions (raised by selectors and services) become their API forms here,
    # so the code below names them like DRF's.
    # Their sentences (the access rules', marked with gettext_noop) in the asker's language.
    if isinstance(exc, Http404):
        exc = exceptions.NotFound(gettext(str(exc) or gettext_noop("Not found.")))
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied(gettext(str(exc) or gettext_noop("You may not do this.")))
    elif isinstance(exc, MultiPartParserError):
        # Django's own multipart parser, reached outside DRF's parsers (a CSRF check reading
        # the form): the body is malformed, like any other unparseable body.
        exc = exceptions.ParseError(f"Multipart form parse error - {exc}")
    elif isinstance(exc, RequestDataTooBig):
        exc = ApiError("too_large", "The request body is over the size limit.", status.HTTP_413_REQUEST_ENTITY_TOO_LARGE)
    elif isinstance(exc, SuspiciousOperation | BadRequest):
        # Django's limits on form bodies (too many fields or files) and other unreadable requests.
        exc = exceptions.ParseError(str(exc) or "The request could not be read.")
    if isinstance(exc, OperationalError | InterfaceError):
        # The database is unreachable (restarting, failing over, pool exhausted): a
        # temporary condition the client should retry, not a server bug.
        log.warning("API answered 503: the database is unavailable (%s: %s)", type(exc).__name__, exc)
        set_rollback()
        return Response(
            {"code": "unavailable", "detail": "The service is briefly unavailable; try again shortly."},
            status=status.HTTP_503_SERVICE_UNAVAILABLE,
            headers={"Retry-After": "10"},
        )
    response = drf_exception_handler(exc, context)
    if response is None:
        # An unexpected failure: the client still gets the error shape, the log gets the traceback.
        log.error("unhandled API error", exc_info=exc)
        set_rollback()
        return Response(
            {"code": "server_error", "detail": "Something went wrong on our side."},
            status=status.HTTP_500_INTERNAL_SERVER_ERROR,
        )
    if isinstance(exc, ApiError):
        code = exc.error_code
    elif isinstance(exc, exceptions.ValidationError):
        code = "invalid"
        fields = exc.detail if isinstance(exc.detail, dict) else None
        body: dict[str, Any] = {"code": code, "detail": _flatten(exc.detail)}
        if fields:
            body["fields"] = fields
        return Response(body, status=response.status_code, headers=response.headers)
    elif isinstance(exc, exceptions.NotAuthenticated | exceptions.AuthenticationFailed):
        code = "not_authenticated"
    elif isinstance(exc, exceptions.PermissionDenied):
        code = "forbidden"
    elif isinstance(exc, exceptions.NotFound):
        code = "not_found"
    elif isinstance(exc, exceptions.ParseError):
        # A body that is not valid JSON, form or multipart is an invalid request like any other.
        code = "invalid"
    else:
        code = getattr(exc, "default_code", "error")
    response.data = {"code": code, "detail": _flatten(getattr(exc, "detail", str(exc)))}
    return response


@csrf_exempt  # nothing is done here, and a CSRF refusal would hide the 404
def api_not_found(request: HttpRequest) -> JsonResponse:
    """A path under /api/ that names no operation: the API's 404, not the site's page."""
    return JsonResponse({"code": "not_found", "detail": "No such API path."}, status=status.HTTP_404_NOT_FOUND)


# The error codes for answers Django gives before or outside the API views.
STATUS_CODES = {
    400: "invalid",
    401: "not_authenticated",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    413: "too_large",
    415: "unsupported_media_type",
    503: "unavailable",
}


class ApiErrorBodies:
    """ASGI wrapper: an error under /api/ that is not already JSON leaves as the API's
    `{"code", "detail"}` body with its status kept. The views' errors are JSON already
    (exception_handler); this covers what Django answers around them: a request it cannot
    read (a query string that is not UTF-8 answers an empty 400), a body over its limits,
    a CSRF refusal, a debug or server error page."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or not scope["path"].startswith("/api/"):
            return await self.app(scope, receive, send)
        replaced = False

        async def send_json_errors(message):
            nonlocal replaced
            if message["type"] == "http.response.start" and message["status"] >= 400:
                headers = message.get("headers") or []
                content_type = next((v for k, v in headers if k.lower() == b"content-type"), b"")
                if not content_type.startswith(b"application/json"):
                    replaced = True
                    status_code = message["status"]
                    body = json.dumps(
                        {
                            "code": STATUS_CODES.get(status_code, "server_error" if status_code >= 500 else "error"),
                            "detail": _status_phrase(status_code),
                        }
                    ).encode()
                    kept = [(k, v) for k, v in headers if k.lower() not in (b"content-type", b"content-length")]
                    await send(
                        {
                            "type": "http.response.start",
                            "status": status_code,
                            "headers": [
                                *kept,
                                (b"content-type", b"application/json"),
                                (b"content-length", str(len(body)).encode()),
                            ],
                        }
                    )
                    await send({"type": "http.response.body", "body": body})
                    return
            if replaced and message["type"] == "http.response.body":
                return  # the original error page is dropped
            await send(message)

        return await self.app(scope, receive, send_json_errors)


def _status_phrase(status_code: int) -> str:
    try:
        return f"{HTTPStatus(status_code).phrase}."
    except ValueError:
        return "The request failed."
