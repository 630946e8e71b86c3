"""Every inbound message type is stored with its raw object, its type and a readable
summary; only types a bot may answer get a bot turn."""

from __future__ import annotations

import pytest

from conversations.models import Contact, Message
from tests.factories import MessageFactory
from tests.support import intake as intake_support
from tests.support import webhooks
from tests.support.intake import process

# Shared fixtures of the intake tests.
broker_at = intake_support.broker_at
broker_queue = intake_support.broker_queue
fresh_secrets = intake_support.fresh_secrets

pytestmark = pytest.mark.django_db

MEDIA = {"id": "1234567890", "mime_type": "image/jpeg", "sha256": "d2hhdHNhcHA="}

CASES = [
    ("text", {"body": "Where is my order?"}, "text", "Where is my order?"),
    ("image", {**MEDIA, "caption": "my receipt"}, "image", "[image] my receipt"),
    ("image", dict(MEDIA), "image", "[image]"),
    ("video", {**MEDIA, "mime_type": "video/mp4", "caption": "the noise it makes"}, "video", "[video] the noise it makes"),
    ("audio", {**MEDIA, "mime_type": "audio/ogg; codecs=opus", "voice": True}, "audio", "[voice message]"),
    ("audio", {**MEDIA, "mime_type": "audio/mpeg", "voice": False}, "audio", "[audio]"),
    (
        "document",
        {**MEDIA, "mime_type": "application/pdf", "filename": "invoice.pdf", "caption": "March"},
        "document",
        "[document] invoice.pdf: March",
    ),
    ("sticker", {**MEDIA, "mime_type": "image/webp", "animated": True}, "sticker", "[animated sticker]"),
    ("sticker", {**MEDIA, "mime_type": "image/webp", "animated": False}, "sticker", "[sticker]"),
    (
        "location",
        {"latitude": 38.7223, "longitude": -9.1393, "name": "Shop", "address": "1 Main St"},
        "location",
        "[location] Shop, 1 Main St (38.7223, -9.1393)",
    ),
    ("location", {"latitude": 38.7223, "longitude": -9.1393}, "location", "[location] (38.7223, -9.1393)"),
    (
        "contacts",
        [
            {
                "name": {"formatted_name": "Maria Silva", "first_name": "Maria"},
                "phones": [{"phone": "+351 912 345 678", "type": "CELL", "wa_id": "351912345678"}],
                "emails": [{"email": "maria@example.com", "type": "WORK"}],
            }
        ],
        "contacts",
        "[contacts] Maria Silva (+351 912 345 678)",
    ),
    (
        "interactive",
        {"type": "button_reply", "button_reply": {"id": "track", "title": "Track order"}},
        "interactive",
        "Track order",
    ),
    (
        "interactive",
        {"type": "list_reply", "list_reply": {"id": "row-2", "title": "Returns", "description": "Send it back"}},
        "interactive",
        "Returns",
    ),
    (
        "interactive",
        {"type": "nfm_reply", "nfm_reply": {"name": "flow", "body": "Sent", "response_json": '{"flow_token": "t"}'}},
        "interactive",
        "[form reply] Sent",
    ),
    ("button", {"payload": "STOP_PROMOTIONS", "text": "Stop promotions"}, "button", "Stop promotions"),
    ("reaction", {"message_id": "wamid.OUT1", "emoji": "👍"}, "reaction", "[reaction 👍 to message]"),
    ("reaction", {"message_id": "wamid.OUT1"}, "reaction", "[reaction removed]"),
    (
        "order",
        {
            "catalog_id": "CAT1",
            "text": "by Friday please",
            "product_items": [
                {"product_retailer_id": "SKU-1", "quantity": 2, "item_price": 10, "currency": "EUR"},
                {"product_retailer_id": "SKU-2", "quantity": 1, "item_price": 5, "currency": "EUR"},
            ],
        },
        "order",
        "[order] 3 items by Friday please",
    ),
    (
        "system",
        {"body": "Ana changed their phone number", "type": "customer_identity_changed", "identity": "abc"},
        "system",
        "[system] Ana changed their phone number",
    ),
    ("poll", {"question": "Which day?", "options": ["Mon", "Tue"]}, "unsupported", "[unsupported message: poll]"),
]


@pytest.mark.parametrize(("kind", "content", "stored_type", "summary"), CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)])
def test_inbound_type_is_stored_with_raw_object_and_summary(
    client, number, django_capture_on_commit_callbacks, broker_queue, kind, content, stored_type, summary
):
    item = webhooks.inbound_message(kind, content)

    event = process(client, webhooks.messages_payload([item]), django_capture_on_commit_callbacks)
    event.refresh_from_db()

    assert event.state == "processed", event.errors
    message = Message.objects.get()
    assert message.type == stored_type
    assert message.text == summary
    assert message.payload == item
    assert message.provider_message_id == item["id"]
    assert message.direction == Message.Direction.INBOUND
    # A system notice is WhatsApp's, not the customer's.
    assert message.sender_kind == (Message.SenderKind.SYSTEM if kind == "system" else Message.SenderKind.CONTACT)
    assert message.status == Message.Status.RECEIVED
    assert message.conversation.last_message_preview == summary


def test_unsupported_message_keeps_its_errors(client, number, django_capture_on_commit_callbacks, broker_queue):
    errors = [{"code": 131051, "title": "Message type unknown", "message": "Message type unknown", "error_data": {"details": "Message type is currently not supported."}}]
    item = webhooks.inbound_message("unsupported", errors=errors)

    process(client, webhooks.messages_payload([item]), django_capture_on_commit_callbacks)

    message = Message.objects.get()
    assert (message.type, message.text) == ("unsupported", "[unsupported message]")
    assert message.payload["errors"][0]["code"] == 131051


@pytest.mark.parametrize(
    ("kind", "content", "answered"),
    [
        ("text", {"body": "hi"}, True),
        ("image", dict(MEDIA), True),
        ("interactive", {"type": "button_reply", "button_reply": {"id": "a", "title": "A"}}, True),
        ("reaction", {"message_id": "wamid.X", "emoji": "❤️"}, False),
        ("order", {"catalog_id": "C", "product_items": []}, False),
        ("system", {"body": "changed"}, False),
        ("unsupported", None, False),
        ("poll", {"question": "?"}, False),
    ],
)
def test_only_answerable_types_get_a_bot_turn(
    client, number, django_capture_on_commit_callbacks, broker_queue, kind, content, answered
):
    process(client, webhooks.messages_payload([webhooks.inbound_message(kind, content)]), django_capture_on_commit_callbacks)

    message = Message.objects.get()
    turns = [kwargs for name, kwargs in broker_queue.published() if name == "bots.tasks.bot_turn"]
    assert turns == ([{"message_id": message.pk}] if answered else [])


def test_reply_to_one_of_our_messages_is_linked(client, number, django_capture_on_commit_callbacks, broker_queue):
    ours = MessageFactory(direction=Message.Direction.OUTBOUND, sender_kind="agent", status="read", provider_message_id="wamid.OURS1", conversation__contact__number=number)
    item = webhooks.text_message("yes, that one", context={"from": webhooks.DISPLAY_NUMBER, "id": "wamid.OURS1"})

    process(client, webhooks.messages_payload([item]), django_capture_on_commit_callbacks)

    reply = Message.objects.get(provider_message_id=item["id"])
    assert reply.reply_to == ours


def test_reply_to_an_unknown_message_is_stored_without_link(client, number, django_capture_on_commit_callbacks, broker_queue):
    item = webhooks.text_message("what about this", context={"from": webhooks.DISPLAY_NUMBER, "id": "wamid.NEVERSEEN"})

    process(client, webhooks.messages_payload([item]), django_capture_on_commit_callbacks)

    message = Message.objects.get()
    assert message.reply_to is None
    assert message.payload["context"]["id"] == "wamid.NEVERSEEN"


def test_ad_referral_is_kept_with_the_message(client, number, django_capture_on_commit_callbacks, broker_queue):
    referral = {
        "source_url": "https://fb.me/ad",
        "source_id": "120000",
        "source_type": "ad",
        "headline": "Spring sale",
        "body": "20% off",
        "ctwa_clid": "ARAkLkA8rmlF",
    }
    item = webhooks.text_message("I saw your ad", referral=referral)

    process(client, webhooks.messages_payload([item]), django_capture_on_commit_callbacks)

    assert Message.objects.get().payload["referral"] == referral


def test_changed_number_notice_moves_the_contact_to_the_new_number(
    client, number, django_capture_on_commit_callbacks, broker_queue
):
    system = {"body": "Ana changed from 15551234567 to 15557654321", "new_wa_id": "15557654321", "type": "user_changed_number"}

    process(client, webhooks.messages_payload([webhooks.inbound_message("system", system)]), django_capture_on_commit_callbacks)

    contact = Contact.objects.get()
    assert contact.wa_id == "15557654321"
    assert Message.objects.get().type == "system"
