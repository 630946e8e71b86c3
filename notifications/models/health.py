"""Number health: the current restriction state and the history of quality, limit and
throughput changes reported by WhatsApp."""

from __future__ import annotations

from django.db import models
from django.utils import timezone


class NumberHealth(models.Model):
    """What the number's own row does not hold: account restrictions and bans."""

    number = models.OneToOneField("conversations.WhatsAppNumber", on_delete=models.CASCADE, related_name="health")
    restricted = models.BooleanField(default=False, help_text="Business-initiated messaging is restricted.")
    restriction = models.TextField(blank=True)
    restricted_until = models.DateTimeField(null=True, blank=True)
    banned = models.BooleanField(default=False)
    last_event = models.CharField(max_length=64, blank=True)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name_plural = "number health"

    def __str__(self) -> str:
        return f"health of {self.number}"

    def is_restricted(self, at=None) -> bool:
        if self.banned:
            return True
        if not self.restricted:
            return False
        return self.restricted_until is None or self.restricted_until > (at or timezone.now())


class NumberHealthEvent(models.Model):
    """One change in quality, messaging limit, throughput or account state, as reported."""

    number = models.ForeignKey(
        "conversations.WhatsAppNumber", on_delete=models.CASCADE, related_name="health_events"
    )
    field = models.CharField(max_length=64, help_text="The webhook field that reported it.")
    event = models.CharField(max_length=64, blank=True)
    quality_rating = models.CharField(max_length=16, blank=True)
    messaging_limit = models.CharField(max_length=32, blank=True)
    throughput_mps = models.PositiveIntegerField(null=True, blank=True)
    detail = models.TextField(blank=True)
    payload = models.JSONField(default=dict, blank=True)
    platform_event = models.OneToOneField(
        "conversations.PlatformEvent", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.field} {self.event} on {self.number}"
