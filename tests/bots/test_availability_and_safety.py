"""Fallback when nobody can answer, silence while a person owns the conversation, hand
back and reopen, and the messages a bot never answers."""

from __future__ import annotations

from datetime import datetime, time
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.utils import timezone

from agents.models import BusinessHours, Holiday
from agents.services.desk_actions import conversation_handback, conversation_resolve
from bots.models import BotSession, EscalationPolicy, Handoff
from conversations.models import Conversation, Message
from tests.bots.conftest import menus, option_ids, texts
from tests.support import webhooks

pytestmark = pytest.mark.django_db(transaction=True)

FALLBACK_START = "Our team isn't available right now. Your conversation stays in the queue"


def assert_fallback(reply_text: str) -> None:
    assert reply_text.startswith(FALLBACK_START)
    assert "Phone: +442079460000" in reply_text
    assert "Email: support@example.com" in reply_text
    assert "Web form: https://example.com/contact-us" in reply_text


def test_on_a_holiday_the_customer_gets_the_fallback_and_stays_queued(customer, demo_bot, agent_online, team):
    Holiday.objects.create(team=team, date=timezone.now().astimezone(ZoneInfo(team.time_zone or "UTC")).date())
    customer.says("hi")

    replies = customer.says("agent")

    assert_fallback(texts(replies)[0])
    conversation = customer.conversation
    assert conversation.events.filter(kind="queued", to_status=Conversation.Status.QUEUED).exists()
    handoff = conversation.handoffs.get()
    assert handoff.agents_available is False
    assert handoff.fallback_sent is True


def test_outside_business_hours_the_customer_gets_the_fallback(customer, demo_bot, agent_online, team):
    team.time_zone = "UTC"
    team.save()
    for weekday in range(5):
        BusinessHours.objects.create(team=team, weekday=weekday, opens=time(9), closes=time(17))
    saturday_noon = datetime(2026, 3, 7, 12, 0, tzinfo=ZoneInfo("UTC"))
    with time_machine.travel(saturday_noon, tick=True):
        customer.says("hi")
        replies = customer.says("human")

    assert_fallback(texts(replies)[0])
    assert customer.conversation.handoffs.get().agents_available is False


def test_within_business_hours_with_an_agent_online_no_fallback_is_sent(customer, demo_bot, agent_online, team):
    team.time_zone = "UTC"
    team.save()
    for weekday in range(5):
        BusinessHours.objects.create(team=team, weekday=weekday, opens=time(9), closes=time(17))
    wednesday_ten = datetime(2026, 3, 4, 10, 0, tzinfo=ZoneInfo("UTC"))
    with time_machine.travel(wednesday_ten, tick=True):
        customer.says("hi")
        replies = customer.says("human")

    assert texts(replies)[0].startswith("Thanks, I'm passing you to a member of our team.")
    assert customer.conversation.handoffs.get().fallback_sent is False


def test_with_nobody_online_the_customer_gets_the_fallback(customer, demo_bot, agent):
    customer.says("hi")

    replies = customer.taps("handoff:human", "Talk to a person")

    assert_fallback(texts(replies)[0])
    assert customer.conversation.status == Conversation.Status.QUEUED


def test_the_bot_is_silent_while_a_person_owns_the_conversation(customer, demo_bot, agent_online):
    customer.says("hi")
    customer.says("agent")
    assert customer.conversation.status == Conversation.Status.ASSIGNED

    replies = customer.says("hello? anyone?")
    replies += customer.says("blue elephants")
    replies += customer.taps("order-status", "Order status")

    assert replies == []
    assert customer.conversation.handoffs.count() == 1
    assert customer.conversation.messages.filter(direction=Message.Direction.INBOUND).count() == 5


def test_the_bot_is_silent_while_the_conversation_waits_in_the_queue(customer, demo_bot, agent):
    customer.says("agent")
    assert customer.conversation.status == Conversation.Status.QUEUED

    assert customer.says("hi") == []


def test_handed_back_conversation_starts_with_the_bot_again(customer, demo_bot, agent_online):
    customer.says("hi")
    customer.taps("order-status", "Order status")
    customer.says("agent")
    conversation = customer.conversation
    conversation_handback(conversation=conversation, actor=agent_online)

    replies = customer.says("thanks, one more thing")

    assert option_ids(menus(replies)[0]) == ["order-status", "billing", "handoff:human"]
    session = BotSession.objects.get(conversation=conversation)
    assert session.current_step.key == "main"
    assert session.values == {}
    assert customer.conversation.status == Conversation.Status.BOT


def test_reopened_conversation_starts_with_the_bot_again(customer, demo_bot, agent_online):
    customer.says("hi")
    customer.says("agent")
    conversation_resolve(conversation=customer.conversation, actor=agent_online)
    customer.new_replies()  # what resolving sent (a satisfaction survey)

    replies = customer.says("hello again")

    assert customer.conversation.status == Conversation.Status.BOT
    assert option_ids(menus(replies)[0]) == ["order-status", "billing", "handoff:human"]
    customer.says("agent")
    assert customer.conversation.handoffs.count() == 2


def test_a_flood_is_stored_but_bot_replies_are_rate_limited(customer, demo_bot):
    EscalationPolicy.objects.update(bot_replies_per_minute=3)
    customer.says("hi")  # answered: the menu
    for _ in range(7):
        customer.says("where is my invoice")  # the first two answered: the FAQ answer and the menu

    conversation = customer.conversation
    assert conversation.messages.filter(direction=Message.Direction.INBOUND).count() == 8
    assert conversation.messages.filter(sender_kind=Message.SenderKind.BOT).count() == 1 + 2 * 2
    assert conversation.status == Conversation.Status.BOT


def test_escalation_still_works_during_a_flood(customer, demo_bot, agent):
    EscalationPolicy.objects.update(bot_replies_per_minute=1)
    customer.says("hi")
    customer.says("where is my invoice")

    customer.says("agent")

    assert customer.conversation.handoffs.get().reason_code == Handoff.Reason.KEYWORD


@pytest.mark.parametrize(
    "message",
    [
        {"type": "reaction", "reaction": {"message_id": "wamid.X", "emoji": "👍"}},
        {"type": "system", "system": {"body": "changed number", "type": "user_changed_number", "new_wa_id": "15559990000"}},
        {"type": "unsupported", "errors": [{"code": 131051, "title": "Message type unknown"}]},
        {"type": "order", "order": {"catalog_id": "1", "product_items": []}},
    ],
    ids=["reaction", "system", "unsupported", "order"],
)
def test_the_bot_never_answers_reactions_system_unsupported_or_orders(customer, demo_bot, message):
    full = {"from": customer.wa_id, "id": webhooks.wamid(), "timestamp": str(int(timezone.now().timestamp())), **message}

    assert customer.sends(full) == []
    assert not Handoff.objects.exists()


def test_the_bot_ignores_its_own_messages(customer, demo_bot):
    from bots.engine import turn

    customer.says("hi")
    own = customer.conversation.messages.filter(sender_kind=Message.SenderKind.BOT).first()
    before = Message.objects.count()

    turn(message=own)

    assert Message.objects.count() == before


def test_a_message_is_answered_once_even_if_its_turn_runs_again(customer, demo_bot):
    from bots.tasks import bot_turn

    customer.says("hi")
    inbound = customer.conversation.messages.get(direction=Message.Direction.INBOUND)

    bot_turn(inbound.pk)

    assert customer.new_replies() == []


def test_without_any_bot_the_customer_goes_straight_to_people(customer, policy, agent_online):
    replies = customer.says("hello, is anyone there?")

    assert texts(replies)[0].startswith("Thanks, I'm passing you to a member of our team.")
    assert customer.conversation.handoffs.get().reason_code == Handoff.Reason.NO_BOT
    assert customer.conversation.status == Conversation.Status.ASSIGNED
