"""Campaigns: creation (the admin and the API both call `campaign_create`), and the
lifecycle: start, schedule, pause (by hand or automatically), resume, cancel.

Sending lives in campaign_sending.py; who receives it in campaign_audience.py.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.conf import settings
from django.contrib.auth.models import User
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext

from config import task_names
from config.refusals import Refused
from config.tasking import enqueue_on_commit
from conversations.models import WhatsAppNumber
from conversations.services.webhook_outbox import webhook_campaign_event
from notifications.campaign_audience import MappingError, mapping_check
from notifications.models import Campaign, MessageTemplate, TemplateStatus
from notifications.pricing import campaign_cost_estimate
from notifications.selectors import number_health_for

ACTIVE_STATES = (Campaign.State.SCHEDULED, Campaign.State.RUNNING)


class CampaignRefused(Refused):
    """A campaign that cannot be created as given (`invalid`), or a lifecycle change its
    state, template or number does not allow (`invalid_state`, `template_not_approved`,
    `quality_red`, `account_restricted`)."""


def campaign_check(
    *, name: str, number: WhatsAppNumber, template: MessageTemplate, audience: str, parameter_mapping: Any
) -> None:
    """Raise CampaignRefused(`invalid`, field=…) for the first rule a campaign as given
    breaks: a name, a template of the number's business account, a known audience, and a
    parameter mapping whose sources exist (contact.<field>, attributes.<key> or =text)."""
    if not (name or "").strip():
        raise CampaignRefused("invalid", gettext("Give the campaign a name."), field="name")
    if template.business_account_id != number.business_account_id:
        raise CampaignRefused("invalid", gettext("This template belongs to another business account."), field="template")
    if audience not in Campaign.Audience.values:
        raise CampaignRefused("invalid", gettext("%(value)s is not an audience.") % {"value": repr(audience)}, field="audience")
    try:
        mapping_check(parameter_mapping)
    except MappingError as exc:
        raise CampaignRefused("invalid", str(exc), field="parameter_mapping") from None


def campaign_create(
    *,
    name: str,
    number: WhatsAppNumber,
    template: MessageTemplate,
    audience: str = Campaign.Audience.ALL_OPTED_IN,
    audience_filter: dict[str, Any] | None = None,
    audience_csv: str = "",
    parameter_mapping: Any = None,
    scheduled_at: datetime | None = None,
    created_by: User | None = None,
) -> Campaign:
    """A draft campaign, after `campaign_check`. Nothing is sent until `campaign_start`."""
    parameter_mapping = parameter_mapping if parameter_mapping is not None else {}
    campaign_check(name=name, number=number, template=template, audience=audience,
                   parameter_mapping=parameter_mapping)
    return Campaign.objects.create(
        name=name.strip(), number=number, template=template, audience=audience,
        audience_filter=audience_filter or {}, audience_csv=audience_csv or "",
        parameter_mapping=parameter_mapping, scheduled_at=scheduled_at, created_by=created_by,
    )


def _enqueue_run(campaign: Campaign, countdown: float = 0) -> None:
    """Enqueue as many slices as may run in parallel; extra ones end at once."""
    for _ in range(max(settings.CAMPAIGN_PARALLEL_SLICES, 1)):
        enqueue_on_commit(task_names.CAMPAIGN_RUN, countdown=countdown, campaign_id=campaign.pk)


def campaign_start(*, campaign: Campaign, actor: User | None = None) -> Campaign:
    """Start a draft campaign: at once (running) or at its `scheduled_at` (scheduled).
    The template must be approved. Building the audience and sending happen in tasks;
    the cost estimate (notifications.pricing) is kept on the campaign when it runs."""
    with transaction.atomic():
        locked = Campaign.objects.select_for_update().select_related("template").get(pk=campaign.pk)
        if locked.state not in (Campaign.State.DRAFT, Campaign.State.SCHEDULED):
            raise CampaignRefused("invalid_state", gettext("A %(state)s campaign cannot be started.") % {"state": gettext(locked.get_state_display()).lower()})
        if locked.template.status != TemplateStatus.APPROVED:
            raise CampaignRefused(
                "template_not_approved",
                gettext("Template %(name)s is %(status)s, not approved.")
                % {"name": locked.template.name, "status": gettext(locked.template.get_status_display()).lower()},
            )
        now = timezone.now()
        if locked.scheduled_at and locked.scheduled_at > now:
            locked.state = Campaign.State.SCHEDULED
            locked.save(update_fields=["state"])
            return locked
        locked.state = Campaign.State.RUNNING
        locked.started_at = locked.started_at or now
        locked.pause_reason = ""
        # The estimate as it stood at the start, kept beside what WhatsApp later reports.
        locked.cost_estimate = locked.cost_estimate or campaign_cost_estimate(campaign=locked)
        locked.save(update_fields=["state", "started_at", "pause_reason", "cost_estimate"])
        _enqueue_run(locked)
    return locked


def campaigns_start_due() -> int:
    """Start scheduled campaigns whose time has come (periodic)."""
    started = 0
    due = Campaign.objects.filter(state=Campaign.State.SCHEDULED, scheduled_at__lte=timezone.now())
    for campaign in due.only("pk"):
        try:
            campaign_start(campaign=campaign)
            started += 1
        except CampaignRefused as exc:
            campaign_pause(campaign=campaign, reason=exc.detail)
    return started


def campaign_pause(*, campaign: Campaign, reason: str, actor: User | None = None) -> Campaign:
    """Pause a running or scheduled campaign with the reason shown to admins. Rows already
    claimed finish; no new row is claimed while paused."""
    with transaction.atomic():
        locked = Campaign.objects.select_for_update().get(pk=campaign.pk)
        if locked.state not in ACTIVE_STATES:
            if locked.state == Campaign.State.PAUSED:
                return locked
            raise CampaignRefused("invalid_state", gettext("A %(state)s campaign cannot be paused.") % {"state": gettext(locked.get_state_display()).lower()})
        locked.state = Campaign.State.PAUSED
        locked.pause_reason = reason
        locked.save(update_fields=["state", "pause_reason"])
    return locked


def campaign_resume(*, campaign: Campaign, actor: User | None = None) -> Campaign:
    """Resume a paused campaign. Refused while the cause still holds: the template is not
    approved, the number's quality is red, or the account is restricted."""
    with transaction.atomic():
        locked = Campaign.objects.select_for_update().select_related("template", "number").get(pk=campaign.pk)
        if locked.state != Campaign.State.PAUSED:
            raise CampaignRefused("invalid_state", gettext("A %(state)s campaign cannot be resumed.") % {"state": gettext(locked.get_state_display()).lower()})
        template = locked.template
        if template.status != TemplateStatus.APPROVED:
            raise CampaignRefused("template_not_approved", gettext("Template %(name)s is %(status)s.")
                                  % {"name": template.name, "status": gettext(template.get_status_display()).lower()})
        if locked.number.quality_rating == "RED":
            raise CampaignRefused("quality_red", gettext("The number's quality rating is still red."))
        if number_health_for(locked.number).is_restricted():
            raise CampaignRefused("account_restricted", gettext("The number's account is still restricted."))
        locked.state = Campaign.State.RUNNING
        locked.pause_reason = ""
        locked.started_at = locked.started_at or timezone.now()
        locked.save(update_fields=["state", "pause_reason", "started_at"])
        _enqueue_run(locked)
    return locked


def campaign_cancel(*, campaign: Campaign, actor: User | None = None) -> Campaign:
    with transaction.atomic():
        locked = Campaign.objects.select_for_update().get(pk=campaign.pk)
        if locked.state in (Campaign.State.COMPLETED, Campaign.State.CANCELLED):
            raise CampaignRefused("invalid_state", gettext("A %(state)s campaign cannot be cancelled.") % {"state": gettext(locked.get_state_display()).lower()})
        locked.state = Campaign.State.CANCELLED
        locked.completed_at = timezone.now()
        locked.save(update_fields=["state", "completed_at"])
        webhook_campaign_event(locked)
    return locked


def campaigns_pause_for_number(*, number: WhatsAppNumber, reason: str) -> int:
    """Pause every running or scheduled campaign of `number` (quality red, restrictions)."""
    return Campaign.objects.filter(number=number, state__in=ACTIVE_STATES).update(
        state=Campaign.State.PAUSED, pause_reason=reason
    )


def campaigns_pause_for_template(*, template: MessageTemplate, reason: str) -> int:
    """Pause every running or scheduled campaign using `template` (paused or disabled)."""
    return Campaign.objects.filter(template=template, state__in=ACTIVE_STATES).update(
        state=Campaign.State.PAUSED, pause_reason=reason
    )
