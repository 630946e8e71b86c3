"""Alerts that reach people: open one per incident, show it in the desk (`alert.created` to
the supervisors group, a banner for admins and supervisors), email it once to the admins
and the number's supervisors, close it when the incident is over.

`alert_raise` is idempotent per incident: while an alert for the incident is open, raising
it again only counts the occurrence (no second email, no second banner); a database
constraint keeps one open alert per incident even when two workers raise it at once. The
email is sent by a task that claims the alert (`emailed_at`) with a compare-and-set update
before sending, so a task run twice sends once.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.mail import send_mass_mail
from django.db import IntegrityError, transaction
from django.db.models import F, Q, QuerySet
from django.utils import timezone

from agents.models import Team
from bots.models import EscalationPolicy
from config import task_names
from config.realtime import SUPERVISORS_GROUP, broadcast_on_commit
from config.tasking import enqueue_on_commit
from conversations.models import Conversation, WhatsAppNumber
from conversations.services.webhook_outbox import EventType, webhook_event_record
from notifications.models import Alert

log = logging.getLogger(__name__)

Kind = Alert.Kind
Severity = Alert.Severity
# Alerts for WhatsApp's error codes that need an admin (conversations.providers.errors).
PROVIDER_ALERT_KINDS = {"190": Kind.TOKEN_EXPIRED, "368": Kind.ACCOUNT_RESTRICTED, "131031": Kind.ACCOUNT_RESTRICTED}


def alert_payload(alert: Alert) -> dict[str, Any]:
    """What the desk's banner shows (also the API's answer)."""
    return {
        "id": alert.pk,
        "kind": alert.kind,
        "severity": alert.severity,
        "title": alert.title,
        "detail": alert.detail,
        "link": alert.link,
        "number": alert.number_id,
        "opened_at": alert.opened_at.isoformat(),
        "occurrences": alert.occurrences,
        "closed_at": alert.closed_at.isoformat() if alert.closed_at else None,
    }


def alert_raise(
    *,
    kind: str,
    incident: str,
    title: str,
    detail: str = "",
    number: WhatsAppNumber | None = None,
    link: str = "",
    severity: str = Severity.WARNING,
) -> tuple[Alert, bool]:
    """Open the alert for `incident`, or count another occurrence of the open one. Returns
    (alert, created). A new alert is pushed to the desk (`alert.created`) and emailed, both
    after commit."""
    now = timezone.now()
    with transaction.atomic():
        try:
            with transaction.atomic():
                alert = Alert.objects.create(
                    kind=kind, severity=severity, incident=incident[:200], number=number, title=title[:200],
                    detail=detail[:4000], link=link[:300], opened_at=now, last_seen_at=now,
                )
        except IntegrityError:
            Alert.objects.filter(incident=incident[:200], closed_at__isnull=True).update(
                occurrences=F("occurrences") + 1, last_seen_at=now
            )
            existing = Alert.objects.filter(incident=incident[:200], closed_at__isnull=True).first()
            if existing is None:  # closed in between: raise it afresh
                return alert_raise(kind=kind, incident=incident, title=title, detail=detail, number=number,
                                   link=link, severity=severity)
            return existing, False
        broadcast_on_commit([SUPERVISORS_GROUP], {"type": "alert.created", "alert": alert_payload(alert)})
        webhook_event_record(type=EventType.ALERT_CREATED, data={"alert": alert_payload(alert)})
        enqueue_on_commit(task_names.ALERT_EMAIL, alert_id=alert.pk)
    return alert, True


def alert_close(*, incident: str | None = None, alert: Alert | None = None, actor: Any = None,
                reason: str = "") -> int:
    """Close the open alert of `incident` (or `alert`): the incident is over, or a person
    dealt with it. Closing a closed alert changes nothing. Returns how many were closed."""
    if (incident is None) == (alert is None):
        raise ValueError("close by incident or by alert")
    qs = Alert.objects.filter(closed_at__isnull=True)
    qs = qs.filter(incident=incident) if incident is not None else qs.filter(pk=alert.pk)  # type: ignore[union-attr]
    now = timezone.now()
    with transaction.atomic():
        ids = list(qs.select_for_update().values_list("pk", flat=True))
        if not ids:
            return 0
        user = actor if getattr(actor, "pk", None) and getattr(actor, "is_authenticated", False) else None
        Alert.objects.filter(pk__in=ids).update(closed_at=now, closed_by=user, close_reason=reason[:200])
        for pk in ids:
            broadcast_on_commit([SUPERVISORS_GROUP], {"type": "alert.closed", "alert": {"id": pk}})
    return len(ids)


def alerts_open() -> QuerySet[Alert]:
    return Alert.objects.filter(closed_at__isnull=True).select_related("number").order_by("-opened_at", "-id")


# --- who is told ---------------------------------------------------------------------------------


def alert_recipients(alert: Alert) -> list[str]:
    """Email addresses of the active admins (superusers and the `admin` group) and of the
    supervisors of the teams that work the alert's number (teams with its conversations in
    the last 90 days, or the team its escalation policy hands off to)."""
    User = get_user_model()
    who = Q(is_superuser=True) | Q(groups__name="admin")
    if alert.number_id is not None:
        since = timezone.now() - timedelta(days=90)
        team_ids = Conversation.objects.filter(number_id=alert.number_id, created_at__gte=since,
                                               team__isnull=False).values("team_id")
        policy_teams = EscalationPolicy.objects.filter(number_id=alert.number_id, target_team__isnull=False).values(
            "target_team_id")
        teams = Team.objects.filter(Q(pk__in=team_ids) | Q(pk__in=policy_teams))
        who |= Q(supervised_teams__in=teams)
    emails = (
        User.objects.filter(who, is_active=True).exclude(email="").values_list("email", flat=True).distinct()
    )
    return sorted({email.strip() for email in emails if email and email.strip()})


def _absolute(link: str) -> str:
    base = (getattr(settings, "SITE_URL", "") or "").rstrip("/")
    return f"{base}{link}" if link.startswith("/") and base else link


def alert_email_send(*, alert_id: int) -> int:
    """Email the alert once: the row is claimed (`emailed_at`) before sending; a second run,
    or a run for a closed alert, sends nothing. A failed send gives the claim back and
    raises, so the task's retry (or the next raise) tries again. Returns emails sent."""
    now = timezone.now()
    if not Alert.objects.filter(pk=alert_id, emailed_at__isnull=True, closed_at__isnull=True).update(emailed_at=now):
        return 0
    alert = Alert.objects.select_related("number").get(pk=alert_id)
    recipients = alert_recipients(alert)
    if not recipients:
        log.warning("alert %s (%s) has nobody to email", alert.pk, alert.kind)
        return 0
    number = f" on {alert.number}" if alert.number_id and str(alert.number) not in alert.title else ""
    subject = f"[Handoff] {alert.title}{number}"[:200]
    lines = [alert.title + number, "", alert.detail, ""]
    if alert.link:
        lines.append(f"What to do: {_absolute(alert.link)}")
    lines.append(f"Raised {timezone.localtime(alert.opened_at):%Y-%m-%d %H:%M %Z}. You get this once per incident.")
    body = "\n".join(lines)
    sender = settings.DEFAULT_FROM_EMAIL
    try:
        sent = send_mass_mail([(subject, body, sender, [to]) for to in recipients], fail_silently=False)
    except Exception:
        Alert.objects.filter(pk=alert_id, emailed_at=now).update(emailed_at=None)
        raise
    Alert.objects.filter(pk=alert_id).update(email_recipients=sent)
    return sent


# --- incidents -----------------------------------------------------------------------------------


def _number_admin_link(number: WhatsAppNumber) -> str:
    return f"/admin/conversations/whatsappnumber/{number.pk}/change/"


def compliance_link(number: WhatsAppNumber) -> str:
    return f"/desk/compliance/?number={number.pk}"


def alert_provider_error(*, number: WhatsAppNumber, code: str, explanation: str, title: str = "") -> Alert:
    """WhatsApp refused a send with a code that needs an admin (token 190, account 368 /
    131031, and the other admin codes): one alert per number and kind of problem."""
    kind = PROVIDER_ALERT_KINDS.get(str(code), Kind.NUMBER_PROBLEM)
    if kind == Kind.TOKEN_EXPIRED:
        heading, link = "WhatsApp access token expired or revoked", _number_admin_link(number)
        incident = f"number:{number.pk}:token"
    elif kind == Kind.ACCOUNT_RESTRICTED:
        heading, link = "WhatsApp account restricted or locked", compliance_link(number)
        incident = f"number:{number.pk}:account"
    else:
        heading, link = f"WhatsApp refused the number's requests (error {code})", _number_admin_link(number)
        incident = f"number:{number.pk}:error:{code}"
    detail = f"{explanation} (WhatsApp error {code}{': ' + title if title else ''}). Nothing more is sent " \
             "until an admin acts; dismiss this alert once it is fixed."
    alert, _ = alert_raise(kind=kind, incident=incident, title=heading, detail=detail, number=number, link=link,
                           severity=Severity.CRITICAL)
    return alert
