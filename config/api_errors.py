"""Every API error is `{"code": "...", "detail": "..."}` with a fitting status."""

import logging

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.db import InterfaceError, OperationalError
from django.http import Http404
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler
from rest_framework.views import set_rollback

log = logging.getLogger(__name__)


class ApiError(exceptions.APIException):
    """An error with a stable machine code, raised by API views from service refusals."""

    def __init__(self, code: str, detail: str, status_code: int = status.HTTP_400_BAD_REQUEST):
        super().__init__(detail=detail, code=code)
        self.status_code = status_code
        self.error_code = code


def _flatten(detail) -> str:
    if isinstance(detail, dict):
        return "; ".join(f"{key}: {_flatten(value)}" for key, value in detail.items())
    if isinstance(detail, list):
        return " ".join(_flatten(item) for item in detail)
    return str(detail)


def exception_handler(exc, context):
    # Django's own exceptions (raised by selectors and services) become their API forms here,
    # so the code below names them like DRF's.
    if isinstance(exc, Http404):
        exc = exceptions.NotFound(str(exc) or "Not found.")
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied(str(exc) or "You may not do this.")
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
        body = {"code": code, "detail": _flatten(exc.detail)}
        if fields:
            body["fields"] = fields
        return Response(body, status=response.status_code, headers=response.headers)
    elif isinstance(exc, exceptions.NotAuthenticated | exceptions.AuthenticationFailed):
        code = "not_authenticated"
    elif isinstance(exc, exceptions.PermissionDenied):
        code = "forbidden"
    elif isinstance(exc, exceptions.NotFound):
        code = "not_found"
    else:
        code = getattr(exc, "default_code", "error")
    response.data = {"code": code, "detail": _flatten(getattr(exc, "detail", str(exc)))}
    return response
