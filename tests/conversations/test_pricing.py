"""Per-message pricing from status webhooks: stored on the message as WhatsApp sent it,
shown to the desk and the API, and an object of an unknown shape kept without harm."""

from __future__ import annotations

import time

import pytest

from conversations.events import message_data
from conversations.models import Message, MessageStatusEvent
from conversations.serializers import MessageSerializer
from conversations.services.message_status import statuses_apply_pending
from tests.factories import ContactFactory, ConversationFactory, MessageFactory
from tests.support import intake as intake_support
from tests.support import webhooks
from tests.support.intake import process

broker_at = intake_support.broker_at
broker_queue = intake_support.broker_queue
fresh_secrets = intake_support.fresh_secrets

pytestmark = pytest.mark.django_db

MARKETING_PMP = {"billable": True, "pricing_model": "PMP", "category": "marketing", "type": "regular"}
SERVICE_FREE = {"billable": False, "pricing_model": "PMP", "category": "service", "type": "free_customer_service"}


@pytest.fixture
def deliver(client, django_capture_on_commit_callbacks):
    def deliver(*items):
        value = webhooks.statuses_value(list(items))
        return process(client, webhooks.envelope(value), django_capture_on_commit_callbacks)

    return deliver


def outbound(number, wamid: str, wa_id: str = "5511987654321") -> Message:
    conversation = ConversationFactory(contact=ContactFactory(number=number, wa_id=wa_id))
    return MessageFactory(
        conversation=conversation,
        direction=Message.Direction.OUTBOUND,
        sender_kind=Message.SenderKind.SYSTEM,
        status=Message.Status.PENDING,
        provider_message_id=wamid,
    )


def priced(wamid: str, status: str, pricing) -> dict:
    item = webhooks.status_item(wamid, status, recipient="5511987654321", ts=int(time.time()))
    item["pricing"] = pricing
    return item


def test_a_sent_status_with_per_message_pricing_is_stored_on_the_message(deliver, number):
    message = outbound(number, "wamid.PRICE1")
    deliver(priced("wamid.PRICE1", "sent", MARKETING_PMP))
    message.refresh_from_db()
    assert message.status == "sent"
    assert (message.pricing_category, message.pricing_type, message.pricing_model) == ("marketing", "regular", "PMP")
    assert message.pricing == MARKETING_PMP
    assert message.charged is True


def test_free_customer_service_pricing_is_not_charged_and_the_desk_says_so(deliver, number):
    message = outbound(number, "wamid.PRICE2")
    deliver(priced("wamid.PRICE2", "delivered", SERVICE_FREE))
    message.refresh_from_db()
    assert message.charged is False
    pricing = message_data(message)["pricing"]
    assert pricing["category"] == "service"
    assert pricing["type"] == "free_customer_service"
    assert "customer-service window" in pricing["summary"]
    assert MessageSerializer(message).data["pricing"]["charged"] is False


def test_a_status_arriving_before_its_message_brings_the_pricing_once_applied(deliver, number):
    deliver(priced("wamid.PRICE3", "sent", MARKETING_PMP))
    assert MessageStatusEvent.objects.get(provider_message_id="wamid.PRICE3").applied_at is None
    message = outbound(number, "wamid.PRICE3")
    statuses_apply_pending(message=message)
    message.refresh_from_db()
    assert message.pricing_category == "marketing"
    assert message.status == "sent"


@pytest.mark.parametrize(
    "odd",
    ["marketing", ["marketing", "regular"], {"pricing_model": "XYZ", "category": {"name": "marketing"}, "type": 7}],
)
def test_pricing_of_an_unknown_shape_is_kept_raw_and_the_status_still_applies(deliver, number, odd):
    message = outbound(number, "wamid.PRICE4")
    event = deliver(priced("wamid.PRICE4", "delivered", odd))
    assert event.state == "processed"
    message.refresh_from_db()
    assert message.status == "delivered"
    assert message.pricing == (odd if isinstance(odd, dict) else {"raw": odd})
    assert message.pricing_category == ""
    assert message.charged is None
    assert message_data(message)["pricing"]["category"] == ""


def test_a_status_without_pricing_leaves_the_message_unpriced(deliver, number):
    message = outbound(number, "wamid.PRICE5")
    deliver(webhooks.status_item("wamid.PRICE5", "sent", recipient="5511987654321"))
    message.refresh_from_db()
    assert message.pricing == {}
    assert message_data(message)["pricing"] is None
