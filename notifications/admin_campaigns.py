"""Campaign admin: progress bars in the list and the form, statistics, per-recipient
delivery, and the start / pause / resume / cancel actions."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.utils.html import format_html, format_html_join

from notifications import pause_reasons
from notifications.models import Campaign, CampaignRecipient
from notifications.selectors import campaign_recipients, campaign_stats, recipient_delivery, recipient_failure
from notifications.services import campaigns as services

BAR = (
    '<div class="campaign-progress" title="{pct}% done" style="width:180px;background:#eee;border-radius:3px;'
    'height:14px;position:relative"><div style="width:{pct}%;background:{colour};height:14px;border-radius:3px">'
    '</div></div><small>{done} / {total}</small>'
)


def progress_bar(campaign: Campaign, stats: dict | None = None) -> str:
    stats = stats or campaign_stats(campaign=campaign)
    total = stats["total"]
    done = total - stats["recipients"]["queued"] - stats["recipients"]["sending"]
    colour = {"paused": "#f9a825", "cancelled": "#999", "completed": "#2e7d32"}.get(campaign.state, "#1565c0")
    return format_html(BAR, pct=stats["progress_percent"], colour=colour, done=done, total=total)


def _money(cost: dict[str, str], unpriced: int) -> str:
    text = ", ".join(f"{amount} {currency}" for currency, amount in cost.items()) or "—"
    return f"{text} ({unpriced} messages without a rate in the price table)" if unpriced else text


class CampaignForm(forms.ModelForm):
    """A draft's fields, checked by the same rules as the API's (`campaigns.campaign_check`)."""

    class Meta:
        model = Campaign
        fields = ["name", "number", "template", "audience", "audience_filter", "audience_csv", "parameter_mapping",
                  "scheduled_at"]

    def clean(self):
        super().clean()
        data = self.cleaned_data
        needed = ("name", "number", "template", "audience")
        if all(data.get(name) is not None for name in needed):  # editable, and each field valid on its own
            try:
                services.campaign_check(name=data["name"], number=data["number"], template=data["template"],
                                        audience=data["audience"], parameter_mapping=data.get("parameter_mapping"))
            except services.CampaignRefused as refusal:
                self.add_error(refusal.field if refusal.field in self.fields else None, refusal.detail)
        return data


@admin.register(Campaign)
class CampaignAdmin(admin.ModelAdmin):
    form = CampaignForm
    list_display = ["name", "number", "template", "state", "progress", "pause_reason", "scheduled_at", "created_at"]
    list_filter = ["state", "number"]
    search_fields = ["name"]
    actions = ["start", "pause", "resume", "cancel"]

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return []
        base = ["state", "pause_reason", "progress_detail", "recipients_table", "audience_rejected_list",
                "started_at", "completed_at", "created_by"]
        if obj.state != Campaign.State.DRAFT:
            return [*base, "name", "number", "template", "audience", "audience_filter", "audience_csv",
                    "parameter_mapping", "scheduled_at"]
        return base

    def get_fields(self, request, obj=None):
        fields = ["name", "number", "template", "audience", "audience_filter", "audience_csv", "parameter_mapping",
                  "scheduled_at"]
        if obj is None:
            return fields
        return ["state", "pause_reason", "progress_detail", *fields, "audience_rejected_list", "recipients_table",
                "started_at", "completed_at", "created_by"]

    def save_model(self, request, obj, form, change):
        if change:
            super().save_model(request, obj, form, change)
            return
        # A new campaign is created by the service the API uses too.
        created = services.campaign_create(
            name=obj.name, number=obj.number, template=obj.template, audience=obj.audience,
            audience_filter=obj.audience_filter, audience_csv=obj.audience_csv,
            parameter_mapping=obj.parameter_mapping, scheduled_at=obj.scheduled_at, created_by=request.user,
        )
        obj.pk = created.pk
        obj.refresh_from_db()

    @admin.display(description="Progress")
    def progress(self, obj: Campaign) -> str:
        return progress_bar(obj)

    @admin.display(description="Progress and delivery")
    def progress_detail(self, obj: Campaign) -> str:
        stats = campaign_stats(campaign=obj)
        rows = [
            ("Recipients", stats["total"]), ("Queued", stats["recipients"]["queued"]),
            ("Skipped (no opt-in)", stats["recipients"]["skipped"]), ("Refused before sending", stats["recipients"]["failed"]),
            ("Waiting to be sent", stats["delivery"]["pending"]), ("Sent", stats["delivery"]["sent_or_better"]),
            ("Delivered", stats["delivery"]["delivered_or_read"]), ("Read", stats["delivery"]["read"]),
            ("Failed", stats["delivery"]["failed"]), ("Replied", stats["replied"]),
        ]
        cost = stats["cost"]
        estimate, actual = cost["estimate"], cost["actual"]
        rows.append(("Estimated cost", _money(estimate["cost"], estimate["unpriced"])))
        if actual is not None:
            rows.append(("Charged by WhatsApp", f"{actual['charged']} messages ({actual['free']} free)"))
            rows.append(("Actual cost", _money(actual["cost"], actual["unpriced"])))
        table = format_html_join("", "<tr><th>{}</th><td>{}</td></tr>", rows)
        codes = format_html_join(", ", "{} × {}", stats["failure_codes"].items())
        return format_html('{}<table style="margin-top:6px">{}</table><p>Failures: {}</p>',
                           progress_bar(obj, stats), table, codes or "none")

    @admin.display(description="Recipients (first 200)")
    def recipients_table(self, obj: Campaign) -> str:
        rows = []
        for row in campaign_recipients(campaign=obj)[:200]:
            failure = recipient_failure(row)
            reason = f"{failure['label']} ({failure['code']}): {failure['reason']}" if failure["code"] else ""
            rows.append((row.contact.wa_id or row.contact.user_id, str(row.contact), recipient_delivery(row),
                         "yes" if getattr(row, "replied", False) else "", reason))
        body = format_html_join("", "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>", rows)
        return format_html("<table><thead><tr><th>WhatsApp id</th><th>Name</th><th>Delivery</th><th>Replied</th>"
                           "<th>Failure</th></tr></thead><tbody>{}</tbody></table>", body)

    @admin.display(description="Rejected lines of the uploaded list")
    def audience_rejected_list(self, obj: Campaign) -> str:
        return format_html_join("", "<div>line {}: {} — {}</div>",
                                ((r.get("line"), r.get("value"), r.get("reason")) for r in obj.audience_rejected or []))

    def _each(self, request, queryset, fn, verb: str) -> None:
        for campaign in queryset:
            try:
                fn(campaign)
            except services.CampaignRefused as exc:
                self.message_user(request, f"{campaign}: {exc.detail}", messages.ERROR)
            else:
                self.message_user(request, f"{campaign}: {verb}.", messages.SUCCESS)

    @admin.action(description="Start selected campaigns")
    def start(self, request, queryset):
        self._each(request, queryset, lambda c: services.campaign_start(campaign=c, actor=request.user), "started")

    @admin.action(description="Pause selected campaigns")
    def pause(self, request, queryset):
        self._each(request, queryset, lambda c: services.campaign_pause(
            campaign=c, reason=pause_reasons.PAUSED_BY % {"user": request.user.get_username()}, actor=request.user), "paused")

    @admin.action(description="Resume selected campaigns")
    def resume(self, request, queryset):
        self._each(request, queryset, lambda c: services.campaign_resume(campaign=c, actor=request.user), "resumed")

    @admin.action(description="Cancel selected campaigns")
    def cancel(self, request, queryset):
        self._each(request, queryset, lambda c: services.campaign_cancel(campaign=c, actor=request.user), "cancelled")


@admin.register(CampaignRecipient)
class CampaignRecipientAdmin(admin.ModelAdmin):
    list_display = ["campaign", "contact", "state", "delivery", "error_code", "sent_at"]
    list_filter = ["state", "campaign"]
    search_fields = ["contact__wa_id", "contact__profile_name"]
    list_select_related = ["campaign", "contact", "message"]
    readonly_fields = ["campaign", "contact", "state", "message", "attempts", "claimed_at", "next_attempt_at",
                       "error_code", "error_reason", "sent_at"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    @admin.display(description="Delivery")
    def delivery(self, obj: CampaignRecipient) -> str:
        return recipient_delivery(obj)
