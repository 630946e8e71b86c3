"""Reports checked against figures computed by hand on a small fixture, the team scoping of
every section (an outsider supervisor sees nothing of another team), the viewer's time
zone, the API, the page with its SVG charts, and the formula-safe CSV export."""

from __future__ import annotations

import csv
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import time_machine
from asgiref.sync import async_to_sync

from agents.models import AuditEntry
from agents.reports import ReportRefused, report_scope, report_summary
from bots.models import Bot, BotSession, EscalationLedger, Handoff
from config.periods import period_from
from tests.factories import ContactFactory, ConversationFactory, UserFactory

UTC = ZoneInfo("UTC")
NOW = datetime(2026, 3, 20, 12, 0, tzinfo=UTC)


def at(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 3, day, hour, minute, tzinfo=UTC)


@pytest.fixture
def frozen():
    with time_machine.travel(NOW, tick=False):
        yield NOW


@pytest.fixture
def outsider_supervisor(db, other_team):
    user = UserFactory(username="sales-lead")
    other_team.supervisors.add(user)
    return user


@pytest.fixture
def world(frozen, number, team, other_team, agent, outsider):
    bot = Bot.objects.create(name="Helper", number=number)

    def conversation(name, created, *, team=None, bot_served=True, handoff=None, requested=False, replied=None,
                     **fields):
        c = ConversationFactory(contact=ContactFactory(number=number, profile_name=name), team=team,
                                created_at=created, **fields)
        if bot_served:
            BotSession.objects.create(conversation=c, bot=bot)
        if handoff:
            EscalationLedger.objects.create(conversation=c, handed_off_at=created, handoff_count=1,
                                            human_requested_at=created if requested else None,
                                            first_human_reply_at=replied)
            Handoff.objects.create(conversation=c, reason_code=handoff, suggested_team=team, created_at=created)
        return c

    c1 = conversation("=cmd|' /C calc'!A0", at(18, 10), team=team, handoff="keyword", requested=True,
                      status="resolved", queued_at=at(18, 10), first_response_at=at(18, 10, 5), assignee=agent,
                      assigned_at=at(18, 10, 2), resolved_at=at(18, 10, 32), csat_requested_at=at(18, 10, 33),
                      csat_score=3, first_response_due_at=at(18, 10, 10))
    c2 = conversation("@Bea", at(19, 9), team=team, handoff="keyword", requested=True, replied=at(19, 9, 15),
                      status="resolved", queued_at=at(19, 9), first_response_at=at(19, 9, 20), assignee=agent,
                      assigned_at=at(19, 9, 1), resolved_at=at(19, 10, 1), csat_requested_at=at(19, 10, 2),
                      csat_score=1, first_response_due_at=at(19, 9, 10), sla_breached_at=at(19, 9, 10))
    c3 = conversation("Contained", at(19, 2))  # the bot handled it alone; 22:00 the day before in New York
    c4 = conversation("Sales customer", at(19, 15), team=other_team, handoff="not_understood", status="resolved",
                      queued_at=at(19, 15), first_response_at=at(19, 15, 10), assignee=outsider,
                      assigned_at=at(19, 15, 5), resolved_at=at(19, 15, 25), csat_requested_at=at(19, 15, 26),
                      csat_score=2)
    conversation("Last month", datetime(2026, 2, 1, 9, 0, tzinfo=UTC), team=team)
    c6 = conversation("+Walk-in", at(20, 8), bot_served=False)
    return {"c1": c1, "c2": c2, "c3": c3, "c4": c4, "c6": c6}


def summary(user, **kwargs):
    tz = kwargs.pop("tz", "UTC")
    return report_summary(report_scope(user=user, period=period_from(tz=tz), **kwargs))


def test_figures_match_the_hand_computed_ones(world, admin_user):
    report = summary(admin_user)
    totals = report["totals"]
    assert totals["conversations"] == 5
    assert totals["bot_conversations"] == 4 and totals["contained"] == 1 and totals["containment_rate"] == 25.0
    assert totals["handed_off"] == 3 and totals["requested"] == 2 and totals["resolved"] == 3
    assert totals["first_response"] == {"count": 3, "average_seconds": pytest.approx((300 + 1200 + 600) / 3, abs=0.1)}
    assert totals["time_to_human"] == {"count": 2, "average_seconds": pytest.approx((300 + 900) / 2, abs=0.1)}
    assert totals["handle_time"] == {"count": 3, "average_seconds": pytest.approx((1800 + 3600 + 1200) / 3, abs=0.1)}
    assert totals["sla"] == {"with_target": 2, "met": 1, "attainment": 50.0}
    assert totals["csat"] == {"requested": 3, "responses": 3, "response_rate": 100.0, "average": 2.0,
                              "distribution": {"1": 1, "2": 1, "3": 1}}
    by_status = {row["status"]: row["count"] for row in report["by_status"]}
    assert by_status == {"bot": 2, "queued": 0, "assigned": 0, "resolved": 3}
    assert {row["channel"]: row["count"] for row in report["by_channel"]} == {"whatsapp": 5, "webchat": 0}
    assert [(r["reason"], r["count"]) for r in report["escalation_reasons"]] == [("keyword", 2), ("not_understood", 1)]
    assert {(r["team_name"], r["reason"], r["count"]) for r in report["handoffs_by_team"]} == {
        ("Support", "keyword", 2), ("Sales", "not_understood", 1)}
    days = {p["start"].isoformat(): p["conversations"] for p in report["series"] if p["conversations"]}
    assert days == {"2026-03-18": 1, "2026-03-19": 3, "2026-03-20": 1}
    assert len(report["series"]) == 30
    march_19 = next(p for p in report["series"] if p["start"].isoformat() == "2026-03-19")
    assert march_19["handed_off"] == 2 and march_19["contained"] == 1
    assert march_19["first_response_avg_seconds"] == pytest.approx((1200 + 600) / 2, abs=0.1)
    assert march_19["csat_average"] == 1.5
    agents = {row["id"]: row for row in report["agents"]}
    assert agents[world["c1"].assignee_id]["conversations"] == 2
    assert agents[world["c1"].assignee_id]["handle_avg_seconds"] == pytest.approx(2700, abs=0.1)
    assert {t["name"]: t["sla_attainment"] for t in report["teams"]} == {"No team": None, "Sales": None,
                                                                         "Support": 50.0}


def test_days_follow_the_viewers_time_zone(world, admin_user):
    report = summary(admin_user, tz="America/New_York")
    days = {p["start"].isoformat(): p["conversations"] for p in report["series"] if p["conversations"]}
    assert days == {"2026-03-18": 2, "2026-03-19": 2, "2026-03-20": 1}
    weeks = summary(admin_user, bucket="week")["series"]
    assert all(p["start"].weekday() == 0 for p in weeks)
    assert sum(p["conversations"] for p in weeks) == 5


def test_every_section_is_scoped_to_the_supervisors_teams(world, supervisor, outsider_supervisor, team, agent,
                                                         outsider):
    mine = summary(supervisor)
    theirs = summary(outsider_supervisor)
    # Support's supervisor: Support's conversations and the team-less ones, nothing of Sales.
    assert mine["totals"]["conversations"] == 4
    assert {t["name"] for t in mine["teams"]} == {"Support", "No team"}
    assert {a["id"] for a in mine["agents"]} == {agent.pk}
    assert {r["team_name"] for r in mine["handoffs_by_team"]} == {"Support"}
    assert theirs["totals"]["conversations"] == 3
    assert {t["name"] for t in theirs["teams"]} == {"Sales", "No team"}
    assert {a["id"] for a in theirs["agents"]} == {outsider.pk}
    assert theirs["totals"]["requested"] == 0 and theirs["totals"]["csat"]["distribution"] == {"1": 0, "2": 1, "3": 0}
    with pytest.raises(ReportRefused) as refused:
        summary(outsider_supervisor, team_id=team.pk)
    assert refused.value.code == "forbidden"
    with pytest.raises(ReportRefused):
        summary(outsider_supervisor, agent_id=agent.pk)
    assert summary(supervisor, team_id=team.pk)["totals"]["conversations"] == 2
    assert summary(supervisor, agent_id=agent.pk)["totals"]["conversations"] == 2


def test_reports_api(api, world, agent, supervisor, outsider_supervisor, admin_user, team):
    api.force_authenticate(agent)
    assert api.get("/api/v1/reports/summary/").status_code == 403
    api.force_authenticate(outsider_supervisor)
    refused = api.get("/api/v1/reports/summary/", {"team": team.pk})
    assert refused.status_code == 403 and refused.json()["code"] == "forbidden"
    assert api.get("/api/v1/reports/campaigns/").status_code == 403
    api.force_authenticate(supervisor)
    body = api.get("/api/v1/reports/summary/", {"start": "2026-03-18", "end": "2026-03-20", "tz": "UTC",
                                                "bucket": "day"}).json()
    assert body["scope"]["period"] == {"start": "2026-03-18", "end": "2026-03-20", "timezone": "UTC", "days": 3}
    assert body["totals"]["conversations"] == 4
    assert [p["start"] for p in body["series"]] == ["2026-03-18", "2026-03-19", "2026-03-20"]
    assert api.get("/api/v1/reports/summary/", {"bucket": "month"}).status_code == 400
    assert api.get("/api/v1/reports/summary/", {"start": "2025-01-01", "end": "2026-03-01"}).status_code == 400
    api.force_authenticate(admin_user)
    assert api.get("/api/v1/reports/campaigns/").json() == []


def test_reports_page_draws_charts_with_their_numbers(client, world, supervisor, agent):
    client.force_login(agent)
    assert client.get("/desk/reports/").status_code == 403
    client.force_login(supervisor)
    html = client.get("/desk/reports/", {"tz": "UTC"}).content.decode()
    assert html.count("<svg") >= 5
    assert 'id="total-conversations">4<' in html
    assert 'id="total-containment">33.3%' in html  # 1 of Support's and team-less 3 bot conversations
    assert "Sales customer" not in html


def _rows(response) -> list[dict]:
    async def read():
        return b"".join([chunk async for chunk in response.streaming_content])

    return list(csv.DictReader(async_to_sync(read)().decode().splitlines()))


def test_csv_export_has_one_row_per_conversation_and_escapes_formulas(client, world, supervisor):
    client.force_login(supervisor)
    response = client.get("/desk/reports/conversations.csv", {"tz": "UTC"})
    assert response["Content-Type"].startswith("text/csv")
    rows = {int(row["conversation"]): row for row in _rows(response)}
    assert set(rows) == {world[k].pk for k in ("c1", "c2", "c3", "c6")}
    assert rows[world["c1"].pk]["customer"] == "'=cmd|' /C calc'!A0"
    assert rows[world["c2"].pk]["customer"] == "'@Bea"
    assert rows[world["c6"].pk]["customer"] == "'+Walk-in"
    assert rows[world["c1"].pk]["seconds to first response"] == "300"
    assert rows[world["c2"].pk]["seconds to a person"] == "900"
    assert rows[world["c2"].pk]["handoff reason"] == "keyword" and rows[world["c2"].pk]["csat"] == "1"
    entry = AuditEntry.objects.get(action="report.export")
    assert entry.extra["rows"] == 4 and entry.actor == supervisor
    assert client.get("/desk/reports/conversations.csv", {"start": "2026-03-10", "end": "2026-03-01"}).status_code == 400


def test_timedelta_guard(world, admin_user):
    """A conversation answered before it was queued (taken straight from the bot earlier)
    counts no negative first response."""
    world["c6"].queued_at = NOW
    world["c6"].first_response_at = NOW - timedelta(minutes=5)
    world["c6"].save()
    assert summary(admin_user)["totals"]["first_response"]["count"] == 3


def test_charts_escape_every_label():
    from agents.charts import bar_chart, column_chart, line_chart

    hostile = '<script>alert("x")</script>'
    for svg in (bar_chart([(hostile, 3)], title=hostile), column_chart([hostile], {hostile: [2]}, title="t"),
                line_chart([hostile, "b"], {hostile: [1.0, None]}, title="t")):
        assert "<script>" not in svg and "&lt;script&gt;" in svg
        assert svg.startswith('<svg class="chart"') and svg.endswith("</svg>")
