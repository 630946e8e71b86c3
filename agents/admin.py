"""Admin for agents (profile inline on the user), teams (members, supervisors, business
hours, holidays, overflow), SLA policies and breaches. Writes on routing state go through
the services; these pages edit configuration."""

from django.contrib import admin
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import UserAdmin

from agents import (
    audit_admin,  # noqa: F401  (registers the audit log)
    canned_admin,  # noqa: F401  (registers canned responses)
)
from agents.models import AgentProfile, BusinessHours, Holiday, SlaBreach, SlaPolicy, Team, TeamOverflow

User = get_user_model()


class AgentProfileInline(admin.StackedInline):
    model = AgentProfile
    can_delete = False
    fields = ["capacity", "skills", "languages", "presence", "ui_language", "timezone", "presence_changed_at", "last_seen_at"]
    readonly_fields = ["presence_changed_at", "last_seen_at"]


if admin.site.is_registered(User):
    admin.site.unregister(User)


@admin.register(User)
class AgentUserAdmin(UserAdmin):
    inlines = [AgentProfileInline]


@admin.register(AgentProfile)
class AgentProfileAdmin(admin.ModelAdmin):
    list_display = ["user", "presence", "capacity", "skills", "languages", "last_seen_at"]
    list_filter = ["presence"]
    search_fields = ["user__username", "user__first_name", "user__last_name"]
    raw_id_fields = ["user"]
    readonly_fields = ["presence_changed_at", "last_seen_at", "last_assigned_at"]


class BusinessHoursInline(admin.TabularInline):
    model = BusinessHours
    extra = 0


class HolidayInline(admin.TabularInline):
    model = Holiday
    extra = 0


class TeamOverflowInline(admin.TabularInline):
    model = TeamOverflow
    fk_name = "team"
    extra = 0
    fields = ["position", "after_seconds", "target_team"]


@admin.register(Team)
class TeamAdmin(admin.ModelAdmin):
    list_display = ["name", "routing_mode", "time_zone", "sla_policy", "queue_messages_enabled", "csat_enabled"]
    list_filter = ["routing_mode"]
    search_fields = ["name", "slug"]
    prepopulated_fields = {"slug": ["name"]}
    filter_horizontal = ["members", "supervisors"]
    inlines = [BusinessHoursInline, HolidayInline, TeamOverflowInline]
    fieldsets = [
        (None, {"fields": ["name", "slug", "members", "supervisors"]}),
        ("Routing", {"fields": ["routing_mode", "required_skills"]}),
        ("Hours and SLA", {"fields": ["time_zone", "sla_policy"]}),
        ("Customer messages", {"fields": ["queue_messages_enabled", "queue_message_interval_minutes", "csat_enabled",
                                          "announce_participants"]}),
    ]


@admin.register(SlaPolicy)
class SlaPolicyAdmin(admin.ModelAdmin):
    list_display = ["name", "first_response_seconds", "next_response_seconds", "business_hours_only"]


@admin.register(SlaBreach)
class SlaBreachAdmin(admin.ModelAdmin):
    list_display = ["conversation", "team", "kind", "due_at", "breached_at"]
    list_filter = ["kind", "team"]
    raw_id_fields = ["conversation"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
