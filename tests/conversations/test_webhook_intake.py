"""The webhook endpoint: handshake, signature over the raw body, one insert, 200, and
processing later (including when the broker is down)."""

from __future__ import annotations

import hashlib
import hmac
import json

import pytest
from django.db import connection

from config.tasking import publisher
from conversations.models import Contact, Message, WebhookEvent
from conversations.services import webhook_intake as intake
from conversations.tasks import process_webhook_event, sweep_webhook_events
from tests.factories import NumberFactory
from tests.support import intake as intake_support
from tests.support import webhooks
from tests.support.intake import last_event

# Shared fixtures of the intake tests.
broker_at = intake_support.broker_at
fresh_secrets = intake_support.fresh_secrets

pytestmark = pytest.mark.django_db


def test_signed_webhook_is_stored_as_sent_answered_200_and_processed(client, number, django_capture_on_commit_callbacks):
    payload = webhooks.text_payload("hello")
    body = json.dumps(payload, indent=1).encode()

    with django_capture_on_commit_callbacks(execute=True):
        response = webhooks.post(client, body)

    assert response.status_code == 200
    event = last_event()
    assert bytes(event.body) == body
    assert event.signature == webhooks.sign(body)
    event.refresh_from_db()
    assert event.state == WebhookEvent.State.PROCESSED
    assert event.attempts == 1
    assert Message.objects.get(direction="in").text == "hello"


def test_response_is_sent_before_processing(client, number, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = webhooks.post(client, webhooks.text_payload("later"))

    assert response.status_code == 200
    assert WebhookEvent.objects.get().state == WebhookEvent.State.PENDING
    assert not Message.objects.exists()
    assert len(callbacks) == 1


@pytest.mark.parametrize(
    "signature",
    [
        pytest.param(None, id="missing"),
        pytest.param("", id="empty"),
        pytest.param("sha256=" + "0" * 64, id="wrong"),
        pytest.param("sha256=nothex", id="garbage"),
    ],
)
def test_bad_or_missing_signature_is_refused_and_nothing_stored(client, number, signature):
    body = json.dumps(webhooks.text_payload("hello")).encode()
    headers = {} if signature is None else {"HTTP_X_HUB_SIGNATURE_256": signature}

    response = client.post("/webhooks/whatsapp/", data=body, content_type="application/json", **headers)

    assert response.status_code == 403
    assert not WebhookEvent.objects.exists()
    assert not Message.objects.exists()


def test_signature_with_another_secret_is_refused(client, number):
    response = webhooks.post(client, webhooks.text_payload("hello"), secret="not-our-secret")

    assert response.status_code == 403
    assert not WebhookEvent.objects.exists()


def test_sha1_signature_is_refused_even_when_correct(client, number):
    body = json.dumps(webhooks.text_payload("hello")).encode()
    sha1 = "sha1=" + hmac.new(webhooks.APP_SECRET.encode(), body, hashlib.sha1).hexdigest()

    response = webhooks.post(client, body, signature=sha1)

    assert response.status_code == 403
    assert not WebhookEvent.objects.exists()


def test_signature_must_cover_the_exact_bytes_not_the_same_json(client, number):
    payload = webhooks.text_payload("hello")
    signed_over = json.dumps(payload, separators=(",", ":")).encode()
    sent = json.dumps(payload, indent=2).encode()

    response = webhooks.post(client, sent, signature=webhooks.sign(signed_over))

    assert response.status_code == 403
    assert not WebhookEvent.objects.exists()


def test_non_ascii_body_is_checked_over_its_utf8_bytes(client, number, django_capture_on_commit_callbacks):
    body = json.dumps(webhooks.text_payload("olá 👋", name="João Ñandú"), ensure_ascii=False).encode("utf-8")
    assert "olá 👋".encode() in body

    with django_capture_on_commit_callbacks(execute=True):
        response = webhooks.post(client, body)

    assert response.status_code == 200
    assert bytes(last_event().body) == body
    message = Message.objects.get(direction="in")
    assert message.text == "olá 👋"
    assert message.conversation.contact.profile_name == "João Ñandú"


def test_each_numbers_app_secret_for_its_own_events_and_the_setting_for_any_are_accepted(client, number, settings):
    NumberFactory(phone_number_id="1000000777", app_secret="second-number-secret", is_default=False)
    settings.WHATSAPP_APP_SECRET = "app-wide-secret"
    first = json.dumps(webhooks.text_payload("hi")).encode()
    second = json.dumps(webhooks.text_payload("hi", phone_number_id="1000000777")).encode()

    assert webhooks.post(client, first, secret=webhooks.APP_SECRET).status_code == 200
    assert webhooks.post(client, second, secret="second-number-secret").status_code == 200
    assert webhooks.post(client, first, secret="app-wide-secret").status_code == 200
    assert webhooks.post(client, second, secret="app-wide-secret").status_code == 200
    assert WebhookEvent.objects.count() == 4


def test_a_number_added_after_secrets_were_cached_is_accepted_at_once(client, number):
    assert webhooks.post(client, webhooks.text_payload("first")).status_code == 200
    NumberFactory(phone_number_id="1000000888", app_secret="brand-new-secret", is_default=False)

    response = webhooks.post(
        client, webhooks.text_payload("second", phone_number_id="1000000888"), secret="brand-new-secret"
    )

    assert response.status_code == 200


def test_other_methods_are_not_allowed(client, number):
    assert client.put("/webhooks/whatsapp/", data=b"{}").status_code == 405


# --- handshake -----------------------------------------------------------------------------


def test_handshake_echoes_the_challenge_for_a_numbers_verify_token(client, number):
    response = client.get(
        "/webhooks/whatsapp/",
        {"hub.mode": "subscribe", "hub.verify_token": "test-verify-token", "hub.challenge": "1158201444"},
    )

    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain")
    assert response.content == b"1158201444"


def test_handshake_accepts_the_configured_verify_token(client, number, settings):
    settings.WHATSAPP_VERIFY_TOKEN = "from-the-environment"

    response = client.get(
        "/webhooks/whatsapp/",
        {"hub.mode": "subscribe", "hub.verify_token": "from-the-environment", "hub.challenge": "abc"},
    )

    assert response.status_code == 200
    assert response.content == b"abc"


@pytest.mark.parametrize(
    "params",
    [
        pytest.param({"hub.mode": "subscribe", "hub.verify_token": "wrong", "hub.challenge": "x"}, id="wrong-token"),
        pytest.param({"hub.mode": "subscribe", "hub.challenge": "x"}, id="no-token"),
        pytest.param({"hub.mode": "subscribe", "hub.verify_token": "", "hub.challenge": "x"}, id="empty-token"),
        pytest.param({"hub.mode": "unsubscribe", "hub.verify_token": "test-verify-token", "hub.challenge": "x"}, id="mode"),
    ],
)
def test_handshake_is_refused_without_the_right_token_and_mode(client, number, settings, params):
    settings.WHATSAPP_VERIFY_TOKEN = ""

    response = client.get("/webhooks/whatsapp/", params)

    assert response.status_code == 403
    assert b"x" not in response.content


# --- bodies that cannot be processed --------------------------------------------------------


def test_malformed_json_is_kept_as_failed_with_the_reason(client, number, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        response = webhooks.post(client, b'{"object": "whatsapp_business_account", "entry": [')

    assert response.status_code == 200
    event = last_event()
    assert event.state == WebhookEvent.State.FAILED
    assert event.errors[0]["where"] == "body"
    assert "malformed JSON" in event.errors[0]["error"]
    assert bytes(event.body).startswith(b'{"object"')


def test_json_that_is_not_a_webhook_fails_the_event(client, number, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        assert webhooks.post(client, b"[1, 2, 3]").status_code == 200

    event = last_event()
    assert event.state == WebhookEvent.State.FAILED
    assert "no entry list" in event.errors[0]["error"]


def test_unknown_phone_number_id_is_acknowledged_recorded_and_not_routed(
    client, number, settings, django_capture_on_commit_callbacks
):
    # A number not configured here has no secret of its own: the setting's signs for it.
    settings.WHATSAPP_APP_SECRET = "app-wide-secret"
    payload = webhooks.text_payload("wrong number", phone_number_id="999999")

    with django_capture_on_commit_callbacks(execute=True):
        response = webhooks.post(client, payload, secret="app-wide-secret")

    assert response.status_code == 200
    event = last_event()
    assert event.state == WebhookEvent.State.PARTIAL
    assert event.errors == [{"where": "entry[0].changes[0]", "error": "unknown phone_number_id '999999'"}]
    assert not Contact.objects.exists()
    assert not Message.objects.exists()


def test_reprocess_after_the_number_is_added_stores_the_message(
    client, number, settings, django_capture_on_commit_callbacks
):
    settings.WHATSAPP_APP_SECRET = "app-wide-secret"
    with django_capture_on_commit_callbacks(execute=True):
        webhooks.post(client, webhooks.text_payload("early", phone_number_id="1000000999"), secret="app-wide-secret")
    event = last_event()
    assert event.state == WebhookEvent.State.PARTIAL
    NumberFactory(phone_number_id="1000000999", is_default=False)

    with django_capture_on_commit_callbacks(execute=True):
        assert intake.webhook_event_reprocess(event_ids=[event.pk]) == 1

    event.refresh_from_db()
    assert event.state == WebhookEvent.State.PROCESSED
    assert event.errors == []
    assert Message.objects.get(direction="in").text == "early"


def test_reprocessing_a_processed_event_changes_nothing(client, number, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        webhooks.post(client, webhooks.text_payload("once"))
    event = last_event()

    with django_capture_on_commit_callbacks(execute=True):
        intake.webhook_event_reprocess(event_ids=[event.pk])

    event.refresh_from_db()
    assert event.state == WebhookEvent.State.PROCESSED
    assert Message.objects.filter(direction="in").count() == 1


# --- claims, attempts, the sweep ------------------------------------------------------------


def test_processing_twice_is_skipped_the_second_time(number):
    event = WebhookEvent.objects.create(body=json.dumps(webhooks.text_payload("hi")).encode())

    assert process_webhook_event(event.pk) == WebhookEvent.State.PROCESSED
    assert process_webhook_event(event.pk) == "skipped"

    event.refresh_from_db()
    assert event.attempts == 1
    assert Message.objects.filter(direction="in").count() == 1


def test_event_that_keeps_failing_is_given_up(number):
    event = WebhookEvent.objects.create(
        body=json.dumps(webhooks.text_payload("hi")).encode(), attempts=intake.MAX_ATTEMPTS
    )

    assert process_webhook_event(event.pk) == WebhookEvent.State.FAILED

    event.refresh_from_db()
    assert "gave up" in event.errors[0]["error"]
    assert not Message.objects.exists()


def test_sweep_dispatches_only_events_pending_past_the_delay(number, settings):
    settings.WEBHOOK_SWEEP_AFTER_SECONDS = 30
    body = json.dumps(webhooks.text_payload("old")).encode()
    old = WebhookEvent.objects.create(body=body)
    WebhookEvent.objects.filter(pk=old.pk).update(received_at=old.received_at - intake.timedelta(seconds=60))
    fresh = WebhookEvent.objects.create(body=json.dumps(webhooks.text_payload("fresh")).encode())

    assert sweep_webhook_events() == 1

    old.refresh_from_db()
    fresh.refresh_from_db()
    assert old.state == WebhookEvent.State.PROCESSED
    assert fresh.state == WebhookEvent.State.PENDING
    assert list(Message.objects.filter(direction="in").values_list("text", flat=True)) == ["old"]


@pytest.fixture
def broker_down(broker_at):
    """Celery mode with the broker at a closed port."""
    broker_at("redis://127.0.0.1:1/0")


@pytest.mark.django_db(transaction=True)
def test_broker_down_during_intake_stores_answers_and_the_sweep_processes_later(
    client, number, broker_down, settings, caplog
):
    response = webhooks.post(client, webhooks.text_payload("while the broker is down"))

    assert response.status_code == 200
    event = last_event()
    assert event.state == WebhookEvent.State.PENDING
    assert event.attempts == 0
    assert not Message.objects.exists()
    assert publisher.flush()
    assert "could not publish task conversations.tasks.process_webhook_events" in caplog.text

    settings.TASKS_MODE = "inline"
    settings.WEBHOOK_SWEEP_AFTER_SECONDS = 0
    assert sweep_webhook_events() == 1

    event.refresh_from_db()
    assert event.state == WebhookEvent.State.PROCESSED
    assert Message.objects.get(direction="in").text == "while the broker is down"
    assert connection.in_atomic_block is False
