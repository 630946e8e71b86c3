"""Canned responses: saved replies with a shortcut, shared globally, with a team, or kept
by one agent. Bodies may use variables (`{{contact.first_name}}`, `{{agent.name}}`),
filled in by `agents.services.canned.canned_render`."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone


class CannedResponse(models.Model):
    class Scope(models.TextChoices):
        GLOBAL = "global", "Everyone"
        TEAM = "team", "Team"
        PERSONAL = "personal", "Personal"

    scope = models.CharField(max_length=10, choices=Scope.choices, default=Scope.PERSONAL)
    team = models.ForeignKey(
        "agents.Team", null=True, blank=True, on_delete=models.CASCADE, related_name="canned_responses"
    )
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="canned_responses",
        help_text="The agent a personal response belongs to.",
    )
    shortcut = models.SlugField(max_length=40, help_text="Typed after / in the composer.")
    title = models.CharField(max_length=120)
    body = models.TextField(
        max_length=4096, help_text="Variables: {{contact.first_name}}, {{contact.name}}, {{agent.name}}, {{agent.first_name}}."
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["shortcut", "id"]
        constraints = [
            models.CheckConstraint(
                condition=(
                    Q(scope="global", team__isnull=True, owner__isnull=True)
                    | Q(scope="team", team__isnull=False, owner__isnull=True)
                    | Q(scope="personal", team__isnull=True, owner__isnull=False)
                ),
                name="canned_scope_matches_owner",
            ),
            models.UniqueConstraint(fields=["shortcut"], condition=Q(scope="global"), name="canned_unique_global"),
            models.UniqueConstraint(fields=["team", "shortcut"], condition=Q(scope="team"), name="canned_unique_team"),
            models.UniqueConstraint(
                fields=["owner", "shortcut"], condition=Q(scope="personal"), name="canned_unique_personal"
            ),
        ]

    def __str__(self) -> str:
        return f"/{self.shortcut} ({self.get_scope_display()})"
