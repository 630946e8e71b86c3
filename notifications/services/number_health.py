"""Number health: quality rating, messaging limit, throughput and account state, from
WhatsApp's webhooks, with their history.

Messaging limits: since October 2025 WhatsApp sets them per business portfolio and shares
them among the portfolio's numbers. The portfolio-level fields
(`whatsapp_business_manager_messaging_limit`, `max_daily_conversations_per_business`) go
to the number's portfolio when it has one (else to the number), and the older per-number
fields (`current_limit`, `max_daily_conversation_per_phone`, `messaging_limit_tier`) keep
updating the number's own limit wherever they still come. The number's own row is kept current and
campaigns on the number pause when it turns red, is restricted or banned; a red number
or an account update naming the escalation path opens a remediation case
(notifications.services.remediation), and restrictions raise an alert."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from django.db import transaction
from django.utils import timezone

from conversations.models import (
    BusinessPortfolio,
    MessagingLimit,
    PlatformEvent,
    QualityRating,
    WhatsAppNumber,
)
from conversations.providers.whatsapp import GraphClient
from notifications import pause_reasons
from notifications.models import NumberHealth, NumberHealthEvent
from notifications.services.campaigns import campaigns_pause_for_number
from notifications.services.remediation import remediation_on_account_update, remediation_on_quality

# phone_number_quality_update events that state the quality rating.
QUALITY_BY_EVENT = {"FLAGGED": QualityRating.RED, "UNFLAGGED": QualityRating.GREEN}
# Numeric limits (business_capability_update) to tiers.
TIER_BY_USERS = {250: MessagingLimit.TIER_250, 1000: MessagingLimit.TIER_1K, 2000: MessagingLimit.TIER_2K,
                 10000: MessagingLimit.TIER_10K, 100000: MessagingLimit.TIER_100K}
UPGRADED_THROUGHPUT_MPS = 1000


# Where a limit may sit inside an object-shaped value.
_NESTED_LIMIT_KEYS = ("tier", "messaging_limit", "limit", "current_limit", "max_daily_conversations_per_business",
                      "value")
# Portfolio-level and per-number fields, newest first.
PORTFOLIO_LIMIT_FIELDS = ("whatsapp_business_manager_messaging_limit", "max_daily_conversations_per_business")
NUMBER_LIMIT_FIELDS = ("current_limit", "max_daily_conversation_per_phone", "messaging_limit_tier")


def _tier(value: Any) -> str:
    """A messaging-limit tier from a webhook or Graph value ("TIER_2K", 2000, "2000", -1 for
    unlimited, "TIER_UNLIMITED", or an object holding one of these), or ""."""
    if value in (None, "") or isinstance(value, bool):
        return ""
    if isinstance(value, dict):
        for key in _NESTED_LIMIT_KEYS:
            found = _tier(value.get(key))
            if found:
                return found
        return ""
    text = str(value).strip().upper()
    if text in MessagingLimit.values:
        return text
    if text in ("-1", "UNLIMITED"):
        return MessagingLimit.TIER_UNLIMITED
    if text.isdigit():
        return TIER_BY_USERS.get(int(text), MessagingLimit.TIER_UNLIMITED if int(text) > 100000 else "")
    return ""


def _first_tier(value: dict, fields: tuple[str, ...]) -> str:
    for field in fields:
        found = _tier(value.get(field))
        if found:
            return found
    return ""


def _limits_apply(locked: WhatsAppNumber, value: dict) -> tuple[list[str], str]:
    """Apply the limits a value reports to the (locked) number and its portfolio. Returns
    the number's changed fields and the limit recorded in the history (the portfolio's if
    reported, else the number's)."""
    fields: list[str] = []
    portfolio_limit = _first_tier(value, PORTFOLIO_LIMIT_FIELDS)
    number_limit = _first_tier(value, NUMBER_LIMIT_FIELDS)
    if portfolio_limit and locked.portfolio_id is not None:
        portfolio_limit_set(portfolio_id=locked.portfolio_id, limit=portfolio_limit)
    elif portfolio_limit:
        number_limit = portfolio_limit  # no portfolio known here: the business-wide limit is the number's
    if number_limit and locked.messaging_limit != number_limit:
        locked.messaging_limit = number_limit
        fields.append("messaging_limit")
    return fields, portfolio_limit or number_limit


def portfolio_limit_set(*, portfolio_id: int, limit: str) -> bool:
    """Record the portfolio's messaging limit as WhatsApp reported it; True if it changed."""
    now = timezone.now()
    rows = BusinessPortfolio.objects.filter(pk=portfolio_id)
    changed = rows.exclude(messaging_limit=limit).update(messaging_limit=limit, limit_reported_at=now)
    if not changed:
        rows.update(limit_reported_at=now)
    return bool(changed)


def number_limits_refresh(*, number: WhatsAppNumber) -> NumberHealthEvent:
    """Read the number's limits from Graph (`GET /{phone_number_id}` with
    `whatsapp_business_manager_messaging_limit`, and the older `messaging_limit_tier` where
    it still answers) and apply them as a webhook would. GraphError propagates."""
    fields = ",".join(["whatsapp_business_manager_messaging_limit", "messaging_limit_tier", "quality_rating"])
    answer = GraphClient(number).get(number.phone_number_id, params={"fields": fields})
    with transaction.atomic():
        locked = WhatsAppNumber.objects.select_for_update().get(pk=number.pk)
        changed, limit = _limits_apply(locked, answer)
        quality = _quality(answer.get("quality_rating"))
        if quality and locked.quality_rating != quality:
            locked.quality_rating = quality
            changed.append("quality_rating")
        if changed:
            locked.save(update_fields=[*changed, "updated_at"])
        return _history(locked, "graph_refresh", "LIMITS_READ", answer, None, quality_rating=quality,
                        messaging_limit=limit)


def _quality(value: Any) -> str:
    text = str(value or "").strip().upper()
    aliases = {"HIGH": QualityRating.GREEN, "MEDIUM": QualityRating.YELLOW, "LOW": QualityRating.RED}
    text = aliases.get(text, text)
    return text if text in QualityRating.values else ""


def number_quality_apply(
    *, number: WhatsAppNumber, value: dict, platform_event: PlatformEvent | None = None
) -> NumberHealthEvent:
    """Apply a `phone_number_quality_update`: quality, messaging limit and throughput,
    recorded in the history; campaigns on the number pause when the quality turns red."""
    event = str(value.get("event", "")).upper()
    quality = _quality(value.get("quality_rating") or value.get("new_quality_score") or value.get("current_quality_rating"))
    quality = quality or QUALITY_BY_EVENT.get(event, "")
    throughput = UPGRADED_THROUGHPUT_MPS if event == "THROUGHPUT_UPGRADE" else None
    with transaction.atomic():
        locked = WhatsAppNumber.objects.select_for_update().get(pk=number.pk)
        fields: list[str] = []
        limit = ""
        if quality and locked.quality_rating != quality:
            locked.quality_rating = quality
            fields.append("quality_rating")
        if event != "THROUGHPUT_UPGRADE":
            changed, limit = _limits_apply(locked, value)
            fields += changed
        if throughput and locked.throughput_mps != throughput:
            locked.throughput_mps = throughput
            fields.append("throughput_mps")
        if fields:
            locked.save(update_fields=[*fields, "updated_at"])
        record = _history(locked, "phone_number_quality_update", event, value, platform_event,
                          quality_rating=quality, messaging_limit=limit, throughput_mps=throughput)
        if quality == QualityRating.RED:
            campaigns_pause_for_number(number=locked, reason=pause_reasons.QUALITY_TURNED_RED)
        if quality:
            remediation_on_quality(number=locked, quality=quality, event=event, health_event=record)
    return record


def business_capability_apply(
    *, number: WhatsAppNumber, value: dict, platform_event: PlatformEvent | None = None
) -> NumberHealthEvent:
    """Apply a `business_capability_update`: the messaging limit per portfolio (shared by
    its numbers) or per number."""
    with transaction.atomic():
        locked = WhatsAppNumber.objects.select_for_update().get(pk=number.pk)
        changed, limit = _limits_apply(locked, value)
        if changed:
            locked.save(update_fields=[*changed, "updated_at"])
        return _history(locked, "business_capability_update", str(value.get("event", "")), value, platform_event,
                        messaging_limit=limit)


def _parse_ts(value: Any) -> datetime | None:
    try:
        return datetime.fromtimestamp(int(value), tz=UTC)
    except (TypeError, ValueError, OverflowError):
        return None


def account_update_apply(
    *, number: WhatsAppNumber, value: dict, platform_event: PlatformEvent | None = None
) -> NumberHealthEvent:
    """Apply an `account_update`: restrictions and bans. A restricted or banned account
    pauses the number's campaigns; a lifted one does not resume them (an admin does)."""
    event = str(value.get("event", "")).upper()
    restrictions = value.get("restriction_info") or []
    ban_state = str((value.get("ban_info") or {}).get("waba_ban_state", "")).upper()
    with transaction.atomic():
        health, _ = NumberHealth.objects.select_for_update().get_or_create(number=number)
        detail = ""
        if event == "ACCOUNT_RESTRICTION" or restrictions:
            types = [str(r.get("restriction_type", "")) for r in restrictions if isinstance(r, dict)]
            expirations = [_parse_ts(r.get("expiration")) for r in restrictions if isinstance(r, dict)]
            health.restricted = bool(types) or event == "ACCOUNT_RESTRICTION"
            health.restriction = ", ".join(t for t in types if t) or event
            health.restricted_until = max((e for e in expirations if e), default=None)
            detail = f"Account restricted: {health.restriction}"
        if ban_state in ("DISABLE", "SCHEDULE_FOR_DISABLE") or event in ("DISABLED_UPDATE", "BAN"):
            health.banned = ban_state != "REINSTATE"
            detail = f"Account disabled ({ban_state or event})"
        if ban_state == "REINSTATE":
            health.banned = False
            detail = "Account reinstated"
        health.last_event = event
        health.updated_at = timezone.now()
        health.save()
        record = _history(number, "account_update", event, value, platform_event, detail=detail)
        if health.is_restricted():
            campaigns_pause_for_number(number=number, reason=detail or pause_reasons.ACCOUNT_UPDATE % {"event": event})
        remediation_on_account_update(number=number, value=value, health_event=record,
                                      restricted=health.is_restricted(), detail=detail)
    return record


def _history(number, field, event, value, platform_event, *, quality_rating="", messaging_limit="",
             throughput_mps=None, detail="") -> NumberHealthEvent:
    if platform_event is not None:
        existing = NumberHealthEvent.objects.filter(platform_event=platform_event).first()
        if existing is not None:
            return existing
    return NumberHealthEvent.objects.create(
        number=number,
        field=field,
        event=event,
        quality_rating=quality_rating,
        messaging_limit=messaging_limit,
        throughput_mps=throughput_mps,
        detail=detail,
        payload=value,
        platform_event=platform_event,
    )
