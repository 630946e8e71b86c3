"""Reports for supervisors (their teams) and admins (everything): first response time, time
to a person after the request, bot containment, escalation reasons, handoffs by reason and
team, SLA attainment, CSAT, conversations by status and channel, agent workload and handle
time, per day or week in the viewer's time zone; and one row per conversation for CSV.

Scope: conversations created in the period; for a supervisor who is not an admin, those of
the teams they supervise and those without a team (bot-only conversations never reach a
team), as the desk shows them. Filters narrow it to one team (supervised) and one agent
(the assignee). Every figure is a database aggregate: one scan groups the conversations by
day (or week), team, assignee, status and channel, and the totals, series, teams and agents
are sums of those groups; one more groups the handoffs by team and reason.

Definitions:
- first response: from queueing (`queued_at`) to the first agent reply (`first_response_at`);
- time to a person: from the customer's request (escalation ledger) to the first reply of a
  person (the ledger's, else the first response), as the compliance monitor counts it;
- contained: a bot served it and it never reached people (no handoff, never queued or assigned);
- SLA attainment: of conversations with a first-response target, those never breached;
- handle time: from assignment to resolution, for resolved conversations;
- cost: the messages sent in those conversations that WhatsApp reported as charged, per
  pricing category, priced with the admin's price table (conversations.pricing).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from django.contrib.auth import get_user_model
from django.db.models import (
    Case,
    CharField,
    Count,
    DateField,
    F,
    FloatField,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Sum,
    Value,
    When,
)
from django.db.models.functions import Coalesce, TruncDay, TruncWeek
from django.utils.translation import gettext

from agents.models import Team
from agents.report_sections import campaign_report
from bots.models import Handoff
from config.periods import Period, period_aggregates, seconds_between
from conversations.access import Roles, roles_for
from conversations.models import Channel, Conversation, Message
from conversations.pricing import messages_pricing

BUCKETS = ("day", "week")
GROUPING_WORK_MEM = "32MB"
CSAT_SCORES = (1, 2, 3)


class ReportRefused(Exception):
    """A report the user may not see or did not ask for properly: `code` (`forbidden`,
    `invalid`), `detail`, and the query parameter it concerns."""

    def __init__(self, code: str, detail: str, *, field: str = "") -> None:
        super().__init__(detail)
        self.code, self.detail, self.field = code, detail, field


@dataclass(frozen=True)
class ReportScope:
    roles: Roles
    period: Period
    team_id: int | None = None
    agent_id: int | None = None
    bucket: str = "day"

    def as_dict(self) -> dict[str, Any]:
        return {"period": self.period.as_dict(), "team": self.team_id, "agent": self.agent_id, "bucket": self.bucket}


def report_scope(*, user: Any, period: Period, team_id: int | None = None, agent_id: int | None = None,
                 bucket: str = "day") -> ReportScope:
    """Who asks for what. Refused (`forbidden`) for anyone but supervisors and admins, for
    a team the user does not supervise and for an agent of no such team."""
    roles = roles_for(user)
    if not roles.supervisor:
        raise ReportRefused("forbidden", gettext("Reports are for supervisors and admins."))
    if bucket not in BUCKETS:
        raise ReportRefused("invalid", gettext("Group by day or week."), field="bucket")
    if team_id is not None:
        if not roles.admin and team_id not in roles.supervises:
            raise ReportRefused("forbidden", gettext("You do not supervise this team."), field="team")
        if not Team.objects.filter(pk=team_id).exists():
            raise ReportRefused("invalid", gettext("No such team."), field="team")
    if agent_id is not None:
        people = get_user_model().objects.filter(pk=agent_id)
        if not roles.admin:
            people = people.filter(Q(teams__in=roles.supervises) | Q(pk=roles.user_id))
        if not people.exists():
            raise ReportRefused("forbidden", gettext("This agent is not in a team you supervise."), field="agent")
    return ReportScope(roles=roles, period=period, team_id=team_id, agent_id=agent_id, bucket=bucket)


def report_conversations(scope: ReportScope) -> QuerySet[Conversation]:
    """The conversations the report counts (see the module docstring)."""
    qs = Conversation.objects.filter(created_at__gte=scope.period.start, created_at__lt=scope.period.end)
    if not scope.roles.admin:
        qs = qs.filter(Q(team_id__in=sorted(scope.roles.supervises)) | Q(team__isnull=True))
    if scope.team_id is not None:
        qs = qs.filter(team_id=scope.team_id)
    if scope.agent_id is not None:
        qs = qs.filter(assignee_id=scope.agent_id)
    return qs.order_by()


# --- expressions ---------------------------------------------------------------------------------

BOT_SERVED = Q(bot_session__bot__isnull=False)
HANDED_OFF = Q(escalation_ledger__handed_off_at__isnull=False)
CONTAINED = BOT_SERVED & Q(escalation_ledger__handed_off_at__isnull=True, queued_at__isnull=True,
                           assignee__isnull=True)
RESOLVED = Q(status=Conversation.Status.RESOLVED)
REQUESTED = Q(escalation_ledger__human_requested_at__isnull=False)


def _timed(qs: QuerySet[Conversation], *, to_person: bool = True) -> QuerySet[Conversation]:
    """With `frt` (first response, seconds) and `handle` (assignment to resolution), and
    with `to_person` also `tth` (request to a person, which joins the escalation ledger)."""
    qs = qs.annotate(
        frt=seconds_between(F("queued_at"), F("first_response_at")),
        handle=seconds_between(F("assigned_at"), F("resolved_at")),
    )
    if not to_person:
        return qs
    answered = Coalesce(F("escalation_ledger__first_human_reply_at"), F("first_response_at"))
    return qs.annotate(
        tth=Case(
            When(Q(escalation_ledger__human_requested_at__gt=answered), then=Value(0.0)),
            default=seconds_between(F("escalation_ledger__human_requested_at"), answered),
            output_field=FloatField(),
        ),
    )


# When `frt`, `tth` and `handle` are known, said with the timestamps (cheaper to test on every
# row than the seconds between them): `frt >= 0` is a reply at or after the queueing, `tth`
# is known when there is an answer (it is 0 for an answer before the request).
FRT_KNOWN = Q(queued_at__isnull=False, first_response_at__gte=F("queued_at"))
TTH_KNOWN = REQUESTED & (Q(escalation_ledger__first_human_reply_at__isnull=False) | Q(first_response_at__isnull=False))
HANDLE_KNOWN = RESOLVED & Q(assigned_at__isnull=False, resolved_at__gte=F("assigned_at"))


def _round(value: float | None) -> float | None:
    return round(value, 1) if value is not None else None


def _rate(part: int, whole: int) -> float | None:
    return round(100.0 * part / whole, 1) if whole else None


# --- sections ----------------------------------------------------------------------------------


def report_handoffs(qs: QuerySet[Conversation]) -> dict[str, Any]:
    """Handoffs by team and reason (one grouped query), and by reason (summed from it)."""
    labels = dict(Handoff.Reason.choices)
    by_team = list(
        qs.filter(handoffs__isnull=False)
        .values_list("handoffs__suggested_team_id", "handoffs__suggested_team__name", "handoffs__reason_code")
        .annotate(n=Count("handoffs__id"))
        .order_by("handoffs__suggested_team__name", "-n")
    )
    reasons: dict[str, int] = {}
    for _, _, code, n in by_team:
        reasons[code] = reasons.get(code, 0) + n
    return {
        "escalation_reasons": [{"reason": code, "label": labels.get(code, code), "count": n}
                               for code, n in sorted(reasons.items(), key=lambda item: (-item[1], item[0]))],
        "handoffs_by_team": [
            {"team": team_id, "team_name": name or gettext("No team"), "reason": code, "label": labels.get(code, code), "count": n}
            for team_id, name, code, n in by_team
        ],
    }


def report_breakdowns(groups: list[dict[str, Any]]) -> dict[str, Any]:
    """Conversations by status and channel, summed from the grouped rows (`_groups`)."""
    statuses: dict[str, int] = {}
    channels: dict[str, int] = {}
    for row in groups:
        statuses[row["status"]] = statuses.get(row["status"], 0) + row["conversations"]
        channels[row["channel"]] = channels.get(row["channel"], 0) + row["conversations"]
    return {
        "by_status": [{"status": s, "label": Conversation.Status(s).label, "count": statuses.get(s, 0)}
                      for s in Conversation.Status.values],
        "by_channel": [{"channel": ch, "label": Channel(ch).label, "count": channels.get(ch, 0)} for ch in Channel.values],
    }


def _bucket_starts(period: Period, bucket: str) -> list[date]:
    first = period.first_day
    if bucket == "week":
        first = first - timedelta(days=first.weekday())
    step = timedelta(days=7 if bucket == "week" else 1)
    starts, day = [], first
    while day <= period.last_day:
        starts.append(day)
        day += step
    return starts


def _as_date(value: datetime | date | None) -> date | None:
    if isinstance(value, datetime):
        return value.date()
    return value


# Per group (bucket, team, assignee, status, channel): counts, and sums with their counts for
# the averages, so every figure of the report is a sum of groups: one grouped scan gives the
# totals, the series, the teams, the agents and the conversations by status and channel.
_SUMS = {
    "conversations": Count("pk"),
    "bot_conversations": Count("pk", filter=BOT_SERVED),
    "contained": Count("pk", filter=CONTAINED),
    "handed_off": Count("pk", filter=HANDED_OFF),
    "requested": Count("pk", filter=REQUESTED),
    "resolved": Count("pk", filter=RESOLVED),
    "open": Count("pk", filter=Q(status=Conversation.Status.ASSIGNED)),
    "frt_n": Count("pk", filter=FRT_KNOWN),
    "frt_sum": Sum("frt", filter=FRT_KNOWN),
    "tth_n": Count("pk", filter=TTH_KNOWN),
    "tth_sum": Sum("tth", filter=TTH_KNOWN),
    "handle_n": Count("pk", filter=HANDLE_KNOWN),
    "handle_sum": Sum("handle", filter=HANDLE_KNOWN),
    "sla_with_target": Count("pk", filter=Q(first_response_due_at__isnull=False)),
    "sla_met": Count("pk", filter=Q(first_response_due_at__isnull=False, sla_breached_at__isnull=True)),
    "csat_requested": Count("pk", filter=Q(csat_requested_at__isnull=False)),
    "csat_n": Count("pk", filter=Q(csat_score__isnull=False)),
    "csat_sum": Sum("csat_score"),
    **{f"csat_{score}": Count("pk", filter=Q(csat_score=score)) for score in CSAT_SCORES},
}


def _average(total: float | None, count: int, digits: int = 1) -> float | None:
    return round(total / count, digits) if count and total is not None else None


def _groups(qs: QuerySet[Conversation], scope: ReportScope) -> list[dict[str, Any]]:
    """The sums of every group of conversations with the same bucket (day, or week from
    Monday, in the viewer's zone), team, assignee, status and channel: one scan."""
    trunc = TruncWeek if scope.bucket == "week" else TruncDay
    rows: Any = (
        _timed(qs)
        # As a date: no time zone to attach to each group's bucket in Python.
        .annotate(bucket=trunc("created_at", tzinfo=scope.period.zone, output_field=DateField()))
        .values("bucket", "team_id", "assignee_id", "status", "channel")
        .annotate(**_SUMS)
        .order_by()
    )
    # PostgreSQL cannot estimate how many days a period's conversations fall on and plans
    # for one group per row: with the default 4 MB of work_mem it sorts them on disk. The
    # groups are a few thousand; GROUPING_WORK_MEM lets it hash them in memory.
    with period_aggregates(qs.db, work_mem=GROUPING_WORK_MEM):
        return list(rows)


def _fold(groups: list[dict[str, Any]], key) -> dict[Any, dict[str, Any]]:
    """The groups' sums added up per `key(row)` (rows whose key is None are left out)."""
    folded: dict[Any, dict[str, Any]] = {}
    for row in groups:
        k = key(row)
        if k is None:
            continue
        into = folded.get(k)
        if into is None:
            folded[k] = {name: row[name] or 0 for name in _SUMS}
        else:
            for name in _SUMS:
                into[name] += row[name] or 0
    return folded


def _buckets(groups: list[dict[str, Any]]) -> dict[date, dict[str, Any]]:
    """The sums of every bucket with conversations."""
    return _fold(groups, lambda row: _as_date(row["bucket"]))


def report_totals(buckets: dict[date, dict[str, Any]]) -> dict[str, Any]:
    """The period's figures, summed from its buckets."""
    c: dict[str, Any] = dict.fromkeys(_SUMS, 0)
    for row in buckets.values():
        for key in _SUMS:
            c[key] += row[key] or 0
    return {
        "conversations": c["conversations"],
        "bot_conversations": c["bot_conversations"],
        "contained": c["contained"],
        "containment_rate": _rate(c["contained"], c["bot_conversations"]),
        "handed_off": c["handed_off"],
        "requested": c["requested"],
        "resolved": c["resolved"],
        "first_response": {"count": c["frt_n"], "average_seconds": _average(c["frt_sum"], c["frt_n"])},
        "time_to_human": {"count": c["tth_n"], "average_seconds": _average(c["tth_sum"], c["tth_n"])},
        "handle_time": {"count": c["handle_n"], "average_seconds": _average(c["handle_sum"], c["handle_n"])},
        "sla": {"with_target": c["sla_with_target"], "met": c["sla_met"],
                "attainment": _rate(c["sla_met"], c["sla_with_target"])},
        "csat": {
            "requested": c["csat_requested"],
            "responses": c["csat_n"],
            "response_rate": _rate(c["csat_n"], c["csat_requested"]),
            "average": _average(c["csat_sum"], c["csat_n"], 2),
            "distribution": {str(score): c[f"csat_{score}"] for score in CSAT_SCORES},
        },
    }


def report_series(buckets: dict[date, dict[str, Any]], scope: ReportScope) -> list[dict[str, Any]]:
    """Every day (or week) of the period, also those without conversations: conversations,
    handoffs, contained, resolved, average first response and time to a person, CSAT."""
    series = []
    for start in _bucket_starts(scope.period, scope.bucket):
        row = buckets.get(start) or {}
        series.append({
            "start": start,
            "conversations": row.get("conversations", 0),
            "handed_off": row.get("handed_off", 0),
            "contained": row.get("contained", 0),
            "resolved": row.get("resolved", 0),
            "first_response_avg_seconds": _average(row.get("frt_sum"), row.get("frt_n", 0)),
            "time_to_human_avg_seconds": _average(row.get("tth_sum"), row.get("tth_n", 0)),
            "csat_average": _average(row.get("csat_sum"), row.get("csat_n", 0), 2),
        })
    return series


def report_agents(groups: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per assignee: conversations held, resolved, still open, handle and first-response
    times, CSAT; most conversations first."""
    per_agent = _fold(groups, lambda row: row["assignee_id"])
    people = {
        person["pk"]: person
        for person in get_user_model().objects.filter(pk__in=sorted(per_agent)).values(
            "pk", "username", "first_name", "last_name")
    }
    rows = [
        {
            "id": pk,
            "name": " ".join(p for p in (people[pk]["first_name"], people[pk]["last_name"]) if p)
            or people[pk]["username"],
            "conversations": c["conversations"],
            "resolved": c["resolved"],
            "open": c["open"],
            "handle_avg_seconds": _average(c["handle_sum"], c["handle_n"]),
            "first_response_avg_seconds": _average(c["frt_sum"], c["frt_n"]),
            "csat_average": _average(c["csat_sum"], c["csat_n"], 2),
            "_username": people[pk]["username"],
        }
        for pk, c in per_agent.items()
    ]
    rows.sort(key=lambda row: (-row["conversations"], row["_username"]))
    for row in rows:
        del row["_username"]
    return rows


def report_teams(groups: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per team (and the conversations of no team, last), by name."""
    per_team = _fold(groups, lambda row: row["team_id"] or 0)
    names = dict(Team.objects.filter(pk__in=sorted(k for k in per_team if k)).values_list("pk", "name"))
    rows = [
        {
            "id": pk or None,
            "name": names[pk] if pk else "No team",
            "conversations": c["conversations"],
            "handed_off": c["handed_off"],
            "resolved": c["resolved"],
            "first_response_avg_seconds": _average(c["frt_sum"], c["frt_n"]),
            "sla_attainment": _rate(c["sla_met"], c["sla_with_target"]),
            "csat_average": _average(c["csat_sum"], c["csat_n"], 2),
        }
        for pk, c in per_team.items()
    ]
    rows.sort(key=lambda row: (row["id"] is None, row["name"]))
    return rows


def report_summary(scope: ReportScope) -> dict[str, Any]:
    """Every section of the report for the scope (no campaigns: `report_campaigns`): two
    grouped queries over its conversations, one for the conversations and one for their
    handoffs, and the names of the teams and agents."""
    qs = report_conversations(scope)
    groups = _groups(qs, scope)
    buckets = _buckets(groups)
    return {
        "scope": scope.as_dict(),
        "totals": report_totals(buckets),
        **report_breakdowns(groups),
        **report_handoffs(qs),
        "series": report_series(buckets, scope),
        "agents": report_agents(groups),
        "teams": report_teams(groups),
        "pricing": report_pricing(qs),
    }


def report_pricing(qs: QuerySet[Conversation]) -> dict[str, Any]:
    """What WhatsApp reported charging for the messages sent in the scope's conversations:
    charged and free by type, per category, and their cost by the price table
    (conversations.pricing). One grouped query."""
    return messages_pricing(
        Message.objects.filter(conversation__in=qs.values("pk"), direction=Message.Direction.OUTBOUND, internal=False)
    )


def report_campaigns(scope: ReportScope) -> list[dict[str, Any]] | None:
    """Campaign delivery for admins (campaigns belong to no team); None for others."""
    if not scope.roles.admin:
        return None
    return campaign_report(start=scope.period.start, end=scope.period.end)


# --- one row per conversation ----------------------------------------------------------------------

CSV_HEADER = [
    "conversation", "created", "number", "channel", "status", "team", "assignee", "customer", "bot", "handed off",
    "handoff reason", "person asked for", "seconds to a person", "queued", "first response", "seconds to first response",
    "resolved", "handle seconds", "sla breached", "csat",
]


def report_rows(scope: ReportScope, *, after: int = 0, limit: int = 2000) -> list[dict[str, Any]]:
    """The next `limit` conversations of the report after id `after`, with what the CSV shows."""
    first_reason = Handoff.objects.filter(conversation_id=OuterRef("pk")).order_by("created_at", "id").values(
        "reason_code")[:1]
    rows = (
        _timed(report_conversations(scope).filter(pk__gt=after))
        .annotate(reason=Subquery(first_reason, output_field=CharField()))
        .order_by("pk")
        .values(
            "pk", "created_at", "number__name", "channel", "status", "team__name", "assignee__username",
            "contact__profile_name", "bot_session__bot__name", "escalation_ledger__handed_off_at", "reason",
            "escalation_ledger__human_requested_at", "tth", "queued_at", "first_response_at", "frt",
            "resolved_at", "handle", "sla_breached_at", "csat_score",
        )
    )
    return [dict(row) for row in rows[:limit]]

