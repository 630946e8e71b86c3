"""A number's standing with WhatsApp, for the compliance page and remediation cases: its
quality, messaging limit and account state with their history, the checklist WhatsApp's
review looks for, and its remediation cases."""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext, gettext_noop, ngettext

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
    name = policy.name if policy is not None else gettext("built-in defaults (no policy configured)")
    contacts = policy.fallback_lines() if policy is not None else []
    gaps = (verdict or {}).get("gaps") or {}
    # The detail lines read in the active language (the reader's; case evidence is built in
    # English); what the admin configured (titles, keywords, contacts) stays as written.
    offer = gettext("The engine adds “%(title)s” to every menu (policy: %(policy)s)") % {
        "title": policy.human_option_title if policy else gettext("Talk to a person"), "policy": name}
    if gaps.get("no_offer"):
        offer += "; " + ngettext("%(n)s bot conversation never offered it", "%(n)s bot conversations never offered it",
                                 gaps["no_offer"]) % {"n": gaps["no_offer"]}
    fallback = "; ".join(contacts) if contacts else gettext("The policy has no phone, email or web form")
    if gaps.get("no_fallback_contact"):
        fallback += "; " + ngettext("%(n)s fallback went out without a contact",
                                    "%(n)s fallbacks went out without a contact",
                                    gaps["no_fallback_contact"]) % {"n": gaps["no_fallback_contact"]}
    answered = gettext("Target %(minutes)s min") % {"minutes": target_seconds(number, policy) // 60}
    if gaps.get("unanswered") or gaps.get("late"):
        answered += "; " + gettext("%(unanswered)s unanswered, %(late)s late") % {
            "unanswered": gaps.get("unanswered", 0), "late": gaps.get("late", 0)}
    items = [
        {
            "key": "human_option",
            "label": gettext_noop("Every bot menu offers a person"),
            "ok": bool(policy is None or policy.human_option_title) and not gaps.get("no_offer"),
            "detail": offer,
        },
        {
            "key": "keywords",
            "label": gettext_noop("Escalation keywords hand off at once"),
            "ok": bool(policy is None or policy.keyword_list()),
            "detail": ", ".join((policy.keyword_list() if policy else ["agent", "human", "person"])[:8])
            or gettext("none configured"),
        },
        {
            "key": "closed_hours",
            "label": gettext_noop("Outside hours or when nobody is free: a fallback contact"),
            "ok": bool(contacts) and not gaps.get("no_fallback_contact"),
            "detail": fallback,
        },
        {
            "key": "platform_test",
            "label": gettext_noop("WhatsApp's bot-quality test message reaches a person"),
            "ok": bool(policy is None or policy.detect_platform_test),
            "detail": gettext("Detected and handed off at top priority")
            if (policy is None or policy.detect_platform_test) else gettext("Detection is switched off in the policy"),
        },
        {
            "key": "answered",
            "label": gettext_noop("Requests for a person answered within the target"),
            "ok": not (gaps.get("unanswered") or gaps.get("late")),
            "detail": answered,
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
