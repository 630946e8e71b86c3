"""Messages whose bot turn never ran (the broker was down) are found and answered."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from bots.sweeps import unanswered_messages_sweep
from bots.tasks import sweep_unanswered_messages
from conversations.models import Message
from tests.factories import ConversationFactory, MessageFactory

pytestmark = pytest.mark.django_db(transaction=True)


def stored_without_a_turn(number, wa_id="15550009999", text="hi", age=timedelta(minutes=1)):
    conversation = ConversationFactory(contact__number=number, contact__wa_id=wa_id)
    return MessageFactory(conversation=conversation, text=text, payload={"type": "text", "text": {"body": text}},
                          created_at=timezone.now() - age)


def test_an_unanswered_message_gets_its_bot_turn(demo_bot, number, graph):
    stored_without_a_turn(number)

    assert sweep_unanswered_messages() == 1

    sent = graph.sent_messages()
    assert len(sent) == 1
    assert sent[0]["interactive"]["body"]["text"] == demo_bot.start_step.text


def test_answered_fresh_and_old_messages_are_left_alone(demo_bot, number, graph):
    stored_without_a_turn(number, wa_id="15550000001")
    unanswered_messages_sweep()
    stored_without_a_turn(number, wa_id="15550000002", age=timedelta(seconds=2))
    stored_without_a_turn(number, wa_id="15550000003", age=timedelta(hours=2))

    assert unanswered_messages_sweep() == 0
    assert len(graph.sent_messages()) == 1


def test_only_the_newest_message_of_a_conversation_is_answered(demo_bot, number, graph):
    first = stored_without_a_turn(number, text="hello")
    MessageFactory(conversation=first.conversation, text="anyone?", payload={"type": "text", "text": {"body": "anyone?"}},
                   created_at=timezone.now() - timedelta(seconds=30))

    assert unanswered_messages_sweep() == 1
    assert Message.objects.filter(sender_kind="bot").count() == 1
