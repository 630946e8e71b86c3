"""The audit log: who did what to what, when and from where.

Entries are written by `agents.services.audit.audit_record` only and never edited. Secrets and
customers' personal data are never stored as values (see `agents.services.audit`), so erasing a
customer never needs to rewrite this table."""

from __future__ import annotations

from django.conf import settings
from django.contrib.contenttypes.models import ContentType
from django.db import models
from django.utils import timezone


class AuditEntry(models.Model):
    at = models.DateTimeField("time", default=timezone.now)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text="Empty for the system, for anonymous requests, or once the user is deleted.",
    )
    actor_username = models.CharField(
        "actor's username", max_length=150, blank=True,
        help_text="Kept when the user is deleted; for a failed sign-in, the username that was tried.",
    )
    action = models.CharField(max_length=64, help_text="A dotted code, e.g. auth.login, conference.join, admin.change.")
    target_type = models.ForeignKey(ContentType, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    target_id = models.CharField(max_length=64, blank=True)
    target_repr = models.CharField("target", max_length=200, blank=True)
    changes = models.JSONField(
        default=dict, blank=True, help_text='{"field": [before, after]}; masked fields read "••• changed".'
    )
    ip = models.GenericIPAddressField("IP address", null=True, blank=True)
    user_agent = models.CharField(max_length=200, blank=True)
    extra = models.JSONField(default=dict, blank=True)

    class Meta:
        verbose_name = "audit entry"
        verbose_name_plural = "audit entries"
        ordering = ["-at", "-id"]
        # Read-only everywhere: no add, change or delete permission exists to grant.
        default_permissions = ("view",)
        indexes = [
            models.Index(fields=["at"], name="audit_at"),
            models.Index(fields=["action", "at"], name="audit_action_at"),
            models.Index(fields=["actor", "at"], name="audit_actor_at"),
            models.Index(fields=["target_type", "target_id"], name="audit_target"),
        ]

    def __str__(self) -> str:
        who = self.actor_username or "system"
        what = f" {self.target_repr}" if self.target_repr else ""
        return f"{who} {self.action}{what}"
