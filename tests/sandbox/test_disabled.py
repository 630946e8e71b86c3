"""Nothing of the sandbox is reachable when SANDBOX_ENABLED is false."""

from __future__ import annotations

import importlib

import pytest
from django.urls import clear_url_caches

import config.urls


def reload_urls() -> None:
    importlib.reload(config.urls)
    clear_url_caches()


@pytest.fixture
def production_urls(settings):
    settings.SANDBOX_ENABLED = False
    reload_urls()
    yield
    settings.SANDBOX_ENABLED = True
    reload_urls()


PATHS = [
    "/sandbox/",
    "/sandbox/api/phones/",
    "/sandbox/graph/v23.0/300000000000001/messages",
    "/sandbox/graph/v23.0/400000000000001/message_templates",
]


def test_sandbox_urls_answer_404_when_disabled(production_urls, admin_client, sandbox_number):
    for path in PATHS:
        assert admin_client.get(path).status_code == 404, path
        assert admin_client.post(path, data="{}", content_type="application/json").status_code == 404, path


def test_sandbox_urls_exist_when_enabled(admin_client, sandbox_number):
    assert admin_client.get("/sandbox/").status_code == 200
    assert admin_client.get(PATHS[3]).status_code == 401  # reached: the stand-in Graph wants its token
