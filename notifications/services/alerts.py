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
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.mail import send_mass_mail
from django.db import IntegrityError, transaction
from django.db.models import F, Q, QuerySet
from django.utils import timezone, translation
from django.utils.translation import gettext, gettext_noop, ngettext

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


@dataclass(frozen=True)
class AlertText:
    """A sentence of an alert as its catalogue entry and named parameters, so every reader
    gets it in their own language: `msgid` is marked with `gettext_noop` where the alert is
    raised; with `plural`, `params["n"]` picks the form. Parameters are what the incident
    names (a number, a template, a date, WhatsApp's own words), kept as given."""

    msgid: str
    params: dict[str, Any] = field(default_factory=dict)
    plural: str = ""

    def stored(self) -> dict[str, Any]:
        return {"msgid": self.msgid, "plural": self.plural, "params": self.params}


AlertTexts = str | AlertText | Sequence[AlertText]


def _parts(texts: AlertTexts) -> list[dict[str, Any]]:
    if isinstance(texts, str):
        return [{"msgid": "%(text)s", "plural": "", "params": {"text": texts}}] if texts else []
    if isinstance(texts, AlertText):
        return [texts.stored()]
    return [text.stored() for text in texts]


def _render(parts: list[dict[str, Any]], *, translate: bool) -> str:
    """The parts as one text: in the active language, or as written (English)."""
    out = []
    for part in parts:
        msgid, plural, params = part.get("msgid", ""), part.get("plural", ""), part.get("params") or {}
        if not msgid:
            continue
        if plural:
            n = int(params.get("n", 1))
            pattern = ngettext(msgid, plural, n) if translate else (msgid if n == 1 else plural)
        else:
            pattern = gettext(msgid) if translate and msgid != "%(text)s" else msgid
        try:
            out.append(pattern % params)
        except (KeyError, TypeError, ValueError):  # a broken translation: the English text
            out.append(msgid % params)
    return " ".join(text for text in out if text)


def alert_text(alert: Alert, part: str) -> str:
    """The alert's `title` or `detail` in the active language (the reader's); alerts raised
    before texts were stored by key show as written."""
    stored = (alert.texts or {}).get(part)
    return _render(stored, translate=True) if stored else getattr(alert, part)


def alert_payload(alert: Alert, *, translated: bool = False) -> dict[str, Any]:
    """What the desk's banner shows (also the API's answer): `translated` in the active
    language (the reader's), else as stored in English (the desk socket's notice and the
    outgoing webhooks' `alert.created`)."""
    return {
        "id": alert.pk,
        "kind": alert.kind,
        "severity": alert.severity,
        "title": alert_text(alert, "title") if translated else alert.title,
        "detail": alert_text(alert, "detail") if translated else alert.detail,
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
    title: AlertTexts,
    detail: AlertTexts = "",
    number: WhatsAppNumber | None = None,
    link: str = "",
    severity: str = Severity.WARNING,
) -> tuple[Alert, bool]:
    """Open the alert for `incident`, or count another occurrence of the open one. Returns
    (alert, created). `title` and `detail` are `AlertText`s (kept by key and parameters,
    so each reader gets them in their language; the English text is stored too) or plain
    text. A new alert is pushed to the desk (`alert.created`) and emailed, both after
    commit."""
    now = timezone.now()
    texts = {"title": _parts(title), "detail": _parts(detail)}
    with transaction.atomic():
        try:
            with transaction.atomic():
                alert = Alert.objects.create(
                    kind=kind, severity=severity, incident=incident[:200], number=number,
                    title=_render(texts["title"], translate=False)[:200],
                    detail=_render(texts["detail"], translate=False)[:4000], texts=texts, link=link[:300],
                    opened_at=now, last_seen_at=now,
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


def _email(alert: Alert) -> tuple[str, str]:
    """The alert's email subject and body in the active language."""
    title = alert_text(alert, "title")
    on = gettext(" on %(number)s") % {"number": alert.number} if alert.number_id and str(alert.number) not in title else ""
    lines = [title + on, "", alert_text(alert, "detail"), ""]
    if alert.link:
        lines.append(gettext("What to do: %(link)s") % {"link": _absolute(alert.link)})
    lines.append(gettext("Raised %(when)s. You get this once per incident.")
                 % {"when": f"{timezone.localtime(alert.opened_at):%Y-%m-%d %H:%M %Z}"})
    return f"[Handoff] {title}{on}"[:200], "\n".join(lines)


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
    languages = dict(
        get_user_model().objects.filter(email__in=recipients, agent_profile__isnull=False)
        .exclude(agent_profile__ui_language="").values_list("email", "agent_profile__ui_language")
    )
    sender = settings.DEFAULT_FROM_EMAIL
    mails = []
    for to in recipients:
        # Each person reads it in their desk language (English without one).
        with translation.override(languages.get(to) or settings.LANGUAGE_CODE):
            subject, body = _email(alert)
        mails.append((subject, body, sender, [to]))
    try:
        sent = send_mass_mail(mails, fail_silently=False)
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
        heading, link = AlertText(gettext_noop("WhatsApp access token expired or revoked")), _number_admin_link(number)
        incident = f"number:{number.pk}:token"
    elif kind == Kind.ACCOUNT_RESTRICTED:
        heading, link = AlertText(gettext_noop("WhatsApp account restricted or locked")), compliance_link(number)
        incident = f"number:{number.pk}:account"
    else:
        heading = AlertText(gettext_noop("WhatsApp refused the number's requests (error %(code)s)"), {"code": code})
        link = _number_admin_link(number)
        incident = f"number:{number.pk}:error:{code}"
    # `explanation` is the error rule's catalogue sentence; WhatsApp's title stays as it wrote it.
    detail = [
        AlertText(explanation),
        AlertText(gettext_noop("(WhatsApp error %(code)s: %(title)s).") if title
                  else gettext_noop("(WhatsApp error %(code)s)."), {"code": code, "title": title}),
        AlertText(gettext_noop("Nothing more is sent until an admin acts; dismiss this alert once it is fixed.")),
    ]
    alert, _ = alert_raise(kind=kind, incident=incident, title=heading, detail=detail, number=number, link=link,
                           severity=Severity.CRITICAL)
    return alert
