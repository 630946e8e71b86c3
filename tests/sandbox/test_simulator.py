"""The phone simulator: access, customers, and the signed webhooks it posts for what
the customer writes or taps."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conversations.providers.sandbox.models import Phone, PhoneMessage
from tests.factories import UserFactory

from .conftest import SANDBOX_SECRET

PNID = "300000000000001"


@pytest.fixture
def signed_in(client, db):
    client.force_login(UserFactory(username="someone"))
    return client


@pytest.fixture
def customer_post(signed_in, django_capture_on_commit_callbacks):
    def post(path: str, body: dict):
        with django_capture_on_commit_callbacks(execute=True):
            return signed_in.post(f"/sandbox/api/{path}", data=json.dumps(body), content_type="application/json")

    return post


def business_sends(graph_post, body: dict) -> PhoneMessage:
    response = graph_post(f"{PNID}/messages", {"messaging_product": "whatsapp", "to": "15551234567", **body})
    assert response.status_code == 200, response.content
    return PhoneMessage.objects.get(wamid=response.json()["messages"][0]["id"])


def test_page_and_api_need_a_signed_in_user(client, phone):
    page = client.get("/sandbox/")
    assert page.status_code == 302 and page["Location"].startswith("/accounts/login/")
    assert client.get("/sandbox/api/phones/").status_code == 401
    assert client.post(f"/sandbox/api/phones/{phone.pk}/messages/", {"text": "hi"}).status_code == 401
    assert not PhoneMessage.objects.exists()


def test_page_renders_for_any_user_and_keeps_customer_text_out_of_html(signed_in, sandbox_number):
    Phone.objects.create(number=sandbox_number, name="<script>alert(1)</script>", user_id="US.1")
    page = signed_in.get("/sandbox/")
    listed = signed_in.get("/sandbox/api/phones/")

    assert page.status_code == 200
    assert b"<script>alert(1)</script>" not in page.content
    assert b"sandbox/phone.js" in page.content
    assert listed["Content-Type"] == "application/json"
    assert listed.json()["phones"][0]["name"] == "<script>alert(1)</script>"


def test_phone_script_puts_text_in_the_page_only_as_text():
    script = (Path(__file__).resolve().parents[2] / "conversations/providers/sandbox/static/sandbox/phone.js").read_text()
    assert "textContent" in script
    for unsafe in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write"):
        assert unsafe not in script


def test_customer_by_phone_number_is_created_once(customer_post, sandbox_number):
    first = customer_post("phones/", {"name": "Ana", "wa_id": "+1 555 123 4567"})
    again = customer_post("phones/", {"name": "Ana", "wa_id": "15551234567"})

    assert first.status_code == again.status_code == 201
    assert first.json()["phone"]["id"] == again.json()["phone"]["id"]
    phone = Phone.objects.get()
    assert phone.wa_id == "15551234567" and phone.user_id.startswith("US.")


def test_customer_with_a_username_only_has_a_business_scoped_id(customer_post, sandbox_number):
    response = customer_post("phones/", {"name": "Bo", "username": "bo.the.builder"})
    created = response.json()["phone"]
    assert created["wa_id"] == "" and created["username"] == "@bo.the.builder"
    assert created["user_id"]


def test_customer_needs_a_name_and_an_identity(customer_post, sandbox_number):
    for body in ({"name": "", "wa_id": "15551234567"}, {"name": "Ana"}, {"name": "Ana", "wa_id": "12ab"}):
        response = customer_post("phones/", body)
        assert response.status_code == 400 and response.json()["code"] == "invalid"
    assert not Phone.objects.exists()


def test_customer_text_is_posted_as_a_signed_messages_webhook(customer_post, phone, hook_receiver):
    response = customer_post(f"phones/{phone.pk}/messages/", {"text": "Olá, preciso de ajuda"})

    assert response.status_code == 201
    [hook] = hook_receiver.hooks
    assert hook.signed_with(SANDBOX_SECRET)
    assert hook.json["object"] == "whatsapp_business_account"
    assert hook.value["metadata"] == {"display_phone_number": "15550109999", "phone_number_id": PNID}
    assert hook.value["contacts"] == [{"profile": {"name": "Ana Customer"}, "wa_id": "15551234567", "user_id": phone.user_id}]
    [message] = hook.value["messages"]
    assert message["from"] == "15551234567" and message["from_user_id"] == phone.user_id
    assert message["type"] == "text" and message["text"] == {"body": "Olá, preciso de ajuda"}
    assert PhoneMessage.objects.get(wamid=message["id"]).status == "delivered"


def test_username_customer_webhook_has_no_phone_number(customer_post, sandbox_number, hook_receiver):
    phone = Phone.objects.create(number=sandbox_number, name="Bo", username="@bo", user_id="US.77")
    customer_post(f"phones/{phone.pk}/messages/", {"text": "hi"})

    value = hook_receiver.hooks[0].value
    assert value["contacts"] == [{"profile": {"name": "Bo", "username": "@bo"}, "user_id": "US.77"}]
    assert "from" not in value["messages"][0] and value["messages"][0]["from_user_id"] == "US.77"


def test_a_refused_webhook_shows_as_failed_on_the_phone(customer_post, phone, hook_receiver):
    hook_receiver.answer_status = 403
    customer_post(f"phones/{phone.pk}/messages/", {"text": "hello"})

    message = PhoneMessage.objects.get()
    assert message.status == "failed" and "403" in message.error


def test_tapping_a_reply_button_posts_a_button_reply_with_context(customer_post, graph_post, phone, hook_receiver):
    sent = business_sends(
        graph_post,
        {
            "type": "interactive",
            "interactive": {
                "type": "button",
                "body": {"text": "Talk to?"},
                "action": {"buttons": [{"type": "reply", "reply": {"id": "human", "title": "A person"}}]},
            },
        },
    )
    hook_receiver.hooks.clear()

    customer_post(f"phones/{phone.pk}/messages/", {"reply_to": sent.pk, "choice": "human"})

    message = hook_receiver.hooks[0].value["messages"][0]
    assert message["type"] == "interactive"
    assert message["interactive"] == {"type": "button_reply", "button_reply": {"id": "human", "title": "A person"}}
    assert message["context"] == {"from": "15550109999", "id": sent.wamid}


def test_choosing_a_list_row_posts_a_list_reply(customer_post, graph_post, phone, hook_receiver):
    rows = [{"id": "billing", "title": "Billing", "description": "Invoices"}]
    sent = business_sends(
        graph_post,
        {
            "type": "interactive",
            "interactive": {"type": "list", "body": {"text": "Topic?"}, "action": {"button": "Topics", "sections": [{"rows": rows}]}},
        },
    )
    hook_receiver.hooks.clear()

    customer_post(f"phones/{phone.pk}/messages/", {"reply_to": sent.pk, "choice": "billing"})

    message = hook_receiver.hooks[0].value["messages"][0]
    assert message["interactive"] == {
        "type": "list_reply",
        "list_reply": {"id": "billing", "title": "Billing", "description": "Invoices"},
    }
    assert message["context"]["id"] == sent.wamid


def test_a_template_quick_reply_posts_a_button_message_with_its_payload(customer_post, graph_post, phone, hook_receiver):
    from conversations.providers.sandbox.models import Template

    Template.objects.create(
        business_account_id=phone.number.business_account_id,
        name="delivery",
        language="en_US",
        category="UTILITY",
        status="APPROVED",
        components=[{"type": "BODY", "text": "Arriving today"}, {"type": "BUTTONS", "buttons": [{"type": "QUICK_REPLY", "text": "Reschedule"}]}],
    )
    sent = business_sends(
        graph_post,
        {
            "type": "template",
            "template": {
                "name": "delivery",
                "language": {"code": "en_US"},
                "components": [{"type": "button", "sub_type": "quick_reply", "index": "0", "parameters": [{"type": "payload", "payload": "RESCHEDULE-42"}]}],
            },
        },
    )
    hook_receiver.hooks.clear()

    customer_post(f"phones/{phone.pk}/messages/", {"reply_to": sent.pk, "choice": "RESCHEDULE-42"})

    message = hook_receiver.hooks[0].value["messages"][0]
    assert message["type"] == "button"
    assert message["button"] == {"payload": "RESCHEDULE-42", "text": "Reschedule"}
    assert message["context"]["id"] == sent.wamid


def test_an_unknown_choice_is_refused_and_nothing_is_posted(customer_post, graph_post, phone, hook_receiver):
    sent = business_sends(graph_post, {"type": "text", "text": {"body": "plain"}})
    hook_receiver.hooks.clear()

    response = customer_post(f"phones/{phone.pk}/messages/", {"reply_to": sent.pk, "choice": "nope"})

    assert response.status_code == 400
    assert hook_receiver.hooks == []


def test_sharing_a_location_posts_a_location_message(customer_post, phone, hook_receiver):
    customer_post(f"phones/{phone.pk}/messages/", {"location": {"latitude": 38.72, "longitude": -9.14, "name": "Lisbon"}})
    message = hook_receiver.hooks[0].value["messages"][0]
    assert message["type"] == "location"
    assert message["location"] == {"latitude": 38.72, "longitude": -9.14, "name": "Lisbon"}


def test_seeing_a_delivered_message_posts_read_once(customer_post, graph_post, phone, hook_receiver):
    sent = business_sends(graph_post, {"type": "text", "text": {"body": "Hello Ana"}})
    hook_receiver.hooks.clear()

    first = customer_post(f"phones/{phone.pk}/seen/", {"ids": [sent.pk]})
    again = customer_post(f"phones/{phone.pk}/seen/", {"ids": [sent.pk]})

    assert first.json() == {"seen": 1} and again.json() == {"seen": 0}
    assert hook_receiver.statuses() == [(sent.wamid, "read")]
    assert hook_receiver.hooks[0].signed_with(SANDBOX_SECRET)
    sent.refresh_from_db()
    assert sent.status == "read"


def test_thread_shows_messages_with_their_delivery(signed_in, customer_post, graph_post, phone, hook_receiver):
    customer_post(f"phones/{phone.pk}/messages/", {"text": "hello"})
    business_sends(graph_post, {"type": "text", "text": {"body": "Hi!"}})

    thread = signed_in.get(f"/sandbox/api/phones/{phone.pk}/").json()

    assert [(m["direction"], m["text"], m["status"]) for m in thread["messages"]] == [
        ("in", "hello", "delivered"),
        ("out", "Hi!", "delivered"),
    ]
    assert thread["typing"] is False


def test_phones_of_numbers_not_on_the_sandbox_are_not_reachable(signed_in, number):
    other = Phone.objects.create(number=number, name="Real customer", wa_id="15550000000", user_id="US.5")
    assert signed_in.get(f"/sandbox/api/phones/{other.pk}/").status_code == 404
    assert signed_in.get("/sandbox/api/phones/").json()["phones"] == []
