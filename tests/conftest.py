"""Shared fixtures: the WhatsApp number, a Graph API stand-in at a real local HTTP server,
and the personas every access test uses (agent, teammate, outsider, supervisor, admin)."""

from __future__ import annotations

import pytest
from django.core.cache import cache
from django.utils import translation
from rest_framework.test import APIClient

from tests.factories import NumberFactory, TeamFactory, UserFactory
from tests.support.graph_server import start_graph_server


@pytest.fixture(autouse=True)
def _clean_cache():
    cache.clear()
    yield
    cache.clear()


@pytest.fixture(autouse=True)
def _default_language():
    """Each test starts in the site's language: a desk request in Spanish activates it for
    the test's thread, and texts built outside a request (labels, reasons) follow it."""
    translation.deactivate()
    yield
    translation.deactivate()


@pytest.fixture
def graph():
    """A real HTTP server playing Graph; the test number points at it."""
    server_state, server = start_graph_server()
    yield server_state
    server.shutdown()
    server.server_close()


@pytest.fixture
def number(db, graph):
    return NumberFactory(api_base=graph.base_url)


@pytest.fixture
def team(db):
    return TeamFactory(name="Support", slug="support")


@pytest.fixture
def other_team(db):
    return TeamFactory(name="Sales", slug="sales")


@pytest.fixture
def agent(db, team):
    user = UserFactory(username="agent")
    team.members.add(user)
    return user


@pytest.fixture
def teammate(db, team):
    user = UserFactory(username="teammate")
    team.members.add(user)
    return user


@pytest.fixture
def outsider(db, other_team):
    user = UserFactory(username="outsider")
    other_team.members.add(user)
    return user


@pytest.fixture
def supervisor(db, team):
    user = UserFactory(username="supervisor")
    team.supervisors.add(user)
    return user


@pytest.fixture
def admin_user(db):
    return UserFactory(username="admin", is_staff=True, is_superuser=True)


@pytest.fixture
def api():
    """An API client; call `api.force_authenticate(user)` for a persona."""
    return APIClient()
