"""Push campaigns and their per-recipient rows.

A recipient row exists once per (campaign, contact): nobody is messaged twice by one
campaign. Sending claims a row with a compare-and-set update (queued -> sending) before
any outside work, and links the Message it created; a sweep puts back rows left in
`sending` without a Message by a worker that died.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone


class Campaign(models.Model):
    class State(models.TextChoices):
        DRAFT = "draft", "Draft"
        SCHEDULED = "scheduled", "Scheduled"
        RUNNING = "running", "Running"
        PAUSED = "paused", "Paused"
        COMPLETED = "completed", "Completed"
        CANCELLED = "cancelled", "Cancelled"

    class Audience(models.TextChoices):
        ALL_OPTED_IN = "all_opted_in", "All opted-in contacts"
        FILTER = "filter", "Contacts matching tags or attributes"
        CSV = "csv", "Uploaded list of phone numbers"

    name = models.CharField(max_length=200)
    number = models.ForeignKey("conversations.WhatsAppNumber", on_delete=models.PROTECT, related_name="campaigns")
    template = models.ForeignKey("notifications.MessageTemplate", on_delete=models.PROTECT, related_name="campaigns")
    audience = models.CharField(max_length=16, choices=Audience.choices, default=Audience.ALL_OPTED_IN)
    audience_filter = models.JSONField(
        default=dict,
        blank=True,
        help_text='{"tags": ["vip"], "attributes": {"city": "Lisbon"}}: contacts with all the tags and attribute values.',
    )
    audience_csv = models.TextField(blank=True, help_text="Phone numbers (E.164 or with country code), one per line.")
    audience_rejected = models.JSONField(
        default=list, blank=True, help_text="Lines of the uploaded list that were not used, with the reason."
    )
    parameter_mapping = models.JSONField(
        default=dict,
        blank=True,
        help_text='Template parameters from contact fields: {"body": ["contact.first_name", "attributes.order_id", '
        '"=literal text"]} or, for named templates, {"first_name": "contact.first_name"}.',
    )
    scheduled_at = models.DateTimeField(null=True, blank=True, help_text="Empty: start at once.")
    state = models.CharField(max_length=12, choices=State.choices, default=State.DRAFT, db_index=True)
    pause_reason = models.TextField(blank=True)
    recipients_built_at = models.DateTimeField(null=True, blank=True)
    cost_estimate = models.JSONField(
        default=dict, blank=True, help_text="The cost estimated when it started (notifications.pricing), kept as it was."
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return self.name


class CampaignRecipient(models.Model):
    class State(models.TextChoices):
        QUEUED = "queued", "Queued"
        SENDING = "sending", "Sending"
        SENT = "sent", "Handed to WhatsApp"
        FAILED = "failed", "Failed"
        SKIPPED = "skipped", "Skipped"

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="recipients")
    contact = models.ForeignKey("conversations.Contact", on_delete=models.CASCADE, related_name="campaign_rows")
    state = models.CharField(max_length=10, choices=State.choices, default=State.QUEUED)
    message = models.OneToOneField(
        "conversations.Message", null=True, blank=True, on_delete=models.SET_NULL, related_name="campaign_recipient"
    )
    attempts = models.PositiveSmallIntegerField(default=0)
    claimed_at = models.DateTimeField(null=True, blank=True)
    claim_token = models.CharField(max_length=32, blank=True, help_text="Which batch claimed the row.")
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    error_code = models.CharField(max_length=32, blank=True)
    error_reason = models.TextField(blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["campaign", "contact"], name="campaign_recipient_once"),
        ]
        indexes = [
            models.Index(fields=["campaign", "state", "next_attempt_at"], name="campaign_rcpt_todo_idx"),
            models.Index(fields=["state", "claimed_at"], name="campaign_rcpt_claim_idx", condition=Q(state="sending")),
        ]

    def __str__(self) -> str:
        return f"{self.contact} in {self.campaign}"
