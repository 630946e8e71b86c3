"""WhatsApp's platform webhooks, through the real webhook endpoint (signed payloads)."""

from __future__ import annotations

import time

import pytest

from conversations.models import Message
from notifications.models import Campaign, ConsentRecord, NumberHealthEvent
from notifications.services.consent import consent_is_current, consent_opt_in
from notifications.services.template_send import template_message_send
from tests.factories import ContactFactory
from tests.support import webhooks

pytestmark = pytest.mark.django_db(transaction=True)


def deliver(client, field: str, value: dict):
    response = webhooks.post(client, webhooks.envelope(value, field=field))
    assert response.status_code == 200
    return response


def test_template_status_webhook_approves_a_pending_template(client, order_template):
    order_template.status = "PENDING"
    order_template.save()
    deliver(client, "message_template_status_update", {
        "event": "APPROVED", "message_template_id": 9001, "message_template_name": "order_update",
        "message_template_language": "en_US", "reason": "NONE",
    })
    order_template.refresh_from_db()
    assert order_template.status == "APPROVED" and order_template.rejection_reason == ""


def test_template_disabled_webhook_pauses_campaigns_and_keeps_reason(client, number, order_template):
    campaign = Campaign.objects.create(name="Shipping", number=number, template=order_template, state="running")
    deliver(client, "message_template_status_update", {
        "event": "DISABLED", "message_template_id": 9001, "message_template_name": "order_update",
        "message_template_language": "en_US", "reason": "LOW_QUALITY",
    })
    campaign.refresh_from_db()
    order_template.refresh_from_db()
    assert order_template.status == "DISABLED"
    assert campaign.state == "paused" and "disabled" in campaign.pause_reason


def test_quality_webhook_red_updates_number_history_and_pauses_campaigns(client, number, order_template):
    campaign = Campaign.objects.create(name="Shipping", number=number, template=order_template, state="running")
    deliver(client, "phone_number_quality_update", {
        "display_phone_number": webhooks.DISPLAY_NUMBER, "event": "FLAGGED", "current_limit": "TIER_10K",
    })
    number.refresh_from_db()
    campaign.refresh_from_db()
    assert number.quality_rating == "RED" and number.messaging_limit == "TIER_10K"
    event = NumberHealthEvent.objects.get(number=number)
    assert event.event == "FLAGGED" and event.quality_rating == "RED"
    assert campaign.state == "paused" and "red" in campaign.pause_reason


def test_capability_and_throughput_updates_change_the_number(client, number):
    deliver(client, "business_capability_update", {"max_daily_conversations_per_business": "TIER_100K",
                                                   "max_phone_numbers_per_business": 20})
    deliver(client, "phone_number_quality_update", {"display_phone_number": webhooks.DISPLAY_NUMBER,
                                                    "event": "THROUGHPUT_UPGRADE", "current_limit": "TIER_UNLIMITED"})
    number.refresh_from_db()
    assert number.messaging_limit == "TIER_100K" and number.throughput_mps == 1000
    assert NumberHealthEvent.objects.filter(number=number).count() == 2


def test_account_restriction_pauses_campaigns(client, number, order_template):
    campaign = Campaign.objects.create(name="Shipping", number=number, template=order_template, state="running")
    deliver(client, "account_update", {
        "phone_number": webhooks.DISPLAY_NUMBER, "event": "ACCOUNT_RESTRICTION",
        "restriction_info": [{"restriction_type": "RESTRICTED_BUSINESS_INITIATED_MESSAGING",
                              "expiration": int(time.time()) + 86400}],
    })
    campaign.refresh_from_db()
    assert campaign.state == "paused" and "RESTRICTED_BUSINESS_INITIATED_MESSAGING" in campaign.pause_reason
    assert number.health.is_restricted()


def test_user_preferences_stop_is_a_marketing_opt_out_and_resume_opts_in(client, number):
    contact = ContactFactory(number=number, wa_id="15550009999")
    consent_opt_in(contact=contact, category="marketing", source="web_form")
    consent_opt_in(contact=contact, category="utility", source="web_form")
    value = {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": webhooks.DISPLAY_NUMBER, "phone_number_id": webhooks.PHONE_NUMBER_ID},
        "contacts": [{"wa_id": "15550009999", "profile": {"name": "Rui"}}],
        "user_preferences": [{"wa_id": "15550009999", "detail": "User requested to stop marketing messages",
                              "category": "marketing_messages", "value": "stop", "timestamp": 1731705721}],
    }
    deliver(client, "user_preferences", value)
    assert not consent_is_current(contact=contact, category="marketing")
    assert consent_is_current(contact=contact, category="utility")
    assert ConsentRecord.objects.filter(contact=contact).first().source == "whatsapp_preference"
    value["user_preferences"][0].update(value="resume", timestamp=1731705999)
    deliver(client, "user_preferences", value)
    assert consent_is_current(contact=contact, category="marketing")


def test_failed_status_with_131050_records_a_marketing_opt_out(client, graph, conversation, contact, promo_template):
    consent_opt_in(contact=contact, category="marketing", source="web_form")
    message = template_message_send(conversation=conversation, name="promo", language="en",
                                    parameters={"first_name": "Ana", "discount": "20%"})
    message.refresh_from_db()
    assert message.provider_message_id
    deliver(client, "messages", webhooks.status_payload(
        message.provider_message_id, "failed", recipient=contact.wa_id,
        errors=[{"code": 131050, "title": "Unable to deliver the message",
                 "message": "Unable to deliver the message",
                 "error_data": {"details": "User has stopped marketing messages"}}],
    )["entry"][0]["changes"][0]["value"])
    message.refresh_from_db()
    assert message.status == Message.Status.FAILED and message.error_code == "131050"
    assert not consent_is_current(contact=contact, category="marketing")
    assert ConsentRecord.objects.filter(contact=contact).first().source == "error_131050"


def test_graph_send_error_131050_records_a_marketing_opt_out(graph, conversation, contact, promo_template):
    consent_opt_in(contact=contact, category="marketing", source="web_form")
    graph.error(131050, "Unable to deliver the message", details="User has stopped marketing messages")
    message = template_message_send(conversation=conversation, name="promo", language="en",
                                    parameters={"first_name": "Ana", "discount": "20%"})
    message.refresh_from_db()
    assert message.status == Message.Status.FAILED and message.error_code == "131050"
    assert not consent_is_current(contact=contact, category="marketing")
    assert ConsentRecord.objects.filter(contact=contact).first().source == "error_131050"
