"""Messages that are not the customer's are kept for the record and never answered: the
business's own number as sender, echoes of messages sent from the WhatsApp Business app
(`smb_message_echoes`), and WhatsApp's `system` notices. No bot turn, no keyword or
rating handling, no 24-hour window, so no reply loop can start."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone

from bots.models import Handoff
from bots.sweeps import unanswered_messages_sweep
from conversations.models import Conversation, Message
from tests.bots.conftest import texts
from tests.support import webhooks

pytestmark = pytest.mark.django_db(transaction=True)

BUSINESS = webhooks.DISPLAY_NUMBER  # the test number's own display phone number


def _echoes(*items: dict) -> dict:
    value = {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": BUSINESS, "phone_number_id": webhooks.PHONE_NUMBER_ID},
        "message_echoes": list(items),
    }
    return webhooks.envelope(value, field="smb_message_echoes")


def _echo(text: str, *, to: str, msg_id: str | None = None) -> dict:
    return {
        "from": BUSINESS,
        "to": to,
        "id": msg_id or webhooks.wamid(),
        "timestamp": str(int(time.time())),
        "type": "text",
        "text": {"body": text},
    }


def _from_business(client, message: dict) -> None:
    payload = webhooks.envelope(webhooks.messages_value([message], wa_id=BUSINESS, name="Our Shop"))
    assert webhooks.post(client, payload).status_code == 200


@pytest.mark.parametrize("text", ["hi", "agent", "STOP"])
def test_a_message_from_the_business_own_number_is_stored_and_gets_nothing_automatic(
    client, graph, demo_bot, agent_online, text
):
    _from_business(client, webhooks.text_message(text, wa_id=BUSINESS))

    stored = Message.objects.get(direction=Message.Direction.INBOUND)
    assert stored.text == text
    assert stored.sender_kind == Message.SenderKind.SYSTEM
    assert graph.sent_messages() == []
    assert not Message.objects.filter(direction=Message.Direction.OUTBOUND).exists()
    assert not Handoff.objects.exists()
    conversation = stored.conversation
    assert conversation.last_customer_message_at is None
    assert not conversation.window_open()
    assert not conversation.contact.consent_records.exists()  # "STOP" from ourselves opts no one out


def test_a_message_flagged_as_an_echo_is_not_answered_even_from_another_sender(client, graph, demo_bot):
    _from_business(client, webhooks.text_message("hi", wa_id="15550007777", is_echo=True))

    assert Message.objects.get(direction=Message.Direction.INBOUND).sender_kind == Message.SenderKind.SYSTEM
    assert graph.sent_messages() == []


def test_the_bot_sweep_never_picks_up_the_business_own_messages(client, graph, demo_bot):
    _from_business(client, webhooks.text_message("hi", wa_id=BUSINESS))

    with time_machine.travel(timezone.now() + timedelta(minutes=1)):
        assert unanswered_messages_sweep() == 0
    assert graph.sent_messages() == []


def test_an_echo_from_the_business_app_is_recorded_in_the_customers_conversation_and_not_answered(
    client, graph, customer, demo_bot
):
    assert customer.says("hi")  # the bot greets the customer
    conversation = customer.conversation
    window = conversation.window_expires_at
    replies_before = len(graph.sent_messages())
    echo = _echo("I'll call you in five minutes", to=customer.wa_id)

    assert webhooks.post(client, _echoes(echo)).status_code == 200
    assert webhooks.post(client, _echoes(echo)).status_code == 200  # redelivered

    stored = Message.objects.get(provider_message_id=echo["id"])
    assert stored.conversation == conversation
    assert stored.direction == Message.Direction.OUTBOUND
    assert stored.status == Message.Status.SENT
    assert stored.text == "I'll call you in five minutes"
    assert len(graph.sent_messages()) == replies_before
    conversation.refresh_from_db()
    assert conversation.window_expires_at == window
    assert conversation.last_message_preview == "I'll call you in five minutes"

    # Its statuses apply like any outbound message's.
    assert webhooks.post(client, webhooks.status_payload(echo["id"], "read", recipient=customer.wa_id)).status_code == 200
    stored.refresh_from_db()
    assert stored.status == Message.Status.READ


def test_an_echo_to_a_new_customer_starts_their_conversation_and_their_reply_is_answered(client, graph, customer, demo_bot):
    assert webhooks.post(client, _echoes(_echo("Your table is ready", to=customer.wa_id))).status_code == 200

    conversation = customer.conversation
    assert conversation.messages.get().direction == Message.Direction.OUTBOUND
    assert conversation.last_customer_message_at is None
    assert graph.sent_messages() == []

    replies = customer.says("hi")

    assert texts(replies)  # the customer's own message is answered as usual


def test_an_echo_in_the_messages_field_is_recorded_as_sent_to_its_customer(client, graph, customer, demo_bot):
    message = _echo("Sent from the app", to=customer.wa_id)

    _from_business(client, message)

    stored = Message.objects.get(provider_message_id=message["id"])
    assert stored.direction == Message.Direction.OUTBOUND
    assert stored.conversation.contact.wa_id == customer.wa_id
    assert graph.sent_messages() == []


def test_an_echo_does_not_reopen_a_resolved_conversation(client, graph, customer, demo_bot):
    customer.says("hi")
    conversation = customer.conversation
    Conversation.objects.filter(pk=conversation.pk).update(status=Conversation.Status.RESOLVED, resolved_at=timezone.now())

    assert webhooks.post(client, _echoes(_echo("Thanks for your visit", to=customer.wa_id))).status_code == 200

    conversation.refresh_from_db()
    assert conversation.status == Conversation.Status.RESOLVED
    assert conversation.messages.filter(text="Thanks for your visit").exists()


def test_a_system_notice_is_stored_but_does_not_open_the_window(client, graph, customer, demo_bot):
    notice = {
        "from": customer.wa_id,
        "id": webhooks.wamid(),
        "timestamp": str(int(time.time())),
        "type": "system",
        "system": {"body": "Ana changed their number", "type": "user_changed_number", "new_wa_id": "15559990000"},
    }

    assert customer.sends(notice) == []

    stored = Message.objects.get(provider_message_id=notice["id"])
    assert stored.sender_kind == Message.SenderKind.SYSTEM
    conversation = stored.conversation
    assert conversation.last_customer_message_at is None
    assert not conversation.window_open()
    assert conversation.contact.wa_id == "15559990000"  # the number change itself is applied
