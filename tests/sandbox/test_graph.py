"""The stand-in Graph API: answers and errors in Graph's shapes, the token check, and the
signed status webhooks it sends back."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from conversations.providers.sandbox.models import Phone, PhoneMessage, Template

from .conftest import SANDBOX_SECRET

PNID = "300000000000001"


def text(body: str = "Hi Ana", to: str = "15551234567") -> dict:
    return {"messaging_product": "whatsapp", "recipient_type": "individual", "to": to, "type": "text", "text": {"body": body}}


def buttons(n: int, title: str = "Option") -> dict:
    return {
        "messaging_product": "whatsapp",
        "to": "15551234567",
        "type": "interactive",
        "interactive": {
            "type": "button",
            "body": {"text": "Pick one"},
            "action": {"buttons": [{"type": "reply", "reply": {"id": f"b{i}", "title": f"{title} {i}"}} for i in range(n)]},
        },
    }


def list_message(rows: int) -> dict:
    return {
        "messaging_product": "whatsapp",
        "to": "15551234567",
        "type": "interactive",
        "interactive": {
            "type": "list",
            "body": {"text": "Which topic?"},
            "action": {
                "button": "Topics",
                "sections": [{"title": "Help", "rows": [{"id": f"r{i}", "title": f"Row {i}"} for i in range(rows)]}],
            },
        },
    }


def template(name: str, params: list[str], to: str = "15551234567") -> dict:
    return {
        "messaging_product": "whatsapp",
        "to": to,
        "type": "template",
        "template": {
            "name": name,
            "language": {"code": "en_US", "policy": "deterministic"},
            "components": [{"type": "body", "parameters": [{"type": "text", "text": p} for p in params]}],
        },
    }


def error_of(response) -> dict:
    error = response.json()["error"]
    assert {"message", "type", "code", "fbtrace_id"} <= set(error)
    return error


def test_text_send_answers_like_graph_and_records_the_message(graph_post, phone, hook_receiver):
    response = graph_post(f"{PNID}/messages", text("Hi Ana"))

    assert response.status_code == 200
    body = response.json()
    assert body["messaging_product"] == "whatsapp"
    assert body["contacts"] == [{"input": "15551234567", "wa_id": "15551234567"}]
    wamid = body["messages"][0]["id"]
    assert wamid.startswith("wamid.")
    recorded = PhoneMessage.objects.get(wamid=wamid)
    assert (recorded.phone, recorded.direction, recorded.text) == (phone, "out", "Hi Ana")


def test_status_webhooks_sent_then_delivered_are_signed_with_the_app_secret(graph_post, phone, hook_receiver):
    response = graph_post(f"{PNID}/messages", text())
    wamid = response.json()["messages"][0]["id"]

    assert hook_receiver.statuses() == [(wamid, "sent"), (wamid, "delivered")]
    for hook in hook_receiver.hooks:
        assert hook.signed_with(SANDBOX_SECRET)
        assert not hook.signed_with("another-secret")
        assert hook.json["entry"][0]["id"] == phone.number.business_account_id
        assert hook.value["metadata"]["phone_number_id"] == PNID
        item = hook.value["statuses"][0]
        assert item["recipient_id"] == "15551234567" and item["recipient_user_id"] == phone.user_id
    assert PhoneMessage.objects.get(wamid=wamid).status == "delivered"


def test_wrong_or_missing_token_gets_401_with_code_190(graph_post, phone, hook_receiver):
    for token in ("not-the-token", None):
        response = graph_post(f"{PNID}/messages", text(), token=token)
        assert response.status_code == 401
        assert error_of(response)["code"] == 190
    assert not PhoneMessage.objects.exists()
    assert hook_receiver.hooks == []


def test_unknown_phone_number_id_gets_code_100(graph_post, phone):
    response = graph_post("999/messages", text())
    assert response.status_code == 400
    assert error_of(response)["code"] == 100


@pytest.mark.parametrize(
    "body",
    [
        {**text(), "messaging_product": "sms"},
        {**text(), "type": "carrier_pigeon"},
        {k: v for k, v in text().items() if k != "to"},
        text("x" * 4097),
        buttons(4),
        buttons(2, title="A title far too long for a button"),
        list_message(11),
        "not json",
    ],
    ids=["product", "type", "no-recipient", "long-text", "four-buttons", "long-title", "eleven-rows", "not-json"],
)
def test_invalid_sends_get_code_100_with_details(graph_post, phone, body):
    response = graph_post(f"{PNID}/messages", body)
    assert response.status_code == 400
    error = error_of(response)
    assert error["code"] == 100
    assert error["error_data"]["details"]
    assert not PhoneMessage.objects.exists()


def test_buttons_and_lists_within_limits_are_accepted_and_rendered(graph_post, phone, hook_receiver):
    graph_post(f"{PNID}/messages", buttons(3))
    graph_post(f"{PNID}/messages", list_message(10))

    shown = [m.rendered for m in PhoneMessage.objects.order_by("id")]
    assert [b["id"] for b in shown[0]["buttons"]] == ["b0", "b1", "b2"]
    assert shown[1]["list_button"] == "Topics" and len(shown[1]["sections"][0]["rows"]) == 10


def test_free_text_refused_with_131047_once_24_hours_passed(graph_post, phone, hook_receiver):
    Phone.objects.filter(pk=phone.pk).update(last_sent_at=timezone.now() - timedelta(hours=24, seconds=1))

    response = graph_post(f"{PNID}/messages", text())

    assert response.status_code == 400
    assert error_of(response)["code"] == 131047
    assert not PhoneMessage.objects.exists()


def test_free_text_to_someone_who_never_wrote_is_refused_with_131047(graph_post, sandbox_number):
    response = graph_post(f"{PNID}/messages", text(to="15559876543"))
    assert error_of(response)["code"] == 131047
    assert not Phone.objects.exists()


def _approved(sandbox_number, name="order_update", body="Hi {{1}}, order {{2}} is on its way.", status="APPROVED"):
    return Template.objects.create(
        business_account_id=sandbox_number.business_account_id,
        name=name,
        language="en_US",
        category="UTILITY",
        status=status,
        components=[
            {"type": "BODY", "text": body},
            {"type": "BUTTONS", "buttons": [{"type": "QUICK_REPLY", "text": "Track it"}]},
        ],
    )


def test_template_that_does_not_exist_or_is_not_approved_gets_132001(graph_post, phone, sandbox_number):
    _approved(sandbox_number, name="still_pending", status="PENDING")
    for name in ("no_such_template", "still_pending"):
        response = graph_post(f"{PNID}/messages", template(name, []))
        assert error_of(response)["code"] == 132001


def test_template_with_wrong_parameter_count_gets_132000(graph_post, phone, sandbox_number):
    _approved(sandbox_number)
    response = graph_post(f"{PNID}/messages", template("order_update", ["Ana"]))
    assert error_of(response)["code"] == 132000


def test_approved_template_goes_outside_the_window_and_to_new_numbers(graph_post, phone, sandbox_number, hook_receiver):
    _approved(sandbox_number)
    Phone.objects.filter(pk=phone.pk).update(last_sent_at=timezone.now() - timedelta(days=3))

    old = graph_post(f"{PNID}/messages", template("order_update", ["Ana", "A-17"]))
    new = graph_post(f"{PNID}/messages", template("order_update", ["Bo", "B-2"], to="15557770000"))

    assert old.status_code == 200 and new.status_code == 200
    shown = PhoneMessage.objects.get(wamid=old.json()["messages"][0]["id"]).rendered
    assert shown["body"] == "Hi Ana, order A-17 is on its way."
    assert shown["buttons"] == [{"kind": "reply", "id": "Track it", "title": "Track it"}]
    assert Phone.objects.filter(number=sandbox_number, wa_id="15557770000").exists()


def test_mark_read_records_the_read_and_shows_typing(graph_post, phone, hook_receiver):
    earlier = PhoneMessage.objects.create(phone=phone, direction="in", wamid="wamid.A", type="text", status="delivered")
    latest = PhoneMessage.objects.create(phone=phone, direction="in", wamid="wamid.B", type="text", status="delivered")

    response = graph_post(
        f"{PNID}/messages",
        {"messaging_product": "whatsapp", "status": "read", "message_id": "wamid.B", "typing_indicator": {"type": "text"}},
    )

    assert response.json() == {"success": True}
    earlier.refresh_from_db()
    latest.refresh_from_db()
    assert earlier.status == latest.status == "read"
    phone.refresh_from_db()
    assert phone.business_typing_until > timezone.now()


def test_mark_read_of_an_unknown_message_gets_code_100(graph_post, phone):
    response = graph_post(f"{PNID}/messages", {"messaging_product": "whatsapp", "status": "read", "message_id": "wamid.X"})
    assert error_of(response)["code"] == 100


def test_a_business_message_clears_the_typing_indicator(graph_post, phone, hook_receiver):
    Phone.objects.filter(pk=phone.pk).update(business_typing_until=timezone.now() + timedelta(seconds=20))
    graph_post(f"{PNID}/messages", text())
    phone.refresh_from_db()
    assert phone.business_typing_until is None
