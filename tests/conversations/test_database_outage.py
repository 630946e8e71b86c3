"""PostgreSQL restarts and outages, against a real PostgreSQL server.

A restart kills every server connection the pool still holds: the next webhook and API
request must get a fresh connection and succeed, not a 500. While the database cannot be
reached at all, a webhook gets a quick 503 with Retry-After (never 200: nothing was
stored) and the API answers 503 in its error shape."""

from __future__ import annotations

import copy
import os
import socket
import time
from contextlib import contextmanager

import pytest
from django.db import connection

from conversations.models import WebhookEvent
from conversations.services.webhook_intake import app_secrets_forget
from conversations.webhooks import database_outage_forget
from tests.support import intake as intake_support
from tests.support import webhooks
from tests.support.postgres_admin import server_admin

fresh_secrets = intake_support.fresh_secrets

ON_POSTGRES = os.environ.get("DATABASE_URL", "").startswith(("postgres://", "postgresql://"))

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.skipif(not ON_POSTGRES, reason="needs PostgreSQL: DATABASE_URL is not a postgres:// URL"),
    pytest.mark.django_db(transaction=True),
]

UNREACHABLE_POOL_TIMEOUT = 1.0


@pytest.fixture(autouse=True)
def no_remembered_outage():
    database_outage_forget()
    yield
    database_outage_forget()


@pytest.fixture(autouse=True)
def fresh_pool():
    """Start from a pool of this test's own, as a server process does: earlier tests in this
    process leave connections checked out by threads that never finished a request (test
    servers, async tests), which would otherwise fill the pool before the restart."""
    connection.close()
    connection.close_pool()
    yield


def _restart_kills_pooled_connections() -> int:
    """What a PostgreSQL restart does to the pool: every server connection to the test
    database is terminated (`AdminShutdown` on its next use). Returns how many."""
    connection.close()  # this thread's connection goes back to the pool, still open
    name = connection.settings_dict["NAME"]
    with server_admin() as admin:
        pids = [
            row[0]
            for row in admin.execute(
                "SELECT pid FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()", [name]
            )
        ]
        for pid in pids:
            admin.execute("SELECT pg_terminate_backend(%s)", [pid])
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            alive = admin.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE pid = ANY(%s)", [pids]
            ).fetchone()
            if alive is not None and alive[0] == 0:
                break
            time.sleep(0.05)
    return len(pids)


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def _database_unreachable():
    """The database server cannot be reached: the connection settings point at a port
    nobody listens on, with a fresh pool (its timeout shortened to keep the test fast)."""
    saved = copy.copy(connection.settings_dict)
    saved_options = copy.copy(saved["OPTIONS"])
    connection.close()
    connection.close_pool()
    options = copy.copy(saved_options)
    options["pool"] = {**options["pool"], "timeout": UNREACHABLE_POOL_TIMEOUT}
    connection.settings_dict["PORT"] = str(_closed_port())
    connection.settings_dict["OPTIONS"] = options
    try:
        yield
    finally:
        connection.close()
        connection.close_pool()
        connection.settings_dict["PORT"] = saved["PORT"]
        connection.settings_dict["OPTIONS"] = saved_options


def _post(client, text: str):
    return webhooks.post(client, webhooks.text_payload(text))


def test_after_a_restart_the_next_webhook_and_api_request_succeed(client, api, number, agent):
    assert _post(client, "before the restart").status_code == 200
    api.force_authenticate(agent)
    assert api.get("/api/v1/conversations/").status_code == 200

    assert _restart_kills_pooled_connections() >= 1
    response = _post(client, "right after the restart")

    assert response.status_code == 200
    assert _restart_kills_pooled_connections() >= 1
    assert api.get("/api/v1/conversations/").status_code == 200
    assert WebhookEvent.objects.count() == 2


def test_a_webhook_while_the_database_is_down_gets_a_quick_503_and_nothing_is_stored(client, number):
    assert _post(client, "before the outage").status_code == 200  # the secrets are cached now

    with _database_unreachable():
        started = time.monotonic()
        first = _post(client, "during the outage")
        first_took = time.monotonic() - started
        started = time.monotonic()
        second = _post(client, "still down")
        second_took = time.monotonic() - started

    assert first.status_code == 503
    assert first["Retry-After"].isdigit()
    assert first_took < UNREACHABLE_POOL_TIMEOUT + 3
    assert second.status_code == 503
    assert second["Retry-After"].isdigit()
    assert second_took < 0.5  # answered without waiting for the database again
    assert WebhookEvent.objects.count() == 1

    database_outage_forget()
    assert _post(client, "after the outage").status_code == 200
    assert WebhookEvent.objects.count() == 2


def test_a_webhook_whose_secrets_cannot_be_read_gets_503_not_403(client, number):
    app_secrets_forget()

    with _database_unreachable():
        response = _post(client, "during the outage")

    assert response.status_code == 503
    assert not WebhookEvent.objects.exists()


def test_the_api_answers_503_in_its_error_shape_while_the_database_is_down(api, number, agent):
    api.force_authenticate(agent)

    with _database_unreachable():
        response = api.get("/api/v1/conversations/")

    assert response.status_code == 503
    assert response["Retry-After"].isdigit()
    assert response.json()["code"] == "unavailable"
    assert api.get("/api/v1/conversations/").status_code == 200
