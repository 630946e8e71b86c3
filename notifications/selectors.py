"""Reads for the admin and API: campaign progress and per-recipient delivery, consent state."""

from __future__ import annotations

from typing import Any

from django.db.models import Count, Exists, OuterRef, Q, QuerySet

from conversations.models import Message, WhatsAppNumber
from conversations.providers.errors import failure_text_translated
from notifications.campaign_reports import failure_label, failure_label_translated
from notifications.models import Campaign, CampaignRecipient, MessageTemplate, NumberHealth
from notifications.pause_reasons import pause_reason_translated
from notifications.pricing import campaign_cost

R = CampaignRecipient.State
DELIVERY_STATES = ("pending", "sent", "delivered", "read", "failed")


def _replied() -> Exists:
    return Exists(
        Message.objects.filter(
            conversation_id=OuterRef("message__conversation_id"),
            direction=Message.Direction.INBOUND,
            created_at__gt=OuterRef("message__created_at"),
        )
    )


def campaign_recipients(*, campaign: Campaign) -> QuerySet[CampaignRecipient]:
    """Rows with their contact and message, annotated `replied` (the customer wrote after it)."""
    return (
        CampaignRecipient.objects.filter(campaign=campaign)
        .select_related("contact", "message")
        .annotate(replied=_replied())
        .order_by("pk")
    )


def recipient_delivery(row: CampaignRecipient) -> str:
    """One word for a row: queued, sending, skipped, failed, or the message's status."""
    if row.state in (R.QUEUED, R.SENDING, R.SKIPPED) or row.message is None:
        return row.state
    status = row.message.status
    return "pending" if status in (Message.Status.PENDING, Message.Status.SENDING) else status


def recipient_failure(row: CampaignRecipient) -> dict[str, str]:
    """The row's failure: code, its name in reports ("frequency cap" for 131049), reason."""
    if row.message is not None and row.message.status == Message.Status.FAILED:
        code, reason = row.message.error_code, row.message.error_text
    else:
        code, reason = row.error_code, row.error_reason
    # In the reader's language: our names and explanations; WhatsApp's own words as given.
    return {"code": code, "label": failure_label_translated(code) if code else "",
            "reason": failure_text_translated(code, reason)}


def campaign_stats(*, campaign: Campaign) -> dict[str, Any]:
    """Counts by row state and by delivery status of the linked messages, replies, progress."""
    rows = CampaignRecipient.objects.filter(campaign=campaign)
    states = dict(rows.values_list("state").annotate(n=Count("pk")))
    total = sum(states.values())
    statuses = dict(
        rows.filter(message__isnull=False).values_list("message__status").annotate(n=Count("pk"))
    )
    delivery = dict.fromkeys(DELIVERY_STATES, 0)
    for status, n in statuses.items():
        key = "pending" if status in (Message.Status.PENDING, Message.Status.SENDING) else status
        delivery[key] = delivery.get(key, 0) + n
    replied = rows.filter(message__isnull=False).annotate(replied=_replied()).filter(replied=True).count()
    done = total - states.get(R.QUEUED, 0) - states.get(R.SENDING, 0)
    failures = list(
        rows.filter(Q(state=R.FAILED) | Q(state=R.SKIPPED) | Q(message__status=Message.Status.FAILED))
        .values_list("error_code", "message__error_code")
    )
    reasons: dict[str, int] = {}
    for row_code, message_code in failures:
        code = failure_label(message_code or row_code or "unknown")
        reasons[code] = reasons.get(code, 0) + 1
    return {
        "state": campaign.state,
        "pause_reason": pause_reason_translated(campaign.pause_reason),
        "total": total,
        "recipients": {state: states.get(state, 0) for state in R.values},
        "delivery": {
            **delivery,
            # Read implies delivered, delivered implies sent: cumulative figures for the bar.
            "sent_or_better": delivery["sent"] + delivery["delivered"] + delivery["read"],
            "delivered_or_read": delivery["delivered"] + delivery["read"],
        },
        "replied": replied,
        "failure_codes": reasons,
        "progress_percent": round(100 * done / total, 1) if total else (100.0 if campaign.state == "completed" else 0.0),
        "audience_rejected": len(campaign.audience_rejected or []),
        "cost": campaign_cost(campaign=campaign),
    }


def templates_for_number(*, number_id: int | None = None) -> QuerySet[MessageTemplate]:
    qs = MessageTemplate.objects.select_related("number").order_by("name", "language")
    return qs.filter(number_id=number_id) if number_id else qs


def number_health_for(number: WhatsAppNumber) -> NumberHealth:
    """The number's health record (quality, limit, restrictions), created empty on first read."""
    health, _ = NumberHealth.objects.get_or_create(number=number)
    return health
