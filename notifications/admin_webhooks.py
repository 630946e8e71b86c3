"""Admin: outgoing webhook endpoints (URL, events, secret, enabled; "enable again" after a
disable) and their deliveries with the attempt log and "resend"."""

from __future__ import annotations

import json

from django import forms
from django.contrib import admin, messages
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html

from config.outbound_http import OutboundRefused, url_check
from config.refusals import Refused
from conversations.access import user_is_admin
from notifications.models import (
    OutboxEvent,
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpoint,
    WebhookEventType,
)
from notifications.services.webhook_delivery import webhook_delivery_resend, webhook_endpoint_enable


class WebhookEndpointForm(forms.ModelForm):
    events = forms.MultipleChoiceField(choices=WebhookEventType.choices, widget=forms.CheckboxSelectMultiple,
                                       required=False, help_text="The events posted to this URL.")

    class Meta:
        model = WebhookEndpoint
        fields = ("url", "description", "events", "secret", "enabled")

    def clean_url(self) -> str:
        url = self.cleaned_data["url"]
        try:
            url_check(url)
        except OutboundRefused as exc:
            raise forms.ValidationError(exc.detail) from exc
        return url


class AdminOnly(admin.ModelAdmin):
    def _admin(self, request: HttpRequest) -> bool:
        return user_is_admin(request.user)

    def has_module_permission(self, request: HttpRequest) -> bool:
        return self._admin(request)

    def has_view_permission(self, request: HttpRequest, obj=None) -> bool:
        return self._admin(request)


@admin.register(WebhookEndpoint)
class WebhookEndpointAdmin(AdminOnly):
    form = WebhookEndpointForm
    list_display = ("url", "description", "enabled", "event_list", "failing_since", "disabled_reason", "deliveries")
    list_filter = ("enabled",)
    readonly_fields = ("failing_since", "disabled_at", "disabled_reason", "created_at")
    actions = ["enable_endpoints"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return self._admin(request)

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return self._admin(request)

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return self._admin(request)

    @admin.display(description="events")
    def event_list(self, endpoint: WebhookEndpoint) -> str:
        return ", ".join(endpoint.events or []) or "none"

    @admin.display(description="deliveries")
    def deliveries(self, endpoint: WebhookEndpoint) -> str:
        url = reverse("admin:notifications_webhookdelivery_changelist")
        return format_html('<a href="{}?endpoint__id__exact={}">log</a>', url, endpoint.pk)

    @admin.action(description="Enable the selected endpoints again (their missed events are sent)")
    def enable_endpoints(self, request: HttpRequest, queryset) -> None:
        for endpoint in queryset:
            webhook_endpoint_enable(endpoint=endpoint, actor=request.user)
        self.message_user(request, f"{queryset.count()} endpoint(s) enabled.", messages.SUCCESS)


class WebhookAttemptInline(admin.TabularInline):
    model = WebhookAttempt
    extra = 0
    can_delete = False
    fields = ("attempted_at", "status_code", "latency_ms", "succeeded", "error", "response_excerpt")
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest, obj=None) -> bool:
        return False


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(AdminOnly):
    list_display = ("event_type", "event_id", "endpoint", "state", "attempts", "last_status_code", "last_error",
                    "next_attempt_at", "delivered_at", "created_at")
    list_filter = ("state", "event__type", "endpoint")
    search_fields = ("event__event_id",)
    readonly_fields = ("endpoint", "event", "state", "attempts", "next_attempt_at", "last_status_code", "last_error",
                       "delivered_at", "created_at", "payload")
    fields = readonly_fields
    inlines = [WebhookAttemptInline]
    actions = ["resend"]
    list_select_related = ("event", "endpoint")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_resend_permission(self, request: HttpRequest) -> bool:
        return self._admin(request)

    @admin.display(description="type")
    def event_type(self, delivery: WebhookDelivery) -> str:
        return delivery.event.type

    @admin.display(description="event id")
    def event_id(self, delivery: WebhookDelivery) -> str:
        return delivery.event.event_id

    @admin.display(description="payload")
    def payload(self, delivery: WebhookDelivery) -> str:
        return format_html("<pre>{}</pre>", json.dumps(delivery.event.payload, indent=2))

    @admin.action(description="Resend the selected deliveries now", permissions=["resend"])
    def resend(self, request: HttpRequest, queryset) -> None:
        sent = 0
        for delivery in queryset:
            try:
                webhook_delivery_resend(delivery=delivery)
                sent += 1
            except Refused as exc:
                self.message_user(request, f"{delivery}: {exc.detail}", messages.WARNING)
        if sent:
            self.message_user(request, f"{sent} delivery(ies) sent again.", messages.SUCCESS)


@admin.register(OutboxEvent)
class OutboxEventAdmin(AdminOnly):
    list_display = ("event_id", "type", "created_at")
    list_filter = ("type",)
    search_fields = ("event_id",)
    readonly_fields = ("event_id", "type", "payload", "created_at")
    fields = readonly_fields

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False
