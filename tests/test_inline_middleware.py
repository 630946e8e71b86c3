"""Django's middleware run inline under ASGI (config.inline_middleware): a request that
writes nothing crosses the whole stack without a thread hop, and a request that signs in
(session saved, CSRF cookie rotated) or leaves a message still has both written."""

from __future__ import annotations

import re

import httpx
import pytest
from asgiref.sync import SyncToAsync, sync_to_async
from django.conf import settings
from django.contrib.sessions.models import Session
from django.utils import deprecation

from config import inline_middleware
from config.asgi import application, django_asgi_app

PASSWORD = "a-long-enough-password-1"


class Hops:
    """Counts `sync_to_async` wrappers made by Django's middleware mixin and by ours."""

    def __init__(self, monkeypatch):
        self.django = 0
        self.inline = 0
        real = deprecation.sync_to_async

        def counting(attribute):
            def wrap(*args, **kwargs):
                setattr(self, attribute, getattr(self, attribute) + 1)
                return real(*args, **kwargs)

            return wrap

        monkeypatch.setattr(deprecation, "sync_to_async", counting("django"))
        monkeypatch.setattr(inline_middleware, "sync_to_async", counting("inline"))


def _client() -> httpx.AsyncClient:
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=application), base_url="http://testserver", follow_redirects=False
    )


def test_the_asgi_handler_builds_the_inline_chain_and_settings_keep_djangos_names():
    chain = []
    handler = django_asgi_app._middleware_chain
    while handler is not None:  # each middleware, under Django's exception wrapper
        chain.append(type(handler))
        inner = getattr(handler, "__wrapped__", None) or getattr(handler, "get_response", None)
        if inner is None:  # a function middleware: the next one is in its closure
            cells = [cell.cell_contents for cell in getattr(handler, "__closure__", None) or ()]
            inner = next((cell for cell in cells if callable(cell)), None)
        handler = inner
    inline = set(inline_middleware.INLINE.values())
    assert inline <= set(chain)
    # The view hooks (CSRF's) are called on the loop too, not through a thread.
    assert django_asgi_app._view_middleware
    assert not any(isinstance(hook, SyncToAsync) for hook in django_asgi_app._view_middleware)
    assert all(path in settings.MIDDLEWARE for path in inline_middleware.INLINE)


@pytest.mark.django_db(transaction=True)
async def test_an_anonymous_request_crosses_the_stack_without_a_hop(monkeypatch):
    hops = Hops(monkeypatch)
    async with _client() as client:
        response = await client.get("/healthz")

    assert response.status_code in (200, 503)
    assert (hops.django, hops.inline) == (0, 0)
    assert response.headers["X-Frame-Options"] == "DENY"  # the response hooks ran
    assert response.headers["X-Content-Type-Options"] == "nosniff"


@pytest.mark.django_db(transaction=True)
async def test_signing_in_saves_the_session_through_a_thread_and_the_desk_opens(monkeypatch, django_user_model):
    await sync_to_async(django_user_model.objects.create_user)(username="ines", password=PASSWORD, is_staff=True)
    async with _client() as client:
        form = await client.get("/accounts/login/")
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', form.text).group(1)
        hops = Hops(monkeypatch)
        signed_in = await client.post(
            "/accounts/login/", data={"username": "ines", "password": PASSWORD, "csrfmiddlewaretoken": token}
        )
        assert signed_in.status_code == 302
        assert hops.inline >= 1  # the session save went to a thread
        assert hops.django == 0
        assert await sync_to_async(Session.objects.count)() == 1
        desk = await client.get("/desk/")

    assert desk.status_code == 200


@pytest.mark.django_db(transaction=True)
async def test_a_forged_post_is_still_refused_by_csrf(django_user_model):
    async with _client() as client:
        response = await client.post("/accounts/login/", data={"username": "x", "password": "y"})

    assert response.status_code == 403
