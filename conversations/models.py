"""Contacts, conversations, messages, their timeline, and the raw webhook log.

Invariants held by database constraints rather than by checks in code:
- one contact per number and WhatsApp id, and per number and business-scoped user id;
- at most one open (not resolved) conversation per contact;
- an assigned conversation has an assignee, one with the bot or queued has none (a
  resolved one keeps whoever had it); it has `resolved_at` exactly when resolved; only an
  assigned conversation is on hold (conversations.services.conversations sets them together);
- a provider message id is stored once;
- a status (message id, status) pair is stored once.
"""

from __future__ import annotations

import secrets
import uuid
from datetime import timedelta
from pathlib import PurePosixPath

from django.conf import settings
from django.core.validators import RegexValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from encrypted_model_fields.fields import EncryptedCharField

from conversations.languages import LANGUAGE_CHOICES


class QualityRating(models.TextChoices):
    GREEN = "GREEN", "Green (high)"
    YELLOW = "YELLOW", "Yellow (medium)"
    RED = "RED", "Red (low)"
    UNKNOWN = "UNKNOWN", "Unknown"


class MessagingLimit(models.TextChoices):
    TIER_250 = "TIER_250", "250 users / 24 h"
    TIER_1K = "TIER_1K", "1,000 users / 24 h"
    TIER_2K = "TIER_2K", "2,000 users / 24 h"
    TIER_10K = "TIER_10K", "10,000 users / 24 h"
    TIER_100K = "TIER_100K", "100,000 users / 24 h"
    TIER_UNLIMITED = "TIER_UNLIMITED", "Unlimited"


MESSAGING_LIMIT_USERS: dict[str, int | None] = {
    MessagingLimit.TIER_250: 250,
    MessagingLimit.TIER_1K: 1000,
    MessagingLimit.TIER_2K: 2000,
    MessagingLimit.TIER_10K: 10000,
    MessagingLimit.TIER_100K: 100000,
    MessagingLimit.TIER_UNLIMITED: None,
}


class BusinessPortfolio(models.Model):
    """A Meta business portfolio (Business Manager). Since October 2025 the messaging limit
    (unique customers reached outside the window per rolling 24 h) is set per portfolio and
    shared by all its numbers: campaigns on any of them draw on one budget
    (notifications.services.campaign_sending). Numbers belong to at most one."""

    name = models.CharField(max_length=100)
    business_id = models.CharField(
        "business portfolio id", max_length=64, blank=True, help_text="Meta's id of the portfolio (optional)."
    )
    messaging_limit = models.CharField(
        max_length=20, choices=MessagingLimit.choices, default=MessagingLimit.TIER_250,
        help_text="From whatsapp_business_manager_messaging_limit / max_daily_conversations_per_business.",
    )
    limit_reported_at = models.DateTimeField(null=True, blank=True, help_text="When WhatsApp last reported it.")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = "business portfolio"
        constraints = [
            models.UniqueConstraint(fields=["business_id"], condition=~Q(business_id=""), name="portfolio_unique_id"),
        ]

    def __str__(self) -> str:
        return self.name or self.business_id


class WhatsAppNumber(models.Model):
    """A business phone number on the WhatsApp Cloud API. Secrets are encrypted at rest."""

    name = models.CharField(max_length=100, blank=True)
    phone_number_id = models.CharField(max_length=64, unique=True)
    display_phone_number = models.CharField(max_length=32, blank=True)
    business_account_id = models.CharField(max_length=64, blank=True)
    api_base = models.URLField(
        blank=True,
        help_text="Graph API base for this number; empty means the WHATSAPP_API_BASE setting.",
    )
    access_token = EncryptedCharField(max_length=1024, blank=True)
    app_secret = EncryptedCharField(max_length=256, blank=True)
    verify_token = EncryptedCharField(max_length=256, blank=True)
    quality_rating = models.CharField(max_length=16, choices=QualityRating.choices, default=QualityRating.UNKNOWN)
    messaging_limit = models.CharField(
        max_length=20, choices=MessagingLimit.choices, default=MessagingLimit.TIER_250,
        help_text="The number's own limit (the older per-number field); its portfolio's limit applies when it has one.",
    )
    portfolio = models.ForeignKey(
        BusinessPortfolio, null=True, blank=True, on_delete=models.SET_NULL, related_name="numbers",
        help_text="The business portfolio whose messaging limit this number shares.",
    )
    throughput_mps = models.PositiveIntegerField(default=80, help_text="Messages per second allowed for this number.")
    is_default = models.BooleanField(default=False)
    is_sandbox = models.BooleanField(default=False, help_text="Points at the demo sandbox's stand-in Graph API.")
    default_language = models.CharField(
        max_length=8,
        choices=LANGUAGE_CHOICES,
        blank=True,
        help_text="Customers of this number whose language is not known get texts in this language "
        "(empty: the first of the CUSTOMER_LANGUAGES setting, English by default).",
    )
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "WhatsApp number"
        constraints = [
            models.UniqueConstraint(fields=["is_default"], condition=Q(is_default=True), name="one_default_number"),
        ]

    def __str__(self) -> str:
        return self.name or self.display_phone_number or self.phone_number_id

    @property
    def effective_messaging_limit(self) -> str:
        """The limit that applies: the portfolio's (shared by its numbers), else the number's own."""
        return self.portfolio.messaging_limit if self.portfolio_id and self.portfolio else self.messaging_limit

    @property
    def graph_base(self) -> str:
        return (self.api_base or settings.WHATSAPP_API_BASE).rstrip("/")


class Channel(models.TextChoices):
    WHATSAPP = "whatsapp", "WhatsApp"
    WEBCHAT = "webchat", _("Web chat")


def _inbox_key() -> str:
    return secrets.token_urlsafe(12)


class WebChatInbox(models.Model):
    """A web chat inbox: the widget a business embeds on its site (conversations.providers.webchat).

    Its conversations belong to `number` (so the number's bot and escalation policy serve
    them, else those of `team`) and start in `team`, whose business hours and online agents
    decide whether the widget offers a chat or the offline form. The identity secret signs
    the business's user ids (HMAC-SHA256); it is encrypted at rest like a number's secrets."""

    name = models.CharField(max_length=100)
    key = models.CharField(
        max_length=32, unique=True, default=_inbox_key, help_text="The public id the snippet carries."
    )
    number = models.ForeignKey(
        WhatsAppNumber,
        on_delete=models.PROTECT,
        related_name="webchat_inboxes",
        help_text="The business account its contacts and conversations belong to; its bot and policy apply.",
    )
    team = models.ForeignKey(
        "agents.Team",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="webchat_inboxes",
        help_text="Conversations start in this team: its business hours, agents, bot and policy.",
    )
    allowed_origins = models.TextField(
        help_text="Sites that may embed the widget, one origin a line, e.g. https://www.example.com"
    )
    color = models.CharField(
        max_length=7, default="#1f6feb", validators=[RegexValidator(r"^#[0-9a-fA-F]{6}$", "A colour like #1f6feb.")]
    )
    title = models.CharField(max_length=100, default="Chat with us")
    greeting = models.CharField(max_length=500, blank=True, help_text="Shown above the conversation.")
    ask_name = models.BooleanField("pre-chat: name", default=True)
    ask_email = models.BooleanField("pre-chat: email", default=True)
    consent_text = models.CharField(
        "pre-chat: consent",
        max_length=300,
        blank=True,
        help_text="When set, the visitor must tick a box with this text before chatting.",
    )
    identity_secret = EncryptedCharField(
        max_length=256,
        blank=True,
        help_text="When set, Handoff.identify() with a user_hash (HMAC-SHA256 of the user id with this "
        "secret) marks the visitor as that verified user.",
    )
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = "web chat inbox"
        verbose_name_plural = "web chat inboxes"

    def __str__(self) -> str:
        return self.name

    @property
    def origins(self) -> list[str]:
        return [line.strip().rstrip("/") for line in self.allowed_origins.split() if line.strip()]

    def origin_allowed(self, origin: str) -> bool:
        return bool(origin) and origin.rstrip("/") in self.origins


# What an erased contact's identifiers start with (see conversations.services.contact_erasure).
ERASED_ID_PREFIX = "erased-"


class LanguageSource(models.TextChoices):
    """Who set a contact's language."""

    UNKNOWN = "", "Not known"
    DETECTED = "detected", "Detected from their messages"
    AGENT = "agent", "Set by a person (desk, API or admin)"


class Contact(models.Model):
    """A customer, per number: by WhatsApp id, or by business-scoped user id where Meta omits the phone."""

    number = models.ForeignKey(WhatsAppNumber, on_delete=models.PROTECT, related_name="contacts")
    wa_id = models.CharField("WhatsApp id", max_length=32, blank=True, db_index=True)
    user_id = models.CharField("business-scoped user id", max_length=128, blank=True, db_index=True)
    parent_user_id = models.CharField(
        "parent user id", max_length=128, blank=True,
        help_text="The parent business-scoped user id (\"US.ENT.…\") WhatsApp gives where linked business "
        "portfolios share one; kept as the latest webhook gave it.",
    )
    profile_name = models.CharField(max_length=256, blank=True)
    language = models.CharField(
        max_length=16, blank=True, help_text="The language texts are sent in and routing asks agents for."
    )
    language_source = models.CharField(max_length=16, choices=LanguageSource.choices, default="", blank=True)
    language_confidence = models.FloatField(null=True, blank=True, help_text="Of a detected language, 0 to 1.")
    language_samples = models.PositiveSmallIntegerField(
        default=0, help_text="How many of the customer's first messages detection has read."
    )
    language_set_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    language_set_at = models.DateTimeField(null=True, blank=True)
    attributes = models.JSONField(default=dict, blank=True)
    tags = models.JSONField(default=list, blank=True)
    webchat_inbox = models.ForeignKey(
        WebChatInbox,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="contacts",
        help_text="A web chat visitor of this inbox (never messaged on WhatsApp).",
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text="The desk user who created it through the API (empty for customers who wrote in); "
        "they see it before it has a conversation.",
    )
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["number", "wa_id"], condition=~Q(wa_id=""), name="contact_unique_wa_id"),
            models.UniqueConstraint(
                fields=["number", "user_id"], condition=~Q(user_id=""), name="contact_unique_user_id"
            ),
            models.CheckConstraint(condition=~Q(wa_id="", user_id=""), name="contact_has_identity"),
        ]

    def __str__(self) -> str:
        return self.profile_name or self.wa_id or self.user_id

    @property
    def is_erased(self) -> bool:
        """Its personal data was erased: its identifiers are a token nothing can be sent to."""
        return self.wa_id.startswith(ERASED_ID_PREFIX) or self.user_id.startswith(ERASED_ID_PREFIX)

    @property
    def first_name(self) -> str:
        return (self.profile_name or "").split(" ")[0]


def assignee_deleted(collector, field, sub_objs, using):
    """`on_delete` of a conversation's assignee: deleting a user who holds an open
    (assigned) conversation is refused until it is transferred, resolved or handed back,
    since an assigned conversation always has an assignee; the conversations they handled
    before keep no assignee (SET_NULL)."""
    held = sub_objs.filter(status="assigned") if isinstance(sub_objs, models.QuerySet) else [
        obj for obj in sub_objs if obj.status == "assigned"
    ]
    held = list(held)
    if held:
        raise models.ProtectedError(
            "This user holds open conversations: transfer, resolve or hand them back first.", set(held)
        )
    models.SET_NULL(collector, field, sub_objs, using)


class Conversation(models.Model):
    class Status(models.TextChoices):
        BOT = "bot", _("With the bot")
        QUEUED = "queued", _("Queued")
        ASSIGNED = "assigned", _("Assigned")
        RESOLVED = "resolved", _("Resolved")

    number = models.ForeignKey(WhatsAppNumber, on_delete=models.PROTECT, related_name="conversations")
    contact = models.ForeignKey(Contact, on_delete=models.PROTECT, related_name="conversations")
    channel = models.CharField(max_length=16, choices=Channel.choices, default=Channel.WHATSAPP)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.BOT, db_index=True)
    on_hold = models.BooleanField(default=False)
    team = models.ForeignKey(
        "agents.Team", null=True, blank=True, on_delete=models.SET_NULL, related_name="conversations"
    )
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=assignee_deleted,
        related_name="assigned_conversations",
    )
    priority = models.SmallIntegerField(default=0, help_text="Higher is served first.")
    language = models.CharField(max_length=16, blank=True)
    required_skills = models.JSONField(default=list, blank=True)

    created_at = models.DateTimeField(default=timezone.now)
    last_activity_at = models.DateTimeField(default=timezone.now, db_index=True)
    last_customer_message_at = models.DateTimeField(null=True, blank=True)
    window_expires_at = models.DateTimeField(null=True, blank=True)
    last_message_preview = models.CharField(max_length=200, blank=True)
    queued_at = models.DateTimeField(null=True, blank=True)
    assigned_at = models.DateTimeField(null=True, blank=True)
    first_response_at = models.DateTimeField(null=True, blank=True)
    last_agent_message_at = models.DateTimeField(null=True, blank=True)
    resolved_at = models.DateTimeField(null=True, blank=True)

    first_response_due_at = models.DateTimeField(null=True, blank=True)
    next_response_due_at = models.DateTimeField(null=True, blank=True)
    sla_breached_at = models.DateTimeField(null=True, blank=True)

    csat_score = models.PositiveSmallIntegerField(null=True, blank=True)
    csat_requested_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-last_activity_at"]
        indexes = [
            models.Index(fields=["status", "team", "priority", "queued_at"], name="conv_queue_idx"),
            models.Index(fields=["assignee", "status"], name="conv_assignee_idx"),
            # Reports and the compliance monitor: conversations started in a period, all or per number.
            models.Index(fields=["created_at"], name="conv_created_idx"),
            models.Index(fields=["number", "created_at"], name="conv_number_created_idx"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["contact"], condition=~Q(status="resolved"), name="one_open_conversation_per_contact"
            ),
            models.CheckConstraint(
                condition=Q(status="assigned", assignee__isnull=False)
                | Q(status__in=["bot", "queued"], assignee__isnull=True)
                | Q(status="resolved"),
                name="conversation_assigned_has_assignee",
                violation_error_message="An assigned conversation has an assignee; one with the bot or queued has none.",
            ),
            models.CheckConstraint(
                condition=Q(status="resolved", resolved_at__isnull=False)
                | (~Q(status="resolved") & Q(resolved_at__isnull=True)),
                name="conversation_resolved_has_resolved_at",
                violation_error_message="A conversation has a resolution time exactly when it is resolved.",
            ),
            models.CheckConstraint(
                condition=Q(on_hold=False) | Q(status="assigned"),
                name="conversation_on_hold_only_assigned",
                violation_error_message="Only an assigned conversation can be on hold.",
            ),
        ]

    def __str__(self) -> str:
        return f"#{self.pk} {self.contact}"

    def window_open(self, at=None) -> bool:
        """The customer-service window: open while less than 24 h has passed since the customer's
        last message. WhatsApp's rule: a web chat conversation has no such window."""
        if self.channel == Channel.WEBCHAT:
            return True
        if self.last_customer_message_at is None:
            return False
        at = at or timezone.now()
        return at - self.last_customer_message_at < timedelta(hours=settings.CUSTOMER_SERVICE_WINDOW_HOURS)


class Participant(models.Model):
    """A person taking part in a conversation (conference chats); the assignee is one too."""

    class Role(models.TextChoices):
        OWNER = "owner", "Owner"
        PARTICIPANT = "participant", "Participant"
        WATCHER = "watcher", "Silent watcher"

    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="participants")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="participations")
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.PARTICIPANT)
    joined_at = models.DateTimeField(default=timezone.now)
    left_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["conversation", "user"], condition=Q(left_at__isnull=True), name="one_active_participation"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.user_id} in #{self.conversation_id} ({self.role})"


class Message(models.Model):
    class Direction(models.TextChoices):
        INBOUND = "in", "Inbound"
        OUTBOUND = "out", "Outbound"

    class SenderKind(models.TextChoices):
        CONTACT = "contact", "Contact"
        BOT = "bot", "Bot"
        AGENT = "agent", "Agent"
        SYSTEM = "system", "System"

    class Status(models.TextChoices):
        RECEIVED = "received", "Received"
        PENDING = "pending", "Pending"
        SENDING = "sending", "Sending"
        SENT = "sent", "Sent"
        DELIVERED = "delivered", "Delivered"
        READ = "read", "Read"
        FAILED = "failed", "Failed"

    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="messages")
    direction = models.CharField(max_length=3, choices=Direction.choices)
    sender_kind = models.CharField(max_length=10, choices=SenderKind.choices)
    sender_user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    type = models.CharField(max_length=32, default="text", help_text="WhatsApp message type, or 'note'.")
    internal = models.BooleanField(default=False, help_text="An internal note or whisper: never sent to the customer.")
    business_initiated = models.BooleanField(
        default=False, help_text="A template or campaign message: needs a current opt-in."
    )
    text = models.TextField(blank=True, help_text="The body, or a readable summary of non-text messages.")
    payload = models.JSONField(default=dict, blank=True, help_text="Raw provider object (inbound) or request (outbound).")
    provider_message_id = models.CharField(max_length=191, null=True, blank=True, unique=True)
    reply_to = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="replies")
    status = models.CharField(max_length=10, choices=Status.choices, db_index=True)
    error_code = models.CharField(max_length=16, blank=True)
    error_text = models.TextField(blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    provider_timestamp = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    read_at = models.DateTimeField(null=True, blank=True)
    failed_at = models.DateTimeField(null=True, blank=True)
    # What WhatsApp says it charges for this message (per-message pricing, from the `pricing`
    # object of its status webhooks; see conversations.services.message_status).
    pricing_category = models.CharField(
        max_length=40, blank=True, help_text="marketing, utility, authentication, service, …; empty until reported."
    )
    pricing_type = models.CharField(
        max_length=40, blank=True, help_text="regular (charged), free_customer_service or free_entry_point."
    )
    pricing_model = models.CharField(max_length=16, blank=True, help_text="PMP (per-message pricing), CBP before it.")
    pricing = models.JSONField(
        default=dict, blank=True, help_text="The pricing object as WhatsApp sent it (kept whatever its shape)."
    )

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [models.Index(fields=["conversation", "created_at"], name="msg_conv_created_idx")]

    def __str__(self) -> str:
        return f"{self.direction} {self.type} #{self.pk}"

    @property
    def whisper(self) -> bool:
        """An internal note addressed to the agents of a conference chat."""
        return bool(self.internal and isinstance(self.payload, dict) and self.payload.get("whisper"))

    @property
    def charged(self) -> bool | None:
        """WhatsApp charges this message (type `regular`); None while no pricing was reported."""
        if not self.pricing_type:
            return None
        return self.pricing_type == PRICING_TYPE_REGULAR


# Per-message pricing (`pricing.type`): only `regular` messages are charged.
PRICING_TYPE_REGULAR = "regular"
PRICING_FREE_TYPES = ("free_customer_service", "free_entry_point")


def media_upload_path(instance: MessageMedia, filename: str) -> str:
    """Where a media file is stored: by month and a random name (the original file name is
    kept on the row, never in the path)."""
    now = timezone.now()
    return f"media/{now:%Y/%m}/{uuid.uuid4().hex}{_suffix(filename)}"


def thumbnail_upload_path(instance: MessageMedia, filename: str) -> str:
    now = timezone.now()
    return f"media/{now:%Y/%m}/thumbs/{uuid.uuid4().hex}{_suffix(filename)}"


def _suffix(filename: str) -> str:
    suffix = PurePosixPath(filename or "").suffix.lower()
    return suffix if len(suffix) <= 8 and suffix[1:].isalnum() else ""


class MessageMedia(models.Model):
    """The file of an image, audio, video, document or sticker message: a customer's,
    downloaded from WhatsApp by media id (conversations.services.media_download), or one
    a desk user attached (conversations.services.media_send). One per message.

    Files are part of the contact's data: erasure and retention delete them
    (conversations.services.anonymise.message_files_delete)."""

    class State(models.TextChoices):
        PENDING = "pending", "Waiting to download"
        DOWNLOADING = "downloading", "Downloading"
        STORED = "stored", "Stored"
        FAILED = "failed", "Failed"
        REMOVED = "removed", "Removed"

    class Kind(models.TextChoices):
        IMAGE = "image", "Image"
        AUDIO = "audio", "Audio"
        VIDEO = "video", "Video"
        DOCUMENT = "document", "Document"
        STICKER = "sticker", "Sticker"

    message = models.OneToOneField(Message, on_delete=models.CASCADE, related_name="media")
    kind = models.CharField(max_length=10, choices=Kind.choices)
    media_id = models.CharField(
        "WhatsApp media id", max_length=191, blank=True, db_index=True,
        help_text="Inbound: the id the webhook gave; outbound: the id Graph gave the upload.",
    )
    voice = models.BooleanField(default=False, help_text="An audio message recorded as a voice note.")
    mime_type = models.CharField(max_length=127, blank=True)
    file_name = models.CharField(max_length=255, blank=True)
    size = models.BigIntegerField(null=True, blank=True)
    sha256 = models.CharField(max_length=64, blank=True)
    file = models.FileField(upload_to=media_upload_path, max_length=255, blank=True)
    thumbnail = models.FileField(upload_to=thumbnail_upload_path, max_length=255, blank=True)
    state = models.CharField(max_length=12, choices=State.choices, default=State.PENDING, db_index=True)
    failure_code = models.CharField(max_length=32, blank=True)
    failure_reason = models.TextField(blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    stored_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = "message media"
        verbose_name_plural = "message media"
        constraints = [
            models.CheckConstraint(
                condition=~Q(state="stored") | ~Q(file=""), name="stored_media_has_file",
                violation_error_message="Stored media has a file.",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} of message #{self.message_id} ({self.state})"


# Delivery status moves forward only; failed is terminal.
STATUS_RANK = {
    Message.Status.PENDING: 0,
    Message.Status.SENDING: 1,
    Message.Status.SENT: 2,
    Message.Status.DELIVERED: 3,
    Message.Status.READ: 4,
}


class MessageStatusEvent(models.Model):
    """Every status webhook, stored once per (message id, status). Statuses that arrive
    before their message is known wait here (`applied_at` empty) until it is."""

    provider_message_id = models.CharField(max_length=191, db_index=True)
    status = models.CharField(max_length=16)
    timestamp = models.DateTimeField()
    recipient_id = models.CharField(max_length=128, blank=True)
    errors = models.JSONField(default=list, blank=True)
    payload = models.JSONField(default=dict)
    received_at = models.DateTimeField(default=timezone.now)
    applied_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["provider_message_id", "status"], name="status_once_per_message"),
        ]

    def __str__(self) -> str:
        return f"{self.provider_message_id} {self.status}"


class ConversationEvent(models.Model):
    """The timeline: every transition and desk action (who, when, why)."""

    class ActorKind(models.TextChoices):
        SYSTEM = "system", "System"
        BOT = "bot", "Bot"
        AGENT = "agent", "Agent"
        CONTACT = "contact", "Contact"

    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="events")
    kind = models.CharField(max_length=40, db_index=True)
    actor_kind = models.CharField(max_length=10, choices=ActorKind.choices, default=ActorKind.SYSTEM)
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    from_status = models.CharField(max_length=16, blank=True)
    to_status = models.CharField(max_length=16, blank=True)
    reason = models.TextField(blank=True)
    data = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return f"{self.kind} on #{self.conversation_id}"


class WebhookEvent(models.Model):
    """A raw webhook body as received, stored before anything else happens to it."""

    class State(models.TextChoices):
        PENDING = "pending", "Pending"
        PROCESSED = "processed", "Processed"
        PARTIAL = "partial", "Processed with item errors"
        FAILED = "failed", "Failed"

    provider = models.CharField(max_length=16, default="whatsapp")
    body = models.BinaryField()
    signature = models.CharField(max_length=100, blank=True)
    received_at = models.DateTimeField(default=timezone.now, db_index=True)
    state = models.CharField(max_length=10, choices=State.choices, default=State.PENDING, db_index=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    processed_at = models.DateTimeField(null=True, blank=True)
    errors = models.JSONField(default=list, blank=True, help_text="Per-item errors: where and why.")

    class Meta:
        ordering = ["-received_at"]

    def __str__(self) -> str:
        return f"{self.provider} webhook #{self.pk} ({self.state})"


class PlatformEvent(models.Model):
    """Non-message webhook changes (template status and quality, number quality, account
    updates, user preferences), kept for the notifications work and for audit."""

    webhook = models.ForeignKey(WebhookEvent, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    number = models.ForeignKey(WhatsAppNumber, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    business_account_id = models.CharField(max_length=64, blank=True)
    field = models.CharField(max_length=64, db_index=True)
    payload = models.JSONField(default=dict)
    dedupe_key = models.CharField(max_length=64, unique=True, help_text="Hash of the change: a redelivered webhook is stored once.")
    received_at = models.DateTimeField(default=timezone.now)
    handled_at = models.DateTimeField(null=True, blank=True)
    error = models.TextField(blank=True)

    class Meta:
        ordering = ["-received_at"]

    def __str__(self) -> str:
        return f"{self.field} #{self.pk}"


class ContactErasure(models.Model):
    """A contact whose personal data was erased (GDPR Art. 17): which contact, who asked,
    when, and through what. One row per contact, so erasing again changes nothing.

    The contact row itself stays (anonymised) so conversations and messages keep counting
    in reports; its identifiers were replaced by `token`, which says nothing about them."""

    class Via(models.TextChoices):
        COMMAND = "command", "Command line"
        ADMIN = "admin", "Admin"
        API = "api", "API"

    contact = models.OneToOneField(
        Contact, null=True, blank=True, on_delete=models.SET_NULL, related_name="erasure"
    )
    contact_ref = models.BigIntegerField("contact id", unique=True, help_text="Kept if the contact row is ever deleted.")
    token = models.CharField(max_length=32, unique=True, help_text="What the contact's identifiers were replaced with.")
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    actor_username = models.CharField(max_length=150, blank=True, help_text="Kept if the user is deleted.")
    via = models.CharField(max_length=10, choices=Via.choices)
    erased_at = models.DateTimeField(default=timezone.now, db_index=True)
    counts = models.JSONField(default=dict, blank=True, help_text="Rows changed, per kind of data.")
    completed_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text="When the follow-up finished: statuses that arrived later anonymised, and message ids "
        "kept for WhatsApp's redelivery window replaced.",
    )

    class Meta:
        ordering = ["-erased_at", "-id"]
        verbose_name = "contact erasure"

    def __str__(self) -> str:
        return f"erasure of contact {self.contact_ref}"
