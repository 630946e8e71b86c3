"""The webhook admin API, and every event type's real payload against its documented
schema (the `WebhookEvent` component of the OpenAPI document)."""

from __future__ import annotations

import copy

import pytest
from django.db import transaction
from jsonschema import Draft202012Validator
from rest_framework.test import APIClient

from agents.services.csat import csat_record_reply
from agents.services.routing import conversation_enqueue
from conversations.models import Message
from conversations.services.conversations import conversation_assign, conversation_resolve
from conversations.services.message_receive import message_receive
from conversations.services.message_send import message_send_text
from notifications.models import (
    Alert,
    Campaign,
    MessageTemplate,
    OutboxEvent,
    WebhookEndpoint,
    WebhookEventType,
)
from notifications.services.alerts import alert_raise
from notifications.services.campaigns import campaign_cancel
from notifications.services.consent import consent_opt_in
from tests.api.test_schema import _to_json_schema
from tests.factories import MessageFactory
from tests.support import webhooks

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def schema(admin_user):
    client = APIClient()
    client.force_authenticate(admin_user)
    return client.get("/api/schema/", {"format": "json"}).json()


def validate(schema: dict, ref: str, value) -> list[str]:
    root = {"components": _to_json_schema(copy.deepcopy(schema["components"])), "$ref": ref}
    return [f"{list(e.absolute_path)}: {e.message}" for e in Draft202012Validator(root).iter_errors(value)]


def make_every_event(number, agent, team, admin_user) -> None:
    wa_id = "15550002222"
    inbound = message_receive(number=number, profile={"wa_id": wa_id, "profile": {"name": "Bea"}},
                              message=webhooks.text_message("where is my order?", wa_id=wa_id))
    conversation = inbound.conversation
    conversation_enqueue(conversation=conversation, team=team, reason="customer asked for a person")
    with transaction.atomic():
        locked = type(conversation).objects.select_for_update().get(pk=conversation.pk)
        conversation_assign(conversation=locked, user=agent)
    message_send_text(conversation=locked, text="On its way!", sender_user=agent)  # message.status: sent
    with transaction.atomic():
        locked = type(conversation).objects.select_for_update().get(pk=conversation.pk)
        conversation_resolve(conversation=locked, actor=agent, note="answered")
    type(conversation).objects.filter(pk=conversation.pk).update(csat_requested_at=locked.resolved_at)
    rating = MessageFactory(conversation=conversation, direction=Message.Direction.INBOUND,
                            payload={"type": "interactive", "interactive": {
                                "type": "button_reply", "button_reply": {"id": f"csat:{conversation.pk}:3"}}})
    assert csat_record_reply(message=rating)
    consent_opt_in(contact=conversation.contact, category="marketing", source="api", proof="web form")
    template = MessageTemplate.objects.create(number=number, name="promo", language="en", category="MARKETING",
                                              components=[{"type": "BODY", "text": "Hi"}], status="approved")
    campaign_cancel(campaign=Campaign.objects.create(name="Spring", number=number, template=template))
    alert_raise(kind=Alert.Kind.NUMBER_RED, incident="number:api:red", title="Support turned red", number=number)


def test_every_event_type_is_sent_as_documented(schema, number, agent, team, admin_user, receiver, settings):
    settings.OUTBOUND_ALLOW_PRIVATE_ADDRESSES, settings.OUTBOUND_REQUIRE_HTTPS = True, False
    WebhookEndpoint.objects.create(url=f"{receiver.url}/hooks", events=list(WebhookEventType.values))
    make_every_event(number, agent, team, admin_user)

    posted = [request.json() for request in receiver.requests]
    assert {event["type"] for event in posted} == set(WebhookEventType.values)
    for event in posted:
        assert not validate(schema, "#/components/schemas/WebhookEvent", event), event
    status = next(e for e in posted if e["type"] == "message.status")
    assert status["data"]["message"]["status"] == "sent" and status["data"]["message"]["provider_message_id"]
    csat = next(e for e in posted if e["type"] == "csat.received")
    assert csat["data"]["score"] == 3 and csat["data"]["label"] == "Good"
    campaign = next(e for e in posted if e["type"] == "campaign.finished")
    assert campaign["data"]["campaign"]["state"] == "cancelled"

    api = APIClient()
    api.force_authenticate(admin_user)
    listed = api.get("/api/v1/webhooks/events/")
    assert listed.status_code == 200 and len(listed.json()) == OutboxEvent.objects.count() == len(posted)
    assert not validate(schema, "#/components/schemas/WebhookEvent", listed.json()[0])


def test_an_event_of_the_wrong_shape_fails_the_schema(schema):
    event = {"id": "evt_1", "type": "conversation.created", "created": "2026-01-01T00:00:00Z",
             "data": {"conversation": {"id": "not a number"}}}
    assert validate(schema, "#/components/schemas/WebhookEvent", event)


def test_admins_register_endpoints_and_others_may_not(api, admin_user, agent, supervisor, settings):
    settings.OUTBOUND_REQUIRE_HTTPS = True
    for persona in (agent, supervisor):
        api.force_authenticate(persona)
        assert api.get("/api/v1/webhooks/endpoints/").status_code == 403
        assert api.post("/api/v1/webhooks/endpoints/", {"url": "https://crm.example.com/h", "events": []},
                        format="json").status_code == 403
    api.force_authenticate(admin_user)
    refused = api.post("/api/v1/webhooks/endpoints/", {"url": "http://crm.example.com/h", "events": []}, format="json")
    assert refused.status_code == 400 and "https" in str(refused.json())
    created = api.post("/api/v1/webhooks/endpoints/",
                       {"url": "https://crm.example.com/h", "events": ["message.created", "csat.received"]},
                       format="json")
    assert created.status_code == 201
    body = created.json()
    assert body["secret"].startswith("whsec_") and body["events"] == ["csat.received", "message.created"]
    endpoint = WebhookEndpoint.objects.get(pk=body["id"])
    assert endpoint.secret == body["secret"]
    assert "secret" not in api.get(f"/api/v1/webhooks/endpoints/{endpoint.pk}/").json()
    changed = api.patch(f"/api/v1/webhooks/endpoints/{endpoint.pk}/", {"enabled": False}, format="json")
    assert changed.status_code == 200 and changed.json()["enabled"] is False
    assert api.get(f"/api/v1/webhooks/endpoints/{endpoint.pk}/deliveries/").json() == []


def test_the_delivery_log_and_resend_over_the_api(api, admin_user, number, endpoint, receiver):
    receiver.script(500, {"error": "nope"})
    message_receive(number=number, profile={"wa_id": "15550003333", "profile": {"name": "Cy"}},
                    message=webhooks.text_message("hi", wa_id="15550003333"))
    api.force_authenticate(admin_user)
    log = api.get(f"/api/v1/webhooks/endpoints/{endpoint.pk}/deliveries/").json()
    failed = next(d for d in log if d["attempt_log"][0]["status_code"] == 500)
    assert failed["state"] == "pending" and "nope" in failed["attempt_log"][0]["response_excerpt"]

    resent = api.post(f"/api/v1/webhooks/deliveries/{failed['id']}/resend/")
    assert resent.status_code == 200 and resent.json()["state"] == "delivered"
    assert [a["status_code"] for a in resent.json()["attempt_log"]] == [200, 500]
