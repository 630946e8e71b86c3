"""Admin for bots, their flows and FAQ, lookup services, escalation policies, and the handoff records."""

from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest
from django.utils.html import format_html, format_html_join

from bots.models import (
    Bot,
    BotSession,
    DemoOrder,
    EscalationLedger,
    EscalationPolicy,
    FaqEntry,
    FlowStep,
    Handoff,
    LookupService,
    PolicyTranslation,
    StepOption,
)


def _object_id(request: HttpRequest) -> str | None:
    match = request.resolver_match
    return match.kwargs.get("object_id") if match else None


class SameBotStepsMixin:
    """Step links offer only steps of the bot being edited."""

    def bot_id_for(self, request: HttpRequest) -> int | str | None:
        """The bot being edited: by default the object of the change page (a bot)."""
        return _object_id(request)

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name in {"next_step", "else_step", "start_step"}:
            bot_id = self.bot_id_for(request)
            kwargs["queryset"] = FlowStep.objects.filter(bot_id=bot_id) if bot_id else FlowStep.objects.none()
        return super().formfield_for_foreignkey(db_field, request, **kwargs)  # type: ignore[misc]


class FlowStepInline(SameBotStepsMixin, admin.TabularInline):
    model = FlowStep
    fields = ("key", "kind", "text", "next_step")
    extra = 0
    show_change_link = True  # options, questions and lookups are edited on the step's own page


class FaqEntryInline(admin.StackedInline):
    model = FaqEntry
    fields = ("question", "keywords", "answer", "position")
    extra = 0


@admin.register(Bot)
class BotAdmin(SameBotStepsMixin, admin.ModelAdmin):
    list_display = ("name", "kind", "is_active", "number", "team", "is_default")
    list_filter = ("kind", "is_active")
    search_fields = ("name",)
    inlines = [FlowStepInline, FaqEntryInline]
    fieldsets = [
        (None, {"fields": ("name", "kind", "is_active")}),
        ("Serves", {"fields": ("number", "team", "is_default")}),
        ("Flow bot", {"fields": ("start_step",)}),
        ("External bot (Rasa REST channel)", {"fields": ("endpoint_url", "timeout_seconds", "auth_header")}),
    ]


class StepOptionInline(SameBotStepsMixin, admin.TabularInline):
    model = StepOption
    fk_name = "step"
    fields = ("position", "title", "description", "payload", "next_step")
    extra = 1

    def bot_id_for(self, request):
        step_id = _object_id(request)
        return FlowStep.objects.filter(pk=step_id).values_list("bot_id", flat=True).first() if step_id else None


@admin.register(FlowStep)
class FlowStepAdmin(SameBotStepsMixin, admin.ModelAdmin):
    list_display = ("__str__", "kind", "next_step")
    list_filter = ("bot", "kind")
    search_fields = ("key", "text")
    inlines = [StepOptionInline]
    fieldsets = [
        (None, {"fields": ("bot", "key", "kind", "text", "next_step")}),
        ("Menu", {"fields": ("header", "footer", "button_label")}),
        ("Question", {"fields": ("value_name", "validation", "pattern", "choices", "invalid_text")}),
        ("Lookup (HTTP call to a lookup service)", {"fields": (
            "lookup", "lookup_service", "lookup_method", "lookup_path", "lookup_params", "lookup_map",
            "lookup_found_path", "else_step", "not_found_text",
        )}),
        ("Hand off", {"fields": ("handoff_team", "handoff_reason", "handoff_skills")}),
    ]

    def bot_id_for(self, request):
        step_id = _object_id(request)
        if step_id:
            return FlowStep.objects.filter(pk=step_id).values_list("bot_id", flat=True).first()
        return request.GET.get("bot")


class PolicyTranslationInline(admin.StackedInline):
    model = PolicyTranslation
    extra = 0
    verbose_name = "translation of the customer texts"
    verbose_name_plural = "translations of the customer texts"
    fields = ("language", "human_option_title", "handoff_text", "fallback_text")


@admin.register(EscalationPolicy)
class EscalationPolicyAdmin(admin.ModelAdmin):
    list_display = ("name", "number", "team", "is_default", "target_team", "fallback_summary")
    inlines = [PolicyTranslationInline]
    fieldsets = [
        (None, {"fields": ("name",)}),
        ("Applies to", {"fields": ("number", "team", "is_default")}),
        ("Hands off to", {"fields": ("target_team", "human_reply_target_minutes")}),
        (
            "When the bot hands off",
            {
                "fields": (
                    "human_option_title",
                    "keywords",
                    "max_not_understood",
                    "loop_limit",
                    "escalate_on_bot_error",
                    ("vip_attribute", "vip_value", "vip_priority"),
                    "negative_words",
                    "detect_platform_test",
                    "bot_replies_per_minute",
                    "transcript_lines",
                )
            },
        ),
        (
            "What the customer is told",
            {
                "fields": ("handoff_text", "fallback_text", "fallback_phone", "fallback_email", "fallback_url"),
                "description": "When nobody can answer (outside business hours or nobody online) the customer "
                "gets the fallback text and contact. It must be a direct way to a person: a phone number, "
                "an email address or a web support form. Help centres, FAQs, homepages, app stores, social "
                "networks and messengers are refused. Customers get these texts in their language: the "
                "built-in texts come translated (English, Spanish, Portuguese, German, French, Hindi); your "
                "own wording is sent as written unless you add a translation below.",
            },
        ),
    ]

    @admin.display(description="fallback")
    def fallback_summary(self, policy: EscalationPolicy) -> str:
        return ", ".join(policy.fallback_lines()) or "—"


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Handoff)
class HandoffAdmin(ReadOnlyAdmin):
    list_display = ("conversation", "reason_code", "policy_name", "suggested_team", "priority", "fallback_sent", "created_at")
    list_filter = ("reason_code", "fallback_sent", "suggested_team")
    date_hierarchy = "created_at"
    search_fields = ("conversation__contact__wa_id", "conversation__contact__profile_name", "detail")
    readonly_fields = ("transcript_lines",)
    exclude = ("transcript",)

    @admin.display(description="transcript")
    def transcript_lines(self, handoff: Handoff) -> str:
        return format_html("<div>{}</div>", format_html_join("", "<div>{}</div>", ((line,) for line in handoff.transcript)))


@admin.register(EscalationLedger)
class EscalationLedgerAdmin(ReadOnlyAdmin):
    list_display = ("conversation", "human_offered_at", "human_requested_at", "handed_off_at", "first_human_reply_at")
    search_fields = ("conversation__contact__wa_id",)


@admin.register(BotSession)
class BotSessionAdmin(ReadOnlyAdmin):
    list_display = ("conversation", "bot", "current_step", "misunderstood_count", "last_intent", "updated_at")
    list_filter = ("bot",)


@admin.register(LookupService)
class LookupServiceAdmin(admin.ModelAdmin):
    """The business APIs lookup steps may call: the base URL every call stays under, and
    the headers (credentials) sent with each call, stored encrypted."""

    list_display = ("name", "base_url", "timeout_seconds")
    search_fields = ("name", "base_url")
    fields = ("name", "base_url", "headers", "timeout_seconds")


@admin.register(DemoOrder)
class DemoOrderAdmin(admin.ModelAdmin):
    list_display = ("order_number", "status", "detail")
    search_fields = ("order_number",)
