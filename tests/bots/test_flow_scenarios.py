"""The demo flow bot through the real webhook: menus with the human option, the order
lookup, the billing FAQ."""

from __future__ import annotations

import pytest

from bots.models import BotSession
from conversations.models import Conversation
from tests.bots.conftest import menus, offers_a_person, option_ids, texts

pytestmark = pytest.mark.django_db(transaction=True)


def test_greeting_shows_the_main_menu_with_a_person_option(customer, demo_bot):
    replies = customer.says("hi")

    assert len(replies) == 1
    menu = replies[0]["interactive"]
    assert menu["type"] == "button"
    assert option_ids(replies[0]) == ["order-status", "billing", "handoff:human"]
    assert [b["reply"]["title"] for b in menu["action"]["buttons"]][-1] == "Talk to a person"
    assert customer.conversation.status == Conversation.Status.BOT


def test_order_status_is_looked_up_from_the_order_number(customer, demo_bot):
    customer.says("hello")
    replies = customer.taps("order-status", "Order status")
    assert texts(replies) == ["What is your order number? It looks like A1001."]
    assert offers_a_person(replies[0])

    replies = customer.says("a1001")

    assert texts(replies)[0].startswith("Order A1001 is shipped.")
    assert "Can I help with anything else?" in texts(replies)
    session = BotSession.objects.get(conversation=customer.conversation)
    assert session.values["order_number"] == "A1001"
    assert session.values["order_status"] == "shipped"


def test_unknown_order_number_is_said_and_asked_again(customer, demo_bot):
    customer.says("hello")
    customer.taps("order-status", "Order status")

    replies = customer.says("Z9999")

    assert texts(replies) == [
        "I couldn't find an order Z9999. Please check the number (it looks like A1001).",
        "What is your order number? It looks like A1001.",
    ]


def test_billing_faq_answers_with_fuzzy_keywords(customer, demo_bot):
    customer.says("hello")
    customer.taps("billing", "Billing question")

    replies = customer.says("how can I get an invoise for my last purchase")

    assert texts(replies)[0].startswith("Invoices are emailed when your order ships.")
    assert all(offers_a_person(m) for m in menus(replies))


def test_faq_question_typed_at_the_main_menu_is_answered(customer, demo_bot):
    customer.says("hi")

    replies = customer.says("Which payment methods do you take?")

    assert texts(replies)[0].startswith("We accept Visa")
    assert option_ids(menus(replies)[-1]) == ["order-status", "billing", "handoff:human"]


def test_every_bot_menu_offers_a_person(customer, demo_bot, graph):
    customer.says("hi")
    customer.taps("order-status", "Order status")
    customer.says("nope")
    customer.says("A1003")
    customer.taps("main-menu", "Main menu")
    customer.taps("billing", "Billing question")
    customer.says("refund please")
    customer.taps("done", "No, thanks")

    interactive = [m for m in graph.sent_messages() if m["type"] == "interactive"]
    assert len(interactive) >= 6
    assert all(offers_a_person(m) for m in interactive)
    assert customer.conversation.escalation_ledger.human_offered_at is not None
