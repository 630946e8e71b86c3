"""Templates at the stand-in Graph API: paged listing, creation, review and its webhook."""

from __future__ import annotations

import json

from conversations.providers.sandbox.models import Template

from .conftest import SANDBOX_SECRET, SANDBOX_TOKEN

WABA = "400000000000001"


def create_body(name: str, language: str = "en_US") -> dict:
    return {
        "name": name,
        "language": language,
        "category": "UTILITY",
        "components": [{"type": "BODY", "text": "Your order {{1}} has shipped."}],
    }


def list_templates(client, **params):
    return client.get(f"/sandbox/graph/v23.0/{WABA}/message_templates", params, HTTP_AUTHORIZATION=f"Bearer {SANDBOX_TOKEN}")


def test_created_template_is_pending_then_approved_with_a_signed_status_webhook(graph_post, hook_receiver):
    response = graph_post(f"{WABA}/message_templates", create_body("order_shipped"))

    assert response.status_code == 200
    created = response.json()
    assert created["status"] == "PENDING" and created["category"] == "UTILITY"
    template = Template.objects.get(pk=int(created["id"]))
    assert template.status == "APPROVED"  # reviewed by the task (inline in tests)
    [hook] = hook_receiver.hooks
    assert hook.signed_with(SANDBOX_SECRET)
    assert hook.field == "message_template_status_update"
    assert hook.value["event"] == "APPROVED"
    assert hook.value["message_template_id"] == template.pk
    assert (hook.value["message_template_name"], hook.value["message_template_language"]) == ("order_shipped", "en_US")


def test_templates_named_reject_are_rejected_with_a_reason(graph_post, hook_receiver):
    graph_post(f"{WABA}/message_templates", create_body("reject_me"))

    assert Template.objects.get(name="reject_me").status == "REJECTED"
    assert hook_receiver.hooks[0].value["event"] == "REJECTED"
    assert hook_receiver.hooks[0].value["reason"] == "INVALID_FORMAT"


def test_the_same_name_and_language_twice_gets_code_100(graph_post, hook_receiver):
    graph_post(f"{WABA}/message_templates", create_body("welcome"))
    again = graph_post(f"{WABA}/message_templates", create_body("welcome"))
    other_language = graph_post(f"{WABA}/message_templates", create_body("welcome", language="pt_BR"))

    assert again.status_code == 400 and again.json()["error"]["code"] == 100
    assert other_language.status_code == 200


def test_invalid_template_creation_gets_code_100(graph_post, hook_receiver):
    for body in (create_body("Has Spaces"), {**create_body("ok"), "category": "GOSSIP"}, {**create_body("ok"), "components": []}):
        response = graph_post(f"{WABA}/message_templates", body)
        assert response.status_code == 400 and response.json()["error"]["code"] == 100
    assert not Template.objects.exists()


def test_template_list_is_paged_with_cursors(client, sandbox_number):
    for i in range(5):
        Template.objects.create(business_account_id=WABA, name=f"t{i}", language="en_US", category="UTILITY")

    first = list_templates(client, limit=2).json()
    assert [t["name"] for t in first["data"]] == ["t0", "t1"]
    assert first["paging"]["next"].startswith("http://testserver/sandbox/graph/v23.0/")
    second = list_templates(client, limit=2, after=first["paging"]["cursors"]["after"]).json()
    third = list_templates(client, limit=2, after=second["paging"]["cursors"]["after"]).json()

    assert [t["name"] for t in second["data"]] == ["t2", "t3"]
    assert [t["name"] for t in third["data"]] == ["t4"]
    assert "next" not in third["paging"]
    assert set(first["data"][0]) >= {"id", "name", "language", "status", "category", "components"}


def test_template_list_needs_the_token(client, sandbox_number):
    response = client.get(f"/sandbox/graph/v23.0/{WABA}/message_templates", HTTP_AUTHORIZATION="Bearer nope")
    assert response.status_code == 401
    assert json.loads(response.content)["error"]["code"] == 190
