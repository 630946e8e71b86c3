"""The desk shows what WhatsApp charges per message: the delivery ticks' tooltip names the
cost category the status webhooks reported (here by the sandbox, shaped as WhatsApp's)."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import Customer

pytestmark = pytest.mark.e2e


def test_the_ticks_tooltip_names_the_cost_category_of_a_reply(server, sign_in, sandbox):
    page = sign_in("agent1")
    page.select_option("#presence-select", "online")
    customer = Customer(sandbox, "Paula Pricing", "15557770151")
    customer.says("Hello, I need a human agent please")
    row = page.locator("#conversation-list li", has_text="Paula Pricing")
    expect(row).to_be_visible(timeout=20000)
    row.click()
    page.click("#mode-reply")
    page.fill("#composer-text", "Hi Paula, happy to help.")
    page.press("#composer-text", "Enter")
    ticks = page.locator("#transcript .msg.out", has_text="happy to help").locator(".ticks")
    expect(ticks).to_have_attribute("data-status", "delivered", timeout=20000)
    expect(ticks).to_have_attribute("data-pricing", "service", timeout=20000)
    expect(ticks).to_have_attribute("title", "Delivered · cost: service (free: inside the customer-service window)")
    assert page.errors == []
