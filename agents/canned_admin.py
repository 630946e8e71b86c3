"""Canned responses in the admin (imported from agents/admin.py)."""

from django.contrib import admin

from agents.models import CannedResponse


@admin.register(CannedResponse)
class CannedResponseAdmin(admin.ModelAdmin):
    list_display = ["shortcut", "title", "scope", "team", "owner", "updated_at"]
    list_filter = ["scope", "team"]
    search_fields = ["shortcut", "title", "body"]
    raw_id_fields = ["owner", "created_by"]
    readonly_fields = ["created_by", "created_at", "updated_at"]

    def save_model(self, request, obj, form, change):
        if not change and obj.created_by_id is None:
            obj.created_by = request.user
        super().save_model(request, obj, form, change)
