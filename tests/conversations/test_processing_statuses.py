"""Delivery statuses: stored once, applied forward only, failures terminal with their
error, and statuses that arrive before their message kept until it exists."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest

from conversations.models import Message, MessageStatusEvent
from conversations.services.message_send import message_send_text
from conversations.services.message_status import (
    status_record,
    statuses_apply_pending,
    statuses_apply_waiting,
)
from tests.factories import ContactFactory, ConversationFactory, MessageFactory
from tests.support import intake as intake_support
from tests.support import webhooks
from tests.support.intake import DeskListener, process

# Shared fixtures of the intake tests.
broker_at = intake_support.broker_at
broker_queue = intake_support.broker_queue
fresh_secrets = intake_support.fresh_secrets

pytestmark = pytest.mark.django_db


@pytest.fixture
def deliver(client, django_capture_on_commit_callbacks):
    def deliver(*items):
        value = webhooks.statuses_value(list(items))
        return process(client, webhooks.envelope(value), django_capture_on_commit_callbacks)

    return deliver


@pytest.fixture
def outbound(number):
    conversation = ConversationFactory(contact=ContactFactory(number=number, wa_id="15551234567"))
    return MessageFactory(
        conversation=conversation,
        direction=Message.Direction.OUTBOUND,
        sender_kind=Message.SenderKind.AGENT,
        status=Message.Status.SENT,
        provider_message_id="wamid.OUT0001",
        sent_at=None,
    )


def at(seconds_ago: int) -> int:
    return int(time.time()) - seconds_ago


def test_statuses_in_order_move_the_message_forward(deliver, outbound):
    deliver(webhooks.status_item("wamid.OUT0001", "sent", ts=at(30)))
    deliver(webhooks.status_item("wamid.OUT0001", "delivered", ts=at(20)))
    deliver(webhooks.status_item("wamid.OUT0001", "read", ts=at(10)))

    outbound.refresh_from_db()
    assert outbound.status == Message.Status.READ
    assert outbound.sent_at and outbound.delivered_at and outbound.read_at
    assert outbound.sent_at < outbound.delivered_at < outbound.read_at


def test_statuses_out_of_order_never_move_back(deliver, outbound):
    deliver(webhooks.status_item("wamid.OUT0001", "read", ts=at(10)))
    deliver(webhooks.status_item("wamid.OUT0001", "delivered", ts=at(20)))
    deliver(webhooks.status_item("wamid.OUT0001", "sent", ts=at(30)))

    outbound.refresh_from_db()
    assert outbound.status == Message.Status.READ
    assert outbound.delivered_at is not None
    assert MessageStatusEvent.objects.filter(applied_at__isnull=False).count() == 3


def test_delivered_may_be_skipped_and_played_counts_as_read(deliver, outbound):
    deliver(webhooks.status_item("wamid.OUT0001", "played"))

    outbound.refresh_from_db()
    assert outbound.status == Message.Status.READ
    assert outbound.delivered_at is None


def test_failed_is_terminal_and_keeps_the_providers_error(deliver, outbound):
    errors = [
        {
            "code": 131026,
            "title": "Message undeliverable",
            "message": "Message undeliverable",
            "error_data": {"details": "Unable to deliver message. Reasons can include: the recipient is not on WhatsApp"},
        }
    ]
    deliver(webhooks.status_item("wamid.OUT0001", "failed", errors=errors))
    deliver(webhooks.status_item("wamid.OUT0001", "read"))

    outbound.refresh_from_db()
    assert outbound.status == Message.Status.FAILED
    assert outbound.error_code == "131026"
    assert "not on WhatsApp" in outbound.error_text
    assert outbound.failed_at is not None


def test_duplicate_status_is_stored_once_and_announced_once(deliver, outbound):
    listener = DeskListener([f"conversation.{outbound.conversation_id}"])
    item = webhooks.status_item("wamid.OUT0001", "delivered")

    deliver(item)
    deliver(item)

    assert MessageStatusEvent.objects.filter(provider_message_id="wamid.OUT0001").count() == 1
    updates = [e for e in listener.events() if e["type"] == "message.updated"]
    assert len(updates) == 1
    assert updates[0]["message"]["id"] == outbound.pk
    assert updates[0]["message"]["status"] == "delivered"
    listener.close()


def test_status_before_its_message_waits_and_is_applied_once_the_wamid_is_stored(deliver, number):
    deliver(webhooks.status_item("wamid.LATE0001", "delivered", ts=at(5)))
    waiting = MessageStatusEvent.objects.get()
    assert waiting.applied_at is None

    message = MessageFactory(
        conversation=ConversationFactory(contact=ContactFactory(number=number)),
        direction=Message.Direction.OUTBOUND,
        sender_kind=Message.SenderKind.BOT,
        status=Message.Status.SENT,
        provider_message_id="wamid.LATE0001",
    )
    statuses_apply_pending(message=message)

    assert message.status == Message.Status.DELIVERED
    message.refresh_from_db()
    assert message.status == Message.Status.DELIVERED
    waiting.refresh_from_db()
    assert waiting.applied_at is not None


def test_delivery_applies_a_status_that_arrived_before_the_send_response(
    deliver, number, graph, django_capture_on_commit_callbacks
):
    conversation = ConversationFactory(contact=ContactFactory(number=number, wa_id="15551234567"))
    deliver(webhooks.status_item("wamid.RACED0001", "delivered"))
    graph.script(
        200,
        {
            "messaging_product": "whatsapp",
            "contacts": [{"input": "15551234567", "wa_id": "15551234567"}],
            "messages": [{"id": "wamid.RACED0001"}],
        },
    )

    with django_capture_on_commit_callbacks(execute=True):
        message = message_send_text(conversation=conversation, text="your parcel is on its way")

    message.refresh_from_db()
    assert message.provider_message_id == "wamid.RACED0001"
    assert message.status == Message.Status.DELIVERED


def test_the_sweep_applies_waiting_statuses_whose_message_appeared(deliver, number):
    deliver(webhooks.status_item("wamid.SWEPT0001", "read"))
    MessageStatusEvent.objects.update(received_at=MessageStatusEvent.objects.get().received_at - timedelta(seconds=60))
    message = MessageFactory(
        conversation=ConversationFactory(contact=ContactFactory(number=number)),
        direction=Message.Direction.OUTBOUND,
        sender_kind=Message.SenderKind.AGENT,
        status=Message.Status.SENT,
        provider_message_id="wamid.SWEPT0001",
    )

    assert statuses_apply_waiting(older_than_seconds=30) == 1

    message.refresh_from_db()
    assert message.status == Message.Status.READ


def test_status_for_an_inbound_message_changes_nothing(number, django_capture_on_commit_callbacks):
    inbound = MessageFactory(conversation__contact__number=number, provider_message_id="wamid.IN0001")

    with django_capture_on_commit_callbacks(execute=True):
        status_record(number=number, item=webhooks.status_item("wamid.IN0001", "read"))

    inbound.refresh_from_db()
    assert inbound.status == Message.Status.RECEIVED


def test_status_without_id_is_an_item_error_and_the_rest_apply(deliver, outbound):
    event = deliver({"status": "read", "timestamp": str(at(1))}, webhooks.status_item("wamid.OUT0001", "delivered"))

    assert event.state == "partial"
    assert [e["where"] for e in event.errors] == ["entry[0].changes[0].value.statuses[0]"]
    outbound.refresh_from_db()
    assert outbound.status == Message.Status.DELIVERED
