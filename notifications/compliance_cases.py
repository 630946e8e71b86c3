"""A number's standing with WhatsApp, for the compliance page and remediation cases: its
quality, messaging limit and account state with their history, the checklist WhatsApp's
review looks for, and its remediation cases."""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext_noop

from bots.models import EscalationPolicy
from config.periods import Period
from conversations.models import MessagingLimit, WhatsAppNumber
from notifications.compliance_scope import number_policy, target_seconds
from notifications.models import NumberHealth, NumberHealthEvent, RemediationCase

HEALTH_HISTORY_LIMIT = 100


def number_health(*, number: WhatsAppNumber, period: Period | None = None,
                  limit: int = HEALTH_HISTORY_LIMIT) -> dict[str, Any]:
    """The number's current quality, messaging limit and account state, and the history of
    changes (within the period when given), newest first."""
    state = NumberHealth.objects.filter(number=number).first()
    history = NumberHealthEvent.objects.filter(number=number)
    if period is not None:
        history = history.filter(created_at__gte=period.start, created_at__lt=period.end)
    return {
        "quality_rating": number.quality_rating,
        # The limit that applies: the portfolio's, shared by its numbers, else the number's own.
        "messaging_limit": number.effective_messaging_limit,
        "messaging_limit_label": MessagingLimit(number.effective_messaging_limit).label
        if number.effective_messaging_limit in MessagingLimit.values else number.effective_messaging_limit,
        "portfolio": number.portfolio.name if number.portfolio_id and number.portfolio else None,
        "number_messaging_limit": number.messaging_limit,
        "throughput_mps": number.throughput_mps,
        "restricted": bool(state and state.is_restricted()),
        "restriction": state.restriction if state else "",
        "history": list(
            history.order_by("-created_at", "-id").values(
                "id", "created_at", "field", "event", "quality_rating", "messaging_limit", "throughput_mps", "detail"
            )[:limit]
        ),
    }


def remediation_checklist(*, number: WhatsAppNumber, policy: EscalationPolicy | None = None,
                          verdict: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """What WhatsApp looks for when it reviews a flagged number, checked against the number's
    escalation policy (its own, else the default) and, where given, the evidence."""
    policy = policy if policy is not None else number_policy(number)
    name = policy.name if policy is not None else "built-in defaults (no policy configured)"
    contacts = policy.fallback_lines() if policy is not None else []
    gaps = (verdict or {}).get("gaps") or {}
    items = [
        {
            "key": "human_option",
            "label": gettext_noop("Every bot menu offers a person"),
            "ok": bool(policy is None or policy.human_option_title) and not gaps.get("no_offer"),
            "detail": (f"The engine adds “{policy.human_option_title if policy else 'Talk to a person'}” to every menu "
                       f"(policy: {name})") + (f"; {gaps['no_offer']} bot conversations never offered it"
                                               if gaps.get("no_offer") else ""),
        },
        {
            "key": "keywords",
            "label": gettext_noop("Escalation keywords hand off at once"),
            "ok": bool(policy is None or policy.keyword_list()),
            "detail": ", ".join((policy.keyword_list() if policy else ["agent", "human", "person"])[:8]) or "none configured",
        },
        {
            "key": "closed_hours",
            "label": gettext_noop("Outside hours or when nobody is free: a fallback contact"),
            "ok": bool(contacts) and not gaps.get("no_fallback_contact"),
            "detail": ("; ".join(contacts) if contacts else "The policy has no phone, email or web form")
            + (f"; {gaps['no_fallback_contact']} fallbacks went out without a contact"
               if gaps.get("no_fallback_contact") else ""),
        },
        {
            "key": "platform_test",
            "label": gettext_noop("WhatsApp's bot-quality test message reaches a person"),
            "ok": bool(policy is None or policy.detect_platform_test),
            "detail": "Detected and handed off at top priority" if (policy is None or policy.detect_platform_test)
            else "Detection is switched off in the policy",
        },
        {
            "key": "answered",
            "label": gettext_noop("Requests for a person answered within the target"),
            "ok": not (gaps.get("unanswered") or gaps.get("late")),
            "detail": f"Target {target_seconds(number, policy) // 60} min"
            + (f"; {gaps.get('unanswered', 0)} unanswered, {gaps.get('late', 0)} late"
               if (gaps.get("unanswered") or gaps.get("late")) else ""),
        },
    ]
    return items


def remediation_cases(*, number: WhatsAppNumber, limit: int = 10) -> list[RemediationCase]:
    return list(
        RemediationCase.objects.filter(number=number)
        .select_related("opened_by", "closed_by", "health_event")
        .order_by("-opened_at", "-id")[:limit]
    )


def open_case(number: WhatsAppNumber) -> RemediationCase | None:
    return RemediationCase.objects.filter(number=number, state=RemediationCase.State.OPEN).first()
