"""Teams (queues) and the people who work them: routing mode, required skills, business
hours, SLA policy, overflow and queue-message settings."""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django.utils import timezone

from agents.models.sla import SlaPolicy


def _validate_timezone(value: str) -> None:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValidationError(f"Unknown time zone: {value}") from None


class Team(models.Model):
    class RoutingMode(models.TextChoices):
        LEAST_BUSY = "least_busy", "Least busy"
        ROUND_ROBIN = "round_robin", "Round robin"
        MANUAL = "manual", "Manual pick"

    name = models.CharField(max_length=100, unique=True)
    slug = models.SlugField(max_length=100, unique=True)
    members = models.ManyToManyField(settings.AUTH_USER_MODEL, blank=True, related_name="teams")
    supervisors = models.ManyToManyField(settings.AUTH_USER_MODEL, blank=True, related_name="supervised_teams")
    created_at = models.DateTimeField(default=timezone.now)

    routing_mode = models.CharField(max_length=16, choices=RoutingMode.choices, default=RoutingMode.LEAST_BUSY)
    required_skills = models.JSONField(
        default=list, blank=True, help_text="Skills every agent taking this team's conversations must have."
    )
    time_zone = models.CharField(
        max_length=64, default="UTC", validators=[_validate_timezone], help_text="Time zone of the business hours."
    )
    sla_policy = models.ForeignKey(
        SlaPolicy, null=True, blank=True, on_delete=models.SET_NULL, related_name="teams"
    )
    queue_messages_enabled = models.BooleanField(
        default=True, help_text="Tell queued customers their position and an estimated wait."
    )
    queue_message_interval_minutes = models.PositiveSmallIntegerField(
        default=5, help_text="At most one queue message per conversation this often."
    )
    csat_enabled = models.BooleanField(default=True, help_text="Ask for a rating after a conversation is resolved.")
    announce_participants = models.BooleanField(
        default=True, help_text="Tell the customer when a person joins or leaves a conference chat."
    )
    round_robin_last_user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+", editable=False
    )

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class TeamOverflow(models.Model):
    """One step of a team's overflow list: after `after_seconds` waiting at the previous
    step (the team itself for the first step), the conversation moves to `target_team`,
    or to any online agent with room when `target_team` is empty."""

    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="overflow_steps")
    position = models.PositiveSmallIntegerField(default=1)
    target_team = models.ForeignKey(
        Team, null=True, blank=True, on_delete=models.CASCADE, related_name="+",
        help_text="Empty means any online agent with room.",
    )
    after_seconds = models.PositiveIntegerField(default=60)

    class Meta:
        ordering = ["team", "position", "id"]
        constraints = [
            models.UniqueConstraint(fields=["team", "position"], name="overflow_step_position_unique"),
            models.CheckConstraint(condition=~Q(target_team=models.F("team")), name="overflow_not_to_itself"),
        ]

    def __str__(self) -> str:
        target = self.target_team.name if self.target_team is not None else "any online agent"
        return f"{self.team} → {target} after {self.after_seconds}s"


class BusinessHours(models.Model):
    """An opening interval on a weekday, in the team's time zone. A team without any is
    open around the clock. `closes` at 00:00 means midnight at the end of the day."""

    class Weekday(models.IntegerChoices):
        MONDAY = 0, "Monday"
        TUESDAY = 1, "Tuesday"
        WEDNESDAY = 2, "Wednesday"
        THURSDAY = 3, "Thursday"
        FRIDAY = 4, "Friday"
        SATURDAY = 5, "Saturday"
        SUNDAY = 6, "Sunday"

    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="business_hours")
    weekday = models.PositiveSmallIntegerField(choices=Weekday.choices)
    opens = models.TimeField()
    closes = models.TimeField()

    class Meta:
        verbose_name_plural = "business hours"
        ordering = ["team", "weekday", "opens"]

    def __str__(self) -> str:
        return f"{self.get_weekday_display()} {self.opens:%H:%M}-{self.closes:%H:%M}"


class Holiday(models.Model):
    """A day the team is closed, whatever its weekly hours say."""

    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="holidays")
    date = models.DateField()
    name = models.CharField(max_length=100, blank=True)

    class Meta:
        ordering = ["team", "date"]
        constraints = [models.UniqueConstraint(fields=["team", "date"], name="holiday_once_per_team_day")]

    def __str__(self) -> str:
        return f"{self.date} {self.name}".strip()
