"""SLA policies (response targets) and the breaches recorded against them."""

from __future__ import annotations

from django.db import models
from django.utils import timezone


class SlaPolicy(models.Model):
    name = models.CharField(max_length=100, unique=True)
    first_response_seconds = models.PositiveIntegerField(
        default=300, help_text="From queueing to the first agent reply."
    )
    next_response_seconds = models.PositiveIntegerField(
        default=600, help_text="From a customer message to the agent's next reply."
    )
    business_hours_only = models.BooleanField(
        default=True, help_text="Count only the team's open hours towards the targets."
    )

    class Meta:
        verbose_name = "SLA policy"
        verbose_name_plural = "SLA policies"
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class SlaBreach(models.Model):
    """A missed target, stored once per conversation, kind and due time."""

    class Kind(models.TextChoices):
        FIRST_RESPONSE = "first_response", "First response"
        NEXT_RESPONSE = "next_response", "Next response"

    conversation = models.ForeignKey(
        "conversations.Conversation", on_delete=models.CASCADE, related_name="sla_breaches"
    )
    team = models.ForeignKey("agents.Team", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    kind = models.CharField(max_length=20, choices=Kind.choices)
    due_at = models.DateTimeField()
    breached_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = "SLA breach"
        ordering = ["-breached_at"]
        constraints = [
            models.UniqueConstraint(fields=["conversation", "kind", "due_at"], name="sla_breach_once"),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} on #{self.conversation_id}"
