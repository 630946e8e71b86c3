"""Admin: templates (sync, submit, preview), the consent ledger (with CSV import) and
keyword rules, number health. Campaigns are in admin_campaigns.py, remediation cases and
alerts in admin_compliance.py."""

from __future__ import annotations

from typing import cast

from django import forms
from django.contrib import admin, messages
from django.contrib.auth.models import User
from django.db import transaction
from django.http import HttpRequest, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html
from django.utils.safestring import mark_safe

from conversations.models import WhatsAppNumber
from conversations.providers.whatsapp import GraphError
from notifications import (  # noqa: F401  (register the campaign, compliance, webhook and number admins)
    admin_campaigns,
    admin_compliance,
    admin_numbers,
    admin_webhooks,
)
from notifications.models import (
    ConsentKeywordRule,
    ConsentRecord,
    MessagePrice,
    MessageTemplate,
    NumberHealth,
    NumberHealthEvent,
    TemplateStatus,
)
from notifications.services.consent import consent_opt_in, consent_opt_out, user_may_record_opt_in
from notifications.services.consent_import import consent_import_csv
from notifications.services.template_sync import template_submit, templates_sync
from notifications.services.templates import TemplateRefused, template_check, template_create
from notifications.template_params import template_preview_html


class MessageTemplateForm(forms.ModelForm):
    """A draft's fields, checked by the same rules as the API's (`message_templates.template_check`)."""

    class Meta:
        model = MessageTemplate
        fields = ["number", "name", "language", "category", "parameter_format", "components"]

    def clean(self):
        super().clean()
        data = self.cleaned_data
        needed = ("number", "name", "language", "category", "parameter_format", "components")
        if all(data.get(name) is not None for name in needed):  # editable, and each field valid on its own
            try:
                template_check(number=data["number"], name=data["name"], language=data["language"],
                               category=data["category"], parameter_format=data["parameter_format"],
                               components=data["components"], template=self.instance)
            except TemplateRefused as refusal:
                self.add_error(refusal.field if refusal.field in self.fields else None, refusal.detail)
        return data

    def save(self, commit=True):
        template = super().save(commit=False)
        template.business_account_id = template.number.business_account_id
        if commit:
            template.save()
        return template


def _sync_numbers(numbers, request: HttpRequest, modeladmin) -> None:
    for number in numbers:
        try:
            counts = templates_sync(number=number)
        except (GraphError, ValueError) as exc:
            modeladmin.message_user(request, f"{number}: sync failed: {exc}", messages.ERROR)
            continue
        modeladmin.message_user(
            request, f"{number}: {counts['fetched']} template(s) fetched, {counts['created']} new, "
            f"{counts['updated']} updated, {counts['deleted']} no longer listed.", messages.SUCCESS)


@admin.register(MessageTemplate)
class MessageTemplateAdmin(admin.ModelAdmin):
    form = MessageTemplateForm
    list_display = ["name", "language", "category", "status", "quality", "number", "last_synced_at"]
    list_filter = ["status", "category", "quality", "number"]
    search_fields = ["name", "remote_id"]
    actions = ["sync_accounts", "submit_templates"]
    change_list_template = "admin/notifications/messagetemplate/change_list.html"

    def get_readonly_fields(self, request, obj=None):
        base = ["preview", "status", "quality", "rejection_reason", "remote_id", "last_synced_at", "submit_error"]
        # Once submitted, the content belongs to WhatsApp's review: edit and resubmit only drafts and rejections.
        if obj is not None and obj.status not in (TemplateStatus.DRAFT, TemplateStatus.REJECTED):
            return [*base, "number", "name", "language", "category", "parameter_format", "components"]
        return base

    def get_fields(self, request, obj=None):
        fields = ["number", "name", "language", "category", "parameter_format", "components"]
        return fields if obj is None else ["preview", *fields, "status", "quality", "rejection_reason",
                                           "submit_error", "remote_id", "last_synced_at"]

    @admin.display(description="Preview with sample values")
    def preview(self, obj: MessageTemplate) -> str:
        # template_preview_html escapes every piece of text it places in the markup.
        return mark_safe(template_preview_html(obj.components))  # noqa: S308

    def save_model(self, request, obj, form, change):
        if change:
            super().save_model(request, obj, form, change)
        else:
            # A new template is created by the service the API uses too.
            created = template_create(number=obj.number, name=obj.name, language=obj.language,
                                      category=obj.category, components=obj.components,
                                      parameter_format=obj.parameter_format)
            obj.pk = created.pk
            obj.refresh_from_db()
        if obj.status in (TemplateStatus.DRAFT, TemplateStatus.REJECTED):
            transaction.on_commit(lambda: self._submit(request, obj))

    def _submit(self, request, obj: MessageTemplate) -> None:
        result = template_submit(template=obj)
        if result.submit_error:
            self.message_user(request, f"{obj}: WhatsApp refused it: {result.submit_error}", messages.ERROR)
        else:
            self.message_user(request, f"{obj}: submitted for review ({result.status}).", messages.SUCCESS)

    @admin.action(description="Sync the templates of these templates' accounts from WhatsApp")
    def sync_accounts(self, request, queryset):
        numbers = {t.number_id: t.number for t in queryset.select_related("number")}
        _sync_numbers(numbers.values(), request, self)

    @admin.action(description="Submit selected drafts or rejected templates for review")
    def submit_templates(self, request, queryset):
        for template in queryset.filter(status__in=[TemplateStatus.DRAFT, TemplateStatus.REJECTED]):
            self._submit(request, template)

    def get_urls(self):
        return [path("sync/", self.admin_site.admin_view(self.sync_view), name="notifications_template_sync"),
                *super().get_urls()]

    def sync_view(self, request):
        if request.method == "POST" and self.has_change_permission(request):
            _sync_numbers(WhatsAppNumber.objects.exclude(business_account_id=""), request, self)
        return HttpResponseRedirect(reverse("admin:notifications_messagetemplate_changelist"))


class ConsentChangeForm(forms.ModelForm):
    # Set by ConsentRecordAdmin.get_form: the user recording the change.
    actor: User | None = None

    class Meta:
        model = ConsentRecord
        fields = ["contact", "category", "opted_in", "proof"]

    def clean(self):
        super().clean()
        data = self.cleaned_data
        if data.get("opted_in"):
            # Opt-outs are always recorded; an opt-in needs the permission and its proof.
            if not user_may_record_opt_in(self.actor):
                self.add_error("opted_in", "Recording an opt-in needs the “record opt-in” permission.")
            if not (data.get("proof") or "").strip():
                self.add_error("proof", "Say where and how the customer opted in.")
        return data


class ConsentImportForm(forms.Form):
    number = forms.ModelChoiceField(queryset=WhatsAppNumber.objects.all())
    default_category = forms.ChoiceField(choices=[("marketing", "Marketing"), ("utility", "Utility"), ("all", "All")])
    file = forms.FileField(help_text="CSV with a header: phone, category, action (opt_in/opt_out), proof, name.")


@admin.register(ConsentRecord)
class ConsentRecordAdmin(admin.ModelAdmin):
    """The ledger is append-only: rows are added (source `admin`) or imported, never edited."""

    form = ConsentChangeForm
    list_display = ["contact", "number", "category", "opted_in", "source", "actor", "created_at"]
    list_filter = ["category", "opted_in", "source", "number"]
    search_fields = ["contact__wa_id", "contact__profile_name", "proof"]
    raw_id_fields = ["contact"]
    change_list_template = "admin/notifications/consentrecord/change_list.html"

    def has_change_permission(self, request, obj=None):
        return obj is None and super().has_change_permission(request, obj)

    def get_form(self, request, obj=None, change=False, **kwargs):
        form = cast(type[ConsentChangeForm], super().get_form(request, obj, change=change, **kwargs))
        form.actor = cast(User, request.user)  # the admin site admits signed-in staff only
        return form

    def has_delete_permission(self, request, obj=None):
        return False

    def get_readonly_fields(self, request, obj=None):
        return [] if obj is None else ["contact", "number", "category", "opted_in", "source", "proof", "actor",
                                       "created_at"]

    def save_model(self, request, obj, form, change):
        change_fn = consent_opt_in if obj.opted_in else consent_opt_out
        saved = change_fn(contact=obj.contact, category=obj.category, source="admin", proof=obj.proof,
                          actor=request.user)
        obj.pk = saved.pk

    def get_urls(self):
        return [path("import/", self.admin_site.admin_view(self.import_view), name="notifications_consent_import"),
                *super().get_urls()]

    def import_view(self, request):
        # An import records opt-ins: it needs the same permission as recording one.
        if not self.has_add_permission(request) or not user_may_record_opt_in(request.user):
            return HttpResponseRedirect(reverse("admin:index"))
        form = ConsentImportForm(request.POST or None, request.FILES or None)
        report = None
        if request.method == "POST" and form.is_valid():
            upload = form.cleaned_data["file"]
            try:
                text = upload.read().decode("utf-8-sig")
            except UnicodeDecodeError:
                form.add_error("file", "The file must be UTF-8 text.")
            else:
                report = consent_import_csv(number=form.cleaned_data["number"], text=text,
                                            default_category=form.cleaned_data["default_category"],
                                            actor=request.user, filename=upload.name)
        context = {**self.admin_site.each_context(request), "title": "Import consent from CSV", "form": form,
                   "report": report, "opts": self.model._meta}
        return TemplateResponse(request, "admin/notifications/consent_import.html", context)


@admin.register(ConsentKeywordRule)
class ConsentKeywordRuleAdmin(admin.ModelAdmin):
    list_display = ["action", "language", "number", "keywords_short"]
    list_filter = ["action", "language", "number"]

    @admin.display(description="Keywords")
    def keywords_short(self, obj: ConsentKeywordRule) -> str:
        return ", ".join(obj.keyword_list())[:100]


@admin.register(NumberHealth)
class NumberHealthAdmin(admin.ModelAdmin):
    list_display = ["number", "quality", "limit", "throughput", "restricted", "restriction", "banned", "updated_at"]
    readonly_fields = ["number", "restricted", "restriction", "restricted_until", "banned", "last_event", "updated_at"]

    def has_add_permission(self, request):
        return False

    @admin.display(description="Quality")
    def quality(self, obj: NumberHealth) -> str:
        colour = {"GREEN": "#2e7d32", "YELLOW": "#f9a825", "RED": "#c62828"}.get(obj.number.quality_rating, "#777")
        return format_html('<strong style="color:{}">{}</strong>', colour, obj.number.get_quality_rating_display())

    @admin.display(description="Messaging limit")
    def limit(self, obj: NumberHealth) -> str:
        return obj.number.get_messaging_limit_display()

    @admin.display(description="Messages/s")
    def throughput(self, obj: NumberHealth) -> int:
        return obj.number.throughput_mps


@admin.register(NumberHealthEvent)
class NumberHealthEventAdmin(admin.ModelAdmin):
    list_display = ["created_at", "number", "field", "event", "quality_rating", "messaging_limit", "throughput_mps",
                    "detail"]
    list_filter = ["field", "number"]
    readonly_fields = [f.name for f in NumberHealthEvent._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(MessagePrice)
class MessagePriceAdmin(admin.ModelAdmin):
    """The price table the cost estimates use: a rate per pricing category and country
    (empty country: every other country). Copy the amounts from Meta's rate card."""

    list_display = ["category", "country", "price", "currency", "updated_at"]
    list_filter = ["category", "currency"]
    search_fields = ["country"]
    readonly_fields = ["updated_at"]
