"""Agent profiles: skills, languages, capacity and presence, one per user."""

from __future__ import annotations

import zoneinfo

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django.utils import timezone


def validate_time_zone(value: str) -> None:
    """An IANA time zone name such as Europe/Madrid."""
    if value and value not in zoneinfo.available_timezones():
        raise ValidationError(f"{value} is not a time zone name such as Europe/Madrid or America/Sao_Paulo.")


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
    ui_language = models.CharField(
        "desk language",
        max_length=8,
        choices=settings.LANGUAGES,
        blank=True,
        help_text="The language of the desk and monitor; empty: the browser's.",
    )
    timezone = models.CharField(
        max_length=64,
        blank=True,
        validators=[validate_time_zone],
        help_text="Dates and times are shown in this time zone, e.g. Europe/Madrid; empty: the TIME_ZONE setting.",
    )
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
