"""The shapes of outgoing webhook payloads, as serializers so the OpenAPI document carries
them as components (`WebhookEvent` and one `Webhook…` component per event type); the
payloads themselves are built in conversations.services.webhook_outbox and kept in step
by tests/integrations/test_webhook_api.py."""

from __future__ import annotations

from drf_spectacular.utils import PolymorphicProxySerializer
from rest_framework import serializers

from notifications.models import Alert, CampaignRecipient, WebhookEventType


class WebhookContactSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    wa_id = serializers.CharField(help_text="WhatsApp id (phone number); empty where Meta gives only a user id.")
    user_id = serializers.CharField(help_text="Business-scoped user id, where known.")
    name = serializers.CharField()
    language = serializers.CharField()


class WebhookUserRefSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    username = serializers.CharField()


class WebhookConversationSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    status = serializers.ChoiceField(choices=["bot", "queued", "assigned", "resolved"])
    channel = serializers.CharField()
    number = serializers.IntegerField(help_text="The WhatsApp number's id.")
    contact = WebhookContactSerializer()
    team = serializers.IntegerField(allow_null=True)
    assignee = WebhookUserRefSerializer(allow_null=True)
    priority = serializers.IntegerField()
    language = serializers.CharField()
    created_at = serializers.DateTimeField()
    queued_at = serializers.DateTimeField(allow_null=True)
    assigned_at = serializers.DateTimeField(allow_null=True)
    resolved_at = serializers.DateTimeField(allow_null=True)
    csat_score = serializers.IntegerField(allow_null=True)


class WebhookMessageSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    conversation = serializers.IntegerField()
    direction = serializers.ChoiceField(choices=["in", "out"])
    sender_kind = serializers.CharField(help_text="contact, agent, bot or system.")
    sender_user = serializers.IntegerField(allow_null=True)
    type = serializers.CharField(help_text="WhatsApp message type (text, image, interactive, template, …).")
    text = serializers.CharField()
    status = serializers.CharField(help_text="received (inbound); pending, sending, sent, delivered, read, failed.")
    provider_message_id = serializers.CharField(allow_null=True, help_text="WhatsApp's message id (wamid).")
    error_code = serializers.CharField()
    error_text = serializers.CharField()
    created_at = serializers.DateTimeField()
    sent_at = serializers.DateTimeField(allow_null=True)
    delivered_at = serializers.DateTimeField(allow_null=True)
    read_at = serializers.DateTimeField(allow_null=True)
    failed_at = serializers.DateTimeField(allow_null=True)


# Fields named like a Field attribute (`source`, `label`) are declared through type().
WebhookConsentSerializer = type("WebhookConsentSerializer", (serializers.Serializer,), {
    "id": serializers.IntegerField(),
    "category": serializers.CharField(),
    "opted_in": serializers.BooleanField(),
    "source": serializers.CharField(help_text="Where it came from (keyword, api, admin, import, …)."),
    "actor": serializers.IntegerField(allow_null=True),
    "at": serializers.DateTimeField(),
})


class WebhookCampaignRecipientsSerializer(serializers.Serializer):
    def get_fields(self):
        return {state: serializers.IntegerField() for state in CampaignRecipient.State.values}


class WebhookCampaignSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    state = serializers.ChoiceField(choices=["completed", "cancelled"])
    number = serializers.IntegerField()
    template = serializers.IntegerField()
    started_at = serializers.DateTimeField(allow_null=True)
    finished_at = serializers.DateTimeField(allow_null=True)
    recipients = WebhookCampaignRecipientsSerializer(help_text="Recipients counted by state.")


class WebhookAlertSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    kind = serializers.CharField(help_text="The alert's kind (token_expired, number_red, webhook_disabled, …).")
    severity = serializers.ChoiceField(choices=Alert.Severity.choices)
    title = serializers.CharField()
    detail = serializers.CharField()
    link = serializers.CharField()
    number = serializers.IntegerField(allow_null=True)
    opened_at = serializers.DateTimeField()
    occurrences = serializers.IntegerField()
    closed_at = serializers.DateTimeField(allow_null=True)


# --- `data` per event type -------------------------------------------------------------------


class WebhookConversationData(serializers.Serializer):
    conversation = WebhookConversationSerializer()


class WebhookHandoffData(WebhookConversationData):
    reason = serializers.CharField(help_text="Why the bot handed off.")


class WebhookAssignedData(WebhookConversationData):
    reason = serializers.CharField()
    previous_assignee = serializers.IntegerField(allow_null=True, help_text="Set on a transfer between agents.")


class WebhookResolvedData(WebhookConversationData):
    note = serializers.CharField()


WebhookCsatData = type("WebhookCsatData", (WebhookConversationData,), {
    "score": serializers.IntegerField(min_value=1, max_value=3, help_text="3 good, 2 OK, 1 bad."),
    "label": serializers.CharField(help_text="The answer's title: Good, OK or Bad."),
    "previous_score": serializers.IntegerField(allow_null=True),
})


class WebhookMessageData(serializers.Serializer):
    message = WebhookMessageSerializer()


class WebhookConsentData(serializers.Serializer):
    contact = WebhookContactSerializer()
    consent = WebhookConsentSerializer()


class WebhookCampaignData(serializers.Serializer):
    campaign = WebhookCampaignSerializer()


class WebhookAlertData(serializers.Serializer):
    alert = WebhookAlertSerializer()


DATA_SERIALIZERS: dict[str, type[serializers.Serializer]] = {
    WebhookEventType.CONVERSATION_CREATED: WebhookConversationData,
    WebhookEventType.CONVERSATION_HANDOFF: WebhookHandoffData,
    WebhookEventType.CONVERSATION_ASSIGNED: WebhookAssignedData,
    WebhookEventType.CONVERSATION_RESOLVED: WebhookResolvedData,
    WebhookEventType.MESSAGE_CREATED: WebhookMessageData,
    WebhookEventType.MESSAGE_STATUS: WebhookMessageData,
    WebhookEventType.CSAT_RECEIVED: WebhookCsatData,
    WebhookEventType.CONSENT_CHANGED: WebhookConsentData,
    WebhookEventType.CAMPAIGN_FINISHED: WebhookCampaignData,
    WebhookEventType.ALERT_CREATED: WebhookAlertData,
}


def _component_name(event_type: str) -> str:
    return "Webhook" + "".join(part.capitalize() for part in event_type.replace(".", "_").split("_"))


def _event_serializer(event_type: str, data: type[serializers.Serializer]) -> type[serializers.Serializer]:
    fields = {
        "id": serializers.CharField(help_text="The event's id (evt_…): the same on every retry and resend."),
        "type": serializers.ChoiceField(choices=[event_type]),
        "created": serializers.DateTimeField(),
        "data": data(),
    }
    return type(_component_name(event_type), (serializers.Serializer,), fields)


EVENT_SERIALIZERS = {
    str(event_type): _event_serializer(str(event_type), data) for event_type, data in DATA_SERIALIZERS.items()
}


def webhook_event_schema(*, many: bool = False) -> PolymorphicProxySerializer:
    """The `WebhookEvent` component: one of the event shapes, told apart by `type`."""
    return PolymorphicProxySerializer(
        component_name="WebhookEvent", serializers=dict(EVENT_SERIALIZERS), resource_type_field_name="type",
        many=many,
    )
