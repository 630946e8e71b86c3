"""Django's own middleware, run inline when a request is served asynchronously.

Under ASGI, Django calls a `MiddlewareMixin` middleware's `process_request` and
`process_response` through `sync_to_async`: a hop to the request's own thread for each, so
the eight middlewares of `MIDDLEWARE` cost up to sixteen thread hops per request (more than
a webhook's or a small API call's own work). Their hooks only read and set headers and
cookies, check URLs and set up lazy objects, so here they run inline on the event loop.
The two that can reach the database go to a thread exactly when they would:
- the session middleware's response hook saves a modified session;
- the messages middleware's response hook stores messages used or added in the request
  (the fallback storage may read and write the session);
and the CSRF middleware (its view hook too) keeps Django's thread when the token lives in
the session (`CSRF_USE_SESSIONS`).

`MIDDLEWARE` keeps naming Django's classes (the deploy checks look for those names), and
`InlineASGIHandler`, the ASGI application's handler, builds its chain with the inline
subclasses in their place. Sync calls (the test client, management commands) use Django's
classes as they are.
"""

from __future__ import annotations

from typing import Any

from asgiref.sync import sync_to_async
from django.conf import settings
from django.contrib.auth import middleware as auth
from django.contrib.messages import middleware as messages
from django.contrib.sessions import middleware as sessions
from django.core.handlers.asgi import ASGIHandler
from django.http import HttpRequest
from django.middleware import clickjacking, common, csrf, locale, security


class _Inline:
    """`__acall__` with the hooks called inline unless `_blocking_*` says they may block."""

    get_response: Any

    def _blocking_request(self, request: HttpRequest) -> bool:
        return False

    def _blocking_response(self, request: HttpRequest, response: Any) -> bool:
        return False

    async def __acall__(self, request: HttpRequest) -> Any:
        response = None
        process_request = getattr(self, "process_request", None)
        if process_request is not None:
            if self._blocking_request(request):
                response = await sync_to_async(process_request, thread_sensitive=True)(request)
            else:
                response = process_request(request)
        response = response or await self.get_response(request)
        process_response = getattr(self, "process_response", None)
        if process_response is not None:
            if self._blocking_response(request, response):
                response = await sync_to_async(process_response, thread_sensitive=True)(request, response)
            else:
                response = process_response(request, response)
        return response


class SecurityMiddleware(_Inline, security.SecurityMiddleware):
    pass


class SessionMiddleware(_Inline, sessions.SessionMiddleware):
    def _blocking_response(self, request: HttpRequest, response: Any) -> bool:
        session = getattr(request, "session", None)
        return session is not None and (session.modified or settings.SESSION_SAVE_EVERY_REQUEST)


class LocaleMiddleware(_Inline, locale.LocaleMiddleware):
    pass


class CommonMiddleware(_Inline, common.CommonMiddleware):
    pass


class CsrfViewMiddleware(_Inline, csrf.CsrfViewMiddleware):
    def _blocking_request(self, request: HttpRequest) -> bool:
        return settings.CSRF_USE_SESSIONS

    def _blocking_response(self, request: HttpRequest, response: Any) -> bool:
        return settings.CSRF_USE_SESSIONS

    async def process_view(  # type: ignore[override]
        self, request: HttpRequest, callback: Any, callback_args: Any, callback_kwargs: Any
    ) -> Any:
        """The token check, inline (a coroutine, so the handler calls it without a hop): it
        reads the cookie, a header or the form Django has already read into memory."""
        check = super().process_view
        if settings.CSRF_USE_SESSIONS:
            return await sync_to_async(check, thread_sensitive=True)(request, callback, callback_args, callback_kwargs)
        return check(request, callback, callback_args, callback_kwargs)


class AuthenticationMiddleware(_Inline, auth.AuthenticationMiddleware):
    pass


class MessageMiddleware(_Inline, messages.MessageMiddleware):
    def _blocking_response(self, request: HttpRequest, response: Any) -> bool:
        storage = getattr(request, "_messages", None)
        return storage is not None and (storage.used or storage.added_new)


class XFrameOptionsMiddleware(_Inline, clickjacking.XFrameOptionsMiddleware):
    pass


INLINE = {
    "django.middleware.security.SecurityMiddleware": SecurityMiddleware,
    "django.contrib.sessions.middleware.SessionMiddleware": SessionMiddleware,
    "django.middleware.locale.LocaleMiddleware": LocaleMiddleware,
    "django.middleware.common.CommonMiddleware": CommonMiddleware,
    "django.middleware.csrf.CsrfViewMiddleware": CsrfViewMiddleware,
    "django.contrib.auth.middleware.AuthenticationMiddleware": AuthenticationMiddleware,
    "django.contrib.messages.middleware.MessageMiddleware": MessageMiddleware,
    "django.middleware.clickjacking.XFrameOptionsMiddleware": XFrameOptionsMiddleware,
}


def _path(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


class InlineASGIHandler(ASGIHandler):
    """Django's ASGI handler with `MIDDLEWARE`'s Django classes replaced by the inline
    subclasses above (once, when the handler is built at startup)."""

    def load_middleware(self, is_async: bool = False) -> None:
        configured = settings.MIDDLEWARE
        if is_async:
            settings.MIDDLEWARE = [_path(INLINE[path]) if path in INLINE else path for path in configured]
        try:
            super().load_middleware(is_async=is_async)
        finally:
            settings.MIDDLEWARE = configured
