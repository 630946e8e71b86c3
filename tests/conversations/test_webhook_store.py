"""The batched webhook store of the ASGI server (conversations.services.webhook_store),
against a real PostgreSQL server: bodies arriving together are stored exactly as sent in
one insert before any of them is answered, their processing is dispatched once after
the commit, a connection the server ended is replaced, and while the database cannot be
reached the webhook gets 503 with Retry-After and nothing is stored."""

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
from django.db import OperationalError, connection

from config import task_names
from config.asgi import application
from conversations.models import WebhookEvent
from conversations.services import webhook_store
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


def _client() -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=application), base_url="http://testserver")


async def _post(client: httpx.AsyncClient, body: bytes, signature: str | None = None) -> httpx.Response:
    return await client.post(
        "/webhooks/whatsapp/",
        content=body,
        headers={"Content-Type": "application/json", "X-Hub-Signature-256": signature or webhooks.sign(body)},
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
