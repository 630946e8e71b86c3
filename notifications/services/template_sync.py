"""Templates from WhatsApp: sync from the business account (paged), create and submit,
and the template status, quality and category webhooks."""

from __future__ import annotations

import logging
from typing import Any

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext_noop

from config import task_names
from config.tasking import enqueue_on_commit
from conversations.models import QualityRating, WhatsAppNumber
from conversations.providers.whatsapp import GraphClient, GraphError
from notifications import pause_reasons
from notifications.models import Alert, MessageTemplate, TemplateCategory, TemplateStatus
from notifications.models.templates import ParameterFormat
from notifications.services.alerts import AlertText, alert_close, alert_raise
from notifications.services.campaigns import campaigns_pause_for_template

log = logging.getLogger(__name__)

SYNC_FIELDS = "id,name,language,status,category,components,quality_score,rejected_reason,parameter_format"
PAGE_SIZE = 100
MAX_PAGES = 200
STOPPED_STATUSES = (TemplateStatus.PAUSED, TemplateStatus.DISABLED)


def _graph(number: WhatsAppNumber):
    return GraphClient(number)


def _remote_fields(item: dict[str, Any]) -> dict[str, Any]:
    status = str(item.get("status", "")).upper()
    quality = item.get("quality_score") or {}
    score = str(quality.get("score", "") if isinstance(quality, dict) else quality).upper()
    reason = str(item.get("rejected_reason") or "")
    fmt = str(item.get("parameter_format") or "").lower()
    category = str(item.get("category", "")).upper()
    return {
        "remote_id": str(item.get("id") or ""),
        "category": category if category in TemplateCategory.values else TemplateCategory.UTILITY,
        "components": item.get("components") or [],
        "parameter_format": fmt if fmt in ParameterFormat.values else ParameterFormat.POSITIONAL,
        "status": status if status in TemplateStatus.values else TemplateStatus.PENDING,
        "quality": score if score in QualityRating.values else QualityRating.UNKNOWN,
        "rejection_reason": "" if reason.upper() == "NONE" else reason,
    }


def templates_sync(*, number: WhatsAppNumber) -> dict[str, int]:
    """Fetch every template of the number's business account, following the paging
    cursors, and upsert them. Templates no longer listed are marked DELETED. Returns counts.
    Raises the Graph client's error when a page cannot be fetched (nothing is marked deleted then)."""
    waba = number.business_account_id
    if not waba:
        raise ValueError(f"number {number} has no business account id")
    client = _graph(number)
    params: dict[str, Any] = {"fields": SYNC_FIELDS, "limit": PAGE_SIZE}
    remote: list[dict[str, Any]] = []
    for _ in range(MAX_PAGES):
        page = client.get(f"{waba}/message_templates", params)
        remote.extend(item for item in page.get("data") or [] if isinstance(item, dict))
        paging = page.get("paging") or {}
        after = (paging.get("cursors") or {}).get("after")
        if not paging.get("next") or not after:
            break
        params = {**params, "after": after}
    now = timezone.now()
    created = updated = 0
    seen: list[int] = []
    with transaction.atomic():
        for item in remote:
            name, language = str(item.get("name") or ""), str(item.get("language") or "")
            if not name or not language:
                continue
            fields = _remote_fields(item)
            template, was_created = MessageTemplate.objects.update_or_create(
                business_account_id=waba,
                name=name,
                language=language,
                defaults={**fields, "number": number, "last_synced_at": now, "submit_error": ""},
            )
            seen.append(template.pk)
            created += was_created
            updated += not was_created
            if fields["status"] in STOPPED_STATUSES:
                _pause_campaigns(template)
        deleted = (
            MessageTemplate.objects.filter(business_account_id=waba)
            .exclude(pk__in=seen)
            .exclude(status__in=[TemplateStatus.DRAFT, TemplateStatus.DELETED])
            .update(status=TemplateStatus.DELETED, last_synced_at=now)
        )
    return {"created": created, "updated": updated, "deleted": deleted, "fetched": len(remote)}


def template_submit(*, template: MessageTemplate) -> MessageTemplate:
    """Submit a draft (or rejected) template to WhatsApp for review. On success the template
    is PENDING (or whatever status Graph answers) with its remote id; on a Graph error the
    reason is kept in `submit_error` and the status is unchanged."""
    body: dict[str, Any] = {
        "name": template.name,
        "language": template.language,
        "category": template.category,
        "components": template.components,
    }
    if template.parameter_format == ParameterFormat.NAMED:
        body["parameter_format"] = "NAMED"
    try:
        answer = _graph(template.number).post(f"{template.business_account_id}/message_templates", body)
    except GraphError as exc:
        MessageTemplate.objects.filter(pk=template.pk).update(
            submit_error=f"{exc.code}: {exc.message}".strip(), updated_at=timezone.now()
        )
        template.refresh_from_db()
        return template
    status = str(answer.get("status") or TemplateStatus.PENDING).upper()
    category = str(answer.get("category") or template.category).upper()
    MessageTemplate.objects.filter(pk=template.pk).update(
        remote_id=str(answer.get("id") or template.remote_id),
        status=status if status in TemplateStatus.values else TemplateStatus.PENDING,
        category=category if category in TemplateCategory.values else template.category,
        submit_error="",
        rejection_reason="",
        updated_at=timezone.now(),
    )
    template.refresh_from_db()
    return template


def _find(*, waba: str, value: dict) -> MessageTemplate | None:
    remote_id = str(value.get("message_template_id") or "")
    qs = MessageTemplate.objects.select_for_update()
    if remote_id:
        found = qs.filter(remote_id=remote_id).first()
        if found is not None:
            return found
    name = value.get("message_template_name")
    language = value.get("message_template_language")
    if name and language:
        lookup = qs.filter(name=name, language=language)
        if waba:
            lookup = lookup.filter(business_account_id=waba)
        return lookup.first()
    return None


def _pause_campaigns(template: MessageTemplate) -> None:
    campaigns_pause_for_template(
        template=template, reason=pause_reasons.TEMPLATE_STOPPED % {
            "template": f"{template.name} [{template.language}]", "status": template.status.lower()}
    )


def _template_alerts(template: MessageTemplate) -> None:
    """Paused, disabled or rejected: an alert (once while it lasts); approved again: closed."""
    link = f"/admin/notifications/messagetemplate/{template.pk}/change/"
    name = f"{template.name} [{template.language}]"
    if template.status in STOPPED_STATUSES:
        alert_raise(
            kind=Alert.Kind.TEMPLATE_PAUSED, incident=f"template:{template.pk}:stopped", number=template.number,
            link=link,
            title=AlertText(gettext_noop("Template %(name)s is paused"), {"name": name})
            if template.status == TemplateStatus.PAUSED
            else AlertText(gettext_noop("Template %(name)s is disabled"), {"name": name}),
            detail=[
                AlertText(gettext_noop("WhatsApp's reason: %(reason)s"), {"reason": template.rejection_reason})
                if template.rejection_reason else AlertText(""),
                AlertText(gettext_noop("Campaigns using it are paused; edit the template or use another one.")),
            ],
        )
    elif template.status == TemplateStatus.REJECTED:
        alert_raise(
            kind=Alert.Kind.TEMPLATE_REJECTED, incident=f"template:{template.pk}:rejected", number=template.number,
            link=link, title=AlertText(gettext_noop("Template %(name)s was rejected"), {"name": name}),
            detail=[
                AlertText("%(text)s", {"text": template.rejection_reason}) if template.rejection_reason
                else AlertText(gettext_noop("WhatsApp gave no reason.")),
                AlertText(gettext_noop("Change it and submit it again.")),
            ],
        )
    elif template.status == TemplateStatus.APPROVED:
        for incident in (f"template:{template.pk}:stopped", f"template:{template.pk}:rejected"):
            alert_close(incident=incident, reason="template approved")


def _resync(number: WhatsAppNumber | None) -> None:
    if number is not None:
        enqueue_on_commit(task_names.TEMPLATES_SYNC_NUMBER, number_id=number.pk)


def template_status_apply(*, waba: str, number: WhatsAppNumber | None, value: dict) -> MessageTemplate | None:
    """Apply `message_template_status_update`. Paused or disabled templates pause their
    campaigns. An unknown template triggers a sync of the account."""
    status = str(value.get("event", "")).upper()
    with transaction.atomic():
        template = _find(waba=waba, value=value)
        if template is None:
            _resync(number)
            return None
        if status in TemplateStatus.values:
            template.status = status
        info = value.get("rejection_info") or {}
        reason = str(value.get("reason") or "")
        if status == TemplateStatus.REJECTED:
            parts = [reason if reason.upper() != "NONE" else "", str(info.get("reason") or ""),
                     str(info.get("recommendation") or "")]
            template.rejection_reason = " — ".join(p for p in parts if p) or "Rejected"
        elif status == TemplateStatus.APPROVED:
            template.rejection_reason = ""
        elif reason and reason.upper() != "NONE":
            template.rejection_reason = reason
        if value.get("message_template_id") and not template.remote_id:
            template.remote_id = str(value["message_template_id"])
        template.save(update_fields=["status", "rejection_reason", "remote_id", "updated_at"])
        if template.status in STOPPED_STATUSES:
            _pause_campaigns(template)
        _template_alerts(template)
    return template


def _template_field_apply(
    *, waba: str, number: WhatsAppNumber | None, value: dict, field: str, new: str, allowed: list[str]
) -> MessageTemplate | None:
    """Set `field` of the template the webhook names to `new` when it is one of `allowed`.
    An unknown template triggers a sync of the account."""
    with transaction.atomic():
        template = _find(waba=waba, value=value)
        if template is None:
            _resync(number)
            return None
        if new in allowed:
            setattr(template, field, new)
            template.save(update_fields=[field, "updated_at"])
    return template


def template_quality_apply(*, waba: str, number: WhatsAppNumber | None, value: dict) -> MessageTemplate | None:
    """Apply `message_template_quality_update` (new_quality_score)."""
    score = str(value.get("new_quality_score", "")).upper()
    return _template_field_apply(waba=waba, number=number, value=value, field="quality", new=score, allowed=QualityRating.values)


def template_category_apply(*, waba: str, number: WhatsAppNumber | None, value: dict) -> MessageTemplate | None:
    """Apply `template_category_update` (new_category)."""
    category = str(value.get("new_category", "")).upper()
    return _template_field_apply(
        waba=waba, number=number, value=value, field="category", new=category, allowed=TemplateCategory.values
    )
