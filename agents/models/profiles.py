"""Agent profiles: skills, languages, capacity and presence, one per user."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone


class AgentProfile(models.Model):
    class Presence(models.TextChoices):
        ONLINE = "online", "Online"
        AWAY = "away", "Away"
        OFFLINE = "offline", "Offline"

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="agent_profile")
    skills = models.JSONField(default=list, blank=True)
    languages = models.JSONField(default=list, blank=True, help_text="Language codes, e.g. en, es. Empty: any.")
    capacity = models.PositiveSmallIntegerField(default=3, help_text="Conversations at once.")
    presence = models.CharField(max_length=10, choices=Presence.choices, default=Presence.OFFLINE, db_index=True)
    presence_changed_at = models.DateTimeField(default=timezone.now)
    last_seen_at = models.DateTimeField(null=True, blank=True, help_text="Last desk connection or heartbeat.")
    last_assigned_at = models.DateTimeField(null=True, blank=True)
    away_is_automatic = models.BooleanField(
        default=False, editable=False, help_text="Moved to away for want of a desk connection, not by the agent."
    )

    class Meta:
        ordering = ["user__username"]
        constraints = [models.CheckConstraint(condition=Q(capacity__lte=100), name="agent_capacity_sane")]

    def __str__(self) -> str:
        return f"{self.user} ({self.presence})"

    def speaks(self, language: str) -> bool:
        if not language or not self.languages:
            return True
        base = language.split("_")[0].split("-")[0].lower()
        return any(lang.split("_")[0].split("-")[0].lower() == base for lang in self.languages)

    def has_skills(self, skills) -> bool:
        return set(skills or []) <= set(self.skills or [])
