"""Outgoing webhooks: endpoints the business registers, the outbox of events, one delivery
per endpoint and event, and the log of every attempt.

An event is written to the outbox in the same transaction as the change that causes it
(conversations.services.webhook_outbox), with a delivery row for each enabled endpoint
that wants it; a task posts each delivery (notifications.services.webhook_delivery).
"""

from __future__ import annotations

import secrets

from django.db import models
from django.db.models import Q
from django.utils import timezone
from encrypted_model_fields.fields import EncryptedCharField


class WebhookEventType(models.TextChoices):
    CONVERSATION_CREATED = "conversation.created", "conversation.created: a conversation started"
    CONVERSATION_HANDOFF = "conversation.handoff", "conversation.handoff: the bot handed it to people"
    CONVERSATION_ASSIGNED = "conversation.assigned", "conversation.assigned: an agent took it"
    CONVERSATION_RESOLVED = "conversation.resolved", "conversation.resolved: it was resolved"
    MESSAGE_CREATED = "message.created", "message.created: a message came in or was sent"
    MESSAGE_STATUS = "message.status", "message.status: an outbound message was sent, delivered, read or failed"
    CSAT_RECEIVED = "csat.received", "csat.received: the customer rated the conversation"
    CONSENT_CHANGED = "consent.changed", "consent.changed: an opt-in or opt-out was recorded"
    CAMPAIGN_FINISHED = "campaign.finished", "campaign.finished: a campaign completed or was cancelled"
    ALERT_CREATED = "alert.created", "alert.created: an alert was raised"


def new_secret() -> str:
    return "whsec_" + secrets.token_urlsafe(32)


class WebhookEndpoint(models.Model):
    """A URL of the business's that receives the events it wants, signed with its own secret."""

    url = models.URLField(max_length=500, help_text="Where events are posted (https in production).")
    description = models.CharField(max_length=200, blank=True)
    events = models.JSONField(default=list, blank=True, help_text="The event types it receives.")
    secret = EncryptedCharField(max_length=256, default=new_secret,
                                help_text="Signs every delivery (the Handoff-Signature header).")
    enabled = models.BooleanField(default=True)
    failing_since = models.DateTimeField(
        null=True, blank=True, help_text="First failed attempt since the last success."
    )
    disabled_at = models.DateTimeField(null=True, blank=True)
    disabled_reason = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return self.description or self.url

    def wants(self, event_type: str) -> bool:
        return event_type in (self.events or [])


class OutboxEvent(models.Model):
    """One event, as it is posted: `payload` is the whole body (id, type, created, data)."""

    event_id = models.CharField(max_length=40, unique=True)
    type = models.CharField(max_length=40, choices=WebhookEventType.choices, db_index=True)
    payload = models.JSONField()
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.type} {self.event_id}"


class WebhookDelivery(models.Model):
    """An event on its way to one endpoint: pending (due at `next_attempt_at`), sending
    (claimed by a task), delivered, or failed (retries given up)."""

    class State(models.TextChoices):
        PENDING = "pending", "Pending"
        SENDING = "sending", "Sending"
        DELIVERED = "delivered", "Delivered"
        FAILED = "failed", "Failed (gave up)"

    endpoint = models.ForeignKey(WebhookEndpoint, on_delete=models.CASCADE, related_name="deliveries")
    event = models.ForeignKey(OutboxEvent, on_delete=models.CASCADE, related_name="deliveries")
    state = models.CharField(max_length=10, choices=State.choices, default=State.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    claimed_at = models.DateTimeField(null=True, blank=True)
    last_status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    last_error = models.CharField(max_length=300, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name_plural = "webhook deliveries"
        constraints = [
            models.UniqueConstraint(fields=["endpoint", "event"], name="one_delivery_per_endpoint_event"),
        ]
        indexes = [
            models.Index(fields=["state", "next_attempt_at"], name="webhook_delivery_due_idx",
                         condition=Q(state__in=["pending", "sending"])),
        ]

    def __str__(self) -> str:
        return f"{self.event} → {self.endpoint}"


class WebhookAttempt(models.Model):
    """One POST of a delivery: what came back, how long it took."""

    delivery = models.ForeignKey(WebhookDelivery, on_delete=models.CASCADE, related_name="attempt_log")
    attempted_at = models.DateTimeField(default=timezone.now)
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    latency_ms = models.PositiveIntegerField(default=0)
    succeeded = models.BooleanField(default=False)
    error = models.CharField(max_length=300, blank=True, help_text="Why it failed, when no answer said so.")
    response_excerpt = models.TextField(blank=True, help_text="The first 1000 characters of the answer.")

    class Meta:
        ordering = ["-attempted_at", "-id"]

    def __str__(self) -> str:
        return f"attempt {self.pk} of {self.delivery_id}: {self.status_code or self.error}"
