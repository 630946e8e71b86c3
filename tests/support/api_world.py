"""Objects every API operation can be pointed at, for the tests that sweep the whole API
(schema conformance, malformed bodies): a queued conversation of the agent's team with its
contact and a message, an approved template, a draft campaign, the agent's canned
response, an open remediation case and an open alert of the number, a webhook endpoint with
one delivery, a web chat inbox, plus an API token per persona."""

from __future__ import annotations

from django.utils import timezone
from rest_framework.authtoken.models import Token

from agents.models import CannedResponse
from conversations.models import WebChatInbox
from notifications.models import (
    Alert,
    Campaign,
    MessageTemplate,
    OutboxEvent,
    RemediationCase,
    TemplateStatus,
    WebhookDelivery,
    WebhookEndpoint,
)
from notifications.services.alerts import alert_payload
from tests.factories import ContactFactory, ConversationFactory, MessageFactory
from tests.support import webhooks


def api_world(*, number, team, admin, supervisor, agent, outsider) -> dict:
    """`headers`: the `Authorization` header per persona name; `path`: the value of each
    path parameter of the schema (`conversation_id`, `contact_id`, `campaign_id`, `id`,
    `number_id`, `case_id`, `alert_id`)."""
    contact = ContactFactory(number=number, profile_name="Ada Customer", wa_id="447700900001")
    conversation = ConversationFactory(contact=contact, team=team, status="queued", queued_at=timezone.now())
    MessageFactory(conversation=conversation)
    template = MessageTemplate.objects.create(
        number=number, business_account_id=webhooks.WABA_ID, name="order_update", language="en",
        category="UTILITY", components=[{"type": "BODY", "text": "Order {{1}} ships soon."}],
        status=TemplateStatus.APPROVED, remote_id="9001",
    )
    campaign = Campaign.objects.create(name="Spring", number=number, template=template, created_by=admin)
    canned = CannedResponse.objects.create(
        scope=CannedResponse.Scope.PERSONAL, owner=agent, shortcut="hi", title="Hi", body="Hello!"
    )
    case = RemediationCase.objects.create(number=number, trigger="admin", reason="API world",
                                          deadline_at=RemediationCase.deadline_for(timezone.now()))
    alert = Alert.objects.create(kind="number_red", incident=f"number:{number.pk}:red", number=number,
                                 title="Support turned red")
    # An endpoint nobody listens at (a resend fails fast and is logged) with one delivery.
    endpoint = WebhookEndpoint.objects.create(url="http://127.0.0.1:9/hook", events=["alert.created"])
    event = OutboxEvent.objects.create(event_id="evt_world", type="alert.created", payload={
        "id": "evt_world", "type": "alert.created", "created": timezone.now().isoformat(),
        "data": {"alert": alert_payload(alert)}})
    delivery = WebhookDelivery.objects.create(endpoint=endpoint, event=event, state="delivered")
    inbox = WebChatInbox.objects.create(name="Shop", number=number, team=team, allowed_origins="https://shop.example")
    users = {"admin": admin, "supervisor": supervisor, "agent": agent, "outsider": outsider}
    return {
        "headers": {
            name: {"Authorization": f"Token {Token.objects.get_or_create(user=user)[0].key}"}
            for name, user in users.items()
        },
        "path": {
            "conversation_id": conversation.pk,
            "contact_id": contact.pk,
            "campaign_id": campaign.pk,
            "id": canned.pk,
            "number_id": number.pk,
            "case_id": case.pk,
            "alert_id": alert.pk,
            "endpoint_id": endpoint.pk,
            "delivery_id": delivery.pk,
            "inbox_id": inbox.pk,
        },
    }
