"""The compliance monitor over crafted escalation histories: which conversations are gaps and
which are not, the verdict's figures, who sees what, and the API and page that show it."""

from __future__ import annotations

import csv
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import time_machine
from asgiref.sync import async_to_sync

from bots.models import Bot, BotSession, EscalationLedger, EscalationPolicy, Handoff
from config.periods import period_from
from conversations.models import Conversation
from notifications.compliance import compliance_gaps, compliance_report, compliance_verdict
from notifications.compliance_scope import compliance_conversations
from tests.factories import ContactFactory, ConversationFactory, UserFactory

UTC = ZoneInfo("UTC")
NOW = datetime(2026, 3, 20, 12, 0, tzinfo=UTC)
MIN = timedelta(minutes=1)


@pytest.fixture
def frozen():
    with time_machine.travel(NOW, tick=False):
        yield NOW


@pytest.fixture
def policy(db, team):
    return EscalationPolicy.objects.create(
        name="Support policy", is_default=True, target_team=team, human_reply_target_minutes=60,
        fallback_phone="+44 20 7946 0000", fallback_email="help@example.com",
    )


@pytest.fixture
def bare_policy(db):
    """A team policy someone saved without any contact (the admin form refuses it; old rows remain)."""
    return EscalationPolicy.objects.create(name="No contact", human_reply_target_minutes=60)


@pytest.fixture
def bot(db, number):
    return Bot.objects.create(name="Helper", number=number)


def streamed_lines(response) -> list[str]:
    """The lines of a streamed (async) response body."""
    async def read():
        return b"".join([chunk async for chunk in response.streaming_content])

    return async_to_sync(read)().decode().splitlines()


def history(number, *, bot=None, created, team=None, offered=None, requested=None, handed=None, replied=None,
            first_response=None, fallback_policy=None, policy=None):
    """A conversation as the bots and desk leave it: bot session, escalation ledger,
    handoff (with the fallback when `fallback_policy` is given) and response time."""
    conversation = ConversationFactory(contact=ContactFactory(number=number), team=team, created_at=created)
    if bot is not None:
        BotSession.objects.create(conversation=conversation, bot=bot)
    if any((offered, requested, handed, replied)):
        EscalationLedger.objects.create(conversation=conversation, human_offered_at=offered, human_requested_at=requested,
                                        handed_off_at=handed, first_human_reply_at=replied,
                                        handoff_count=1 if handed else 0)
    if handed:
        Handoff.objects.create(
            conversation=conversation, reason_code="keyword" if requested else "not_understood",
            policy=fallback_policy or policy, fallback_sent=fallback_policy is not None,
            agents_available=fallback_policy is None, created_at=handed,
        )
    if first_response:
        Conversation.objects.filter(pk=conversation.pk).update(first_response_at=first_response)
    return conversation


def test_gaps_found_and_not_found_on_crafted_histories(frozen, number, bot, policy, bare_policy, team):
    t = NOW - timedelta(days=2)
    in_time = history(number, bot=bot, created=t, offered=t, requested=t + MIN, handed=t + MIN, replied=t + 11 * MIN,
                      policy=policy)
    late = history(number, bot=bot, created=t, offered=t, requested=t, handed=t, replied=t + 3 * 60 * MIN, policy=policy)
    never = history(number, bot=bot, created=t, offered=t, requested=t, handed=t, policy=policy)
    fallback = history(number, bot=bot, created=t, offered=t, requested=t, handed=t, fallback_policy=policy)
    no_contact = history(number, bot=bot, created=t, offered=t, requested=t, handed=t, fallback_policy=bare_policy)
    # Asked at 22:00 with the team closed: the fallback went out, a person answered next morning.
    closed_hours = history(number, bot=bot, created=t, offered=t, requested=t.replace(hour=22),
                           handed=t.replace(hour=22), replied=t.replace(hour=22) + 11 * 60 * MIN,
                           fallback_policy=policy)
    offered_only = history(number, bot=bot, created=t, offered=t)
    no_offer = history(number, bot=bot, created=t)
    waiting = history(number, bot=bot, created=NOW - 30 * MIN, offered=NOW - 30 * MIN, requested=NOW - 20 * MIN,
                      handed=NOW - 20 * MIN, policy=policy)
    # Answered by an agent's reply recorded on the conversation (the desk's first response).
    by_first_response = history(number, bot=bot, created=t, offered=t, requested=t, handed=t, policy=policy,
                                first_response=t + 5 * MIN)
    history(number, bot=bot, created=NOW - timedelta(days=100))  # before the period
    people_only = history(number, created=t, requested=t, handed=t, replied=t + 2 * MIN, policy=policy)

    period = period_from(tz="UTC", default_days=30)
    qs = compliance_conversations(user=None, number=number, start=period.start, end=period.end)
    verdict = compliance_verdict(qs=qs, target=3600)
    gaps = {(g["conversation"], g["kind"]) for g in compliance_gaps(qs=qs, target=3600)}

    assert gaps == {
        (late.pk, "late"),
        (never.pk, "unanswered"),
        (no_contact.pk, "unanswered"),
        (no_contact.pk, "no_fallback_contact"),
        (no_offer.pk, "no_offer"),
    }
    assert verdict["gaps"] == {"unanswered": 2, "late": 1, "no_offer": 1, "no_fallback_contact": 1}
    assert verdict["status"] == "gaps" and verdict["gap_total"] == 5
    assert verdict["conversations"] == 11
    assert verdict["bot_conversations"] == 10
    assert verdict["human_offered"] == 9  # all bot conversations but `no_offer`
    assert verdict["requested"] == 9
    # Answered: in_time, late, closed_hours, by_first_response, people_only; plus the valid fallback never answered.
    assert verdict["answered"] == 5
    assert verdict["answered_in_time"] == 3
    assert verdict["valid_fallback"] == 2  # fallback, closed_hours
    assert verdict["reached"] == 6
    assert verdict["waiting"] == 1
    assert verdict["wait_longest_seconds"] == pytest.approx(11 * 3600)
    expected_average = (10 + 180 + 11 * 60 + 5 + 2) * 60 / 5
    assert verdict["wait_average_seconds"] == pytest.approx(expected_average, abs=1)
    assert {in_time.pk, fallback.pk, closed_hours.pk, offered_only.pk, waiting.pk, by_first_response.pk,
            people_only.pk}.isdisjoint({pk for pk, _ in gaps})


def test_a_request_answered_before_the_target_passes_and_after_it_is_late(frozen, number, bot, policy):
    t = NOW - timedelta(days=1)
    policy.human_reply_target_minutes = 15
    policy.save()
    history(number, bot=bot, created=t, offered=t, requested=t, handed=t, replied=t + 14 * MIN, policy=policy)
    late = history(number, bot=bot, created=t, offered=t, requested=t, handed=t, replied=t + 16 * MIN, policy=policy)
    report = compliance_report(user=None, number=number, period=period_from(tz="UTC"))
    assert report["target_seconds"] == 15 * 60
    assert [(g["conversation"], g["kind"]) for g in report["gaps"]] == [(late.pk, "late")]
    assert report["verdict"]["answered_in_time"] == 1


def test_the_period_follows_the_viewers_time_zone(frozen, number, bot):
    # 23:30 UTC on March 18 is already March 19 in Madrid.
    late_evening = datetime(2026, 3, 18, 23, 30, tzinfo=UTC)
    history(number, bot=bot, created=late_evening)
    march_19 = {"start": datetime(2026, 3, 19).date(), "end": datetime(2026, 3, 19).date()}
    in_madrid = period_from(tz="Europe/Madrid", **march_19)
    in_utc = period_from(tz="UTC", **march_19)
    count = lambda p: compliance_conversations(user=None, number=number, start=p.start, end=p.end).count()  # noqa: E731
    assert count(in_madrid) == 1
    assert count(in_utc) == 0


def test_supervisors_see_the_figures_of_their_teams_only(frozen, number, bot, policy, team, other_team, supervisor):
    t = NOW - timedelta(days=1)
    ours = history(number, bot=bot, created=t, team=team, requested=t, handed=t, policy=policy)
    theirs = history(number, bot=bot, created=t, team=other_team, requested=t, handed=t, policy=policy)
    outsider_supervisor = UserFactory(username="sales-lead")
    other_team.supervisors.add(outsider_supervisor)
    period = period_from(tz="UTC")

    mine = compliance_report(user=supervisor, number=number, period=period)
    other = compliance_report(user=outsider_supervisor, number=number, period=period)

    assert {g["conversation"] for g in mine["gaps"]} == {ours.pk}
    assert {g["conversation"] for g in other["gaps"]} == {theirs.pk}
    assert mine["verdict"]["requested"] == other["verdict"]["requested"] == 1


# --- the API and the page -------------------------------------------------------------------------


def test_compliance_api_is_for_supervisors_and_admins(api, frozen, number, bot, policy, team, agent, supervisor,
                                                     admin_user):
    t = NOW - timedelta(days=1)
    gap = history(number, bot=bot, created=t, team=team, offered=t, requested=t, handed=t, policy=policy)
    api.force_authenticate(agent)
    assert api.get("/api/v1/compliance/numbers/").status_code == 403
    assert api.get(f"/api/v1/compliance/numbers/{number.pk}/").json()["code"] == "forbidden"

    api.force_authenticate(supervisor)
    listed = api.get("/api/v1/compliance/numbers/").json()
    assert [(n["id"], n["open_case"]) for n in listed] == [(number.pk, None)]
    body = api.get(f"/api/v1/compliance/numbers/{number.pk}/", {"start": "2026-03-01", "end": "2026-03-20",
                                                                 "tz": "Europe/Lisbon"}).json()
    assert body["period"] == {"start": "2026-03-01", "end": "2026-03-20", "timezone": "Europe/Lisbon", "days": 20}
    assert body["verdict"]["gaps"]["unanswered"] == 1
    assert body["gaps"][0]["conversation"] == gap.pk and body["gaps"][0]["link"] == f"/desk/c/{gap.pk}/"
    assert body["policy"] == "Support policy" and body["target_seconds"] == 3600
    assert {item["key"] for item in body["checklist"]} >= {"human_option", "keywords", "closed_hours", "platform_test"}

    bad = api.get(f"/api/v1/compliance/numbers/{number.pk}/", {"tz": "Mars/Olympus"})
    assert bad.status_code == 400 and "tz" in bad.json()["fields"]
    backwards = api.get(f"/api/v1/compliance/numbers/{number.pk}/", {"start": "2026-03-10", "end": "2026-03-01"})
    assert backwards.status_code == 400 and "start" in backwards.json()["fields"]
    assert api.get("/api/v1/compliance/numbers/999999/").status_code == 404


def test_compliance_page_shows_the_verdict_and_links_each_gap(client, frozen, number, bot, policy, team, supervisor,
                                                             agent):
    t = NOW - timedelta(days=1)
    gap = history(number, bot=bot, created=t, team=team, offered=t, requested=t, handed=t, policy=policy)
    gap.contact.profile_name = "<script>alert(1)</script>"
    gap.contact.save()
    client.force_login(agent)
    assert client.get("/desk/compliance/").status_code == 403
    client.force_login(supervisor)
    page = client.get("/desk/compliance/", {"tz": "UTC"})
    html = page.content.decode()
    assert page.status_code == 200
    assert f'href="/desk/c/{gap.pk}/"' in html
    assert "<script>alert(1)</script>" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert 'id="verdict-status">1 gap<' in html
    assert "<svg" in html


def test_evidence_report_html_and_formula_safe_csv(client, frozen, number, bot, policy, team, other_team, admin_user):
    t = NOW - timedelta(days=1)
    team.name = "=HYPERLINK(\"http://evil\")"
    team.save()
    gap = history(number, bot=bot, created=t, team=team, offered=t, requested=t, handed=t, policy=policy)
    answered = history(number, bot=bot, created=t, team=other_team, offered=t, requested=t, handed=t,
                       replied=t + 5 * MIN, policy=policy)
    client.force_login(admin_user)
    html = client.get(f"/desk/compliance/{number.pk}/evidence/", {"tz": "UTC"}).content.decode()
    assert f"#{gap.pk}" in html and "Human-escalation evidence" in html

    response = client.get(f"/desk/compliance/{number.pk}/evidence.csv", {"tz": "UTC"})
    assert response["Content-Type"].startswith("text/csv")
    rows = {row["conversation"]: row for row in csv.DictReader(streamed_lines(response))}
    assert set(rows) == {str(gap.pk), str(answered.pk)}
    assert rows[str(gap.pk)]["gaps"] == "unanswered"
    assert rows[str(gap.pk)]["team"].startswith("'=HYPERLINK")
    assert rows[str(answered.pk)]["seconds to a person"] == "300" and rows[str(answered.pk)]["gaps"] == ""
    from agents.models import AuditEntry

    assert AuditEntry.objects.filter(action="compliance.export").count() == 2


def test_evidence_report_says_when_its_figures_are_a_supervisors_only(client, frozen, number, supervisor, admin_user):
    client.force_login(supervisor)
    assert "figures limited to the conversations this user may see" in client.get(
        f"/desk/compliance/{number.pk}/evidence/").content.decode()
    client.force_login(admin_user)
    assert "figures limited" not in client.get(f"/desk/compliance/{number.pk}/evidence/").content.decode()
    assert client.get(f"/desk/compliance/{number.pk}/evidence/", {"start": "soon"}).status_code == 404
