"""The demo's past conversations: loaded once by `load_demo`, through the lifecycle, all in
the past, with gaps on both numbers and the flagged sales line counting down its case."""

from __future__ import annotations

import io
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.db.models import Max, Min

from agents.reports import report_scope, report_summary
from config.periods import period_from
from conversations.models import Conversation, ConversationEvent, Message, WhatsAppNumber
from notifications import demo_history
from notifications.compliance import compliance_report
from notifications.models import Alert, RemediationCase

pytestmark = pytest.mark.django_db(transaction=True)
NOW = datetime(2026, 3, 20, 1, 30, tzinfo=ZoneInfo("UTC"))


def test_demo_history_is_loaded_once_with_gaps_and_a_flagged_number(settings):
    settings.WHATSAPP_API_BASE_IS_SET = False
    with time_machine.travel(NOW, tick=False):
        out = io.StringIO()
        call_command("load_demo", "--port", "8765", stdout=out)
        call_command("load_demo", "--port", "8765", stdout=io.StringIO())
        assert "Demo history: 250 past conversations" in out.getvalue()
        assert Conversation.objects.count() == 250

        history = Conversation.objects.filter(contact__wa_id__startswith=demo_history.WA_PREFIX)
        assert set(history.values_list("status", flat=True)) == {"resolved"}
        span = history.aggregate(first=Min("created_at"), last=Max("created_at"))
        assert span["first"] >= NOW - timedelta(days=31) and span["last"] <= NOW - timedelta(days=1)
        assert Message.objects.filter(created_at__gt=NOW).count() == 0
        assert ConversationEvent.objects.filter(created_at__gt=NOW - timedelta(hours=1)).count() == 0

        admin = get_user_model().objects.get(username="admin")
        period = period_from(tz="UTC", default_days=30)
        support = WhatsAppNumber.objects.get(is_default=True)
        sales = WhatsAppNumber.objects.get(phone_number_id=demo_history.SALES_NUMBER["phone_number_id"])

        good = compliance_report(user=admin, number=support, period=period)["verdict"]
        assert good["conversations"] == 200 and good["status"] == "gaps"
        assert good["valid_fallback"] > 0 and good["reached_rate"] > 80
        assert good["gaps"]["no_fallback_contact"] == 0 and 0 < good["gap_total"] < 25

        flagged = compliance_report(user=admin, number=sales, period=period)
        assert flagged["verdict"]["gaps"]["no_offer"] > 0 and flagged["verdict"]["gaps"]["no_fallback_contact"] > 0
        assert not next(item for item in flagged["checklist"] if item["key"] == "closed_hours")["ok"]
        assert [e["event"] for e in flagged["health"]["history"]] == ["FLAGGED", "UPGRADE"]
        case = RemediationCase.objects.get(number=sales)
        assert case.state == "open" and case.trigger == "flagged" and case.days_left == 5
        assert case.deadline_at == NOW - timedelta(days=2) + timedelta(days=7)
        assert set(Alert.objects.filter(closed_at__isnull=True).values_list("kind", flat=True)) == {
            "number_red", "remediation_opened"}
        sales.refresh_from_db()
        assert sales.quality_rating == "RED"

        totals = report_summary(report_scope(user=admin, period=period))["totals"]
        assert totals["conversations"] == 250
        assert 20 < totals["containment_rate"] < 60
        assert totals["csat"]["responses"] > 0 and totals["first_response"]["count"] > 50
