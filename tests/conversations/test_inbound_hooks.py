"""Inbound hooks: the apps that answer a customer's message before the bot register here
(conversations/inbound_hooks.py); receiving calls them in order."""

from __future__ import annotations

import pytest

from agents.services.csat import csat_rated_conversation, csat_record_reply
from conversations import inbound_hooks
from conversations.inbound_hooks import inbound_claim, inbound_hooks_handle, register_inbound_hook
from notifications.services.consent_keywords import keyword_consent_handle


def test_the_apps_register_ratings_then_consent_keywords():
    hooks = inbound_hooks.inbound_hooks()
    by_name = {hook.name: hook for hook in hooks}
    assert [hook.name for hook in hooks if hook.name in ("csat", "consent_keywords")] == ["csat", "consent_keywords"]
    assert by_name["csat"].fn is csat_record_reply
    assert by_name["csat"].claim is csat_rated_conversation
    assert by_name["consent_keywords"].fn is keyword_consent_handle
    assert by_name["consent_keywords"].claim is None


@pytest.fixture
def empty_registry(monkeypatch):
    monkeypatch.setattr(inbound_hooks, "_HOOKS", {})


def test_hooks_run_in_order_and_the_first_that_handles_ends_the_run(empty_registry):
    calls: list[str] = []

    def hook(name: str, handled: bool):
        def fn(*, message) -> bool:
            calls.append(name)
            return handled

        return fn

    register_inbound_hook("late", hook("late", True), order=30)
    register_inbound_hook("first", hook("first", False), order=10)
    register_inbound_hook("second", hook("second", True), order=20)
    assert inbound_hooks_handle(message=object()) is True
    assert calls == ["first", "second"]

    calls.clear()
    register_inbound_hook("second", hook("second", False), order=20)  # the same name replaces
    assert inbound_hooks_handle(message=object()) is True
    assert calls == ["first", "second", "late"]


def test_nothing_handles_a_message_no_hook_wants(empty_registry):
    register_inbound_hook("never", lambda *, message: False, order=1)
    assert inbound_hooks_handle(message=object()) is False


def test_a_claimed_message_goes_to_its_claiming_hook_only(empty_registry):
    calls: list[str] = []
    claimed_conversation = object()

    def claim(*, contact, message):
        return claimed_conversation if message.get("claim") else None

    def claiming(*, message) -> bool:
        calls.append("claiming")
        return True

    def other(*, message) -> bool:
        calls.append("other")
        return False

    register_inbound_hook("claiming", claiming, order=20, claim=claim)
    register_inbound_hook("other", other, order=10)

    assert inbound_claim(contact=object(), message={}) is None
    # Unclaimed: the claiming hook is not asked.
    assert inbound_hooks_handle(message=object()) is False
    assert calls == ["other"]

    calls.clear()
    found = inbound_claim(contact=object(), message={"claim": True})
    assert found is not None
    hook, conversation = found
    assert hook.name == "claiming" and conversation is claimed_conversation
    assert inbound_hooks_handle(message=object(), claimed_by=hook) is True
    assert calls == ["claiming"]
