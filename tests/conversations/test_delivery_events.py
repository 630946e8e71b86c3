"""What the desk hears about a send (events after commit), read receipts and the typing
indicator, against the real local Graph server."""

from __future__ import annotations

import pytest

from config.realtime import conversation_group
from conversations.models import Message
from conversations.services.message_delivery import message_mark_read_remote, typing_indicator_send
from conversations.services.message_send import SendRefused, message_send_text
from tests.factories import ConversationFactory, MessageFactory
from tests.support.intake import DeskListener

pytestmark = pytest.mark.django_db


@pytest.fixture
def conversation(number):
    return ConversationFactory(contact__number=number)


@pytest.fixture
def listener(conversation):
    """A channel in the conversation's group, as a desk socket subscribed to it would be."""
    layer_listener = DeskListener([conversation_group(conversation.pk)])
    yield layer_listener.events
    layer_listener.close()


def test_send_publishes_created_then_updated_with_the_sent_status(
    conversation, graph, listener, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        message = message_send_text(conversation=conversation, text="On its way")

    events = listener()
    assert [(e["type"], e["message"]["id"], e["message"]["status"]) for e in events] == [
        ("message.created", message.pk, "pending"),
        ("message.updated", message.pk, "sent"),
    ]


def test_failed_send_publishes_the_failure_with_its_code(conversation, graph, listener, django_capture_on_commit_callbacks):
    graph.error(131026, "Message undeliverable")

    with django_capture_on_commit_callbacks(execute=True):
        message_send_text(conversation=conversation, text="Hello?")

    updated = [e for e in listener() if e["type"] == "message.updated"]
    assert len(updated) == 1
    assert updated[0]["message"]["status"] == "failed"
    assert updated[0]["message"]["error_code"] == "131026"


def test_refused_send_publishes_nothing(number, listener, conversation):
    conversation.last_customer_message_at = None
    conversation.save()

    with pytest.raises(SendRefused, match="window_closed"):
        message_send_text(conversation=conversation, text="Hello")

    assert listener() == []


def test_mark_read_sends_a_read_receipt_for_the_inbound_message(
    conversation, graph, number, django_capture_on_commit_callbacks
):
    inbound = MessageFactory(conversation=conversation, provider_message_id="wamid.INBOUND.1")

    with django_capture_on_commit_callbacks(execute=True):
        message_mark_read_remote(message=inbound)

    [request] = graph.requests
    assert request.path == f"/v23.0/{number.phone_number_id}/messages"
    assert request.body == {"messaging_product": "whatsapp", "status": "read", "message_id": "wamid.INBOUND.1"}


def test_outbound_messages_are_never_marked_read(conversation, graph, django_capture_on_commit_callbacks):
    outbound = MessageFactory(
        conversation=conversation,
        direction=Message.Direction.OUTBOUND,
        sender_kind=Message.SenderKind.AGENT,
        status=Message.Status.SENT,
    )

    with django_capture_on_commit_callbacks(execute=True):
        message_mark_read_remote(message=outbound)

    assert graph.requests == []


def test_typing_indicator_is_sent_once_per_twenty_seconds(conversation, graph, django_capture_on_commit_callbacks):
    MessageFactory(conversation=conversation, provider_message_id="wamid.OLDER")
    MessageFactory(conversation=conversation, provider_message_id="wamid.LATEST")

    with django_capture_on_commit_callbacks(execute=True):
        typing_indicator_send(conversation=conversation)
        typing_indicator_send(conversation=conversation)

    [request] = graph.requests
    assert request.body == {
        "messaging_product": "whatsapp",
        "status": "read",
        "message_id": "wamid.LATEST",
        "typing_indicator": {"type": "text"},
    }


def test_typing_indicator_is_not_sent_after_the_window_closed(number, graph, django_capture_on_commit_callbacks):
    conversation = ConversationFactory(contact__number=number, last_customer_message_at=None)
    MessageFactory(conversation=conversation, provider_message_id="wamid.OLD")

    with django_capture_on_commit_callbacks(execute=True):
        typing_indicator_send(conversation=conversation)

    assert graph.requests == []


def test_failed_read_receipt_is_logged_not_raised(conversation, graph, django_capture_on_commit_callbacks, caplog):
    inbound = MessageFactory(conversation=conversation, provider_message_id="wamid.INBOUND.2")
    graph.error(100, "Invalid parameter")

    with django_capture_on_commit_callbacks(execute=True):
        message_mark_read_remote(message=inbound)

    assert len(graph.requests) == 1
    assert any("read receipt" in r.getMessage() for r in caplog.records)
