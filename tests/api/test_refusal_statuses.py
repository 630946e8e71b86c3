"""Every refusal code answers one HTTP status, whichever endpoint refuses: services raise
`Refused(code, detail)` (config/refusals.py) and the API's error handler maps the code
through one table (config.api_errors.REFUSAL_STATUS), the statuses of the README's error
list. Each endpoint below is driven into each refusal it can give."""

from __future__ import annotations

import ast
from datetime import timedelta

import pytest
from django.utils import timezone

from config.api_errors import REFUSAL_STATUS
from conversations.models import Conversation, Message, Participant
from notifications.models import Campaign, MessageTemplate, TemplateStatus
from notifications.services.consent import consent_opt_in
from tests.factories import ContactFactory, ConversationFactory
from tests.test_structure import project_sources

# The README's error list (and its desk-actions section), code by code.
DOCUMENTED = {
    "invalid": 400, "template_invalid": 400, "forbidden": 403, "not_found": 404,
    "window_closed": 409, "not_opted_in": 409, "template_not_approved": 409, "contact_exists": 409,
    "template_exists": 409, "invalid_state": 409, "invalid_status": 409, "over_capacity": 409,
    "not_in_team": 409, "conflict": 409,
}


def refused(response, code: str) -> dict:
    body = response.json()
    assert body["code"] == code, body
    assert response.status_code == REFUSAL_STATUS[code] == DOCUMENTED.get(code, REFUSAL_STATUS[code]), (
        response.status_code, body)
    assert body["detail"]
    return body


def test_the_table_gives_the_documented_status_of_every_documented_code():
    assert {code: REFUSAL_STATUS[code] for code in DOCUMENTED} == DOCUMENTED


def _raised_codes() -> dict[str, str]:
    """Every literal code passed to a refusal class (`*Refused(...)`, IdempotencyConflict)
    in the project's code, with one place that raises it."""
    codes: dict[str, str] = {}
    for path in project_sources():
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.Call) or len(node.args) < 2:  # (code, detail)
                continue
            func = node.func
            name = func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else ""
            first = node.args[0]
            if (name.endswith("Refused") or name == "IdempotencyConflict") and isinstance(first, ast.Constant):
                codes.setdefault(first.value, f"{path.name}:{node.lineno}")
    return codes


def test_every_code_a_service_raises_has_its_status_in_the_table():
    codes = _raised_codes()
    # The scan does find the refusals (a broken scan would pass vacuously).
    assert {"window_closed", "over_capacity", "invalid_state", "contact_exists", "template_exists"} <= set(codes)
    missing = {code: where for code, where in codes.items() if code not in REFUSAL_STATUS}
    assert missing == {}


# --- conversations/<id>/messages/ ---------------------------------------------------------

def _messages(conversation) -> str:
    return f"/api/v1/conversations/{conversation.pk}/messages/"


@pytest.fixture
def utility_template(number):
    return MessageTemplate.objects.create(
        number=number, business_account_id=number.business_account_id, name="order_shipped", language="en",
        category="UTILITY", components=[{"type": "BODY", "text": "Your order {{1}} has shipped."}],
        status=TemplateStatus.APPROVED,
    )


def test_message_refusals(api, agent, teammate, team_conversation, utility_template):
    api.force_authenticate(agent)
    template = {"name": "order_shipped", "language": "en", "parameters": ["A-1"]}

    body = refused(api.post(_messages(team_conversation), {"text": "hi", "reply_to": 999999}, format="json"), "invalid")
    assert body["fields"] == {"reply_to": [body["detail"]]}
    unknown = {**template, "name": "no_such_template"}
    refused(api.post(_messages(team_conversation), {"template": unknown}, format="json"), "template_not_approved")
    refused(api.post(_messages(team_conversation), {"template": template}, format="json"), "not_opted_in")
    consent_opt_in(contact=team_conversation.contact, category="utility", source="web_form")
    bad_parameters = {**template, "parameters": ["A-1", "extra"]}
    refused(api.post(_messages(team_conversation), {"template": bad_parameters}, format="json"), "template_invalid")

    Conversation.objects.filter(pk=team_conversation.pk).update(assignee=teammate, status=Conversation.Status.ASSIGNED)
    refused(api.post(_messages(team_conversation), {"text": "hi"}, format="json"), "forbidden")
    Participant.objects.create(conversation=team_conversation, user=agent, role=Participant.Role.PARTICIPANT)
    Conversation.objects.filter(pk=team_conversation.pk).update(
        last_customer_message_at=timezone.now() - timedelta(days=2)
    )
    refused(api.post(_messages(team_conversation), {"text": "hi"}, format="json"), "window_closed")
    assert not Message.objects.filter(conversation=team_conversation).exists()


# --- conversations/<id>/<desk action>/ ----------------------------------------------------

def _act(api, conversation, action, body=None):
    return api.post(f"/api/v1/conversations/{conversation.pk}/{action}/", body or {}, format="json")


def test_desk_action_refusals(api, agent, teammate, team_conversation):
    api.force_authenticate(agent)

    refused(_act(api, team_conversation, "reopen"), "invalid_status")
    refused(_act(api, team_conversation, "assign", {"agent": teammate.pk}), "forbidden")
    refused(_act(api, team_conversation, "transfer", {}), "invalid")
    # An agent or team named in the body that does not exist: 404 like every `not_found`
    # (it answered 400 before).
    body = refused(_act(api, team_conversation, "transfer", {"agent": 999999}), "not_found")
    assert body["fields"] == {"agent": ["No such agent."]}
    refused(_act(api, team_conversation, "transfer", {"team": 999999}), "not_found")


# --- conference: join/, leave/, whisper/, watch/ ------------------------------------------

@pytest.fixture
def owned(team_conversation, agent):
    Conversation.objects.filter(pk=team_conversation.pk).update(assignee=agent, status=Conversation.Status.ASSIGNED)
    Participant.objects.create(conversation=team_conversation, user=agent, role=Participant.Role.OWNER)
    team_conversation.refresh_from_db()
    return team_conversation


def test_conference_refusals(api, agent, teammate, supervisor, owned):
    api.force_authenticate(agent)
    refused(_act(api, owned, "leave"), "owner_must_transfer")
    refused(_act(api, owned, "watch"), "forbidden")
    body = refused(_act(api, owned, "whisper", {"text": "psst", "to": 999999}), "invalid")
    assert body["fields"] == {"to": ["to: no such user."]}

    api.force_authenticate(teammate)
    refused(_act(api, owned, "leave"), "not_participant")

    Conversation.objects.filter(pk=owned.pk).update(status=Conversation.Status.RESOLVED, resolved_at=timezone.now())
    api.force_authenticate(supervisor)
    refused(_act(api, owned, "join"), "invalid")


# --- contacts/, consent -------------------------------------------------------------------

def test_contact_and_consent_refusals(api, agent, number, team_conversation):
    api.force_authenticate(agent)
    refused(api.post("/api/v1/contacts/", {"wa_id": "not a phone"}, format="json"), "invalid")
    ContactFactory(number=number, wa_id="447700900123")
    refused(api.post("/api/v1/contacts/", {"wa_id": "+44 7700 900123"}, format="json"), "contact_exists")

    opt_in = f"/api/v1/contacts/{team_conversation.contact_id}/opt-in/"
    refused(api.post(opt_in, {"category": "marketing", "proof": "web form"}, format="json"), "forbidden")


def test_opt_in_without_proof_is_invalid(api, admin_user, team_conversation):
    api.force_authenticate(admin_user)
    opt_in = f"/api/v1/contacts/{team_conversation.contact_id}/opt-in/"
    refused(api.post(opt_in, {"category": "marketing"}, format="json"), "invalid")


# --- templates/, campaigns/, notifications/ -------------------------------------------------

def test_template_refusals(api, admin_user, utility_template):
    api.force_authenticate(admin_user)
    new = {"name": "order_shipped", "language": "en", "category": "UTILITY", "submit": False,
           "components": [{"type": "BODY", "text": "Shipped."}]}
    refused(api.post("/api/v1/templates/", new, format="json"), "template_exists")
    no_body = {**new, "name": "other", "components": [{"type": "FOOTER", "text": "Bye"}]}
    body = refused(api.post("/api/v1/templates/", no_body, format="json"), "invalid")
    assert body["fields"] == {"components": ["A template needs a BODY component."]}


def test_campaign_refusals(api, admin_user, utility_template):
    api.force_authenticate(admin_user)
    bad_mapping = {"name": "x", "template": utility_template.pk, "parameter_mapping": ["contact.password"]}
    body = refused(api.post("/api/v1/campaigns/", bad_mapping, format="json"), "invalid")
    assert list(body["fields"]) == ["parameter_mapping"]

    created = api.post("/api/v1/campaigns/", {"name": "Ships", "template": utility_template.pk}, format="json")
    assert created.status_code == 201
    campaign = created.json()["id"]
    refused(api.post(f"/api/v1/campaigns/{campaign}/pause/", {"reason": "x"}, format="json"), "invalid_state")
    MessageTemplate.objects.filter(pk=utility_template.pk).update(status=TemplateStatus.PAUSED)
    refused(api.post(f"/api/v1/campaigns/{campaign}/start/", format="json"), "template_not_approved")
    assert Campaign.objects.get(pk=campaign).state == Campaign.State.DRAFT


def test_notification_refusals_answer_the_same_statuses(api, admin_user, number, utility_template):
    contact = ContactFactory(number=number)
    ConversationFactory(contact=contact)
    api.force_authenticate(admin_user)
    body = {"contact": contact.pk, "template": {"name": "order_shipped", "language": "en", "parameters": ["A-1"]}}
    # The refusal is the answer remembered under the key, not raised, and still has its status.
    refused(api.post("/api/v1/notifications/", body, format="json", HTTP_IDEMPOTENCY_KEY="k1"), "not_opted_in")
    other = {**body, "template": {**body["template"], "parameters": ["A-2"]}}
    refused(api.post("/api/v1/notifications/", other, format="json", HTTP_IDEMPOTENCY_KEY="k1"),
            "idempotency_key_reused")
