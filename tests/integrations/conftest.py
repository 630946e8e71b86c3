from __future__ import annotations

import pytest

from notifications.models import WebhookEndpoint, WebhookEventType
from tests.support.receiver_server import start_receiver


@pytest.fixture
def receiver():
    """A real local HTTP server standing in for the business's systems."""
    state, server = start_receiver()
    yield state
    server.shutdown()
    server.server_close()


@pytest.fixture
def endpoint(db, receiver, settings):
    settings.OUTBOUND_ALLOW_PRIVATE_ADDRESSES = True  # the receiver listens on 127.0.0.1
    settings.OUTBOUND_REQUIRE_HTTPS = False
    return WebhookEndpoint.objects.create(url=f"{receiver.url}/hooks", events=list(WebhookEventType.values))
