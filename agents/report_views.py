"""The reports page (`/desk/reports/`): filters (period, team, agent, day or week, the
viewer's time zone), SVG charts with their figures beside them, tables per team and agent,
campaign delivery for admins; and the CSV export (`/desk/reports/conversations.csv`, one row
per conversation, cells a spreadsheet would run as a formula escaped, recorded in the audit log)."""

from __future__ import annotations

import csv
from collections.abc import AsyncIterator
from typing import Any

from asgiref.sync import sync_to_async
from django.contrib.auth import get_user_model
from django.contrib.auth.decorators import login_required
from django.core.exceptions import BadRequest, PermissionDenied
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.translation import gettext
from django.views.decorators.csrf import ensure_csrf_cookie

from agents.audit_admin import csv_safe
from agents.charts import bar_chart, column_chart, line_chart
from agents.desk_views import _desk_config
from agents.models import Team
from agents.reports import (
    CSV_HEADER,
    ReportRefused,
    ReportScope,
    report_campaigns,
    report_conversations,
    report_rows,
    report_scope,
    report_summary,
)
from agents.services.audit import audit_record
from config.periods import period_from_query
from conversations.models import Conversation

CSV_CHUNK = 2000


def _int(value: str | None) -> int | None:
    return int(value) if value and value.isdigit() else None


def request_scope(request: HttpRequest) -> tuple[ReportScope, list[str]]:
    """The scope the query asks for; what was wrong with it is returned (the page shows it)
    or, for a team or agent out of the user's sight, refused with 403."""
    period, errors = period_from_query(request.GET)
    bucket = request.GET.get("bucket") or "day"
    if bucket not in ("day", "week"):
        errors.append("Group by day or week.")
        bucket = "day"
    try:
        scope = report_scope(user=request.user, period=period, team_id=_int(request.GET.get("team")),
                             agent_id=_int(request.GET.get("agent")), bucket=bucket)
    except ReportRefused as exc:
        if exc.code == "forbidden":
            raise PermissionDenied(exc.detail) from None
        errors.append(exc.detail)
        scope = report_scope(user=request.user, period=period, bucket=bucket)
    return scope, errors


def _charts(summary: dict[str, Any], scope: ReportScope) -> dict[str, Any]:
    series = summary["series"]
    labels = [date_format(point["start"], "M d") for point in series]
    week = scope.bucket == "week"
    minutes = lambda value: round(value / 60, 1) if value is not None else None  # noqa: E731
    totals = summary["totals"]
    return {
        "volume": column_chart(labels, {
            gettext("Conversations"): [p["conversations"] for p in series],
            gettext("Handed to people"): [p["handed_off"] for p in series],
            gettext("Contained by the bot"): [p["contained"] for p in series],
        }, title=gettext("Conversations per week") if week else gettext("Conversations per day")),
        "times": line_chart(labels, {
            gettext("First response"): [minutes(p["first_response_avg_seconds"]) for p in series],
            gettext("Time to a person"): [minutes(p["time_to_human_avg_seconds"]) for p in series],
        }, title=gettext("Average response times per week (minutes)") if week
            else gettext("Average response times per day (minutes)"), unit=" min"),
        "csat_line": line_chart(labels, {gettext("CSAT (1–3)"): [p["csat_average"] for p in series]},
                                title=gettext("Average rating per week") if week else gettext("Average rating per day")),
        "reasons": bar_chart([(r["label"], r["count"]) for r in summary["escalation_reasons"]],
                             title=gettext("Why conversations went to people")),
        "status": bar_chart([(s["label"], s["count"]) for s in summary["by_status"]], title=gettext("Conversations by status")),
        "csat": bar_chart([(label, totals["csat"]["distribution"][score]) for score, label in
                           (("3", gettext("Good")), ("2", gettext("OK")), ("1", gettext("Bad")))],
                          title=gettext("Ratings")),
    }


@login_required
@ensure_csrf_cookie
def reports_page(request: HttpRequest) -> HttpResponse:
    scope, errors = request_scope(request)
    summary = report_summary(scope)
    roles = scope.roles
    teams = Team.objects.order_by("name")
    if not roles.admin:
        teams = teams.filter(pk__in=sorted(roles.supervises))
    agents = get_user_model().objects.filter(teams__in=teams).distinct().order_by("first_name", "username")
    context = {
        "desk_config": _desk_config(request),
        "scope": scope,
        "period": scope.period,
        "errors": errors,
        "summary": summary,
        "totals": summary["totals"],
        "charts": _charts(summary, scope),
        "campaigns": report_campaigns(scope),
        "teams": list(teams),
        "agents": list(agents),
        "csv_query": request.GET.urlencode(),
    }
    return render(request, "desk/reports.html", context)


def _iso(value: Any, zone) -> str:
    return timezone.localtime(value, zone).isoformat(timespec="seconds") if value else ""


def _seconds(value: float | None) -> str:
    return "" if value is None or value < 0 else f"{value:.0f}"


def report_csv_row(row: dict[str, Any], zone) -> list[str]:
    cells = [
        row["pk"], _iso(row["created_at"], zone), row["number__name"], row["channel"], row["status"],
        row["team__name"] or "", row["assignee__username"] or "", row["contact__profile_name"] or "",
        row["bot_session__bot__name"] or "", _iso(row["escalation_ledger__handed_off_at"], zone), row["reason"] or "",
        _iso(row["escalation_ledger__human_requested_at"], zone), _seconds(row["tth"]), _iso(row["queued_at"], zone),
        _iso(row["first_response_at"], zone), _seconds(row["frt"]), _iso(row["resolved_at"], zone),
        _seconds(row["handle"]), _iso(row["sla_breached_at"], zone),
        "" if row["csat_score"] is None else row["csat_score"],
    ]
    return [csv_safe(cell) for cell in cells]


class _Line:
    def write(self, text: str) -> str:
        return text


async def _csv_lines(scope: ReportScope) -> AsyncIterator[str]:
    writer = csv.writer(_Line())
    yield writer.writerow(CSV_HEADER)
    after = 0
    while True:
        rows = await sync_to_async(report_rows)(scope, after=after, limit=CSV_CHUNK)
        if not rows:
            return
        for row in rows:
            yield writer.writerow(report_csv_row(row, scope.period.zone))
        after = rows[-1]["pk"]


@login_required
def reports_csv(request: HttpRequest) -> StreamingHttpResponse:
    """One row per conversation of the report's scope, oldest first, streamed in chunks."""
    scope, errors = request_scope(request)
    if errors:
        raise BadRequest(errors[0])
    audit_record(actor=request.user, action="report.export", target=Conversation, request=request,
                 rows=report_conversations(scope).count(), **scope.as_dict())
    response = StreamingHttpResponse(_csv_lines(scope), content_type="text/csv; charset=utf-8")
    period = scope.period
    response["Content-Disposition"] = (
        f'attachment; filename="conversations-{period.first_day.isoformat()}-{period.last_day.isoformat()}.csv"'
    )
    return response

