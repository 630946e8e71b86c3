"""/healthz: dependencies reachable → 200; one unreachable → 503 naming it, without details."""

from __future__ import annotations

import pytest
from channels.layers import channel_layers


@pytest.fixture
def unreachable_channel_layer(settings):
    channel_layers.backends.clear()
    settings.CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {"hosts": ["redis://127.0.0.1:9/3"]},
        }
    }
    yield
    channel_layers.backends.clear()


def test_healthy_answer_is_not_cached(client, db):
    response = client.get("/healthz")

    assert response.status_code == 200
    assert response.json()["status"] == "ok"
    assert response["Cache-Control"] == "no-store"


def test_unreachable_channel_layer_gives_503_without_connection_details(client, db, unreachable_channel_layer):
    response = client.get("/healthz")

    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "error"
    assert body["checks"]["database"] == "ok"
    assert body["checks"]["channel_layer"].startswith("error: ")
    assert "127.0.0.1" not in body["checks"]["channel_layer"]


def test_healthz_only_answers_reads(client, db):
    assert client.post("/healthz").status_code == 405
