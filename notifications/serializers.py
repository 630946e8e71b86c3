"""Input and output shapes of the notifications API."""

from __future__ import annotations

from django.utils.translation import gettext
from rest_framework import serializers

from conversations.serializers import ID_MAX
from notifications.models import Campaign, ConsentRecord, MessageTemplate, TemplateCategory
from notifications.models.templates import ParameterFormat
from notifications.pause_reasons import pause_reason_translated


class ConsentChangeSerializer(serializers.Serializer):
    category = serializers.ChoiceField(choices=["marketing", "utility", "all"], default="all")
    proof = serializers.CharField(
        required=False, allow_blank=True, default="", max_length=2000,
        help_text="Where and how the customer gave or withdrew consent; required for an opt-in.",
    )


class ConsentCategoryStateSerializer(serializers.Serializer):
    opted_in = serializers.BooleanField()
    # DRF's metaclass moves declared fields out of the class, so this does not shadow `Field.source`.
    source = serializers.CharField(  # type: ignore[assignment]
        help_text="Where the latest change came from; empty when never asked."
    )
    at = serializers.DateTimeField(allow_null=True, help_text="When the latest change was recorded.")


class ConsentStatesSerializer(serializers.Serializer):
    marketing = ConsentCategoryStateSerializer()
    utility = ConsentCategoryStateSerializer()


class ContactConsentSerializer(serializers.Serializer):
    contact = serializers.IntegerField()
    consent = ConsentStatesSerializer(help_text="The current state per category.")


class ConsentRecordSerializer(serializers.ModelSerializer):
    actor = serializers.CharField(source="actor.username", allow_null=True, read_only=True,
                                  help_text="The user who recorded it; null for the customer or an import.")

    class Meta:
        model = ConsentRecord
        fields = ["id", "category", "opted_in", "source", "proof", "actor", "created_at"]
        read_only_fields = fields


class NotificationResultSerializer(serializers.Serializer):
    message = serializers.IntegerField()
    conversation = serializers.IntegerField()
    contact = serializers.IntegerField()
    status = serializers.CharField(help_text="The message's delivery status.")


class TemplateSerializer(serializers.ModelSerializer):
    class Meta:
        model = MessageTemplate
        fields = ["id", "number", "name", "language", "category", "status", "quality", "parameter_format",
                  "components", "rejection_reason", "remote_id", "last_synced_at", "submit_error"]
        read_only_fields = fields


class TemplateCreateSerializer(serializers.Serializer):
    number = serializers.IntegerField(required=False, help_text="Number id; default: the default number.")
    # The rules of a template's name and content are the service's (notifications.services.templates).
    name = serializers.CharField(max_length=512, help_text="Lower case letters, digits and underscores.")
    language = serializers.CharField(max_length=16)
    category = serializers.ChoiceField(choices=TemplateCategory.choices)
    parameter_format = serializers.ChoiceField(choices=ParameterFormat.choices, default=ParameterFormat.POSITIONAL)
    components = serializers.ListField(child=serializers.DictField(), min_length=1)
    submit = serializers.BooleanField(default=True, help_text="Submit to WhatsApp for review at once.")


class TemplateFilterSerializer(serializers.Serializer):
    number = serializers.IntegerField(required=False, min_value=1, max_value=ID_MAX)
    status = serializers.CharField(required=False)
    sync = serializers.BooleanField(required=False, default=False, help_text="Sync from WhatsApp first (admins).")


class CampaignSerializer(serializers.ModelSerializer):
    template_name = serializers.CharField(source="template.name", read_only=True)
    pause_reason = serializers.SerializerMethodField(
        help_text="Why the campaign paused, in the asker's desk language (a reason someone typed as written)."
    )

    class Meta:
        model = Campaign
        fields = ["id", "name", "number", "template", "template_name", "audience", "audience_filter",
                  "parameter_mapping", "scheduled_at", "state", "pause_reason", "audience_rejected",
                  "created_at", "started_at", "completed_at"]
        read_only_fields = ["id", "state", "audience_rejected", "created_at", "started_at",
                            "completed_at", "template_name"]

    def get_pause_reason(self, campaign: Campaign) -> str:
        return pause_reason_translated(campaign.pause_reason)


class CampaignCreateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=200)
    number = serializers.IntegerField(required=False)
    template = serializers.IntegerField()
    audience = serializers.ChoiceField(choices=Campaign.Audience.choices, default=Campaign.Audience.ALL_OPTED_IN)
    audience_filter = serializers.DictField(required=False, default=dict)
    audience_csv = serializers.CharField(
        required=False, allow_blank=True, default="",
        help_text="For audience `csv`: one recipient per line, a phone number in international format or a "
        "business-scoped user id (`BR.1502…`).")
    parameter_mapping = serializers.JSONField(required=False, default=dict)
    scheduled_at = serializers.DateTimeField(required=False, allow_null=True, default=None)


class CampaignPauseSerializer(serializers.Serializer):
    reason = serializers.CharField(required=False, allow_blank=True, default="Paused by an admin.", max_length=500)


class TemplateRefSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=512)
    language = serializers.CharField(max_length=16)
    parameters = serializers.JSONField(required=False, default=None)


class NotificationCreateSerializer(serializers.Serializer):
    contact = serializers.IntegerField(required=False, help_text="Contact id.")
    to = serializers.CharField(
        required=False, max_length=160,
        help_text="Or the phone number (international format), or the business-scoped user id (`BR.1502…`) of a "
        "customer WhatsApp gives no phone number of.")
    number = serializers.IntegerField(required=False, help_text="With `to`: the number id (default number otherwise).")
    template = TemplateRefSerializer()

    def validate(self, attrs):
        if bool(attrs.get("contact")) == bool(attrs.get("to")):
            raise serializers.ValidationError(gettext("Give exactly one of `contact` or `to`."))
        return attrs
