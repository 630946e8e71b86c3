"""The admin: numbers (secrets write-only), contacts, conversations with their messages and
timeline, delivery statuses, the raw webhook log with a reprocess action, platform events.

Conversations, messages and logs are read-only here: their changes follow the domain
rules, so they happen through the desk, the API and the services behind them."""

from __future__ import annotations

import contextlib
import json
from urllib.parse import urlsplit

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.db.models import QuerySet
from django.http import HttpRequest
from django.template.response import TemplateResponse
from django.utils.html import format_html

from conversations.access import user_is_admin
from conversations.languages import LANGUAGE_CHOICES
from conversations.models import (
    BusinessPortfolio,
    Contact,
    ContactErasure,
    Conversation,
    ConversationEvent,
    Message,
    MessageStatusEvent,
    Participant,
    PlatformEvent,
    WebChatInbox,
    WebhookEvent,
    WhatsAppNumber,
)
from conversations.providers.webchat import webchat_snippet
from conversations.services.contact_erasure import contact_erase
from conversations.services.contact_language import contact_language_set
from conversations.services.webchat_inbox import webchat_inbox_announce
from conversations.services.webhook_intake import webhook_event_reprocess

SECRET_FIELDS = ("access_token", "app_secret", "verify_token")
BODY_PREVIEW_CHARS = 4000
INLINE_MESSAGES = 200


class ReadOnlyAdmin(admin.ModelAdmin):
    """Viewable by admins, never added or edited by hand."""

    def has_add_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False


class ReadOnlyInline(admin.TabularInline):
    extra = 0
    can_delete = False
    show_change_link = False

    def has_add_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False


# --- numbers -----------------------------------------------------------------------------


class SecretField(forms.CharField):
    """A write-only secret: never rendered back, and left unchanged when submitted blank."""

    def __init__(self, **kwargs):
        kwargs.setdefault("required", False)
        kwargs.setdefault("strip", True)
        kwargs.setdefault("help_text", "Write-only. Leave blank to keep the stored value.")
        super().__init__(widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}), **kwargs)

    def has_changed(self, initial, data) -> bool:
        return bool(data)


class WhatsAppNumberForm(forms.ModelForm):
    api_base = forms.URLField(
        required=False,
        assume_scheme="https",
        help_text="Graph API base for this number; empty means the WHATSAPP_API_BASE setting.",
    )
    access_token = SecretField(max_length=1024)
    app_secret = SecretField(max_length=256)
    verify_token = SecretField(max_length=256)

    class Meta:
        model = WhatsAppNumber
        fields = [
            "name",
            "phone_number_id",
            "display_phone_number",
            "business_account_id",
            "api_base",
            "access_token",
            "app_secret",
            "verify_token",
            "quality_rating",
            "messaging_limit",
            "portfolio",
            "throughput_mps",
            "is_default",
            "is_sandbox",
            "default_language",
        ]

    def _keep_stored(self, field: str) -> str:
        value = self.cleaned_data.get(field) or ""
        if not value and self.instance.pk:
            return getattr(self.instance, field)
        return value

    def clean_access_token(self) -> str:
        return self._keep_stored("access_token")

    def clean_app_secret(self) -> str:
        return self._keep_stored("app_secret")

    def clean_verify_token(self) -> str:
        return self._keep_stored("verify_token")


@admin.register(BusinessPortfolio)
class BusinessPortfolioAdmin(admin.ModelAdmin):
    """Business portfolios: the messaging limit their numbers share (WhatsApp keeps it
    current through webhooks; set it here for a portfolio it has not reported yet)."""

    list_display = ("__str__", "business_id", "messaging_limit", "limit_reported_at", "number_count")
    search_fields = ("name", "business_id")
    readonly_fields = ("limit_reported_at", "created_at")

    @admin.display(description="numbers")
    def number_count(self, portfolio: BusinessPortfolio) -> int:
        return portfolio.numbers.count()


@admin.register(WhatsAppNumber)
class WhatsAppNumberAdmin(admin.ModelAdmin):
    """The numbers' admin; the notifications app registers it again with its action that
    reads the numbers' messaging limits (notifications.admin_numbers)."""

    form = WhatsAppNumberForm
    list_display = (
        "__str__",
        "display_phone_number",
        "phone_number_id",
        "quality_rating",
        "messaging_limit",
        "portfolio",
        "is_default",
        "is_sandbox",
        "secrets_stored",
    )
    list_filter = ("quality_rating", "is_default", "is_sandbox", "portfolio")
    search_fields = ("name", "display_phone_number", "phone_number_id", "business_account_id")
    readonly_fields = ("secrets_stored", "created_at", "updated_at")

    @admin.display(description="secrets stored")
    def secrets_stored(self, number: WhatsAppNumber) -> str:
        stored = [name.replace("_", " ") for name in SECRET_FIELDS if getattr(number, name)]
        return ", ".join(stored) or "none"


class WebChatInboxForm(forms.ModelForm):
    """The identity secret is write-only, like a number's secrets: left empty, the stored one stays."""

    identity_secret = SecretField(max_length=256)

    class Meta:
        model = WebChatInbox
        fields = [
            "name",
            "number",
            "team",
            "allowed_origins",
            "title",
            "greeting",
            "color",
            "ask_name",
            "ask_email",
            "consent_text",
            "identity_secret",
            "is_active",
        ]

    def clean_identity_secret(self) -> str:
        value = self.cleaned_data.get("identity_secret") or ""
        if not value and self.instance.pk:
            return self.instance.identity_secret
        return value

    def clean_allowed_origins(self) -> str:
        origins = []
        for line in (self.cleaned_data.get("allowed_origins") or "").split():
            parts = urlsplit(line.strip())
            if parts.scheme not in ("http", "https") or not parts.netloc or parts.path not in ("", "/"):
                raise forms.ValidationError(f"{line!r} is not an origin like https://www.example.com")
            origins.append(f"{parts.scheme}://{parts.netloc}")
        if not origins:
            raise forms.ValidationError("Name at least one site that may embed the widget.")
        return "\n".join(origins)


@admin.register(WebChatInbox)
class WebChatInboxAdmin(admin.ModelAdmin):
    form = WebChatInboxForm
    list_display = ("name", "key", "number", "team", "is_active", "identity_verification")
    list_filter = ("is_active",)
    search_fields = ("name", "key")
    readonly_fields = ("key", "snippet", "created_at")

    @admin.display(boolean=True, description="identity verification")
    def identity_verification(self, inbox: WebChatInbox) -> bool:
        return bool(inbox.identity_secret)

    @admin.display(description="snippet for your site")
    def snippet(self, inbox: WebChatInbox) -> str:
        if not inbox.pk:
            return "Save the inbox to get its snippet."
        return webchat_snippet(base_url=getattr(self, "_base_url", "https://YOUR-HANDOFF-HOST"), key=inbox.key)

    def change_view(self, request: HttpRequest, object_id: str, form_url: str = "", extra_context=None):
        self._base_url = request.build_absolute_uri("/")
        return super().change_view(request, object_id, form_url, extra_context)

    def save_model(self, request: HttpRequest, obj: WebChatInbox, form, change: bool) -> None:
        super().save_model(request, obj, form, change)
        if change:
            webchat_inbox_announce(inbox=obj)

    def delete_model(self, request: HttpRequest, obj: WebChatInbox) -> None:
        webchat_inbox_announce(inbox=obj, removed=True)
        super().delete_model(request, obj)

    def delete_queryset(self, request: HttpRequest, queryset) -> None:
        for inbox in queryset:
            webchat_inbox_announce(inbox=inbox, removed=True)
        super().delete_queryset(request, queryset)


# --- contacts and conversations -----------------------------------------------------------------


class ContactForm(forms.ModelForm):
    language = forms.ChoiceField(
        choices=[("", "Not known"), *LANGUAGE_CHOICES],
        required=False,
        help_text="Texts to this customer and routing follow it. Setting it here replaces the detected one "
        "for good.",
    )

    class Meta:
        model = Contact
        fields = ["number", "wa_id", "user_id", "profile_name", "language", "attributes", "tags", "created_by"]

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        current = self.instance.language if self.instance.pk else ""
        field = self.fields["language"]
        if current and current not in dict(LANGUAGE_CHOICES):
            field.choices = [*field.choices, (current, current)]  # type: ignore[attr-defined]


@admin.register(Contact)
class ContactAdmin(admin.ModelAdmin):
    form = ContactForm
    list_display = ("__str__", "wa_id", "user_id", "number", "language", "language_source", "created_at")
    list_filter = ("number", "language", "language_source")
    list_select_related = ("number",)
    search_fields = ("profile_name", "wa_id", "user_id", "parent_user_id")
    readonly_fields = (
        "parent_user_id",
        "language_source",
        "language_confidence",
        "language_samples",
        "language_set_by",
        "language_set_at",
        "created_at",
        "updated_at",
    )
    actions = ("erase_personal_data",)

    def save_model(self, request: HttpRequest, obj: Contact, form, change: bool) -> None:
        """A language chosen here is a person's correction (conversations.services.contact_language)."""
        language_changed = "language" in form.changed_data
        if language_changed and change:
            obj.language = Contact.objects.only("language").get(pk=obj.pk).language
        super().save_model(request, obj, form, change)
        if language_changed:
            contact_language_set(contact=obj, language=form.cleaned_data["language"], actor=request.user)

    def has_erase_permission(self, request: HttpRequest) -> bool:
        return user_is_admin(request.user)

    @admin.action(description="Erase personal data of selected contacts (GDPR)", permissions=["erase"])
    def erase_personal_data(self, request: HttpRequest, queryset: QuerySet[Contact]) -> TemplateResponse | None:
        """Asks for confirmation first (like deleting), then erases each contact."""
        if request.POST.get("confirm") != "yes":
            return TemplateResponse(
                request,
                "admin/conversations/contact/erase_confirmation.html",
                {
                    **self.admin_site.each_context(request),
                    "title": "Erase personal data?",
                    "opts": self.model._meta,
                    "contacts": list(queryset.select_related("number")),
                    "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
                },
            )
        erased, already = 0, 0
        for contact in queryset:
            result = contact_erase(contact=contact, actor=request.user, via=ContactErasure.Via.ADMIN)  # type: ignore[arg-type]
            already += result.already_erased
            erased += not result.already_erased
        text = f"Erased the personal data of {erased} contact(s)."
        if already:
            text += f" {already} contact(s) had been erased before; nothing changed for them."
        self.message_user(request, text, messages.SUCCESS)
        return None


@admin.register(ContactErasure)
class ContactErasureAdmin(ReadOnlyAdmin):
    list_display = ("contact_ref", "erased_at", "actor_username", "via", "completed_at")
    list_filter = ("via",)
    search_fields = ("=contact_ref",)
    date_hierarchy = "erased_at"
    fields = ("contact_ref", "contact", "erased_at", "actor", "actor_username", "via", "counts", "completed_at")
    readonly_fields = fields

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False


class MessageInline(ReadOnlyInline):
    model = Message
    fields = ("created_at", "direction", "sender_kind", "sender_user", "type", "internal", "text", "status", "error_code")
    readonly_fields = fields
    ordering = ("created_at", "id")
    verbose_name_plural = f"messages (latest {INLINE_MESSAGES})"

    def get_queryset(self, request: HttpRequest) -> QuerySet[Message]:
        qs = super().get_queryset(request).select_related("sender_user")
        object_id = request.resolver_match.kwargs.get("object_id") if request.resolver_match else None
        if object_id and str(object_id).isdigit():
            latest = (
                Message.objects.filter(conversation_id=int(object_id))
                .order_by("-created_at", "-id")
                .values_list("id", flat=True)[:INLINE_MESSAGES]
            )
            qs = qs.filter(id__in=list(latest))
        return qs


class ConversationEventInline(ReadOnlyInline):
    model = ConversationEvent
    fields = ("created_at", "kind", "actor_kind", "actor", "from_status", "to_status", "reason")
    readonly_fields = fields
    ordering = ("created_at", "id")

    def get_queryset(self, request: HttpRequest) -> QuerySet[ConversationEvent]:
        return super().get_queryset(request).select_related("actor")


class ParticipantInline(ReadOnlyInline):
    model = Participant
    fields = ("user", "role", "joined_at", "left_at")
    readonly_fields = fields


@admin.register(Conversation)
class ConversationAdmin(ReadOnlyAdmin):
    list_display = ("id", "contact", "status", "team", "assignee", "number", "last_activity_at", "window_open_now")
    list_filter = ("status", "team", "number", "channel", "on_hold")
    list_select_related = ("contact", "team", "assignee", "number")
    search_fields = ("=id", "contact__profile_name", "contact__wa_id", "contact__user_id")
    date_hierarchy = "last_activity_at"
    inlines = (ParticipantInline, MessageInline, ConversationEventInline)

    @admin.display(boolean=True, description="window open")
    def window_open_now(self, conversation: Conversation) -> bool:
        return conversation.window_open()


@admin.register(Message)
class MessageAdmin(ReadOnlyAdmin):
    list_display = ("id", "conversation", "direction", "sender_kind", "type", "status", "short_text", "created_at")
    list_filter = ("direction", "status", "sender_kind", "type", "internal")
    list_select_related = ("conversation__contact",)
    search_fields = ("=id", "provider_message_id", "text")
    date_hierarchy = "created_at"
    raw_id_fields = ("conversation", "reply_to", "sender_user")

    @admin.display(description="text")
    def short_text(self, message: Message) -> str:
        return message.text if len(message.text) <= 80 else message.text[:79] + "…"


@admin.register(MessageStatusEvent)
class MessageStatusEventAdmin(ReadOnlyAdmin):
    list_display = ("provider_message_id", "status", "timestamp", "recipient_id", "received_at", "applied_at")
    list_filter = ("status",)
    search_fields = ("=provider_message_id", "recipient_id")
    date_hierarchy = "received_at"


# --- logs ---------------------------------------------------------------------------------


def _body_text(body) -> str:
    raw = bytes(body or b"")
    text = raw.decode("utf-8", errors="replace")
    with contextlib.suppress(ValueError):
        text = json.dumps(json.loads(text), indent=2, ensure_ascii=False)
    if len(text) > BODY_PREVIEW_CHARS:
        text = text[:BODY_PREVIEW_CHARS] + f"\n… ({len(raw)} bytes in all)"
    return text


@admin.register(WebhookEvent)
class WebhookEventAdmin(ReadOnlyAdmin):
    list_display = ("id", "provider", "received_at", "state", "attempts", "error_count", "processed_at")
    list_filter = ("state", "provider")
    search_fields = ("=id",)
    date_hierarchy = "received_at"
    fields = ("provider", "received_at", "state", "attempts", "processed_at", "errors_pretty", "body_preview")
    readonly_fields = fields
    actions = ("reprocess",)

    @admin.display(description="errors")
    def error_count(self, event: WebhookEvent) -> int:
        return len(event.errors or [])

    @admin.display(description="errors")
    def errors_pretty(self, event: WebhookEvent) -> str:
        return format_html("<pre>{}</pre>", json.dumps(event.errors, indent=2, ensure_ascii=False))

    @admin.display(description="body")
    def body_preview(self, event: WebhookEvent) -> str:
        return format_html('<pre style="white-space: pre-wrap">{}</pre>', _body_text(event.body))

    def has_reprocess_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("conversations.change_webhookevent")

    @admin.action(description="Reprocess selected events", permissions=["reprocess"])
    def reprocess(self, request: HttpRequest, queryset: QuerySet[WebhookEvent]) -> None:
        ids = list(queryset.values_list("id", flat=True))
        count = webhook_event_reprocess(event_ids=ids)
        self.message_user(request, f"{count} of {len(ids)} event(s) queued for processing again.", messages.SUCCESS)


@admin.register(PlatformEvent)
class PlatformEventAdmin(ReadOnlyAdmin):
    list_display = ("id", "field", "number", "business_account_id", "received_at", "handled_at", "has_error")
    list_filter = ("field", "number")
    list_select_related = ("number",)
    search_fields = ("=id", "business_account_id", "dedupe_key")
    date_hierarchy = "received_at"
    fields = (
        "field",
        "number",
        "business_account_id",
        "received_at",
        "handled_at",
        "error",
        "dedupe_key",
        "payload_pretty",
    )
    readonly_fields = fields

    @admin.display(boolean=True, description="error")
    def has_error(self, event: PlatformEvent) -> bool:
        return bool(event.error)

    @admin.display(description="payload")
    def payload_pretty(self, event: PlatformEvent) -> str:
        return format_html("<pre>{}</pre>", json.dumps(event.payload, indent=2, ensure_ascii=False))
