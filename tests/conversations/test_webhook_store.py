"""The batched webhook store of the ASGI server (conversations.services.webhook_store),
against a real PostgreSQL server: bodies arriving together are stored exactly as sent in
one insert before any of them is answered, their processing is dispatched once after
the commit, a connection the server ended is replaced, and while the database cannot be
reached the webhook gets 503 with Retry-After and nothing is stored.

Its ASGI front (conversations.webhook_asgi) answers the POST without Django's request
cycle, with Django's security headers, and leaves to Django what Django would answer
otherwise (a refused host, a redirect to HTTPS); an unexpected error is answered and
logged as Django does."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import time
from typing import Any

import httpx
import psycopg
import pytest
from django.core.signals import request_started
from django.db import OperationalError, connection

from config import task_names
from config.asgi import application
from config.inline_middleware import InlineASGIHandler
from conversations.models import WebhookEvent
from conversations.services import webhook_store
from conversations.services.webhook_intake import _secrets_reloaded
from conversations.webhook_asgi import WebhookReceiver
from conversations.webhooks import database_outage_forget
from tests.support import intake as intake_support
from tests.support import webhooks
from tests.support.postgres_admin import server_admin

fresh_secrets = intake_support.fresh_secrets

ON_POSTGRES = os.environ.get("DATABASE_URL", "").startswith(("postgres://", "postgresql://"))



def on_postgres(test):
    for mark in (
        pytest.mark.usefixtures("batched"),
        pytest.mark.django_db(transaction=True),
        pytest.mark.skipif(not ON_POSTGRES, reason="needs PostgreSQL: DATABASE_URL is not a postgres:// URL"),
        pytest.mark.postgres,
    ):
        test = mark(test)
    return test


@pytest.fixture
def dispatched(monkeypatch) -> list[tuple[str, dict[str, Any], str]]:
    """What the store dispatches after its commits (name, kwargs, coalesce)."""
    calls: list[tuple[str, dict[str, Any], str]] = []

    def record(name: str, kwargs: dict[str, Any] | None = None, countdown: float = 0, coalesce: str = "",
               unique: bool = False) -> None:
        calls.append((name, dict(kwargs or {}), coalesce))

    monkeypatch.setattr(webhook_store, "dispatch", record)
    return calls


@pytest.fixture
def batched(settings):
    settings.WEBHOOK_STORE_BATCHED = True
    settings.TASKS_MODE = "celery"
    database_outage_forget()
    yield
    database_outage_forget()
    webhook_store.writers_forget()


def _end_backend(pid: int) -> None:
    """What a PostgreSQL restart does to a connection: its server process is terminated."""
    with server_admin() as admin:
        admin.execute("SELECT pg_terminate_backend(%s)", [pid])
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            row = admin.execute("SELECT count(*) FROM pg_stat_activity WHERE pid = %s", [pid]).fetchone()
            if row is not None and row[0] == 0:
                return
            time.sleep(0.05)


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _client(app: Any = application) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver")


async def _post(client: httpx.AsyncClient, body: bytes, signature: str | None = None, **headers: str) -> httpx.Response:
    return await client.post(
        "/webhooks/whatsapp/",
        content=body,
        headers={"Content-Type": "application/json", "X-Hub-Signature-256": signature or webhooks.sign(body), **headers},
    )


def _body(payload: dict[str, Any]) -> bytes:
    return json.dumps(payload).encode()


def _rows() -> list[tuple[bytes, str, str, int, list, bool]]:
    return [
        (bytes(event.body), event.signature, event.state, event.attempts, event.errors, event.received_at is not None)
        for event in WebhookEvent.objects.order_by("pk")
    ]


@pytest.mark.parametrize("engine, mode, on, expected", [
    ("django.db.backends.postgresql", "celery", True, True),
    ("django.db.backends.postgresql", "thread", True, True),
    ("django.db.backends.postgresql", "inline", True, False),
    ("django.db.backends.postgresql", "celery", False, False),
    ("django.db.backends.sqlite3", "thread", True, False),
])
def test_the_batched_store_applies_on_postgresql_with_tasks_dispatched(settings, monkeypatch, engine, mode, on, expected):
    monkeypatch.setitem(settings.DATABASES["default"], "ENGINE", engine)
    settings.TASKS_MODE = mode
    settings.WEBHOOK_STORE_BATCHED = on

    assert webhook_store.batched() is expected


@on_postgres
def test_bodies_arriving_together_are_stored_as_sent_in_one_insert_then_dispatched_once(dispatched):
    bodies = [b'{"entry": [%d]}' % i for i in range(20)] + ['{"t": "olá"}'.encode(), b"not json", b"not json"]

    async def arrive() -> list[int]:
        writer = webhook_store.BatchWriter(asyncio.get_running_loop())
        probe = await webhook_store._connect()
        seen: list[int] = []

        async def one(body: bytes) -> None:
            await writer.store(body, webhooks.sign(body))
            # Answered only once its row is committed: another connection sees it.
            row = await (await probe.execute("SELECT count(*) FROM conversations_webhookevent")).fetchone()
            seen.append(row[0] if row else 0)

        await asyncio.gather(*(one(body) for body in bodies))
        await writer._drop()
        await probe.close()
        return seen

    seen = asyncio.run(arrive())

    assert _rows() == [(body, webhooks.sign(body), "pending", 0, [], True) for body in bodies]
    ids = list(WebhookEvent.objects.order_by("pk").values_list("pk", flat=True))
    assert seen == [len(bodies)] * len(bodies)
    assert dispatched == [(task_names.WEBHOOK_PROCESS_BATCH, {"event_ids": ids}, "event_ids")]


@on_postgres
def test_a_batch_stops_at_its_row_and_byte_bounds(dispatched, monkeypatch):
    monkeypatch.setattr(webhook_store, "MAX_BATCH_ROWS", 3)
    monkeypatch.setattr(webhook_store, "MAX_BATCH_BYTES", 10)
    bodies = [b"12345", b"12345", b"1", b"1", b"1", b"1", b"a" * 20, b"2"]

    async def arrive() -> None:
        writer = webhook_store.BatchWriter(asyncio.get_running_loop())
        await asyncio.gather(*(writer.store(body, "sha256=x") for body in bodies))
        await writer._drop()

    asyncio.run(arrive())

    assert [bytes(body) for body in WebhookEvent.objects.order_by("pk").values_list("body", flat=True)] == bodies
    assert [len(kwargs["event_ids"]) for _name, kwargs, _coalesce in dispatched] == [2, 3, 1, 1, 1]


@on_postgres
def test_a_signed_webhook_is_answered_200_once_stored_and_a_bad_signature_403(number, dispatched):
    body = _body(webhooks.text_payload("through the loop"))

    async def post() -> tuple[int, int]:
        async with _client() as client:
            refused = await _post(client, body, signature="sha256=" + "0" * 64)
            stored = await _post(client, body)
        return refused.status_code, stored.status_code

    assert asyncio.run(post()) == (403, 200)
    assert _rows() == [(body, webhooks.sign(body), "pending", 0, [], True)]
    assert dispatched == [(task_names.WEBHOOK_PROCESS_BATCH, {"event_ids": [WebhookEvent.objects.get().pk]}, "event_ids")]


@on_postgres
def test_a_connection_ended_by_the_server_is_replaced_and_the_webhook_stored(number, dispatched):
    first, second = (_body(webhooks.text_payload(text)) for text in ("before", "after the restart"))

    async def post() -> int:
        async with _client() as client:
            assert (await _post(client, first)).status_code == 200
            writer = webhook_store._writers[asyncio.get_running_loop()]
            assert writer._connection is not None
            await asyncio.to_thread(_end_backend, writer._connection.info.backend_pid)
            return (await _post(client, second)).status_code

    assert asyncio.run(post()) == 200
    assert [row[0] for row in _rows()] == [first, second]
    assert len(dispatched) == 2


@on_postgres
def test_while_the_database_cannot_be_reached_the_webhook_gets_503_and_nothing_is_stored(number, dispatched):
    before, during = (_body(webhooks.text_payload(text)) for text in ("before", "during the outage"))

    async def post() -> tuple[httpx.Response, httpx.Response]:
        async with _client() as client:
            assert (await _post(client, before)).status_code == 200  # the secrets are cached now
            writer = webhook_store._writers[asyncio.get_running_loop()]
            assert writer._connection is not None
            await asyncio.to_thread(_end_backend, writer._connection.info.backend_pid)
            port = connection.settings_dict["PORT"]
            connection.settings_dict["PORT"] = str(_closed_port())
            try:
                return await _post(client, during), await _post(client, during)
            finally:
                connection.settings_dict["PORT"] = port

    response, held = asyncio.run(post())

    assert response.status_code == 503
    assert response.headers["Retry-After"].isdigit()
    assert held.status_code == 503
    assert [row[0] for row in _rows()] == [before]
    assert len(dispatched) == 1


@on_postgres
def test_while_connecting_fails_every_waiting_request_gets_djangos_error_after_one_attempt(monkeypatch):
    attempts = []

    async def refused() -> psycopg.AsyncConnection:
        attempts.append(1)
        await asyncio.sleep(0.05)  # others arrive while this attempt is under way
        raise psycopg.OperationalError("connection refused")

    monkeypatch.setattr(webhook_store, "_connect", refused)

    async def arrive() -> list[BaseException | None]:
        writer = webhook_store.BatchWriter(asyncio.get_running_loop())
        first = asyncio.ensure_future(writer.store(b"{}", "sha256=x"))
        await asyncio.sleep(0.01)
        later = [asyncio.ensure_future(writer.store(b"[]", "sha256=y")) for _ in range(3)]
        return await asyncio.gather(first, *later, return_exceptions=True)

    outcomes = asyncio.run(arrive())

    assert all(isinstance(outcome, OperationalError) for outcome in outcomes)
    assert attempts == [1]
    assert not WebhookEvent.objects.exists()


@pytest.fixture
def django_served() -> Any:
    """The requests Django's own handler served (its request_started signal)."""
    served: list[str] = []

    def started(sender: Any, scope: dict[str, Any] | None = None, **kwargs: Any) -> None:
        served.append(scope["path"] if scope else "")

    request_started.connect(started)
    yield served
    request_started.disconnect(started)


SECURITY_HEADERS = ("Content-Type", "Strict-Transport-Security", "X-Content-Type-Options", "Referrer-Policy",
                    "Cross-Origin-Opener-Policy", "X-Frame-Options")


@on_postgres
def test_the_webhook_post_is_answered_in_front_of_django_with_the_headers_and_logs_django_gives(
    number, dispatched, django_served, settings, caplog
):
    settings.SECURE_HSTS_SECONDS = 3600
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    body = _body(webhooks.text_payload("in front"))
    wrong = "sha256=" + "0" * 64

    async def post() -> tuple[httpx.Response, httpx.Response, httpx.Response]:
        async with _client(WebhookReceiver(InlineASGIHandler())) as client:  # Django's middleware read the settings
            stored = await _post(client, body, **{"X-Forwarded-Proto": "https"})
            refused_here = await _post(client, body, wrong, **{"X-Forwarded-Proto": "https"})
            settings.WEBHOOK_STORE_BATCHED = False  # now the view answers
            refused_by_django = await _post(client, body, wrong, **{"X-Forwarded-Proto": "https"})
        return stored, refused_here, refused_by_django

    stored, refused_here, refused_by_django = asyncio.run(post())

    assert (stored.status_code, stored.text) == (200, "OK")
    assert (refused_here.status_code, refused_here.text) == (refused_by_django.status_code, refused_by_django.text)
    assert refused_here.status_code == 403
    for response in (stored, refused_here):
        assert {name: response.headers.get(name) for name in SECURITY_HEADERS} == {
            name: refused_by_django.headers.get(name) for name in SECURITY_HEADERS
        }
        assert response.headers["Content-Length"] == str(len(response.content))
    assert stored.headers["Strict-Transport-Security"] == "max-age=3600"
    assert stored.headers["X-Frame-Options"] == "DENY"
    assert django_served == ["/webhooks/whatsapp/"]
    assert [record.getMessage() for record in caplog.records if record.name == "django.request"] == [
        "Forbidden: /webhooks/whatsapp/"
    ] * 2
    assert _rows() == [(body, webhooks.sign(body), "pending", 0, [], True)]


@on_postgres
def test_a_host_django_refuses_and_a_request_django_redirects_to_https_are_left_to_django(
    number, dispatched, django_served, settings
):
    body = _body(webhooks.text_payload("left to Django"))

    async def post() -> tuple[httpx.Response, httpx.Response]:
        async with _client() as client:
            refused = await _post(client, body, Host="evil.example")
        settings.SECURE_SSL_REDIRECT = True
        async with _client(WebhookReceiver(InlineASGIHandler())) as client:  # Django's middleware read the setting
            redirected = await _post(client, body)
        return refused, redirected

    refused, redirected = asyncio.run(post())

    assert refused.status_code == 400
    assert redirected.status_code == 301
    assert redirected.headers["Location"] == "https://testserver/webhooks/whatsapp/"
    assert django_served == ["/webhooks/whatsapp/", "/webhooks/whatsapp/"]
    assert not WebhookEvent.objects.exists()
    assert dispatched == []


@on_postgres
def test_an_unexpected_error_is_answered_500_and_logged_as_django_does(number, monkeypatch, caplog):
    async def broken(body: bytes, signature: str) -> None:
        raise RuntimeError("the disk is full")

    monkeypatch.setattr(webhook_store, "store", broken)

    async def post() -> httpx.Response:
        async with _client() as client:
            return await _post(client, _body(webhooks.text_payload("lost")))

    response = asyncio.run(post())

    assert response.status_code == 500
    logged = [record for record in caplog.records if record.name == "django.request"]
    assert [record.getMessage() for record in logged] == ["Internal Server Error: /webhooks/whatsapp/"]
    assert logged[0].exc_info is not None and isinstance(logged[0].exc_info[1], RuntimeError)


@on_postgres
def test_a_client_gone_before_its_body_arrived_is_answered_nothing_and_nothing_is_stored(dispatched):
    async def behind(scope: Any, receive: Any, send: Any) -> None:
        raise AssertionError("Django was not to be called")

    sent: list[dict[str, Any]] = []
    scope = {"type": "http", "method": "POST", "path": "/webhooks/whatsapp/", "root_path": "", "headers": [],
             "query_string": b"", "scheme": "http", "server": ("testserver", 80)}

    async def receive() -> dict[str, Any]:
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    asyncio.run(WebhookReceiver(behind)(scope, receive, send))

    assert sent == []
    assert not WebhookEvent.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_secrets_reloaded_outside_a_request_give_their_connection_back():
    def reload() -> bool:
        _secrets_reloaded()
        return connection.connection is None

    assert asyncio.run(asyncio.to_thread(reload)) is True
