"""Per-number webhook signatures: a body is signed with the app secret of the number (or
business account) it names, or with the app-wide `WHATSAPP_APP_SECRET`. Another number's
secret is refused with 403 and nothing is stored."""

from __future__ import annotations

import json

import pytest

from conversations.models import Message, PlatformEvent, WebhookEvent
from tests.factories import NumberFactory
from tests.support import intake as intake_support
from tests.support import webhooks

fresh_secrets = intake_support.fresh_secrets

pytestmark = pytest.mark.django_db

B_ID = "1000000222"
B_SECRET = "number-b-secret"
B_WABA = "2000000333"
APP_WIDE = "app-wide-secret"


@pytest.fixture
def number_b(db):
    return NumberFactory(
        phone_number_id=B_ID,
        display_phone_number="15550002222",
        business_account_id=B_WABA,
        app_secret=B_SECRET,
        is_default=False,
    )


@pytest.fixture
def app_wide(settings):
    settings.WHATSAPP_APP_SECRET = APP_WIDE
    return APP_WIDE


def _template_update(waba: str) -> dict:
    value = {
        "event": "APPROVED",
        "message_template_id": 594425479261596,
        "message_template_name": "order_update",
        "message_template_language": "en_US",
        "reason": "NONE",
    }
    return webhooks.envelope(value, field="message_template_status_update", waba_id=waba)


def test_a_body_naming_number_b_signed_with_number_as_secret_is_refused_and_not_stored(client, number, number_b):
    response = webhooks.post(client, webhooks.text_payload("hello", phone_number_id=B_ID), secret=webhooks.APP_SECRET)

    assert response.status_code == 403
    assert not WebhookEvent.objects.exists()
    assert not Message.objects.exists()


def test_a_body_signed_with_its_own_numbers_secret_is_stored_and_routed_to_that_number(
    client, number, number_b, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = webhooks.post(client, webhooks.text_payload("hello B", phone_number_id=B_ID), secret=B_SECRET)

    assert response.status_code == 200
    message = Message.objects.get(direction="in")
    assert message.text == "hello B"
    assert message.conversation.number == number_b


def test_the_app_wide_secret_signs_for_every_number(client, number, number_b, app_wide):
    for phone_number_id in (webhooks.PHONE_NUMBER_ID, B_ID):
        payload = webhooks.text_payload("hi", phone_number_id=phone_number_id)
        assert webhooks.post(client, payload, secret=app_wide).status_code == 200
    assert WebhookEvent.objects.count() == 2


def test_a_body_naming_two_numbers_needs_a_secret_good_for_both(client, number, number_b, app_wide):
    both = webhooks.batch(
        [webhooks.change(webhooks.messages_value([webhooks.text_message("to A")]))],
        [webhooks.change(webhooks.messages_value([webhooks.text_message("to B")], phone_number_id=B_ID))],
    )
    body = json.dumps(both).encode()

    assert webhooks.post(client, body, secret=webhooks.APP_SECRET).status_code == 403
    assert webhooks.post(client, body, secret=B_SECRET).status_code == 403
    assert not WebhookEvent.objects.exists()
    assert webhooks.post(client, body, secret=app_wide).status_code == 200
    assert WebhookEvent.objects.count() == 1


def test_numbers_of_one_app_share_its_secret_for_a_body_naming_both(client, number):
    NumberFactory(phone_number_id=B_ID, app_secret=webhooks.APP_SECRET, is_default=False)
    both = webhooks.batch(
        [webhooks.change(webhooks.messages_value([webhooks.text_message("to A")]))],
        [webhooks.change(webhooks.messages_value([webhooks.text_message("to B")], phone_number_id=B_ID))],
    )

    assert webhooks.post(client, both, secret=webhooks.APP_SECRET).status_code == 200


def test_a_status_naming_number_b_signed_by_number_a_is_refused(client, number, number_b):
    payload = webhooks.envelope(
        webhooks.statuses_value([webhooks.status_item("wamid.OUT1", "delivered")], phone_number_id=B_ID)
    )

    assert webhooks.post(client, payload, secret=webhooks.APP_SECRET).status_code == 403
    assert not WebhookEvent.objects.exists()


def test_an_account_event_is_signed_by_a_number_of_that_account_or_the_app_wide_secret(
    client, number, number_b, app_wide, django_capture_on_commit_callbacks
):
    # Number A belongs to webhooks.WABA_ID, number B to B_WABA.
    assert webhooks.post(client, _template_update(B_WABA), secret=webhooks.APP_SECRET).status_code == 403
    assert not WebhookEvent.objects.exists()

    assert webhooks.post(client, _template_update(B_WABA), secret=B_SECRET).status_code == 200
    assert webhooks.post(client, _template_update(webhooks.WABA_ID), secret=webhooks.APP_SECRET).status_code == 200
    assert webhooks.post(client, _template_update("2000000999"), secret=app_wide).status_code == 200
    assert webhooks.post(client, _template_update("2000000999"), secret=B_SECRET).status_code == 403
    assert WebhookEvent.objects.count() == 3


def test_a_quality_update_naming_number_b_by_display_number_needs_bs_secret(client, number, number_b):
    value = {"display_phone_number": "15550002222", "event": "FLAGGED", "current_limit": "TIER_1K"}
    # Signed by number A, claiming B's number under A's own business account.
    payload = webhooks.envelope(value, field="phone_number_quality_update", waba_id=webhooks.WABA_ID)

    assert webhooks.post(client, payload, secret=webhooks.APP_SECRET).status_code == 403
    assert not PlatformEvent.objects.exists()
    assert not WebhookEvent.objects.exists()


def test_an_unknown_number_is_signed_only_by_the_app_wide_secret(client, number, app_wide):
    payload = webhooks.text_payload("who?", phone_number_id="1000000999")

    assert webhooks.post(client, payload, secret=webhooks.APP_SECRET).status_code == 403
    assert webhooks.post(client, payload, secret=app_wide).status_code == 200


def test_a_secret_rotated_in_the_admin_takes_effect_at_once(client, number, number_b):
    payload = webhooks.text_payload("hi", phone_number_id=B_ID)
    assert webhooks.post(client, payload, secret=B_SECRET).status_code == 200
    number_b.app_secret = "rotated-b-secret"
    number_b.save()

    assert webhooks.post(client, payload, secret="rotated-b-secret").status_code == 200
    assert webhooks.post(client, payload, secret=webhooks.APP_SECRET).status_code == 403


def test_a_large_body_is_checked_the_same_way(client, number, number_b):
    messages = [webhooks.text_message("x" * 4000, wa_id=f"1555000{i:04d}") for i in range(30)]
    body = json.dumps(webhooks.messages_payload(messages, phone_number_id=B_ID)).encode()
    assert len(body) > 64 * 1024

    assert webhooks.post(client, body, secret=webhooks.APP_SECRET).status_code == 403
    assert not WebhookEvent.objects.exists()
    assert webhooks.post(client, body, secret=B_SECRET).status_code == 200
