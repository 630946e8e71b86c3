"""The desk's "New conversation" in a real browser: an agent finds a contact, sends an approved
template with its parameters and lands in the conversation, which is theirs and reaches the
customer's phone; an opted-out contact and a typed number without an opt-in are refused with
the reason, and nothing is started for them."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import Customer, screenshot

pytestmark = pytest.mark.e2e

SETUP = """
from django.contrib.auth.models import User
from conversations.models import Contact, WhatsAppNumber
from notifications.services.consent import consent_opt_in, consent_opt_out
number = WhatsAppNumber.objects.get(is_default=True)
agent = User.objects.get(username="agent1")
carla, _ = Contact.objects.get_or_create(number=number, wa_id="15557770201", defaults={"profile_name": "Carla Callback", "created_by": agent})
otto, _ = Contact.objects.get_or_create(number=number, wa_id="15557770202", defaults={"profile_name": "Otto Optout", "created_by": agent})
consent_opt_in(contact=carla, category="utility", source="web_form", proof="signup form")
consent_opt_in(contact=otto, category="utility", source="web_form", proof="signup form")
consent_opt_out(contact=otto, category="marketing", source="keyword")
"""


def _open_dialog(page):
    page.click("#new-conversation")
    expect(page.locator("#new-conversation-dialog")).to_be_visible()
    expect(page.locator("#new-template-select option", has_text="order_update")).to_have_count(1, timeout=10000)


def _pick(page, name):
    page.fill("#new-contact-search", name)
    hit = page.locator("#new-contact-results .contact-hit", has_text=name)
    expect(hit).to_have_count(1, timeout=10000)
    hit.click()
    expect(page.locator("#new-contact-name")).to_contain_text(name)


def _choose_template(page, name):
    option = page.locator("#new-template-select option", has_text=name)
    page.select_option("#new-template-select", value=option.get_attribute("value"))


def _conversations_of(server, wa_id: str) -> int:
    out = server.shell(
        "from conversations.models import Conversation\n"
        f"print(Conversation.objects.filter(contact__wa_id='{wa_id}').count())"
    )
    return int(out.strip().splitlines()[-1])


def test_agent_starts_a_conversation_with_a_template_and_an_opted_out_contact_is_refused(server, sign_in, sandbox):
    server.shell(SETUP)
    phone = Customer(sandbox, "Carla Callback", "15557770201")
    page = sign_in("agent1")

    _open_dialog(page)
    _pick(page, "Carla Callback")
    expect(page.locator("#new-contact-consent")).to_contain_text("utility: opted in")
    _choose_template(page, "order_update (en_US)")
    params = page.locator("#new-template-params input")
    expect(params).to_have_count(4)  # the header's {{1}} and the body's three
    for index, value in enumerate(["B-2002", "Carla", "B-2002", "on Friday"]):
        params.nth(index).fill(value)
    screenshot(page, "desk-new-conversation")
    page.click("#new-conversation-send")

    expect(page.locator("#new-conversation-dialog")).to_be_hidden(timeout=10000)
    page.wait_for_url(re.compile(r"/desk/c/\d+/$"))
    expect(page.locator("#contact-name")).to_have_text("Carla Callback")
    expect(page.locator("#conversation-assignee")).to_contain_text("with")
    sent = page.locator("#transcript .msg.out", has_text="on Friday")
    expect(sent).to_be_visible(timeout=10000)
    expect(sent.locator(".ticks")).to_have_attribute("data-status", re.compile("sent|delivered|read"), timeout=20000)
    expect(page.locator("#conversation-list li", has_text="Carla Callback")).to_be_visible()  # in Mine
    assert any("on Friday" in (m.get("text") or "") for m in phone.received())

    # An opted-out contact: a marketing template is refused with the reason; nothing starts.
    _open_dialog(page)
    _pick(page, "Otto Optout")
    expect(page.locator("#new-contact-consent")).to_contain_text("marketing: no opt-in")
    _choose_template(page, "promo (en)")
    params = page.locator("#new-template-params input")
    expect(params).to_have_count(2)
    params.nth(0).fill("Otto")
    params.nth(1).fill("30%")
    page.click("#new-conversation-send")
    expect(page.locator("#new-conversation-error")).to_contain_text("opted in", timeout=10000)
    expect(page.locator("#new-conversation-dialog")).to_be_visible()
    assert _conversations_of(server, "15557770202") == 0

    # A typed international number with no contact has no opt-in either.
    page.click("#new-contact-clear")
    page.fill("#new-contact-search", "+44 7700 900555")
    page.click("#new-contact-typed")
    expect(page.locator("#new-contact-name")).to_have_text("+44 7700 900555")
    _choose_template(page, "order_update (en_US)")
    for index in range(4):
        page.locator("#new-template-params input").nth(index).fill("x")
    page.click("#new-conversation-send")
    expect(page.locator("#new-conversation-error")).to_contain_text("opted in", timeout=10000)
    assert _conversations_of(server, "447700900555") == 0
    screenshot(page, "desk-new-conversation-refused")
    assert page.errors == []
