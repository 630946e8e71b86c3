"""The compliance page of the desk (`/desk/compliance/`) and the evidence report per number
and period: printable HTML (`…/evidence/`, print it to PDF from the browser) and CSV
(`…/evidence.csv`, one row per conversation). Admins and supervisors only; supervisors see
the figures of their own conversations. Exports are recorded in the audit log."""

from __future__ import annotations

import csv
from collections.abc import AsyncIterator
from typing import Any

from asgiref.sync import sync_to_async
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404, render
from django.utils import timezone
from django.views.decorators.csrf import ensure_csrf_cookie

from agents.audit_admin import csv_safe
from agents.charts import bar_chart
from agents.desk_views import _desk_config
from agents.services.audit import audit_record
from config.periods import Period, period_from_query
from conversations.access import user_is_admin
from conversations.models import WhatsAppNumber
from notifications.compliance import GAP_KINDS, GAP_LIST_LIMIT, compliance_evidence_rows, compliance_report
from notifications.compliance_scope import compliance_conversations, target_seconds, user_may_see_compliance

QUICK_RANGES = (7, 30, 90)
EVIDENCE_CHUNK = 2000
EVIDENCE_HEADER = [
    "conversation", "created", "status", "team", "bot", "person offered", "person asked for", "handed off",
    "person answered", "seconds to a person", "fallback", "gaps",
]


def _require(request: HttpRequest) -> None:
    if not user_may_see_compliance(request.user):
        raise PermissionDenied("The compliance monitor is for supervisors and admins.")


def _verdict_chart(verdict: dict[str, Any]):
    return bar_chart(
        [
            ("Bot conversations", verdict["bot_conversations"]),
            ("Person offered", verdict["human_offered"]),
            ("Asked for a person", verdict["requested"]),
            ("Got a person or fallback", verdict["reached"]),
            ("Answered within target", verdict["answered_in_time"]),
        ],
        title="The human path: offered, asked for, given",
    )


@login_required
@ensure_csrf_cookie
def compliance_page(request: HttpRequest) -> HttpResponse:
    _require(request)
    numbers = list(WhatsAppNumber.objects.order_by("-is_default", "name", "pk"))
    number = numbers[0] if numbers else None
    wanted = request.GET.get("number", "")
    if wanted:
        number = next((n for n in numbers if str(n.pk) == wanted), None)
        if number is None:
            raise Http404("No such number.")
    period, errors = period_from_query(request.GET)
    gap_kind = request.GET.get("gap_kind") or None
    if gap_kind is not None and gap_kind not in GAP_KINDS:
        errors.append("No such kind of gap.")
        gap_kind = None
    page = request.GET.get("gap_page", "")
    report = (compliance_report(user=request.user, number=number, period=period, gap_kind=gap_kind,
                                gap_page=int(page) if page.isdigit() and len(page) < 7 else 1)
              if number is not None else None)
    # The page's query without the gap list's own parameters, for its links.
    gap_query = request.GET.copy()
    for name in ("gap_kind", "gap_page"):
        gap_query.pop(name, None)
    context = {
        "desk_config": _desk_config(request),
        "numbers": numbers,
        "number": number,
        "period": period,
        "errors": errors,
        "report": report,
        "quick_ranges": QUICK_RANGES,
        "is_admin": user_is_admin(request.user),
        "verdict_chart": _verdict_chart(report["verdict"]) if report else None,
        "gap_query": gap_query.urlencode(),
        "gap_link": "?" + (gap_query.urlencode() + "&" if gap_query else ""),
        "gap_page_size": GAP_LIST_LIMIT,
        "now": timezone.now(),
    }
    return render(request, "desk/compliance.html", context)


def _number_and_period(request: HttpRequest, number_id: int) -> tuple[WhatsAppNumber, Period]:
    _require(request)
    number = get_object_or_404(WhatsAppNumber, pk=number_id)
    period, errors = period_from_query(request.GET)
    if errors:
        raise Http404(errors[0])
    return number, period


@login_required
def evidence_html(request: HttpRequest, number_id: int) -> HttpResponse:
    """The evidence report to answer WhatsApp or an auditor: the verdict, checklist, number
    health and cases for the period, and every gap by conversation id (no customer data)."""
    number, period = _number_and_period(request, number_id)
    report = compliance_report(user=request.user, number=number, period=period, gap_limit=500)
    audit_record(actor=request.user, action="compliance.export", target=number, request=request, format="html",
                 period=period.as_dict())
    context = {
        "number": number,
        "period": period,
        "report": report,
        "verdict_chart": _verdict_chart(report["verdict"]),
        "generated_at": timezone.now(),
        "generated_by": request.user,
        "all_conversations": user_is_admin(request.user),
    }
    return render(request, "desk/evidence.html", context)


def _fallback(row: dict[str, Any]) -> str:
    if row["valid"]:
        return "contact given"
    if row["empty"]:
        return "no contact"
    return ""


def _iso(value: Any, zone) -> str:
    return timezone.localtime(value, zone).isoformat(timespec="seconds") if value else ""


def evidence_csv_row(row: dict[str, Any], zone) -> list[str]:
    gaps = [kind for kind, flag in (("late", row["gap_late"]), ("unanswered", row["gap_unanswered"]),
                                    ("no_offer", row["gap_no_offer"]), ("no_fallback_contact", row["empty"])) if flag]
    cells = [
        row["pk"], _iso(row["created_at"], zone), row["status"], row["team__name"] or "",
        row["bot_session__bot__name"] or "", _iso(row["escalation_ledger__human_offered_at"], zone),
        _iso(row["requested_at"], zone), _iso(row["escalation_ledger__handed_off_at"], zone),
        _iso(row["answered_at"], zone), "" if row["wait"] is None else f"{row['wait']:.0f}", _fallback(row),
        ";".join(gaps),
    ]
    return [csv_safe(cell) for cell in cells]


class _Line:
    def write(self, text: str) -> str:
        return text


async def _evidence_lines(chunks, zone) -> AsyncIterator[str]:
    writer = csv.writer(_Line())
    yield writer.writerow(EVIDENCE_HEADER)
    after = 0
    while True:
        rows = await sync_to_async(chunks)(after)
        if not rows:
            return
        for row in rows:
            yield writer.writerow(evidence_csv_row(row, zone))
        after = rows[-1]["pk"]


@login_required
def evidence_csv(request: HttpRequest, number_id: int) -> StreamingHttpResponse:
    """One row per conversation of the number in the period (the viewer's ones for a
    supervisor): when a person was offered, asked for, handed it and answered, the
    fallback, and its gaps. Streamed in chunks; cells that a spreadsheet would run as a
    formula get a leading quote."""
    number, period = _number_and_period(request, number_id)
    qs = compliance_conversations(user=request.user, number=number, start=period.start, end=period.end)
    target = target_seconds(number)
    now = timezone.now()
    audit_record(actor=request.user, action="compliance.export", target=number, request=request, format="csv",
                 period=period.as_dict(), rows=qs.count())

    def chunks(after: int) -> list[dict[str, Any]]:
        return compliance_evidence_rows(qs=qs.filter(pk__gt=after), target=target, now=now, limit=EVIDENCE_CHUNK)

    response = StreamingHttpResponse(_evidence_lines(chunks, period.zone), content_type="text/csv; charset=utf-8")
    name = f"compliance-{number.pk}-{period.first_day.isoformat()}-{period.last_day.isoformat()}.csv"
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    return response
