"""Alerts: incidents an admin or supervisor must act on (a token expired, the account was
restricted, a number turned red, a remediation case, a template paused or rejected), shown
in the desk and sent by email once per incident."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone


class Alert(models.Model):
    class Kind(models.TextChoices):
        TOKEN_EXPIRED = "token_expired", "Access token expired or revoked"
        ACCOUNT_RESTRICTED = "account_restricted", "Account restricted or locked"
        NUMBER_PROBLEM = "number_problem", "WhatsApp refused the number's requests"
        NUMBER_RED = "number_red", "Number quality turned red"
        REMEDIATION_OPENED = "remediation_opened", "Remediation case opened"
        REMEDIATION_DEADLINE = "remediation_deadline", "Remediation deadline near"
        REMEDIATION_EXPIRED = "remediation_expired", "Remediation case expired"
        TEMPLATE_PAUSED = "template_paused", "Template paused or disabled"
        TEMPLATE_REJECTED = "template_rejected", "Template rejected"
        WEBHOOK_DISABLED = "webhook_disabled", "Webhook endpoint disabled"

    class Severity(models.TextChoices):
        CRITICAL = "critical", "Critical"
        WARNING = "warning", "Warning"

    kind = models.CharField(max_length=32, choices=Kind.choices)
    severity = models.CharField(max_length=10, choices=Severity.choices, default=Severity.WARNING)
    incident = models.CharField(
        max_length=200, help_text="What the alert is about (e.g. `number:3:token`): one open alert per incident."
    )
    number = models.ForeignKey(
        "conversations.WhatsAppNumber", null=True, blank=True, on_delete=models.CASCADE, related_name="alerts"
    )
    title = models.CharField(max_length=200)
    detail = models.TextField(blank=True)
    texts = models.JSONField(
        default=dict, blank=True,
        help_text="Title and detail as catalogue entries with their parameters, shown in each reader's language; "
        "`title` and `detail` hold the English text.",
    )
    link = models.CharField(max_length=300, blank=True, help_text="Where to go to act on it (a path on this site).")
    opened_at = models.DateTimeField(default=timezone.now)
    last_seen_at = models.DateTimeField(default=timezone.now)
    occurrences = models.PositiveIntegerField(default=1, help_text="Times the incident was reported while open.")
    closed_at = models.DateTimeField(null=True, blank=True)
    closed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    close_reason = models.CharField(max_length=200, blank=True)
    emailed_at = models.DateTimeField(null=True, blank=True, help_text="When the email went out (claimed once).")
    email_recipients = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["-opened_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["incident"], condition=Q(closed_at__isnull=True), name="one_open_alert_per_incident"),
        ]
        indexes = [models.Index(fields=["closed_at", "opened_at"], name="alert_open_idx")]

    def __str__(self) -> str:
        return self.title

    @property
    def is_open(self) -> bool:
        return self.closed_at is None
