"""`load_demo` and the default number from the settings."""

from __future__ import annotations

import io

import pytest
from django.contrib.auth import authenticate, get_user_model
from django.core.management import CommandError, call_command

from agents.models import Team
from conversations import demo
from conversations.models import WhatsAppNumber
from conversations.numbers import number_sync_from_settings
from conversations.providers.sandbox.models import Template


def snapshot():
    users = sorted(get_user_model().objects.values_list("username", "is_superuser"))
    teams = {
        t.name: (sorted(t.members.values_list("username", flat=True)), sorted(t.supervisors.values_list("username", flat=True)))
        for t in Team.objects.filter(slug__in=["support", "billing"])
    }
    numbers = list(WhatsAppNumber.objects.values_list("phone_number_id", "is_default", "is_sandbox", "api_base"))
    return users, teams, numbers


@pytest.fixture
def only_sandbox_demo(monkeypatch):
    """Keep other parts' demo data out of these assertions."""
    monkeypatch.setattr(demo, "DEMO_MODULES", ())


def test_load_demo_twice_gives_the_same_users_teams_and_number(db, only_sandbox_demo, settings):
    settings.WHATSAPP_API_BASE_IS_SET = False
    out = io.StringIO()
    call_command("load_demo", "--port", "8765", stdout=out)
    first = snapshot()
    call_command("load_demo", "--port", "8765", stdout=io.StringIO())

    assert snapshot() == first
    users, teams, numbers = first
    assert users == [("admin", True), ("agent1", False), ("agent2", False), ("agent3", False), ("supervisor", False)]
    assert teams == {
        "Support": (["agent1", "agent2"], ["supervisor"]),
        "Billing": (["agent2", "agent3"], ["supervisor"]),
    }
    assert numbers == [("100000000000001", True, True, "http://127.0.0.1:8765/sandbox/graph/v23.0")]
    assert authenticate(username="agent1", password=settings.DEMO_PASSWORD) is not None
    assert Template.objects.filter(name="hello_world", status="APPROVED").count() == 1
    printed = out.getvalue()
    for expected in ("admin", "agent3", "'demo'", "http://127.0.0.1:8765/sandbox/", "/desk/", "/api/docs/"):
        assert expected in printed


def test_load_demo_points_the_number_at_the_configured_api_when_it_is_set(db, only_sandbox_demo, settings):
    settings.WHATSAPP_API_BASE_IS_SET = True
    call_command("load_demo", stdout=io.StringIO())
    number = WhatsAppNumber.objects.get()
    assert (number.api_base, number.is_sandbox) == ("", False)


def test_load_demo_is_refused_in_production_settings(db, only_sandbox_demo, settings):
    settings.DEBUG = False
    settings.SANDBOX_ENABLED = False

    with pytest.raises(CommandError, match="DEBUG"):
        call_command("load_demo", stdout=io.StringIO())

    assert not get_user_model().objects.exists()
    assert not WhatsAppNumber.objects.exists()


def test_a_missing_part_is_skipped_but_a_broken_one_fails_loudly(db, monkeypatch):
    monkeypatch.setattr(demo, "DEMO_MODULES", ("tests.sandbox.no_such_demo_module",))
    call_command("load_demo", stdout=io.StringIO())

    monkeypatch.setattr(demo, "DEMO_MODULES", ("tests.sandbox.broken_demo",))
    with pytest.raises(ModuleNotFoundError, match="handoff_module_that_does_not_exist"):
        call_command("load_demo", stdout=io.StringIO())


def test_sync_number_does_nothing_without_a_phone_number_id(db, settings):
    settings.WHATSAPP_PHONE_NUMBER_ID = ""
    assert number_sync_from_settings() is None
    assert not WhatsAppNumber.objects.exists()


def test_sync_number_creates_then_updates_the_default_number(db, settings):
    WhatsAppNumber.objects.create(phone_number_id="old", is_default=True)
    settings.WHATSAPP_PHONE_NUMBER_ID = "555"
    settings.WHATSAPP_BUSINESS_ACCOUNT_ID = "777"
    settings.WHATSAPP_DISPLAY_PHONE_NUMBER = "15550001234"
    settings.WHATSAPP_ACCESS_TOKEN = "token-1"
    settings.WHATSAPP_APP_SECRET = "secret-1"
    settings.WHATSAPP_VERIFY_TOKEN = "verify-1"
    settings.WHATSAPP_API_BASE_IS_SET = True

    call_command("sync_number", stdout=io.StringIO())
    settings.WHATSAPP_ACCESS_TOKEN = "token-2"
    settings.WHATSAPP_APP_SECRET = ""  # not set: the stored secret stays
    number = number_sync_from_settings()

    assert number is not None
    number.refresh_from_db()
    assert (number.phone_number_id, number.business_account_id, number.display_phone_number) == ("555", "777", "15550001234")
    assert (number.access_token, number.app_secret, number.verify_token) == ("token-2", "secret-1", "verify-1")
    assert number.is_default and not number.is_sandbox and number.api_base == ""
    assert list(WhatsAppNumber.objects.filter(is_default=True)) == [number]
    assert WhatsAppNumber.objects.count() == 2
