"""The admin: pages load for an admin, secrets are write-only, customer text is escaped,
and the webhook log's reprocess action runs the events again."""

from __future__ import annotations

import json

import pytest

from conversations.models import Message, WebhookEvent, WhatsAppNumber
from tests.factories import ContactFactory, ConversationFactory, MessageFactory
from tests.support import webhooks

SECRETS = {"access_token": "EAAG-secret-token-123", "app_secret": "app-secret-456", "verify_token": "verify-789"}


@pytest.fixture
def admin_client(client, admin_user):
    client.force_login(admin_user)
    return client


@pytest.fixture
def secret_number(db):
    return WhatsAppNumber.objects.create(name="Main line", phone_number_id="555000", **SECRETS)


def number_form(number, **changes):
    data = {
        "name": number.name,
        "phone_number_id": number.phone_number_id,
        "display_phone_number": number.display_phone_number,
        "business_account_id": number.business_account_id,
        "api_base": number.api_base,
        "access_token": "",
        "app_secret": "",
        "verify_token": "",
        "quality_rating": number.quality_rating,
        "messaging_limit": number.messaging_limit,
        "throughput_mps": number.throughput_mps,
    }
    data.update(changes)
    return data


@pytest.mark.parametrize(
    "model",
    ["whatsappnumber", "contact", "conversation", "message", "messagestatusevent", "webhookevent", "platformevent"],
)
def test_changelists_load_for_admin(admin_client, team_conversation, model):
    response = admin_client.get(f"/admin/conversations/{model}/")

    assert response.status_code == 200


def test_desk_agent_cannot_open_the_admin(client, agent):
    client.force_login(agent)

    response = client.get("/admin/conversations/conversation/")

    assert response.status_code == 302
    assert "/admin/login/" in response["Location"]


def test_number_page_never_renders_secrets(admin_client, secret_number):
    page = admin_client.get(f"/admin/conversations/whatsappnumber/{secret_number.pk}/change/").content.decode()
    listing = admin_client.get("/admin/conversations/whatsappnumber/").content.decode()

    assert 'name="access_token"' in page
    for secret in SECRETS.values():
        assert secret not in page
        assert secret not in listing
    assert "access token, app secret, verify token" in page


def test_blank_secret_keeps_the_stored_value_and_a_new_one_replaces_it(admin_client, secret_number):
    url = f"/admin/conversations/whatsappnumber/{secret_number.pk}/change/"

    kept = admin_client.post(url, number_form(secret_number, name="Renamed"))
    secret_number.refresh_from_db()
    assert kept.status_code == 302
    assert secret_number.name == "Renamed"
    assert (secret_number.access_token, secret_number.app_secret, secret_number.verify_token) == tuple(SECRETS.values())

    admin_client.post(url, number_form(secret_number, access_token="EAAG-rotated"))
    secret_number.refresh_from_db()
    assert secret_number.access_token == "EAAG-rotated"
    assert secret_number.app_secret == SECRETS["app_secret"]


def test_new_number_is_created_with_its_secrets(admin_client, db):
    response = admin_client.post(
        "/admin/conversations/whatsappnumber/add/",
        {
            "name": "New",
            "phone_number_id": "777",
            "access_token": "tok",
            "app_secret": "sec",
            "verify_token": "ver",
            "quality_rating": "UNKNOWN",
            "messaging_limit": "TIER_250",
            "throughput_mps": 80,
        },
    )

    assert response.status_code == 302
    number = WhatsAppNumber.objects.get(phone_number_id="777")
    assert (number.access_token, number.app_secret, number.verify_token) == ("tok", "sec", "ver")


def test_conversation_page_shows_messages_escaped(admin_client, number):
    conversation = ConversationFactory(contact=ContactFactory(number=number))
    MessageFactory(conversation=conversation, text="<script>alert('x')</script> hello")

    page = admin_client.get(f"/admin/conversations/conversation/{conversation.pk}/change/").content.decode()

    assert "<script>alert('x')</script>" not in page
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt; hello" in page


def test_webhook_event_page_shows_an_escaped_readable_body(admin_client, db):
    payload = webhooks.text_payload("<b>bold</b> question")
    event = WebhookEvent.objects.create(body=json.dumps(payload).encode(), state=WebhookEvent.State.FAILED)

    page = admin_client.get(f"/admin/conversations/webhookevent/{event.pk}/change/").content.decode()

    assert "&lt;b&gt;bold&lt;/b&gt; question" in page
    assert "<b>bold</b>" not in page
    assert '"messaging_product": "whatsapp"' in page.replace("&quot;", '"')


def test_reprocess_action_processes_the_selected_events_again(
    admin_client, number, django_capture_on_commit_callbacks
):
    payload = webhooks.text_payload("Please call me back", msg_id="wamid.REPROCESS1")
    event = WebhookEvent.objects.create(
        body=json.dumps(payload).encode(),
        state=WebhookEvent.State.FAILED,
        attempts=5,
        errors=[{"error": "database was down"}],
    )

    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(
            "/admin/conversations/webhookevent/",
            {"action": "reprocess", "_selected_action": [event.pk]},
            follow=True,
        )

    event.refresh_from_db()
    assert response.status_code == 200
    assert "1 of 1 event(s) queued for processing again." in response.content.decode()
    assert event.state == WebhookEvent.State.PROCESSED
    assert Message.objects.filter(provider_message_id="wamid.REPROCESS1", text="Please call me back").exists()
