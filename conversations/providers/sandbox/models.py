"""What the sandbox remembers: simulated customer phones, the messages on them, and
the message templates its stand-in Graph API keeps per business account."""

from __future__ import annotations

from django.db import models
from django.db.models import Q
from django.utils import timezone

from conversations.models import WhatsAppNumber


class Phone(models.Model):
    """A simulated customer's handset talking to one business number.

    Every phone has a business-scoped user id; a phone number (`wa_id`) is optional, as
    for WhatsApp users who message with a username only.
    """

    number = models.ForeignKey(WhatsAppNumber, on_delete=models.CASCADE, related_name="sandbox_phones")
    name = models.CharField(max_length=100)
    wa_id = models.CharField("WhatsApp id", max_length=32, blank=True)
    user_id = models.CharField("business-scoped user id", max_length=128)
    username = models.CharField(max_length=64, blank=True)
    last_sent_at = models.DateTimeField(
        null=True, blank=True, help_text="The customer's last message to the business (opens the 24-hour window)."
    )
    business_typing_until = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["name", "id"]
        constraints = [
            models.UniqueConstraint(fields=["number", "wa_id"], condition=~Q(wa_id=""), name="sandbox_phone_wa_id"),
            models.UniqueConstraint(fields=["number", "user_id"], name="sandbox_phone_user_id"),
        ]

    def __str__(self) -> str:
        return self.name or self.wa_id or self.user_id


class PhoneMessage(models.Model):
    """A message on a simulated phone: written by the customer (`in`, posted to the
    business as a webhook) or received from the business (`out`, via the stand-in Graph)."""

    class Direction(models.TextChoices):
        FROM_CUSTOMER = "in", "Customer to business"
        TO_CUSTOMER = "out", "Business to customer"

    class Status(models.TextChoices):
        ACCEPTED = "accepted", "Accepted"
        SENT = "sent", "Sent"
        DELIVERED = "delivered", "Delivered"
        READ = "read", "Read"
        FAILED = "failed", "Failed"

    phone = models.ForeignKey(Phone, on_delete=models.CASCADE, related_name="messages")
    direction = models.CharField(max_length=3, choices=Direction.choices)
    wamid = models.CharField(max_length=191, unique=True)
    type = models.CharField(max_length=32)
    content = models.JSONField(default=dict, help_text="The webhook message object (in) or Graph request body (out).")
    rendered = models.JSONField(default=dict, blank=True, help_text="What the phone shows: header, body, buttons, rows.")
    text = models.TextField(blank=True)
    context_wamid = models.CharField(max_length=191, blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.ACCEPTED)
    error = models.TextField(blank=True)
    webhook_url = models.CharField(max_length=500, blank=True)
    seen_at = models.DateTimeField(null=True, blank=True, help_text="When the customer saw a business message.")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return f"{self.direction} {self.type} {self.wamid}"


class Template(models.Model):
    """A message template at the stand-in Graph API, per business account."""

    class Status(models.TextChoices):
        PENDING = "PENDING", "Pending"
        APPROVED = "APPROVED", "Approved"
        REJECTED = "REJECTED", "Rejected"
        PAUSED = "PAUSED", "Paused"
        DISABLED = "DISABLED", "Disabled"

    class Category(models.TextChoices):
        MARKETING = "MARKETING", "Marketing"
        UTILITY = "UTILITY", "Utility"
        AUTHENTICATION = "AUTHENTICATION", "Authentication"

    business_account_id = models.CharField(max_length=64)
    name = models.CharField(max_length=512)
    language = models.CharField(max_length=16)
    category = models.CharField(max_length=16, choices=Category.choices)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    components = models.JSONField(default=list)
    rejected_reason = models.CharField(max_length=64, blank=True)
    webhook_url = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(fields=["business_account_id", "name", "language"], name="sandbox_template_once"),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.language})"


def sandbox_media_path(instance: SandboxMedia, filename: str) -> str:
    return f"sandbox-media/{instance.media_id}"


class SandboxMedia(models.Model):
    """A file at the stand-in Graph API: uploaded by the business (`POST /{phone-number-id}/media`)
    or sent by a simulated customer; fetched by id (`GET /{media-id}`, then its URL)."""

    class Origin(models.TextChoices):
        BUSINESS = "business", "Uploaded by the business"
        CUSTOMER = "customer", "Sent by a customer"

    media_id = models.CharField(max_length=64, unique=True)
    number = models.ForeignKey(WhatsAppNumber, on_delete=models.CASCADE, related_name="sandbox_media")
    origin = models.CharField(max_length=10, choices=Origin.choices)
    file = models.FileField(upload_to=sandbox_media_path, max_length=255)
    mime_type = models.CharField(max_length=127)
    file_name = models.CharField(max_length=255, blank=True)
    size = models.BigIntegerField(default=0)
    sha256 = models.CharField(max_length=64)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return f"{self.media_id} ({self.mime_type})"
