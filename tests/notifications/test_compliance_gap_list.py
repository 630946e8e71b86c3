"""The compliance page's gap list: the newest gaps of each kind with the total, and every gap
of one kind page by page; the same gaps whether the verdict's scan collects them (PostgreSQL)
or a query of their own does."""

from __future__ import annotations

from datetime import timedelta

import pytest

from config.periods import period_from
from notifications.compliance import compliance_gaps, compliance_report
from notifications.compliance_scope import compliance_conversations
from tests.notifications.test_compliance import MIN, NOW, bare_policy, bot, frozen, history, policy  # noqa: F401


@pytest.fixture
def gaps_of_every_kind(frozen, number, bot, policy, bare_policy, team):  # noqa: F811
    """Five `no_offer` gaps an hour apart (newest last), two unanswered requests, one late
    answer and a fallback without a contact (also unanswered)."""
    t = NOW - timedelta(days=3)
    no_offer = [history(number, bot=bot, created=t + i * 60 * MIN) for i in range(5)]
    unanswered = [history(number, bot=bot, created=t + i * MIN, offered=t, requested=t + i * MIN,
                          handed=t + i * MIN, team=team, policy=policy) for i in range(2)]
    late = history(number, bot=bot, created=t, offered=t, requested=t, handed=t, replied=t + 3 * 60 * MIN,
                   policy=policy)
    no_contact = history(number, bot=bot, created=t + 2 * MIN, offered=t, requested=t + 2 * MIN,
                         handed=t + 2 * MIN, fallback_policy=bare_policy)
    history(number, bot=bot, created=t, offered=t, requested=t, handed=t, replied=t + 5 * MIN, policy=policy)
    return {"no_offer": no_offer, "unanswered": unanswered, "late": late, "no_contact": no_contact}


def test_one_kind_page_by_page_newest_first_with_the_total(gaps_of_every_kind, number):
    no_offer = [c.pk for c in reversed(gaps_of_every_kind["no_offer"])]  # newest first
    period = period_from(tz="UTC")

    first = compliance_report(user=None, number=number, period=period, gap_limit=2, gap_kind="no_offer")
    second = compliance_report(user=None, number=number, period=period, gap_limit=2, gap_kind="no_offer", gap_page=2)
    last = compliance_report(user=None, number=number, period=period, gap_limit=2, gap_kind="no_offer", gap_page=3)
    beyond = compliance_report(user=None, number=number, period=period, gap_limit=2, gap_kind="no_offer",
                               gap_page=4)

    assert [g["conversation"] for g in first["gaps"]] == no_offer[:2]
    assert [g["conversation"] for g in second["gaps"]] == no_offer[2:4]
    assert [g["conversation"] for g in last["gaps"]] == no_offer[4:]
    assert beyond["gaps"] == []
    assert {g["kind"] for g in first["gaps"] + second["gaps"] + last["gaps"]} == {"no_offer"}
    assert first["gap_list"] == {"kind": "no_offer", "page": 1, "pages": 3, "shown": 2, "total": 5}
    assert last["gap_list"]["shown"] == 1
    # The verdict does not depend on the page.
    assert first["verdict"] == beyond["verdict"]
    assert first["verdict"]["gaps"] == {"unanswered": 3, "late": 1, "no_offer": 5, "no_fallback_contact": 1}


def test_the_newest_of_every_kind_with_the_total(gaps_of_every_kind, number):
    g = gaps_of_every_kind
    report = compliance_report(user=None, number=number, period=period_from(tz="UTC"), gap_limit=2)

    listed = [(item["conversation"], item["kind"]) for item in report["gaps"]]
    assert sorted(listed) == sorted([
        (g["no_offer"][4].pk, "no_offer"), (g["no_offer"][3].pk, "no_offer"),
        (g["no_contact"].pk, "unanswered"), (g["unanswered"][1].pk, "unanswered"),
        (g["late"].pk, "late"), (g["no_contact"].pk, "no_fallback_contact"),
    ])
    # Newest first; one conversation's kinds in a fixed order.
    assert [item["created_at"] for item in report["gaps"]] == sorted(
        (item["created_at"] for item in report["gaps"]), reverse=True)
    assert listed.index((g["no_contact"].pk, "unanswered")) < listed.index((g["no_contact"].pk, "no_fallback_contact"))
    assert report["gap_list"] == {"kind": None, "page": 1, "pages": 1, "shown": 6, "total": 10}


@pytest.mark.parametrize("kind", [None, "unanswered", "late", "no_offer", "no_fallback_contact"])
def test_the_report_lists_the_same_gaps_as_the_gap_query(gaps_of_every_kind, number, kind):
    period = period_from(tz="UTC")
    qs = compliance_conversations(user=None, number=number, start=period.start, end=period.end)
    for page in (1, 2):
        report = compliance_report(user=None, number=number, period=period, now=NOW, gap_limit=1, gap_kind=kind,
                                   gap_page=page)
        offset = page - 1 if kind else 0
        assert report["gaps"] == compliance_gaps(qs=qs, target=3600, now=NOW, limit=1, offset=offset, kind=kind)
        assert report["gaps"] or (page == 2 and kind in ("late", "no_fallback_contact"))


def test_an_unknown_kind_is_refused(gaps_of_every_kind, number):
    with pytest.raises(ValueError, match="No such kind"):
        compliance_report(user=None, number=number, period=period_from(tz="UTC"), gap_kind="nothing")


def test_the_page_links_each_kind_and_pages_through_it(client, gaps_of_every_kind, number, supervisor, admin_user):
    client.force_login(admin_user)
    html = client.get("/desk/compliance/", {"tz": "UTC", "number": number.pk}).content.decode()
    assert f'href="?tz=UTC&amp;number={number.pk}&amp;gap_kind=no_offer#gaps"' in html
    assert 'id="gap-count">The newest 10 of 10 gaps' in html

    page = client.get("/desk/compliance/", {"tz": "UTC", "number": number.pk, "gap_kind": "no_offer",
                                            "gap_page": "1"})
    html = page.content.decode()
    assert page.status_code == 200
    assert "page 1 of 1 (5 gaps, newest first)" in html
    assert html.count('class="gap no_offer"') == 5 and 'class="gap late"' not in html
    assert 'id="gap-pages"' not in html  # one page only

    bad = client.get("/desk/compliance/", {"tz": "UTC", "gap_kind": "<b>x</b>", "gap_page": "zzz"})
    assert bad.status_code == 200
    assert "No such kind of gap." in bad.content.decode() and "<b>x</b>" not in bad.content.decode()
