"""Request and response shapes of the conversations API. Output serializers only read
attributes prepared by selectors; input serializers only validate shapes (rules live in
the services)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from django.utils.translation import gettext
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from config.api_errors import ErrorSerializer  # noqa: F401  (the shared error shape, named here for the API views)
from conversations.models import Conversation, Message, MessageMedia
from conversations.payloads import conversation_payload, media_payload, message_pricing, person_name

TEXT_MAX = 4096
# Ids taken from requests stay within a database integer (BigAutoField), so a filter on a
# foreign key never overflows the database driver.
ID_MAX = 2**63 - 1


class UserBriefSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    username = serializers.CharField()
    name = serializers.SerializerMethodField()

    class Meta:
        ref_name = "UserBrief"

    @extend_schema_field(OpenApiTypes.STR)
    def get_name(self, user) -> str:
        if isinstance(user, Mapping):  # a person in a conversation's payload
            return user["name"]
        return person_name(user)


class TeamBriefSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    slug = serializers.CharField()

    class Meta:
        ref_name = "TeamBrief"


class NumberBriefSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    display_phone_number = serializers.CharField()
    phone_number_id = serializers.CharField()

    class Meta:
        ref_name = "NumberBrief"


class ContactSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    number = serializers.IntegerField(source="number_id")
    wa_id = serializers.CharField(help_text="WhatsApp id: the phone number in E.164 digits, or empty.")
    user_id = serializers.CharField(help_text="Business-scoped user id, or empty.")
    parent_user_id = serializers.CharField(
        help_text="Parent business-scoped user id (linked business portfolios), as WhatsApp last gave it, or empty."
    )
    profile_name = serializers.CharField()
    language = serializers.CharField(help_text="The language texts are sent in and routing asks for; empty: not known.")
    language_source = serializers.ChoiceField(
        choices=["", "detected", "agent"],
        help_text="Who set `language`: detected from the customer's first messages, or a person (desk, API, admin).",
    )
    language_set_at = serializers.DateTimeField(allow_null=True)
    attributes = serializers.DictField()
    created_at = serializers.DateTimeField()

    class Meta:
        ref_name = "Contact"


class ContactUpdateSerializer(serializers.Serializer):
    language = serializers.CharField(
        allow_blank=True,
        max_length=16,
        help_text="Correct the contact's language: a code such as en, es, pt, de, fr or hi (the texts Handoff ships; "
        "a region like es-MX counts as es); empty clears it. Detection never changes it afterwards.",
    )

    class Meta:
        ref_name = "ContactUpdate"


class ParticipantSerializer(serializers.Serializer):
    # Reads a person in the conversation's payload (`participants`).
    user = UserBriefSerializer(source="*")
    role = serializers.ChoiceField(choices=["owner", "participant", "watcher"])
    joined_at = serializers.DateTimeField()

    class Meta:
        ref_name = "Participant"


class _Shown:
    """A conversation and its payload: the serializer's shared fields read the payload,
    the API's nested objects the conversation's related rows."""

    def __init__(self, conversation: Conversation) -> None:
        self.conversation = conversation
        self.payload = conversation_payload(conversation)

    def __getattr__(self, name: str):
        return getattr(self.conversation, name)


class ConversationSerializer(serializers.Serializer):
    """A row of the conversation list."""

    # The conversation's payload (conversations.payloads, which the desk's rows and its
    # `conversation.updated` events are built from too), with the number, contact, team
    # and assignee as nested objects; the selectors load everything it reads.

    id = serializers.IntegerField(source="payload.id")
    status = serializers.ChoiceField(choices=Conversation.Status.choices, source="payload.status")
    on_hold = serializers.BooleanField(source="payload.on_hold")
    channel = serializers.CharField(source="payload.channel")
    priority = serializers.IntegerField(source="payload.priority")
    number = NumberBriefSerializer()
    contact = ContactSerializer()
    team = TeamBriefSerializer(allow_null=True)
    assignee = UserBriefSerializer(allow_null=True)
    participants = ParticipantSerializer(many=True, source="payload.participants")
    last_activity_at = serializers.DateTimeField(source="payload.last_activity_at")
    last_message_preview = serializers.CharField(source="payload.preview")
    last_customer_message_at = serializers.DateTimeField(allow_null=True, source="payload.last_customer_message_at")
    window_expires_at = serializers.DateTimeField(allow_null=True, read_only=True, source="payload.window_expires_at")
    window_open = serializers.BooleanField(read_only=True, source="payload.window_open")
    created_at = serializers.DateTimeField(source="payload.created_at")

    class Meta:
        ref_name = "Conversation"

    def to_representation(self, instance):
        return super().to_representation(instance if isinstance(instance, _Shown) else _Shown(instance))


class ConversationDetailSerializer(ConversationSerializer):
    """One conversation with its timings, SLA due times and the bot's handoff context."""

    language = serializers.CharField()
    required_skills = serializers.ListField(child=serializers.CharField())
    queued_at = serializers.DateTimeField(allow_null=True)
    assigned_at = serializers.DateTimeField(allow_null=True)
    first_response_at = serializers.DateTimeField(allow_null=True)
    last_agent_message_at = serializers.DateTimeField(allow_null=True)
    resolved_at = serializers.DateTimeField(allow_null=True)
    first_response_due_at = serializers.DateTimeField(allow_null=True)
    next_response_due_at = serializers.DateTimeField(allow_null=True)
    sla_breached_at = serializers.DateTimeField(allow_null=True)
    handoff = serializers.DictField(
        source="handoff_context",
        allow_null=True,
        help_text="Context of the latest handoff from a bot (reason, policy, collected values, "
        "last intent, transcript summary, suggested team), or null.",
    )

    class Meta:
        ref_name = "ConversationDetail"


class MessagePricingSerializer(serializers.Serializer):
    category = serializers.CharField(help_text="marketing, utility, authentication, service, … (empty if unknown).")
    type = serializers.CharField(help_text="regular (charged), free_customer_service or free_entry_point.")
    model = serializers.CharField(help_text="PMP for per-message pricing.")
    charged = serializers.BooleanField(allow_null=True)
    summary = serializers.CharField(help_text="A readable summary, as the desk's tooltip shows it.")

    class Meta:
        ref_name = "MessagePricing"


class MediaSerializer(serializers.Serializer):
    """The file of an image, audio, video, document or sticker message."""

    kind = serializers.ChoiceField(choices=MessageMedia.Kind.choices)
    state = serializers.ChoiceField(
        choices=MessageMedia.State.choices,
        help_text="`pending`/`downloading` while an inbound file is fetched, `stored` when it can be "
        "opened, `failed` with the reason (retry: POST …/messages/<id>/media/retry/), `removed` after erasure "
        "or retention.",
    )
    voice = serializers.BooleanField(help_text="An audio message recorded as a voice note.")
    mime_type = serializers.CharField()
    file_name = serializers.CharField(help_text="The original file name (documents), else empty.")
    size = serializers.IntegerField(allow_null=True, help_text="Bytes, once stored.")
    inline = serializers.BooleanField(help_text="Shown in the page (image, audio, video); else a download.")
    url = serializers.CharField(allow_null=True, help_text="The file, for users who may see the conversation.")
    thumbnail_url = serializers.CharField(allow_null=True, help_text="A small image of an image or sticker.")
    failure_code = serializers.CharField()
    failure_reason = serializers.CharField()

    class Meta:
        ref_name = "MessageMedia"


class MessageSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    conversation = serializers.IntegerField(source="conversation_id")
    direction = serializers.ChoiceField(choices=Message.Direction.choices)
    sender_kind = serializers.ChoiceField(choices=Message.SenderKind.choices)
    sender = UserBriefSerializer(source="sender_user", allow_null=True)
    sender_name = serializers.SerializerMethodField(
        help_text="Who wrote it, as the desk shows it: the contact's name, the user's name, or Bot/System."
    )
    type = serializers.CharField(help_text="WhatsApp message type, or `note`.")
    internal = serializers.BooleanField(help_text="An internal note or whisper: never sent to the customer.")
    whisper = serializers.SerializerMethodField(help_text="An internal note addressed to the agents in a conference.")
    business_initiated = serializers.BooleanField()
    text = serializers.CharField(help_text="The body, or a readable summary of non-text messages.")
    reply_to = serializers.IntegerField(source="reply_to_id", allow_null=True)
    status = serializers.ChoiceField(choices=Message.Status.choices)
    error_code = serializers.CharField()
    error_text = serializers.CharField()
    provider_message_id = serializers.CharField(allow_null=True)
    created_at = serializers.DateTimeField()
    sent_at = serializers.DateTimeField(allow_null=True)
    delivered_at = serializers.DateTimeField(allow_null=True)
    read_at = serializers.DateTimeField(allow_null=True)
    failed_at = serializers.DateTimeField(allow_null=True)
    pricing = serializers.SerializerMethodField(
        help_text="What WhatsApp reported it charges (per-message pricing): `category`, `type` (regular, "
        "free_customer_service, free_entry_point), `model`, `charged`, `summary`; null until reported."
    )
    media = serializers.SerializerMethodField(help_text="The file of a media message, or null.")

    class Meta:
        ref_name = "Message"

    @extend_schema_field(MediaSerializer(allow_null=True))
    def get_media(self, message: Message) -> dict | None:
        return media_payload(message)

    @extend_schema_field(OpenApiTypes.STR)
    def get_sender_name(self, message: Message) -> str:
        if message.sender_kind == Message.SenderKind.CONTACT:
            contact = message.conversation.contact
            return contact.profile_name or contact.wa_id or contact.user_id
        if message.sender_user is not None:
            return message.sender_user.get_full_name() or message.sender_user.get_username()
        return message.get_sender_kind_display()

    @extend_schema_field(OpenApiTypes.BOOL)
    def get_whisper(self, message: Message) -> bool:
        return message.whisper

    @extend_schema_field(MessagePricingSerializer(allow_null=True))
    def get_pricing(self, message: Message) -> dict[str, Any] | None:
        return message_pricing(message)


class TemplateInputSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=512)
    language = serializers.CharField(max_length=16)
    parameters = serializers.JSONField(
        required=False,
        help_text="Body parameters as a list of strings, or components by name as an object.",
    )

    class Meta:
        ref_name = "TemplateInput"

    def validate_parameters(self, value):
        if value is None:
            return []
        if not isinstance(value, list | dict):
            raise serializers.ValidationError(gettext("Give a list or an object."))
        return value


class MessageCreateSerializer(serializers.Serializer):
    """Exactly one of `text` (a reply, optionally quoting `reply_to`), `note` (internal) or `template`."""

    text = serializers.CharField(required=False, max_length=TEXT_MAX, trim_whitespace=False)
    reply_to = serializers.IntegerField(required=False, allow_null=True, help_text="Id of a message to quote.")
    note = serializers.CharField(required=False, max_length=TEXT_MAX)
    template = TemplateInputSerializer(required=False)

    class Meta:
        ref_name = "MessageCreate"

    def validate_text(self, value: str) -> str:
        if not value.strip():
            raise serializers.ValidationError(gettext("This field may not be blank."))
        return value

    def validate(self, attrs):
        kinds = [key for key in ("text", "note", "template") if key in attrs]
        if len(kinds) != 1:
            raise serializers.ValidationError(gettext("Give exactly one of text, note or template."))
        if attrs.get("reply_to") is not None and kinds[0] != "text":
            raise serializers.ValidationError({"reply_to": [gettext("Only a text reply can quote a message.")]})
        return attrs


class ConversationCreateSerializer(serializers.Serializer):
    """Start a conversation: exactly one of `contact` or `to`, and an approved template."""

    contact = serializers.IntegerField(
        required=False, min_value=1, max_value=ID_MAX, help_text="Id of a contact you may see."
    )
    to = serializers.CharField(
        required=False, max_length=160,
        help_text="A phone number in international format (`+44 7700 900123`), or the business-scoped user id "
        "(`BR.1502…`) of a customer WhatsApp gives no phone number of; one new to this WhatsApp number creates its "
        "contact.",
    )
    number = serializers.IntegerField(
        required=False, min_value=1, max_value=ID_MAX,
        help_text="The WhatsApp number to write from (with `to`); the default number if left out.",
    )
    template = TemplateInputSerializer()
    opt_in_proof = serializers.CharField(
        required=False, allow_blank=True, max_length=2000,
        help_text="The customer has just agreed: record an opt-in for the template's category with this proof "
        "first (needs the record opt-in permission).",
    )

    class Meta:
        ref_name = "ConversationCreate"

    def validate(self, attrs):
        if ("contact" in attrs) == bool((attrs.get("to") or "").strip()):
            raise serializers.ValidationError(gettext("Give exactly one of contact or to."))
        return attrs


class ConversationStartedSerializer(serializers.Serializer):
    conversation = ConversationDetailSerializer()
    message = MessageSerializer(help_text="The template message, queued for delivery.")
    created = serializers.BooleanField(help_text="A new conversation; false when the open one was reused.")
    contact_created = serializers.BooleanField(help_text="The phone number was new: its contact was created.")

    class Meta:
        ref_name = "ConversationStarted"


class MessageUploadSerializer(serializers.Serializer):
    """A file to send (multipart/form-data), with an optional caption (images, videos and
    documents). WhatsApp's rules: image (JPEG, PNG) 5 MB, audio (AAC, AMR, MP3, MP4 audio,
    OGG Opus) 16 MB, video (MP4, 3GPP) 16 MB, document (PDF, text, Office) 100 MB,
    sticker (WebP) 500 KB."""

    file = serializers.FileField(allow_empty_file=True, use_url=False)
    caption = serializers.CharField(required=False, allow_blank=True, max_length=TEXT_MAX, trim_whitespace=False)
    reply_to = serializers.IntegerField(required=False, allow_null=True, help_text="Id of a message to quote.")
    template = serializers.JSONField(
        required=False,
        binary=True,
        help_text="An approved template whose header is an image, video or document, as JSON text "
        '(`{"name", "language", "parameters"}`, parameters of the body and buttons only): the file '
        "becomes its header. Templates may be sent outside the 24-hour window.",
    )

    def validate_template(self, value):
        template = TemplateInputSerializer(data=value)
        template.is_valid(raise_exception=True)
        return template.validated_data

    def validate(self, attrs):
        if "template" in attrs and (attrs.get("caption") or attrs.get("reply_to") is not None):
            raise serializers.ValidationError(gettext("A template's header file takes no caption or reply_to."))
        return attrs

    class Meta:
        ref_name = "MessageUpload"


class ContactCreateSerializer(serializers.Serializer):
    number = serializers.IntegerField(required=False, help_text="WhatsApp number id; the default number if left out.")
    wa_id = serializers.CharField(
        required=False, allow_blank=True, max_length=32, help_text="Phone number in international format."
    )
    user_id = serializers.CharField(required=False, allow_blank=True, max_length=128)
    profile_name = serializers.CharField(required=False, allow_blank=True, max_length=256)
    language = serializers.CharField(required=False, allow_blank=True, max_length=16)
    attributes = serializers.DictField(required=False)

    class Meta:
        ref_name = "ContactCreate"


class QueryDateTimeField(serializers.DateTimeField):
    """An ISO 8601 time from a query string, where an unencoded `+01:00` offset arrives as ` 01:00`."""

    def to_internal_value(self, value):
        if isinstance(value, str):
            value = re.sub(r" (\d{2}:?\d{2})$", r"+\1", value.strip())
        return super().to_internal_value(value)


class ConversationFilterSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=Conversation.Status.choices, required=False)
    team = serializers.IntegerField(required=False, min_value=1, max_value=ID_MAX, help_text="Team id.")
    assignee = serializers.RegexField(
        r"^(\d{1,18}|me|none)$",
        required=False,
        help_text="A user id, `me`, or `none` for unassigned conversations.",
    )
    since = QueryDateTimeField(
        required=False, help_text="Only conversations with activity after this ISO 8601 time."
    )

    class Meta:
        ref_name = "ConversationFilter"


class MessageFilterSerializer(serializers.Serializer):
    after = serializers.IntegerField(
        required=False, min_value=0, max_value=ID_MAX, help_text="Only messages with an id above this one."
    )

    class Meta:
        ref_name = "MessageFilter"


class ContactFilterSerializer(serializers.Serializer):
    q = serializers.CharField(required=False, allow_blank=True, help_text="Search by name, WhatsApp id or user id.")

    class Meta:
        ref_name = "ContactFilter"
