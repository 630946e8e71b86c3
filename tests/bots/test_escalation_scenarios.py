"""Every way a customer reaches a person, through the real webhook, with what the customer
is told and the context the team receives."""

from __future__ import annotations

import pytest

from bots.models import BotSession, FlowStep, Handoff, StepOption
from conversations.models import Conversation, ConversationEvent
from tests.bots.conftest import texts
from tests.factories import ContactFactory

pytestmark = pytest.mark.django_db(transaction=True)

HANDOFF_TEXT = "Thanks, I'm passing you to a member of our team."


def only_handoff(conversation: Conversation) -> Handoff:
    handoffs = list(conversation.handoffs.all())
    assert len(handoffs) == 1
    return handoffs[0]


def test_tapping_talk_to_a_person_hands_off_with_context(customer, demo_bot, agent_online, team):
    customer.says("hi")
    customer.taps("order-status", "Order status")
    customer.says("A1002")

    replies = customer.taps("handoff:human", "Talk to a person")

    assert texts(replies)[0].startswith(HANDOFF_TEXT)
    conversation = customer.conversation
    assert conversation.status == Conversation.Status.ASSIGNED
    assert conversation.assignee == agent_online
    handoff = only_handoff(conversation)
    context = handoff.as_context()
    assert context["reason"] == Handoff.Reason.CUSTOMER_REQUEST
    assert context["policy"] == "Default escalation policy"
    assert context["collected_values"]["order_number"] == "A1002"
    assert context["collected_values"]["order_status"] == "being packed"
    assert context["last_intent"] == "order_number"
    assert context["suggested_team"]["slug"] == team.slug
    assert context["transcript"][0] == "Customer: hi"
    assert "Customer: A1002" in context["transcript"]
    assert any(line.startswith("Bot: Order A1002 is being packed.") for line in context["transcript"])
    assert context["transcript"][-1] == "Customer: Talk to a person"
    ledger = conversation.escalation_ledger
    assert ledger.human_offered_at <= ledger.human_requested_at <= ledger.handed_off_at
    assert ConversationEvent.objects.filter(conversation=conversation, kind="handoff").exists()
    assert ConversationEvent.objects.filter(
        conversation=conversation, kind="queued", from_status="bot", to_status="queued"
    ).exists()


@pytest.mark.parametrize(
    ("text", "told"),
    [
        ("agent", HANDOFF_TEXT),
        ("I want to talk to a HUMAN", HANDOFF_TEXT),
        # The customer's language is detected from their first messages: the answer follows it.
        ("quiero hablar con un humano", "Gracias, te paso con una persona de nuestro equipo."),
        ("Mensch bitte!", "Danke, ich verbinde Sie mit einem Mitglied unseres Teams."),
        ("un conseiller svp", "Merci, je vous transfère à un membre de notre équipe."),
        ("operatore per favore", HANDOFF_TEXT),  # Italian: no shipped texts, the number's default
        ("falar com atendente", "Obrigado, vou passar você para alguém da nossa equipe."),
    ],
)
def test_escalation_keywords_hand_off_in_several_languages(customer, demo_bot, agent_online, text, told):
    customer.says("hi")

    replies = customer.says(text)

    assert texts(replies)[0].startswith(told)
    handoff = only_handoff(customer.conversation)
    assert handoff.reason_code == Handoff.Reason.KEYWORD
    assert customer.conversation.escalation_ledger.human_requested_at is not None


def test_keyword_works_even_while_the_bot_waits_for_an_answer(customer, demo_bot, agent_online):
    customer.says("hi")
    customer.taps("order-status", "Order status")

    customer.says("representative")

    assert only_handoff(customer.conversation).reason_code == Handoff.Reason.KEYWORD


def test_two_answers_not_understood_hand_off(customer, demo_bot, agent_online):
    customer.says("hi")

    first = customer.says("blue elephants")
    assert texts(first) == ["Sorry, I didn't understand that.", demo_bot.start_step.text]
    assert customer.conversation.status == Conversation.Status.BOT

    second = customer.says("purple giraffes")

    assert texts(second)[0].startswith(HANDOFF_TEXT)
    handoff = only_handoff(customer.conversation)
    assert handoff.reason_code == Handoff.Reason.NOT_UNDERSTOOD
    assert "main" in handoff.detail
    assert customer.conversation.escalation_ledger.human_requested_at is None


def test_an_understood_answer_resets_the_not_understood_count(customer, demo_bot):
    customer.says("hi")
    customer.says("blue elephants")
    customer.taps("order-status", "Order status")

    customer.says("not a number")

    assert customer.conversation.status == Conversation.Status.BOT
    assert BotSession.objects.get(conversation=customer.conversation).misunderstood_count == 1


def test_vip_contact_goes_to_a_person_at_high_priority(customer, demo_bot, number, agent_online):
    ContactFactory(number=number, wa_id=customer.wa_id, attributes={"vip": True})

    customer.says("hello there")

    handoff = only_handoff(customer.conversation)
    assert handoff.reason_code == Handoff.Reason.VIP
    assert handoff.priority == 50
    assert customer.conversation.priority == 50


def test_negative_sentiment_hands_off(customer, demo_bot, agent_online):
    customer.says("hi")

    customer.says("This is absolutely useless, I'm so frustrated")

    handoff = only_handoff(customer.conversation)
    assert handoff.reason_code == Handoff.Reason.NEGATIVE_SENTIMENT
    assert handoff.priority > 0


def test_whatsapp_bot_quality_test_message_hands_off_at_top_priority(customer, demo_bot, agent_online):
    replies = customer.says(
        "Hello, this is a message from WhatsApp. We are reviewing the experience of your automated "
        "assistant. How can I reach a human?"
    )

    assert texts(replies)[0].startswith(HANDOFF_TEXT)
    handoff = only_handoff(customer.conversation)
    assert handoff.reason_code == Handoff.Reason.PLATFORM_TEST
    assert handoff.priority == 100
    assert customer.conversation.priority == 100
    assert customer.conversation.escalation_ledger.human_requested_at is not None


def test_a_flow_going_round_in_circles_hands_off(customer, demo_bot, agent_online):
    main = demo_bot.start_step
    StepOption.objects.create(step=main, title="Show again", payload="again", next_step=main, position=3)
    customer.says("hi")

    customer.picks("again", "Show again")
    assert customer.conversation.status == Conversation.Status.BOT
    customer.picks("again", "Show again")
    customer.picks("again", "Show again")

    assert only_handoff(customer.conversation).reason_code == Handoff.Reason.LOOP


def test_flow_step_hands_off_to_its_team(customer, demo_bot, other_team):
    person = FlowStep.objects.create(
        bot=demo_bot, key="sales", kind=FlowStep.Kind.HANDOFF, handoff_team=other_team, handoff_reason="sales lead"
    )
    more = demo_bot.steps.get(key="anything-else")
    StepOption.objects.create(step=more, title="Buy more", payload="buy", next_step=person, position=3)
    customer.says("hi")
    customer.taps("order-status")
    replies = customer.says("A1001")
    assert "handoff:human" not in str(replies[-1])  # "Buy more" already leads to a person

    customer.picks("buy", "Buy more")

    handoff = only_handoff(customer.conversation)
    assert handoff.reason_code == Handoff.Reason.FLOW
    assert handoff.detail == "sales lead"
    assert customer.conversation.team == other_team
    assert customer.conversation.escalation_ledger.human_requested_at is not None


def test_a_vip_handed_back_to_the_bot_is_served_by_the_bot(customer, demo_bot, number, agent_online):
    from agents.services.desk_actions import conversation_handback

    ContactFactory(number=number, wa_id=customer.wa_id, attributes={"vip": "true"})
    customer.says("hello there")
    conversation_handback(conversation=customer.conversation, actor=agent_online)

    replies = customer.says("hi again")

    assert customer.conversation.status == Conversation.Status.BOT
    assert texts(replies) == [demo_bot.start_step.text]
    assert customer.conversation.handoffs.count() == 1
