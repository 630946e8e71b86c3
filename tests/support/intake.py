"""Fixtures and helpers for the webhook intake tests: a clean secrets cache, and a
listener on the real channel layer that collects desk events."""

from __future__ import annotations

import json
from typing import Any

import pytest

from config import realtime
from conversations.models import WebhookEvent
from conversations.services.webhook_intake import app_secrets_forget
from tests.support.layer_listener import LayerListener


@pytest.fixture(autouse=True)
def fresh_secrets():
    app_secrets_forget()
    yield
    app_secrets_forget()


class DeskListener(LayerListener):
    """A channel in some groups; `events()` returns the desk events that arrived since the
    last call. Events published before the listener existed may still be on their way (the
    publishing loop sends them after the caller returns); they are not for it."""

    def __init__(self, groups: list[str]):
        assert realtime.flush(), "earlier desk events were not sent"
        super().__init__(groups)

    def events(self, quiet: float = 0.2) -> list[dict[str, Any]]:
        assert realtime.flush(), "desk events were not sent"
        return super().events(quiet)


@pytest.fixture
def supervisors_listener():
    listener = DeskListener(["supervisors"])
    listener.events()
    yield listener
    listener.close()


def last_event() -> WebhookEvent:
    return WebhookEvent.objects.order_by("-pk").first()


def body_of(event: WebhookEvent) -> Any:
    return json.loads(bytes(event.body))


def process(client, payload, capture) -> WebhookEvent:
    """POST a signed webhook, then process the stored event as the task does and run
    what processing enqueued after commit (in celery mode: publish it). Returns the
    event. `capture` is django_capture_on_commit_callbacks."""
    from conversations.services.webhook_intake import webhook_event_process
    from tests.support import webhooks

    with capture(execute=False) as dispatched:
        response = webhooks.post(client, payload)
    assert response.status_code == 200
    assert len(dispatched) == 1
    event = last_event()
    with capture(execute=True):
        webhook_event_process(event_id=event.pk)
    event.refresh_from_db()
    return event


class BrokerQueue:
    """Tasks published to an in-memory broker: the network edge of the task queue."""

    def published(self) -> list[tuple[str, dict[str, Any]]]:
        from celery import current_app

        from config.tasking import publisher

        assert publisher.flush(), "the publisher thread did not drain"
        found = []
        with current_app.connection_for_read() as conn, conn.SimpleQueue("celery") as queue:
            while True:
                try:
                    message = queue.get_nowait()
                except queue.Empty:
                    return found
                args, kwargs, _embed = message.decode()
                found.append((message.headers["task"], kwargs))
                message.ack()

    def names(self) -> list[str]:
        return [name for name, _ in self.published()]


def broker_connections_reset() -> None:
    """Forget pooled broker connections, so the next publish connects to the broker
    now configured (Celery keeps them per app; this is what it does after a fork)."""
    from celery import current_app

    current_app._pool = None
    amqp = current_app.__dict__.get("amqp")
    if amqp is not None:
        amqp._producer_pool = None


@pytest.fixture
def broker_at(settings):
    """Point Celery mode at another broker for one test: `broker_at("memory://")`."""
    from celery import current_app

    from config.tasking import publisher

    previous = current_app.conf.broker_url

    def use(url: str) -> None:
        publisher.flush()  # what was handed over goes to the broker it was meant for
        broker_connections_reset()
        settings.TASKS_MODE = "celery"
        settings.CELERY_BROKER_URL = url
        current_app.conf.broker_url = url

    yield use
    publisher.flush()
    broker_connections_reset()
    current_app.conf.broker_url = previous


@pytest.fixture
def broker_queue(broker_at):
    """Celery mode against an in-memory broker: tasks are published, not run."""
    broker_at("memory://")
    queue = BrokerQueue()
    queue.published()
    return queue
