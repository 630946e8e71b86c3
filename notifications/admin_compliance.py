"""Admin: remediation cases (read-only: they open from WhatsApp's webhooks or the compliance
page, and an admin resolves them there, saying what changed) and alerts (closed by the
action once dealt with)."""

from __future__ import annotations

from django.contrib import admin, messages
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html

from conversations.access import user_is_admin
from notifications.models import Alert, RemediationCase
from notifications.services.alerts import alert_close


@admin.register(RemediationCase)
class RemediationCaseAdmin(admin.ModelAdmin):
    list_display = ("number", "state", "trigger", "opened_at", "deadline_at", "days_left", "closed_at", "closed_by",
                    "compliance_page")
    list_filter = ("state", "trigger", "number")
    date_hierarchy = "opened_at"
    readonly_fields = ("number", "state", "trigger", "reason", "health_event", "opened_by", "opened_at", "deadline_at",
                       "days_left", "reminded_days", "closed_at", "closed_by", "resolution", "evidence")
    fields = readonly_fields

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    @admin.display(description="compliance")
    def compliance_page(self, case: RemediationCase) -> str:
        return format_html('<a href="{}?number={}">open</a>', reverse("desk-compliance"), case.number_id)


@admin.register(Alert)
class AlertAdmin(admin.ModelAdmin):
    list_display = ("title", "kind", "severity", "number", "opened_at", "occurrences", "emailed_at",
                    "email_recipients", "closed_at", "closed_by")
    list_filter = ("kind", "severity", ("closed_at", admin.EmptyFieldListFilter), "number")
    search_fields = ("title", "detail", "incident")
    readonly_fields = ("kind", "severity", "incident", "number", "title", "detail", "link", "opened_at",
                       "last_seen_at", "occurrences", "closed_at", "closed_by", "close_reason", "emailed_at",
                       "email_recipients")
    fields = readonly_fields
    actions = ["close_alerts"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_close_permission(self, request: HttpRequest) -> bool:
        return user_is_admin(request.user)

    @admin.action(description="Mark the selected alerts as dealt with", permissions=["close"])
    def close_alerts(self, request: HttpRequest, queryset) -> None:
        closed = sum(alert_close(alert=alert, actor=request.user, reason="closed in the admin")
                     for alert in queryset.filter(closed_at__isnull=True))
        self.message_user(request, f"{closed} alert(s) closed.", messages.SUCCESS)
