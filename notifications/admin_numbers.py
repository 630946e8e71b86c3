"""The WhatsApp numbers' admin with the notifications app's action: read each number's
messaging limits and quality from WhatsApp (number health). The numbers' admin is the
conversations app's; this registers it again with the action, so conversations imports no
notifications code."""

from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from conversations.admin import WhatsAppNumberAdmin
from conversations.models import WhatsAppNumber
from conversations.providers.whatsapp import GraphError
from notifications.services.number_health import number_limits_refresh


class NumberHealthAdmin(WhatsAppNumberAdmin):
    actions = ("read_limits",)

    @admin.action(description="Read messaging limits and quality from WhatsApp")
    def read_limits(self, request: HttpRequest, queryset: QuerySet[WhatsAppNumber]) -> None:
        for number in queryset.select_related("portfolio"):
            try:
                event = number_limits_refresh(number=number)
            except GraphError as exc:
                self.message_user(request, f"{number}: WhatsApp answered {exc}", messages.ERROR)
                continue
            shared = f" (portfolio {number.portfolio})" if number.portfolio_id else ""
            self.message_user(request, f"{number}: limit {event.messaging_limit or 'not reported'}{shared}.")


admin.site.unregister(WhatsAppNumber)
admin.site.register(WhatsAppNumber, NumberHealthAdmin)
