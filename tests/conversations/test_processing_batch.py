"""A webhook body with several entries, changes and items: everything goes through
except the bad item, which is recorded with where and why; platform changes are stored
once each and handed to the notifications work."""

from __future__ import annotations

import json

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from conversations.models import Contact, Message, MessageStatusEvent, PlatformEvent, WebhookEvent
from conversations.processing.platform import platform_dedupe_key
from conversations.tasks import process_webhook_events
from tests.factories import NumberFactory
from tests.support import intake as intake_support
from tests.support import webhooks
from tests.support.intake import process

# Shared fixtures of the intake tests.
broker_at = intake_support.broker_at
broker_queue = intake_support.broker_queue
fresh_secrets = intake_support.fresh_secrets

pytestmark = pytest.mark.django_db


@pytest.fixture
def deliver(client, django_capture_on_commit_callbacks, broker_queue):
    def deliver(payload):
        return process(client, payload, django_capture_on_commit_callbacks)

    return deliver


TEMPLATE_STATUS = {
    "event": "APPROVED",
    "message_template_id": 594425479261596,
    "message_template_name": "order_update",
    "message_template_language": "en_US",
    "reason": "NONE",
}


def test_batch_with_one_bad_item_stores_everything_else(deliver, number):
    ana = webhooks.text_message("from Ana", wa_id="15550000001")
    bad = {"from": "15550000001", "timestamp": "1700000000", "type": "text", "text": {"body": "no id"}}
    ana_later = webhooks.text_message("Ana again", wa_id="15550000001")
    ben = webhooks.text_message("from Ben", wa_id="15550000002")
    first_entry = [
        webhooks.change(webhooks.messages_value([ana, bad, ana_later], wa_id="15550000001", name="Ana")),
        webhooks.change(webhooks.statuses_value([webhooks.status_item("wamid.UNKNOWN1", "sent")])),
    ]
    second_entry = [
        webhooks.change(TEMPLATE_STATUS, field="message_template_status_update"),
        webhooks.change(webhooks.messages_value([ben], wa_id="15550000002", name="Ben")),
    ]

    event = deliver(webhooks.batch(first_entry, second_entry))

    assert event.state == "partial"
    assert len(event.errors) == 1
    error = event.errors[0]
    assert error["where"] == "entry[0].changes[0].value.messages[1]"
    assert "message without an id" in error["error"]
    assert sorted(Message.objects.values_list("text", flat=True)) == ["Ana again", "from Ana", "from Ben"]
    assert set(Contact.objects.values_list("profile_name", flat=True)) == {"Ana", "Ben"}
    assert MessageStatusEvent.objects.filter(provider_message_id="wamid.UNKNOWN1").exists()
    assert PlatformEvent.objects.get().field == "message_template_status_update"


def test_item_that_fails_midway_leaves_nothing_half_written(deliver, number):
    good = webhooks.text_message("fine", wa_id="15550000003")
    broken = webhooks.text_message("x", wa_id="")
    del broken["from"]
    value = webhooks.messages_value([good, broken], wa_id="15550000003")
    value["contacts"] = [{"profile": {"name": "Cid"}, "wa_id": "15550000003"}, {"profile": {"name": "Nobody"}}]

    event = deliver(webhooks.envelope(value))

    assert event.state == "partial"
    assert event.errors[0]["id"] == broken["id"]
    assert "neither a WhatsApp id nor a business-scoped user id" in event.errors[0]["error"]
    assert list(Contact.objects.values_list("profile_name", flat=True)) == ["Cid"]
    assert list(Message.objects.values_list("text", flat=True)) == ["fine"]


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("message_template_status_update", TEMPLATE_STATUS),
        (
            "message_template_quality_update",
            {
                "previous_quality_score": "GREEN",
                "new_quality_score": "YELLOW",
                "message_template_id": 594425479261596,
                "message_template_name": "order_update",
                "message_template_language": "en_US",
            },
        ),
        (
            "phone_number_quality_update",
            {"display_phone_number": webhooks.DISPLAY_NUMBER, "event": "FLAGGED", "current_limit": "TIER_1K"},
        ),
        ("account_update", {"phone_number": webhooks.DISPLAY_NUMBER, "event": "VERIFIED_ACCOUNT"}),
        (
            "user_preferences",
            {
                "messaging_product": "whatsapp",
                "metadata": {"display_phone_number": webhooks.DISPLAY_NUMBER, "phone_number_id": webhooks.PHONE_NUMBER_ID},
                "contacts": [{"profile": {"name": "Ana"}, "wa_id": "15551234567"}],
                "user_preferences": [
                    {"wa_id": "15551234567", "detail": "User requested to stop marketing messages", "category": "marketing_messages", "value": "stop", "timestamp": 1731705721}
                ],
            },
        ),
        ("business_capability_update", {"max_daily_conversation_per_phone": 1000, "max_phone_numbers_per_business": 2}),
        ("some_field_from_the_future", {"anything": [1, 2, 3]}),
    ],
)
def test_platform_change_is_stored_once_and_handed_to_notifications(deliver, number, broker_queue, field, value):
    payload = webhooks.envelope(value, field=field)

    first = deliver(payload)
    second = deliver(payload)

    assert (first.state, second.state) == ("processed", "processed")
    stored = PlatformEvent.objects.get()
    assert (stored.field, stored.payload, stored.business_account_id) == (field, value, webhooks.WABA_ID)
    assert stored.webhook_id == first.pk
    assert stored.dedupe_key == platform_dedupe_key(field=field, value=value, business_account_id=webhooks.WABA_ID)
    published = [kwargs for name, kwargs in broker_queue.published() if name == "notifications.tasks.apply_platform_event"]
    assert published == [{"event_id": stored.pk}]


def test_number_quality_change_is_linked_to_its_number(deliver, number):
    deliver(webhooks.envelope({"display_phone_number": webhooks.DISPLAY_NUMBER, "event": "UPGRADE", "current_limit": "TIER_10K"}, field="phone_number_quality_update"))

    assert PlatformEvent.objects.get().number == number


def test_same_change_for_another_business_account_is_a_different_event(deliver, number):
    # A number of the other account (same app, same secret) signs its account's events.
    NumberFactory(phone_number_id="1000000303", business_account_id="3000000003", is_default=False)
    deliver(webhooks.envelope(TEMPLATE_STATUS, field="message_template_status_update"))
    deliver(webhooks.envelope(TEMPLATE_STATUS, field="message_template_status_update", waba_id="3000000003"))

    assert PlatformEvent.objects.count() == 2


def test_change_without_a_field_is_recorded_and_the_others_go_through(deliver, number):
    payload = webhooks.batch([{"value": {}}, webhooks.change(webhooks.messages_value([webhooks.text_message("ok")]))])

    event = deliver(payload)

    assert event.state == "partial"
    assert event.errors[0]["where"] == "entry[0].changes[0]"
    assert Message.objects.get().text == "ok"


def test_events_processed_in_one_task_read_their_number_once(number):
    events = [
        WebhookEvent.objects.create(body=json.dumps(webhooks.text_payload(f"hello {i}", wa_id=f"155577700{i:02d}")).encode())
        for i in range(3)
    ]
    with CaptureQueriesContext(connection) as captured:
        states = process_webhook_events([event.pk for event in events])

    assert states == ["processed"] * 3
    assert Message.objects.filter(text__startswith="hello ").count() == 3
    number_reads = [q for q in captured.captured_queries if 'FROM "conversations_whatsappnumber"' in q["sql"]]
    assert len(number_reads) == 1
