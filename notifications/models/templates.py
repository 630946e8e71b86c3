"""WhatsApp message templates, as listed by the business account and kept current by webhooks."""

from __future__ import annotations

from django.db import models
from django.utils import timezone

from conversations.models import QualityRating


class TemplateCategory(models.TextChoices):
    MARKETING = "MARKETING", "Marketing"
    UTILITY = "UTILITY", "Utility"
    AUTHENTICATION = "AUTHENTICATION", "Authentication"


class TemplateStatus(models.TextChoices):
    DRAFT = "DRAFT", "Draft (not submitted)"
    PENDING = "PENDING", "Pending review"
    APPROVED = "APPROVED", "Approved"
    REJECTED = "REJECTED", "Rejected"
    PAUSED = "PAUSED", "Paused"
    DISABLED = "DISABLED", "Disabled"
    IN_APPEAL = "IN_APPEAL", "In appeal"
    PENDING_DELETION = "PENDING_DELETION", "Pending deletion"
    DELETED = "DELETED", "Deleted"
    LIMIT_EXCEEDED = "LIMIT_EXCEEDED", "Limit exceeded"
    ARCHIVED = "ARCHIVED", "Archived"


class ParameterFormat(models.TextChoices):
    POSITIONAL = "positional", "Positional ({{1}})"
    NAMED = "named", "Named ({{name}})"


class MessageTemplate(models.Model):
    """A template of a business account (WABA), reached through one of its numbers."""

    number = models.ForeignKey("conversations.WhatsAppNumber", on_delete=models.CASCADE, related_name="templates")
    business_account_id = models.CharField(max_length=64, db_index=True)
    name = models.CharField(max_length=512)
    language = models.CharField(max_length=16)
    category = models.CharField(max_length=20, choices=TemplateCategory.choices)
    components = models.JSONField(default=list, blank=True, help_text="Graph `components`: header, body, footer, buttons.")
    parameter_format = models.CharField(max_length=12, choices=ParameterFormat.choices, default=ParameterFormat.POSITIONAL)
    status = models.CharField(max_length=20, choices=TemplateStatus.choices, default=TemplateStatus.DRAFT, db_index=True)
    quality = models.CharField(max_length=10, choices=QualityRating.choices, default=QualityRating.UNKNOWN)
    rejection_reason = models.TextField(blank=True)
    remote_id = models.CharField(max_length=64, blank=True, db_index=True)
    last_synced_at = models.DateTimeField(null=True, blank=True)
    submit_error = models.TextField(blank=True, help_text="Why the last submission to WhatsApp failed.")
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name", "language"]
        constraints = [
            models.UniqueConstraint(
                fields=["business_account_id", "name", "language"], name="template_unique_per_account"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} [{self.language}]"

    def component(self, kind: str) -> dict | None:
        """The first component of `kind` (HEADER, BODY, FOOTER, BUTTONS), case-insensitive."""
        for item in self.components or []:
            if str(item.get("type", "")).upper() == kind.upper():
                return item
        return None
