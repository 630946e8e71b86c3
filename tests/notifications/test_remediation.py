"""The 7-day remediation clock, opened by WhatsApp's real-shaped health webhooks (through the
signed webhook endpoint) or by an admin, counted down with reminders, expired after 7 days
(frozen time), resolved by a person or by WhatsApp lifting the flag."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.core import mail

from agents.models import AuditEntry, BusinessHours
from agents.services.presence import presence_set
from bots.demo import demo_flow_create, demo_orders_load, demo_policy_create
from config.periods import period_from
from notifications.compliance import compliance_report
from notifications.models import Alert, RemediationCase
from notifications.services.remediation import remediation_cases_tick
from tests.bots.conftest import Customer
from tests.factories import ContactFactory, ConversationFactory, UserFactory
from tests.support import webhooks

pytestmark = pytest.mark.django_db(transaction=True)

UTC = ZoneInfo("UTC")
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def deliver(client, field: str, value: dict):
    response = webhooks.post(client, webhooks.envelope(value, field=field))
    assert response.status_code == 200


def flagged(limit: str = "TIER_1K") -> dict:
    return {"display_phone_number": webhooks.DISPLAY_NUMBER, "event": "FLAGGED", "current_limit": limit}


@pytest.fixture
def people(number, team, other_team, supervisor, admin_user):
    """The admin, the supervisor of the team working the number (a conversation of it), and a
    supervisor of a team that never worked it."""
    ConversationFactory(contact=ContactFactory(number=number), team=team)
    outsider = UserFactory(username="sales-lead")
    other_team.supervisors.add(outsider)
    return {"admin": admin_user, "supervisor": supervisor, "outsider": outsider}


def recipients() -> list[str]:
    return sorted(address for message in mail.outbox for address in message.to)


def test_flag_opens_a_case_that_reminds_and_expires_after_seven_days(client, number, people):
    with time_machine.travel(T0, tick=False):
        deliver(client, "phone_number_quality_update", flagged())
        deliver(client, "phone_number_quality_update", flagged())  # redelivered: stored once
        case = RemediationCase.objects.get(number=number)
        assert case.state == "open" and case.trigger == "flagged"
        assert case.deadline_at == T0 + timedelta(days=7) and case.days_left == 7
        assert case.health_event is not None and case.health_event.event == "FLAGGED"
        kinds = set(Alert.objects.filter(closed_at__isnull=True).values_list("kind", flat=True))
        assert kinds == {"number_red", "remediation_opened"}
        # Two alerts, each emailed once to the admin and the number's supervisor, never the outsider.
        assert recipients() == sorted(["admin@example.com", "supervisor@example.com"] * 2)

    with time_machine.travel(T0 + timedelta(days=2), tick=False):
        # Flagged again while the case runs: same case, the clock is not restarted, no new email.
        deliver(client, "phone_number_quality_update", flagged("TIER_250"))
        assert RemediationCase.objects.get().deadline_at == T0 + timedelta(days=7)
        assert Alert.objects.get(kind="number_red").occurrences == 2
        assert len(mail.outbox) == 4
        remediation_cases_tick()
        assert RemediationCase.objects.get().days_left == 5
        assert len(mail.outbox) == 4

    with time_machine.travel(T0 + timedelta(days=4, hours=1), tick=False):
        remediation_cases_tick()
        remediation_cases_tick()  # the reminder goes once
        case.refresh_from_db()
        assert case.days_left == 3 and case.reminded_days == 3
        assert Alert.objects.filter(kind="remediation_deadline").count() == 1
        assert "3 days left" in mail.outbox[-1].subject and len(mail.outbox) == 6

    with time_machine.travel(T0 + timedelta(days=6, hours=1), tick=False):
        remediation_cases_tick()
        assert Alert.objects.filter(kind="remediation_deadline").count() == 2
        assert "1 day left" in mail.outbox[-1].subject

    with time_machine.travel(T0 + timedelta(days=7, minutes=1), tick=False):
        assert remediation_cases_tick() == {"expired": 1}
        case.refresh_from_db()
        assert case.state == "expired" and case.days_left == 0 and case.closed_by is None
        assert case.closed_at == T0 + timedelta(days=7, minutes=1)
        assert case.evidence["verdict"]["conversations"] == 0
        assert {item["key"] for item in case.evidence["checklist"]} >= {"human_option", "closed_hours"}
        assert Alert.objects.get(kind="remediation_expired").closed_at is None
        assert not Alert.objects.filter(kind__in=["remediation_opened", "remediation_deadline"],
                                        closed_at__isnull=True).exists()
        assert remediation_cases_tick() == {}


def test_unflagged_resolves_the_case_the_flag_opened(client, number, people):
    with time_machine.travel(T0, tick=False):
        deliver(client, "phone_number_quality_update", flagged())
    with time_machine.travel(T0 + timedelta(days=3), tick=False):
        deliver(client, "phone_number_quality_update", {"display_phone_number": webhooks.DISPLAY_NUMBER,
                                                        "event": "UNFLAGGED", "current_limit": "TIER_1K"})
    case = RemediationCase.objects.get()
    number.refresh_from_db()
    assert number.quality_rating == "GREEN"
    assert case.state == "resolved" and case.closed_by is None and "UNFLAGGED" in case.resolution
    assert not Alert.objects.filter(closed_at__isnull=True).exists()


def test_account_update_naming_the_escalation_path_opens_a_case(client, number, people):
    deliver(client, "account_update", {"phone_number": webhooks.DISPLAY_NUMBER, "event": "ACCOUNT_VIOLATION",
                                       "violation_info": {"violation_type": "SCAM"}})
    assert not RemediationCase.objects.exists()

    deliver(client, "account_update", {
        "phone_number": webhooks.DISPLAY_NUMBER, "event": "ACCOUNT_VIOLATION",
        "violation_info": {"violation_type": "AUTOMATED_CUSTOMER_SERVICE_WITHOUT_HUMAN_ESCALATION"},
    })
    case = RemediationCase.objects.get()
    assert case.trigger == "account_update" and "HUMAN_ESCALATION" in case.reason
    assert case.health_event.field == "account_update"


def test_account_restriction_raises_an_alert(client, number, people):
    deliver(client, "account_update", {
        "phone_number": webhooks.DISPLAY_NUMBER, "event": "ACCOUNT_RESTRICTION",
        "restriction_info": [{"restriction_type": "RESTRICTED_BIZ_INITIATED_MESSAGING", "expiration": 1893456000}],
    })
    alert = Alert.objects.get(kind="account_restricted")
    assert "RESTRICTED_BIZ_INITIATED_MESSAGING" in alert.detail and alert.severity == "critical"
    assert not RemediationCase.objects.exists()


def test_admin_opens_and_resolves_a_case_through_the_api(api, number, people):
    api.force_authenticate(people["supervisor"])
    assert api.post(f"/api/v1/compliance/numbers/{number.pk}/cases/", {"reason": "x"}, format="json").status_code == 403

    api.force_authenticate(people["admin"])
    opened = api.post(f"/api/v1/compliance/numbers/{number.pk}/cases/",
                      {"reason": "WhatsApp's email of March 2"}, format="json")
    assert opened.status_code == 201
    body = opened.json()
    assert body["trigger"] == "admin" and body["opened_by"] == "admin" and body["days_left"] == 7
    again = api.post(f"/api/v1/compliance/numbers/{number.pk}/cases/", {"reason": "twice"}, format="json")
    assert again.status_code == 200 and again.json()["id"] == body["id"]
    listed = api.get("/api/v1/compliance/numbers/").json()
    assert listed[0]["open_case"]["id"] == body["id"]

    ConversationFactory(contact=ContactFactory(number=number))  # evidence counts what came after opening
    blank = api.post(f"/api/v1/compliance/cases/{body['id']}/resolve/", {"resolution": ""}, format="json")
    assert blank.status_code == 400 and "resolution" in blank.json()["fields"]
    resolved = api.post(f"/api/v1/compliance/cases/{body['id']}/resolve/",
                        {"resolution": "Fallback phone added; evening cover"}, format="json")
    assert resolved.status_code == 200
    assert resolved.json()["state"] == "resolved" and resolved.json()["closed_by"] == "admin"
    assert resolved.json()["evidence"]["verdict"]["conversations"] == 1
    late = api.post(f"/api/v1/compliance/cases/{body['id']}/resolve/", {"resolution": "again"}, format="json")
    assert late.status_code == 409 and late.json()["code"] == "invalid_state"
    assert set(AuditEntry.objects.values_list("action", flat=True)) >= {"remediation.open", "remediation.resolve"}
    assert not Alert.objects.filter(kind="remediation_opened", closed_at__isnull=True).exists()


def test_a_closed_hours_request_through_the_webhook_is_a_valid_fallback_not_a_gap(client, graph, number, team, agent,
                                                                                admin_user):
    """The real path: the demo bot, the team closed on Saturday, a customer asking for a
    person gets the fallback contact; the compliance monitor counts it as reached."""
    demo_orders_load()
    policy = demo_policy_create(team=team)
    demo_flow_create(number=number)
    presence_set(user=agent, presence="online")
    team.time_zone = "UTC"
    team.save()
    for weekday in range(5):
        BusinessHours.objects.create(team=team, weekday=weekday, opens=time(9), closes=time(17))
    customer = Customer(client, graph)
    saturday_noon = datetime(2026, 3, 7, 12, 0, tzinfo=UTC)
    with time_machine.travel(saturday_noon, tick=True):
        customer.says("hi")
        customer.says("human")
    handoff = customer.conversation.handoffs.get()
    assert handoff.fallback_sent and handoff.policy_id == policy.pk

    with time_machine.travel(saturday_noon + timedelta(hours=5), tick=False):
        report = compliance_report(user=admin_user, number=number,
                                   period=period_from(tz="UTC", default_days=7))
    verdict = report["verdict"]
    assert verdict["bot_conversations"] == 1 and verdict["human_offered"] == 1
    assert verdict["requested"] == 1 and verdict["valid_fallback"] == 1 and verdict["reached"] == 1
    assert verdict["status"] == "clear" and report["gaps"] == []
