"""The 7-day remediation clock. When WhatsApp flags a number (its quality turns red, or an
account update names the escalation path) a case opens with a 7-day deadline; an admin can
open one too. The countdown task keeps `days_left` current, sends a reminder when 3 days
and again when 1 day are left, and expires the case at the deadline. An admin resolves it
(saying what was changed); WhatsApp lifting the flag resolves a case the flag opened.

Each close keeps the evidence gathered since opening (notifications.compliance.case_evidence)
on the case, as it stood then. Every open, reminder and expiry is an alert (notifications.services.alerts).
"""

from __future__ import annotations

import math
import re
from datetime import datetime, timedelta
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext, gettext_noop

from agents.services.audit import audit_record
from conversations.models import QualityRating, WhatsAppNumber
from notifications.compliance import case_evidence
from notifications.models import Alert, NumberHealthEvent, RemediationCase
from notifications.services.alerts import AlertText, alert_close, alert_raise, compliance_link

State = RemediationCase.State
Trigger = RemediationCase.Trigger
REMINDER_DAYS = (3, 1)
# Words in an account update that name the human-escalation requirement.
ESCALATION_WORDS = re.compile(r"ESCALAT|HUMAN|LIVE[ _]AGENT|CUSTOMER[ _]SERVICE|AUTOMAT", re.IGNORECASE)


class RemediationRefused(Exception):
    """A remediation action the rules do not allow: `code` (`invalid`, `invalid_state`),
    `detail` (a sentence) and the `field` it concerns, if any. Nothing is written."""

    def __init__(self, code: str, detail: str, *, field: str = "") -> None:
        super().__init__(detail)
        self.code, self.detail, self.field = code, detail, field


def _case_incidents(case: RemediationCase) -> list[str]:
    return [f"case:{case.pk}:opened", *(f"case:{case.pk}:deadline:{days}" for days in REMINDER_DAYS)]


def _days_left(case: RemediationCase, now: datetime) -> int:
    return max(0, math.ceil((case.deadline_at - now).total_seconds() / 86400))


def remediation_case_open(
    *,
    number: WhatsAppNumber,
    trigger: str,
    reason: str = "",
    actor: Any = None,
    health_event: NumberHealthEvent | None = None,
) -> tuple[RemediationCase, bool]:
    """Open the number's remediation case with a 7-day deadline, or return the one already
    open (created False): a flag repeated while a case runs does not restart the clock.
    Raises the `remediation_opened` alert (emailed once)."""
    now = timezone.now()
    with transaction.atomic():
        existing = RemediationCase.objects.filter(number=number, state=State.OPEN).first()
        if existing is not None:
            return existing, False
        try:
            with transaction.atomic():
                case = RemediationCase.objects.create(
                    number=number, trigger=trigger, reason=reason[:4000], health_event=health_event,
                    opened_by=actor if getattr(actor, "is_authenticated", False) else None, opened_at=now,
                    deadline_at=RemediationCase.deadline_for(now),
                )
        except IntegrityError:  # opened by a concurrent webhook or admin
            return RemediationCase.objects.get(number=number, state=State.OPEN), False
        if case.opened_by is not None:
            audit_record(actor=case.opened_by, action="remediation.open", target=case, reason=case.reason)
        deadline = timezone.localtime(case.deadline_at)
        alert_raise(
            kind=Alert.Kind.REMEDIATION_OPENED, incident=f"case:{case.pk}:opened", number=number,
            severity=Alert.Severity.CRITICAL, link=compliance_link(number),
            title=AlertText(gettext_noop("Remediation case opened: 7 days to show a path to a person on %(number)s"),
                            {"number": str(number)}),
            detail=[
                AlertText("%(text)s", {"text": f"{case.get_trigger_display()}. {case.reason}".strip()}),
                AlertText(gettext_noop("WhatsApp lowers the number's messaging limit if the problem is not fixed by "
                                       "%(deadline)s. Open the compliance page: its checklist and gaps say what to "
                                       "fix, and its evidence report answers WhatsApp."),
                          {"deadline": f"{deadline:%Y-%m-%d %H:%M %Z}"}),
            ],
        )
    return case, True


def _close(case: RemediationCase, *, state: str, actor: Any, resolution: str, now: datetime) -> RemediationCase:
    case.state, case.closed_at = state, now
    case.closed_by = actor if getattr(actor, "is_authenticated", False) else None
    case.resolution = resolution[:4000]
    case.days_left = _days_left(case, now) if state == State.RESOLVED else 0
    case.evidence = case_evidence(case=case, now=now)
    case.save(update_fields=["state", "closed_at", "closed_by", "resolution", "days_left", "evidence"])
    for incident in _case_incidents(case):
        alert_close(incident=incident, actor=actor, reason=f"case {case.get_state_display().lower()}")
    return case


def remediation_case_resolve(*, case: RemediationCase, resolution: str, actor: Any = None) -> RemediationCase:
    """Resolve an open case: who, when and what was changed, with the evidence since it
    opened. Refused (`invalid_state`) when the case is no longer open."""
    resolution = (resolution or "").strip()
    if not resolution:
        raise RemediationRefused("invalid", gettext("Say what was changed to resolve the case."), field="resolution")
    now = timezone.now()
    with transaction.atomic():
        locked = RemediationCase.objects.select_for_update().select_related("number").filter(pk=case.pk).first()
        if locked is None or locked.state != State.OPEN:
            raise RemediationRefused("invalid_state", gettext("This remediation case is no longer open."))
        _close(locked, state=State.RESOLVED, actor=actor, resolution=resolution, now=now)
        if locked.closed_by is not None:
            audit_record(actor=locked.closed_by, action="remediation.resolve", target=locked, resolution=resolution)
    return locked


def remediation_case_tick(*, case_id: int, now: datetime | None = None) -> str:
    """The countdown for one open case: expire it at the deadline (alert), else keep
    `days_left` current and send the 3-day and 1-day reminders, each once (claimed with a
    compare-and-set on `reminded_days`). Returns what happened."""
    now = now or timezone.now()
    with transaction.atomic():
        case = RemediationCase.objects.select_for_update().select_related("number").filter(
            pk=case_id, state=State.OPEN).first()
        if case is None:
            return "closed"
        if now >= case.deadline_at:
            _close(case, state=State.EXPIRED, actor=None, now=now,
                   resolution="The 7 days passed while the case was open: WhatsApp may lower the messaging limit.")
            alert_raise(
                kind=Alert.Kind.REMEDIATION_EXPIRED, incident=f"case:{case.pk}:expired", number=case.number,
                severity=Alert.Severity.CRITICAL, link=compliance_link(case.number),
                title=AlertText(gettext_noop("Remediation deadline passed on %(number)s"), {"number": str(case.number)}),
                detail=AlertText(gettext_noop(
                    "The case was not resolved within 7 days. Check the number's messaging limit and quality, fix "
                    "the gaps the compliance page lists, and answer WhatsApp with the evidence report.")),
            )
            return "expired"
        days = _days_left(case, now)
        if days != case.days_left:
            RemediationCase.objects.filter(pk=case.pk).update(days_left=days)
        for milestone in sorted(REMINDER_DAYS):
            if days > milestone:
                continue
            claimed = RemediationCase.objects.filter(pk=case.pk, reminded_days__gt=milestone).update(
                reminded_days=milestone)
            if claimed:
                alert_raise(
                    kind=Alert.Kind.REMEDIATION_DEADLINE, incident=f"case:{case.pk}:deadline:{milestone}",
                    number=case.number, severity=Alert.Severity.CRITICAL, link=compliance_link(case.number),
                    title=AlertText(gettext_noop("%(n)s day left to fix %(number)s"),
                                    {"n": milestone, "number": str(case.number)},
                                    plural=gettext_noop("%(n)s days left to fix %(number)s")),
                    detail=AlertText(gettext_noop(
                        "The remediation case opened %(opened)s ends %(deadline)s. Resolve it on the compliance page "
                        "once the checklist holds."), {
                        "opened": f"{timezone.localtime(case.opened_at):%Y-%m-%d}",
                        "deadline": f"{timezone.localtime(case.deadline_at):%Y-%m-%d %H:%M %Z}"}),
                )
                return f"reminded:{milestone}"
            break
        return "counting"


def remediation_cases_tick(*, now: datetime | None = None) -> dict[str, int]:
    """The countdown over every open case (a handful at most: one per number)."""
    done: dict[str, int] = {}
    for case_id in RemediationCase.objects.filter(state=State.OPEN).values_list("pk", flat=True):
        outcome = remediation_case_tick(case_id=case_id, now=now).split(":")[0]
        done[outcome] = done.get(outcome, 0) + 1
    return done


# --- the health webhooks ----------------------------------------------------------------------


def remediation_on_quality(*, number: WhatsAppNumber, quality: str, event: str,
                           health_event: NumberHealthEvent | None = None) -> None:
    """A quality update: red (or FLAGGED) opens the case and the `number_red` alert; back to
    green (or UNFLAGGED) closes the alert and resolves a case the flag opened."""
    if quality == QualityRating.RED:
        trigger = Trigger.FLAGGED if event == "FLAGGED" else Trigger.QUALITY_RED
        reason = f"WhatsApp reported {event or 'a quality update'}: the quality rating is red."
        alert_raise(
            kind=Alert.Kind.NUMBER_RED, incident=f"number:{number.pk}:red", number=number,
            severity=Alert.Severity.CRITICAL, link=compliance_link(number),
            title=AlertText(gettext_noop("%(number)s turned red"), {"number": str(number)}),
            detail=AlertText(gettext_noop(
                "Customers blocked or reported the number. Campaigns on it are paused. Check the compliance page for "
                "conversations where a person was not reachable.")),
        )
        remediation_case_open(number=number, trigger=trigger, reason=reason, health_event=health_event)
        return
    if quality in (QualityRating.GREEN, QualityRating.YELLOW):
        alert_close(incident=f"number:{number.pk}:red", reason=f"quality now {quality.lower()}")
    if quality == QualityRating.GREEN or event == "UNFLAGGED":
        with transaction.atomic():
            case = RemediationCase.objects.select_for_update().filter(
                number=number, state=State.OPEN, trigger__in=[Trigger.QUALITY_RED, Trigger.FLAGGED]).first()
            if case is not None:
                _close(case, state=State.RESOLVED, actor=None, now=timezone.now(),
                       resolution=f"WhatsApp lifted the flag ({event or 'quality ' + quality.lower()}).")


def escalation_reason(value: dict[str, Any]) -> str:
    """The words of an `account_update` that name the human-escalation requirement, or ""."""
    parts = [str(value.get("event") or ""), str(value.get("reason") or "")]
    violation = value.get("violation_info")
    if isinstance(violation, dict):
        parts += [str(v) for v in violation.values() if isinstance(v, str)]
    for item in value.get("restriction_info") or []:
        if isinstance(item, dict):
            parts.append(str(item.get("restriction_type") or ""))
    text = " ".join(p for p in parts if p)
    return text if ESCALATION_WORDS.search(text) else ""


def remediation_on_account_update(*, number: WhatsAppNumber, value: dict[str, Any],
                                  health_event: NumberHealthEvent | None = None, restricted: bool = False,
                                  detail: str = "") -> None:
    """An account update: a restriction raises `account_restricted`; one that names the
    escalation path opens the remediation case."""
    if restricted:
        alert_raise(
            kind=Alert.Kind.ACCOUNT_RESTRICTED, incident=f"number:{number.pk}:account", number=number,
            severity=Alert.Severity.CRITICAL, link=compliance_link(number),
            title=AlertText(gettext_noop("WhatsApp account of %(number)s restricted"), {"number": str(number)}),
            detail=[
                AlertText("%(text)s", {"text": detail}) if detail
                else AlertText(gettext_noop("WhatsApp restricted the account.")),
                AlertText(gettext_noop("Business-initiated messages and campaigns stop until it is lifted; check "
                                       "Meta's Business Manager for the reason.")),
            ],
        )
    named = escalation_reason(value)
    if named:
        remediation_case_open(number=number, trigger=Trigger.ACCOUNT_UPDATE, health_event=health_event,
                              reason=f"WhatsApp's account update names the escalation path: {named[:300]}.")


def deadline_hours(case: RemediationCase, now: datetime | None = None) -> float:
    return max(0.0, (case.deadline_at - (now or timezone.now())) / timedelta(hours=1))
