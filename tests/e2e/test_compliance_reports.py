"""The compliance and reports pages in Chromium against a real server with the demo's
history: the flagged sales line with its countdown, checklist and gaps (each opening its
conversation), the alert banner (and a new alert arriving live from a quality webhook), an
admin resolving the case; the reports page with its SVG charts, a team filter and the CSV.
A screenshot of each page lands in tests/e2e/artifacts/."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import screenshot
from tests.support import webhooks

pytestmark = pytest.mark.e2e
SALES_LINE = "Demo sales line (+15550100002)"


def _compliance(page, server, number_label: str = SALES_LINE):
    page.goto(f"{server.base}/desk/compliance/")
    page.wait_for_url(re.compile(r"tz="))  # the page reloads once in the viewer's time zone
    page.select_option("#filter-number", label=number_label)
    page.click("#compliance-filters button[type=submit]")
    page.wait_for_load_state("load")


def test_supervisor_sees_the_flagged_number_its_countdown_gaps_and_live_alerts(server, sign_in):
    page = sign_in("supervisor")
    banner = page.locator("#alert-banner")
    expect(banner.locator(".alert-card", has_text="Demo sales line turned red")).to_be_visible(timeout=10000)
    expect(banner.locator(".alert-card", has_text="Remediation case opened")).to_be_visible()

    _compliance(page, server)
    expect(page.locator("#quality-rating")).to_have_text("Red")
    expect(page.locator("#verdict-status")).to_contain_text("gap")
    expect(page.locator('#checklist li[data-key="closed_hours"]')).to_have_class(re.compile("fail"))
    expect(page.locator("#case-countdown")).to_have_text(re.compile(r"^\d+d( \d+h)?$|^\d+h \d+m$"))
    expect(page.locator("#health-history tbody tr", has_text="FLAGGED")).to_be_visible()
    assert page.locator("#gap-list tr.gap.no_offer").count() > 0
    assert page.locator("#gap-list tr.gap.no_fallback_contact").count() > 0
    expect(page.locator("svg.chart")).to_have_count(1)
    screenshot(page, "compliance")

    # A new flag arrives while the page is open: the banner shows it without a reload.
    status = server.webhook(webhooks.envelope(
        {"display_phone_number": "15550100001", "event": "FLAGGED", "current_limit": "TIER_1K"},
        field="phone_number_quality_update", waba_id="200000000000001"))
    assert status == 200
    expect(banner.locator(".alert-card", has_text="Demo support line turned red")).to_be_visible(timeout=20000)

    first_gap = page.locator("#gap-list tr.gap a").first
    conversation = first_gap.get_attribute("href")
    first_gap.click()
    page.wait_for_url(f"{server.base}{conversation}")
    expect(page.locator("#transcript .msg").first).to_be_visible(timeout=10000)
    assert page.errors == []


def test_admin_resolves_the_case_saying_what_changed(server, sign_in):
    page = sign_in("admin")
    _compliance(page, server)
    page.fill("#resolve-text", "Fallback phone added to the sales policy; the bot's FAQ answers offer a person")
    page.click("#resolve-form button[type=submit]")
    expect(page.locator("#no-open-case")).to_be_visible(timeout=10000)
    row = page.locator("#cases tbody tr").first
    expect(row).to_contain_text("Resolved")
    expect(row).to_contain_text("admin")
    expect(row).to_contain_text("Fallback phone added")
    alerts = page.context.request.get(f"{server.base}/api/v1/alerts/").json()
    assert not [a for a in alerts if a["kind"] == "remediation_opened" and "Demo sales line" in a["title"]]
    html = page.context.request.get(server.base + page.locator("#evidence-html").get_attribute("href"))
    assert html.status == 200 and "Human-escalation evidence" in html.text()
    assert page.errors == []


def test_reports_page_draws_charts_filters_by_team_and_exports_csv(server, sign_in):
    page = sign_in("supervisor")
    page.goto(f"{server.base}/desk/reports/")
    page.wait_for_url(re.compile(r"tz="))
    total = int(page.locator("#total-conversations").inner_text())
    assert total >= 250
    assert page.locator("svg.chart").count() >= 6
    expect(page.locator("#series-table tbody tr")).to_have_count(30)
    expect(page.locator("#total-containment")).to_contain_text("%")
    screenshot(page, "reports")

    page.select_option("#filter-team", label="Billing")
    page.wait_for_url(re.compile(r"team=\d+"))
    expect(page.locator("#teams-table tbody tr")).to_have_count(1)
    expect(page.locator("#teams-table tbody tr")).to_contain_text("Billing")
    assert int(page.locator("#total-conversations").inner_text()) < total

    csv = page.context.request.get(server.base + page.locator("#export-csv").get_attribute("href"))
    assert csv.status == 200 and csv.headers["content-type"].startswith("text/csv")
    lines = csv.text().splitlines()
    assert lines[0].startswith("conversation,created,number,channel,status,team")
    assert len(lines) > 20 and all(",Billing," in line for line in lines[1:])
    assert page.errors == []
