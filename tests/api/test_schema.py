"""The OpenAPI schema tells the truth: real responses validate against the documented ones.

The schema is OpenAPI 3.0; its `nullable` is turned into JSON Schema's null type, and every
documented object is closed (`additionalProperties: false`) so an undocumented field in a
response fails as surely as a missing required one.
"""

from __future__ import annotations

import copy

import pytest
from django.utils import timezone
from jsonschema import Draft202012Validator
from rest_framework.test import APIClient

from notifications.models import MessageTemplate, TemplateStatus
from notifications.services.consent import consent_opt_in
from tests.api.conftest import join
from tests.factories import ContactFactory, MessageFactory


def _to_json_schema(node):
    if isinstance(node, list):
        return [_to_json_schema(item) for item in node]
    if not isinstance(node, dict):
        return node
    node = {key: _to_json_schema(value) for key, value in node.items()}
    if node.get("type") == "object" and "properties" in node and "additionalProperties" not in node:
        node["additionalProperties"] = False
    if node.pop("nullable", False):
        node = {"anyOf": [node, {"type": "null"}]}
    return node


@pytest.fixture
def schema(admin_user):
    client = APIClient()
    client.force_authenticate(admin_user)
    response = client.get("/api/schema/", {"format": "json"})
    assert response.status_code == 200
    return response.json()


def check(schema: dict, path: str, method: str, response) -> None:
    """Validate `response` against the schema's description of `method path` at its status."""
    operation = schema["paths"][path][method]
    documented = operation["responses"].get(str(response.status_code))
    assert documented is not None, f"{method.upper()} {path} does not document status {response.status_code}"
    body_schema = documented["content"]["application/json"]["schema"]
    root = {"components": _to_json_schema(copy.deepcopy(schema["components"])), **_to_json_schema(body_schema)}
    errors = sorted(Draft202012Validator(root).iter_errors(response.json()), key=str)
    assert not errors, "\n".join(f"{list(e.absolute_path)}: {e.message}" for e in errors)


CONVERSATIONS = "/api/v1/conversations/"
CONVERSATION = "/api/v1/conversations/{conversation_id}/"
MESSAGES = "/api/v1/conversations/{conversation_id}/messages/"
CONTACTS = "/api/v1/contacts/"


def test_schema_is_served_only_to_signed_in_users_and_docs_ask_to_sign_in(client, agent):
    assert APIClient().get("/api/schema/").status_code in (401, 403)
    docs = client.get("/api/docs/")
    assert docs.status_code == 302 and docs["Location"].startswith("/accounts/login/")

    client.force_login(agent)
    assert client.get("/api/docs/").status_code == 200


def test_schema_documents_the_conversation_endpoints_and_errors(schema):
    for path, methods in {CONVERSATIONS: ["get"], CONVERSATION: ["get"], MESSAGES: ["get", "post"], CONTACTS: ["get", "post"]}.items():
        for method in methods:
            responses = schema["paths"][path][method]["responses"]
            assert "403" in responses
            assert responses["403"]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/Error"}
    assert {"409", "400", "404"} <= set(schema["paths"][MESSAGES]["post"]["responses"])
    assert set(schema["components"]["schemas"]["Error"]["required"]) == {"code", "detail"}
    assert {"tokenAuth", "cookieAuth"} <= set(schema["components"]["securitySchemes"])


def test_list_detail_and_messages_match_the_schema(schema, api, agent, teammate, team_conversation):
    team_conversation.assignee = teammate
    team_conversation.status = "assigned"
    team_conversation.first_response_due_at = timezone.now()
    team_conversation.save()
    join(team_conversation, teammate, role="owner")
    MessageFactory(conversation=team_conversation)
    MessageFactory(
        conversation=team_conversation,
        direction="out",
        sender_kind="agent",
        sender_user=teammate,
        type="note",
        internal=True,
        status="sent",
        provider_message_id=None,
    )
    api.force_authenticate(agent)
    conversation_id = team_conversation.id

    check(schema, CONVERSATIONS, "get", api.get(CONVERSATIONS))
    check(schema, CONVERSATION, "get", api.get(f"/api/v1/conversations/{conversation_id}/"))
    check(schema, MESSAGES, "get", api.get(f"/api/v1/conversations/{conversation_id}/messages/"))


def test_posted_message_and_refusals_match_the_schema(schema, api, agent, graph, team_conversation):
    api.force_authenticate(agent)
    messages = f"/api/v1/conversations/{team_conversation.id}/messages/"

    created = api.post(messages, {"text": "Hello!"}, format="json")
    note = api.post(messages, {"note": "for the team"}, format="json")
    invalid = api.post(messages, {"text": "a", "note": "b"}, format="json")
    team_conversation.last_customer_message_at = timezone.now() - timezone.timedelta(hours=25)
    team_conversation.save()
    closed = api.post(messages, {"text": "Hello again"}, format="json")

    assert [r.status_code for r in (created, note, invalid, closed)] == [201, 201, 400, 409]
    for response in (created, note, invalid, closed):
        check(schema, MESSAGES, "post", response)


def test_not_found_and_unauthenticated_match_the_schema(schema, api, outsider, team_conversation):
    check(schema, CONVERSATION, "get", APIClient().get(f"/api/v1/conversations/{team_conversation.id}/"))
    api.force_authenticate(outsider)
    check(schema, CONVERSATION, "get", api.get(f"/api/v1/conversations/{team_conversation.id}/"))


def test_contacts_match_the_schema(schema, api, agent, number):
    api.force_authenticate(agent)

    created = api.post(CONTACTS, {"wa_id": "+447700900123", "profile_name": "Cleo"}, format="json")
    duplicate = api.post(CONTACTS, {"wa_id": "447700900123"}, format="json")

    check(schema, CONTACTS, "post", created)
    check(schema, CONTACTS, "post", duplicate)
    check(schema, CONTACTS, "get", api.get(CONTACTS))


def test_the_check_catches_an_untrue_schema(schema, api, agent, team_conversation):
    """The validation is strict enough to fail: a documented field removed from the schema,
    or a required one added, makes a real response invalid."""
    api.force_authenticate(agent)
    response = api.get(f"/api/v1/conversations/{team_conversation.id}/")
    untrue = copy.deepcopy(schema)
    del untrue["components"]["schemas"]["ConversationDetail"]["properties"]["window_open"]
    with pytest.raises(AssertionError):
        check(untrue, CONVERSATION, "get", response)
    untrue = copy.deepcopy(schema)
    untrue["components"]["schemas"]["ConversationDetail"]["required"].append("undocumented")
    with pytest.raises(AssertionError):
        check(untrue, CONVERSATION, "get", response)


def test_schema_generates_without_warnings_and_validates(tmp_path):
    from django.core.management import call_command

    target = tmp_path / "schema.yaml"
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(target))

    text = target.read_text()
    for path in ("/api/v1/conversations/{conversation_id}/join/", "/api/v1/canned-responses/{id}/", "/api/v1/desk/monitor/"):
        assert path in text
    assert "operationId: conversations_assign" in text


def test_starting_a_conversation_matches_the_schema(schema, api, agent, number):
    MessageTemplate.objects.create(
        number=number, business_account_id=number.business_account_id, name="callback", language="en",
        category="UTILITY", components=[{"type": "BODY", "text": "We will call you back."}],
        status=TemplateStatus.APPROVED,
    )
    contact = ContactFactory(number=number, created_by=agent)
    api.force_authenticate(agent)
    body = {"contact": contact.pk, "template": {"name": "callback", "language": "en"}}

    refused = api.post(CONVERSATIONS, body, format="json")
    assert refused.status_code == 409
    check(schema, CONVERSATIONS, "post", refused)
    consent_opt_in(contact=contact, category="utility", source="api", proof="form")
    started = api.post(CONVERSATIONS, body, format="json")
    assert started.status_code == 201
    check(schema, CONVERSATIONS, "post", started)
    reused = api.post(CONVERSATIONS, body, format="json")
    assert reused.status_code == 200
    check(schema, CONVERSATIONS, "post", reused)
    check(schema, CONVERSATIONS, "post", api.post(CONVERSATIONS, {"to": "12", "template": body["template"]}, format="json"))
