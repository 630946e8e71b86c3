"""Campaign delivery for the reports: per campaign that sent in the period, how many
messages went out, were delivered, read, failed (by WhatsApp's error code, named: 131049 is
the "frequency cap") and replied to, and what WhatsApp reported charging for them
(notifications.pricing). Grouped queries, whatever the number of recipients."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.db.models import Count, Exists, OuterRef, Q, Value
from django.db.models.functions import Coalesce, NullIf
from django.utils.translation import gettext, gettext_noop

from conversations.models import Message
from conversations.pricing import price_table
from notifications.models import CampaignRecipient
from notifications.pricing import campaign_cost_actual

R = CampaignRecipient.State
MAX_CAMPAIGNS = 50
# Failures a campaign's report names rather than numbers; other codes show as they are.
# The names are catalogue entries: pages show them in the reader's language (`{% trans %}`,
# `failure_label_translated`), the API and exports as written.
FAILURE_LABELS = {
    "131049": gettext_noop("frequency cap"),  # WhatsApp's per-user marketing cap: retried only by a later campaign
}


def failure_label(code: str) -> str:
    """The name a campaign report gives a failure code (WhatsApp's or ours)."""
    return FAILURE_LABELS.get(code, code)


def failure_label_translated(code: str) -> str:
    """`failure_label` in the active language (the reader's)."""
    return gettext(FAILURE_LABELS[code]) if code in FAILURE_LABELS else code


def _replied() -> Exists:
    return Exists(Message.objects.filter(
        conversation_id=OuterRef("message__conversation_id"), direction=Message.Direction.INBOUND,
        created_at__gt=OuterRef("message__created_at"),
    ))


def campaign_delivery_report(*, start: datetime, end: datetime) -> list[dict[str, Any]]:
    """Campaigns with recipients handed to WhatsApp (or failed) in [start, end), newest first."""
    rows = CampaignRecipient.objects.filter(
        Q(sent_at__gte=start, sent_at__lt=end) | Q(message__created_at__gte=start, message__created_at__lt=end)
    )
    status = "message__status"
    sent_statuses = [Message.Status.SENT, Message.Status.DELIVERED, Message.Status.READ]
    failed = Q(state=R.FAILED) | Q(**{status: Message.Status.FAILED})
    counts = list(
        rows.values("campaign_id", "campaign__name", "campaign__state")
        .annotate(
            recipients=Count("pk"),
            sent=Count("pk", filter=Q(**{f"{status}__in": sent_statuses})),
            delivered=Count("pk", filter=Q(**{f"{status}__in": sent_statuses[1:]})),
            read=Count("pk", filter=Q(**{status: Message.Status.READ})),
            failed=Count("pk", filter=failed),
            skipped=Count("pk", filter=Q(state=R.SKIPPED)),
            replied=Count("pk", filter=Q(message__isnull=False) & Q(Exists(_replied()))),
        )
        .order_by("-campaign_id")[:MAX_CAMPAIGNS]
    )
    ids = [row["campaign_id"] for row in counts]
    table = price_table()
    code = Coalesce(NullIf("message__error_code", Value("")), NullIf("error_code", Value("")), Value("unknown"))
    reasons: dict[int, dict[str, int]] = {}
    for campaign_id, error, n in (
        rows.filter(failed, campaign_id__in=ids).annotate(code=code).values_list("campaign_id", "code")
        .annotate(n=Count("pk")).order_by("campaign_id", "-n")
    ):
        label = failure_label(error)
        reasons.setdefault(campaign_id, {})[label] = reasons.get(campaign_id, {}).get(label, 0) + n
    return [
        {
            "id": row["campaign_id"],
            "name": row["campaign__name"],
            "state": row["campaign__state"],
            "recipients": row["recipients"],
            "sent": row["sent"],
            "delivered": row["delivered"],
            "read": row["read"],
            "failed": row["failed"],
            "skipped": row["skipped"],
            "replied": row["replied"],
            "failed_by_reason": reasons.get(row["campaign_id"], {}),
            "cost": campaign_cost_actual(campaign_id=row["campaign_id"], table=table),
        }
        for row in counts
    ]
