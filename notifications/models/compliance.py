"""Remediation cases: the 7 days WhatsApp gives a flagged number to show a prompt, direct
path to a person before it loses messaging capacity."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

REMEDIATION_DAYS = 7


class RemediationCase(models.Model):
    """One flag of a number and what was done about it: opened by a health webhook or an
    admin, counted down for 7 days, then resolved by a person (or WhatsApp lifting the flag)
    or expired. At most one case per number is open at a time."""

    class State(models.TextChoices):
        OPEN = "open", "Open"
        RESOLVED = "resolved", "Resolved"
        EXPIRED = "expired", "Expired (7 days passed)"

    class Trigger(models.TextChoices):
        QUALITY_RED = "quality_red", "Quality rating turned red"
        FLAGGED = "flagged", "Number flagged by WhatsApp"
        ACCOUNT_UPDATE = "account_update", "Account update naming the escalation path"
        ADMIN = "admin", "Opened by an admin"

    number = models.ForeignKey(
        "conversations.WhatsAppNumber", on_delete=models.CASCADE, related_name="remediation_cases"
    )
    state = models.CharField(max_length=10, choices=State.choices, default=State.OPEN, db_index=True)
    trigger = models.CharField(max_length=20, choices=Trigger.choices)
    reason = models.TextField(blank=True, help_text="What WhatsApp reported, or why the admin opened it.")
    health_event = models.ForeignKey(
        "notifications.NumberHealthEvent", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    opened_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    opened_at = models.DateTimeField(default=timezone.now)
    deadline_at = models.DateTimeField()
    days_left = models.PositiveSmallIntegerField(
        default=REMEDIATION_DAYS, help_text="Whole days left until the deadline, as of the last countdown run."
    )
    reminded_days = models.PositiveSmallIntegerField(
        default=REMEDIATION_DAYS + 1, help_text="The smallest number of days left a reminder was sent for."
    )
    closed_at = models.DateTimeField(null=True, blank=True)
    closed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    resolution = models.TextField(blank=True, help_text="What was changed, or who lifted the flag.")
    evidence = models.JSONField(
        default=dict, blank=True, help_text="The compliance verdict from opening to closing, kept as it was then."
    )

    class Meta:
        ordering = ["-opened_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["number"], condition=Q(state="open"), name="one_open_remediation_case"),
            models.CheckConstraint(
                condition=Q(state="open", closed_at__isnull=True) | (~Q(state="open") & Q(closed_at__isnull=False)),
                name="remediation_case_closed_at_when_closed",
            ),
        ]
        indexes = [models.Index(fields=["state", "deadline_at"], name="remediation_open_deadline_idx")]

    def __str__(self) -> str:
        return f"remediation of {self.number} opened {self.opened_at:%Y-%m-%d}"

    @staticmethod
    def deadline_for(opened_at: datetime) -> datetime:
        return opened_at + timedelta(days=REMEDIATION_DAYS)

    def seconds_left(self, at=None) -> float:
        if self.state != self.State.OPEN:
            return 0.0
        return max(0.0, (self.deadline_at - (at or timezone.now())).total_seconds())
