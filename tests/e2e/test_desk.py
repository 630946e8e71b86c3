"""The desk in a real browser against a real server: live escalation, replies and ticks,
templates once the window has closed, a supervisor's join and whisper, escaping of
customer text, and an outsider kept out by URL and over the socket."""

from __future__ import annotations

import json
import re

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import Customer, screenshot

pytestmark = pytest.mark.e2e


def _online(page):
    page.select_option("#presence-select", "online")
    page.wait_for_timeout(300)


def _row(page, name):
    return page.locator("#conversation-list li", has_text=name)


def _conversation_id(page, name) -> int:
    row = _row(page, name)
    expect(row).to_be_visible(timeout=20000)
    return int(row.get_attribute("data-id"))


def test_agent_gets_an_escalation_live_replies_and_sees_it_read(server, sign_in, sandbox):
    page = sign_in("agent1")
    _online(page)
    customer = Customer(sandbox, "Rita Live", "15557770101")

    customer.says("Hello, I need a human agent please")
    row = _row(page, "Rita Live")
    expect(row).to_be_visible(timeout=20000)  # arrived without reloading
    row.click()
    expect(page.locator("#handoff-card")).to_contain_text("Handed off by the bot")
    expect(page.locator("#transcript .msg.in")).to_contain_text("I need a human agent")

    page.click("#mode-reply")
    page.fill("#composer-text", "Hi Rita, I'm here to help.")
    page.press("#composer-text", "Enter")
    reply = page.locator("#transcript .msg.out", has_text="I'm here to help")
    expect(reply.locator(".ticks")).to_have_attribute("data-status", "delivered", timeout=20000)
    assert any(m["text"] == "Hi Rita, I'm here to help." for m in customer.received())

    customer.reads([m["id"] for m in customer.received()])
    expect(reply.locator(".ticks")).to_have_attribute("data-status", "read", timeout=20000)
    screenshot(page, "desk-conversation")
    assert page.errors == []


def test_window_closed_composer_offers_approved_templates_only(server, sign_in, sandbox):
    page = sign_in("agent1")
    _online(page)
    customer = Customer(sandbox, "Walter Window", "15557770102")
    customer.says("human agent please")
    conversation = _conversation_id(page, "Walter Window")
    server.shell(
        "from datetime import timedelta\n"
        "from django.utils import timezone\n"
        "from conversations.models import Conversation\n"
        "from conversations.providers.sandbox.models import Template\n"
        "from notifications.models import MessageTemplate\n"
        "from notifications.services.consent import consent_opt_in\n"
        f"c = Conversation.objects.get(pk={conversation})\n"
        "past = timezone.now() - timedelta(hours=25)\n"
        "Conversation.objects.filter(pk=c.pk).update(last_customer_message_at=past, window_expires_at=past + timedelta(hours=24))\n"
        "body = [{'type': 'BODY', 'text': 'Hello {{1}}, your order {{2}} is ready.'}]\n"
        "Template.objects.update_or_create(business_account_id=c.number.business_account_id, name='order_ready', language='en_US', defaults={'category': 'UTILITY', 'status': 'APPROVED', 'components': body})\n"
        "MessageTemplate.objects.update_or_create(business_account_id=c.number.business_account_id, name='order_ready', language='en_US', defaults={'number': c.number, 'category': 'UTILITY', 'status': 'APPROVED', 'components': body})\n"
        "MessageTemplate.objects.update_or_create(business_account_id=c.number.business_account_id, name='summer_sale', language='en_US', defaults={'number': c.number, 'category': 'MARKETING', 'status': 'PAUSED', 'components': body})\n"
        "consent_opt_in(contact=c.contact, category='utility', source='admin')\n"
    )
    page.goto(f"{server.base}/desk/c/{conversation}/")
    expect(page.locator("#template-composer")).to_be_visible(timeout=10000)
    expect(page.locator("#mode-reply")).to_be_hidden()
    expect(page.locator("#window-countdown")).to_have_text("24-hour window closed")
    options = page.locator("#template-select option").all_text_contents()
    assert any("order_ready" in o for o in options)
    assert not any("summer_sale" in o for o in options)  # not approved, not offered

    page.select_option("#template-select", label="order_ready (en_US)")
    params = page.locator("#template-params input")
    expect(params).to_have_count(2)
    params.nth(0).fill("Walter")
    params.nth(1).fill("A1001")
    page.click("#template-send")
    sent = page.locator("#transcript .msg.out", has_text="A1001")
    expect(sent).to_be_visible(timeout=10000)
    expect(sent.locator(".ticks")).to_have_attribute("data-status", re.compile("sent|delivered|read"), timeout=20000)
    assert page.errors == []


def test_supervisor_joins_and_whispers_and_the_customer_never_sees_the_whisper(server, sign_in, sandbox):
    agent = sign_in("agent1")
    _online(agent)
    customer = Customer(sandbox, "Carla Conference", "15557770103")
    customer.says("Please get me a human agent")
    conversation = _conversation_id(agent, "Carla Conference")
    agent.goto(f"{server.base}/desk/c/{conversation}/")
    expect(agent.locator("#contact-name")).to_have_text("Carla Conference")

    supervisor = sign_in("supervisor")
    supervisor.goto(f"{server.base}/desk/monitor/")
    row = supervisor.locator(f"#monitor-conversation-{conversation}")
    expect(row).to_be_visible(timeout=10000)
    expect(supervisor.locator("#queues-table tbody tr")).not_to_have_count(0)
    expect(supervisor.locator("#agents-table")).to_contain_text("Alex Agent")

    row.locator("button[data-action=join]").click()
    expect(row).to_contain_text("Sam Supervisor (participant)", timeout=10000)
    expect(agent.locator("#participants")).to_contain_text("Sam Supervisor", timeout=10000)

    row = supervisor.locator(f"#monitor-conversation-{conversation}")
    row.locator("button[data-action=whisper]").click()
    supervisor.fill("#whisper-text", "Offer the loyalty discount, only agents see this")
    supervisor.click("#whisper-send")
    whisper = agent.locator("#transcript .msg.internal", has_text="loyalty discount")
    expect(whisper).to_be_visible(timeout=10000)  # live on the agent's desk
    expect(whisper.locator(".author")).to_have_text("Sam Supervisor")
    screenshot(supervisor, "monitor")

    agent.wait_for_timeout(1500)
    texts = [m["text"] for m in customer.received()]
    assert not any("loyalty discount" in t for t in texts)
    assert any("Sam Supervisor joined" in t for t in texts)  # the team announces participants
    assert agent.errors == [] and supervisor.errors == []


def test_customer_text_and_name_are_rendered_as_text(server, sign_in, sandbox):
    page = sign_in("agent1")
    _online(page)
    name = "<img src=x onerror=window.__pwned=1>"
    text = "<img src=x onerror=window.__pwned=2> human agent please <b>now</b>"
    Customer(sandbox, name, "15557770104").says(text)
    row = page.locator("#conversation-list li", has_text="onerror")
    expect(row).to_be_visible(timeout=20000)
    row.click()
    expect(page.locator("#contact-name")).to_have_text(name)
    expect(page.locator("#transcript .msg.in .msg-body").first).to_have_text(text)
    assert page.locator("#desk img, #desk b").count() == 0
    assert page.evaluate("window.__pwned") is None
    screenshot(page, "desk-escaping")


def test_outsider_cannot_open_another_teams_conversation_by_url_or_socket(server, sign_in, sandbox):
    agent = sign_in("agent1")
    _online(agent)
    Customer(sandbox, "Otto Private", "15557770105").says("human agent please")
    conversation = _conversation_id(agent, "Otto Private")

    outsider = sign_in("agent3")  # Billing only; the conversation is Support's
    expect(outsider.locator("#conversation-list li", has_text="Otto Private")).to_have_count(0)
    response = outsider.goto(f"{server.base}/desk/c/{conversation}/")
    assert response.status == 404
    outsider.goto(f"{server.base}/desk/")
    frames = outsider.evaluate(
        """(id) => new Promise((resolve) => {
            const frames = [];
            const ws = new WebSocket(`ws://${location.host}/ws/desk/`);
            ws.onmessage = (m) => {
              const f = JSON.parse(m.data);
              frames.push(f);
              if (f.type === "hello") ws.send(JSON.stringify({action: "subscribe", conversation: id}));
              if (f.type === "error" || f.type === "subscribed") { ws.close(); resolve(frames); }
            };
            setTimeout(() => resolve(frames), 5000);
        })""",
        conversation,
    )
    assert {"type": "error", "code": "forbidden", "detail": "No such conversation.", "conversation": conversation} in frames, json.dumps(frames)
    api = outsider.request.get(f"{server.base}/api/v1/desk/conversations/{conversation}/context/")
    assert api.status == 404


def test_a_supervisor_reassigns_and_the_agents_desk_row_names_the_new_assignee_live(server, sign_in, sandbox):
    server.shell(
        "from agents.models import AgentProfile\n"
        "AgentProfile.objects.filter(user__username__in=['agent1', 'agent2']).update(capacity=20)\n"
    )
    agent = sign_in("agent1")
    _online(agent)
    Customer(sandbox, "Rhea Reassign", "15557770106").says("human agent please")

    supervisor = sign_in("supervisor")
    supervisor.goto(f"{server.base}/desk/monitor/")
    row = supervisor.locator("#conversations-table tr", has_text="Rhea Reassign")
    expect(row.locator(".chip")).to_have_text("assigned", timeout=20000)
    names = {"agent1": "Alex Agent", "agent2": "Bea Agent"}
    holder = next(username for username, name in names.items() if name in row.inner_text())
    taker = "agent2" if holder == "agent1" else "agent1"

    # The new assignee's desk already knows the conversation (from its first load), held
    # by somebody else, so it is in none of its tabs yet.
    desk = sign_in(taker)
    expect(_row(desk, "Rhea Reassign")).to_have_count(0)

    row.locator("button[data-action=reassign]").click()
    option = supervisor.locator("#reassign-agent option", has_text=names[taker])
    supervisor.select_option("#reassign-agent", option.get_attribute("value"))
    supervisor.click("#reassign-ok")

    mine = _row(desk, "Rhea Reassign")
    expect(mine).to_be_visible(timeout=10000)  # live, in Mine, without reloading
    expect(mine).to_contain_text(names[taker])
    expect(mine).not_to_contain_text(names[holder])
    screenshot(desk, "desk-reassigned")
    assert desk.errors == [] and supervisor.errors == [] and agent.errors == []
