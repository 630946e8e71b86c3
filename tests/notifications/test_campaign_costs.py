"""Campaign costs (an estimate before it starts from the price table, what WhatsApp reported
after) and the per-user marketing cap (131049): shown as "frequency cap", never retried in
the same campaign, reached again by a later one."""

from __future__ import annotations

import time
from datetime import timedelta
from decimal import Decimal

import pytest

from conversations.models import Message
from conversations.pricing import country_of
from conversations.services.message_status import status_record
from notifications.campaign_reports import campaign_delivery_report
from notifications.models import Campaign, MessagePrice
from notifications.pricing import campaign_cost_estimate
from notifications.selectors import campaign_stats, recipient_failure
from notifications.services import campaign_sending
from notifications.services.consent import consent_opt_in
from tests.factories import ContactFactory
from tests.notifications.test_campaigns import promo_campaign, run, sent_to

pytestmark = pytest.mark.django_db


@pytest.fixture
def prices(db):
    MessagePrice.objects.create(category="marketing", country="BR", price=Decimal("0.0625"))
    MessagePrice.objects.create(category="marketing", country="DE", price=Decimal("0.1365"))
    MessagePrice.objects.create(category="marketing", country="", price=Decimal("0.1000"))


def vip(number, wa_id: str = "", user_id: str = ""):
    contact = ContactFactory(number=number, wa_id=wa_id, user_id=user_id, profile_name="Ana Lima", tags=["vip"])
    consent_opt_in(contact=contact, category="marketing", source="import")
    return contact


def test_countries_come_from_the_phone_number_or_the_user_id_prefix():
    assert country_of(wa_id="5511987654321") == "BR"
    assert country_of(wa_id="4915123456789") == "DE"
    assert country_of(wa_id="14155550123") == "US"
    assert country_of(user_id="PT.1502576394655843") == "PT"
    assert country_of(wa_id="", user_id="") == ""


def test_the_estimate_before_start_prices_each_recipient_by_country(number, promo_template, prices):
    vip(number, "5511987650001")
    vip(number, "5511987650002")
    vip(number, "4915123450001")
    vip(number, "", "IN.99887766")  # no phone: the user id's country, priced at the any-country rate
    campaign = promo_campaign(number, promo_template)
    estimate = campaign_cost_estimate(campaign=campaign)
    assert estimate["category"] == "marketing"
    assert estimate["recipients"] == 4
    assert estimate["by_country"] == {"BR": 2, "DE": 1, "IN": 1}
    assert estimate["cost"] == {"USD": "0.3615"}  # 2 × 0.0625 + 0.1365 + 0.1000
    assert campaign_stats(campaign=campaign)["cost"]["actual"] is None


def test_a_category_without_any_rate_is_counted_as_unpriced(number, promo_template):
    vip(number, "5511987650003")
    estimate = campaign_cost_estimate(campaign=promo_campaign(number, promo_template))
    assert estimate["cost"] == {}
    assert estimate["unpriced"] == 1


def test_after_sending_the_actual_cost_comes_from_the_reported_pricing(
    graph, number, promo_template, prices, django_capture_on_commit_callbacks
):
    brazil = vip(number, "5511987650004")
    germany = vip(number, "4915123450002")
    campaign = run(promo_campaign(number, promo_template), django_capture_on_commit_callbacks)
    assert campaign.cost_estimate["cost"] == {"USD": "0.1990"}
    for contact, pricing in (
        (brazil, {"pricing_model": "PMP", "category": "marketing", "type": "regular", "billable": True}),
        (germany, {"pricing_model": "PMP", "category": "marketing", "type": "free_entry_point", "billable": False}),
    ):
        message = Message.objects.get(conversation__contact=contact)
        status_record(number=number, item={"id": message.provider_message_id, "status": "sent",
                                           "timestamp": str(int(time.time())), "recipient_id": contact.wa_id,
                                           "pricing": pricing})
    actual = campaign_stats(campaign=campaign)["cost"]["actual"]
    assert actual["charged"] == 1
    assert actual["free"] == 1
    assert actual["by_type"] == {"regular": 1, "free_entry_point": 1}
    assert actual["cost"] == {"USD": "0.0625"}
    row = campaign_delivery_report(start=campaign.started_at.replace(year=2000), end=campaign.started_at.replace(
        year=2100))[0]
    assert row["cost"]["by_category"]["marketing"]["messages"] == 1


def test_frequency_cap_is_shown_as_such_and_not_retried_in_the_same_campaign(
    graph, number, promo_template, django_capture_on_commit_callbacks
):
    capped = vip(number, "5511987650005")
    graph.error(131049, "This message was not delivered to maintain healthy ecosystem engagement.",
                details="Message failed to send in order to maintain healthy ecosystem engagement.")
    campaign = run(promo_campaign(number, promo_template), django_capture_on_commit_callbacks)
    assert campaign.state == "completed"
    message = Message.objects.get(conversation__contact=capped)
    assert message.status == "failed"
    assert message.error_code == "131049"
    assert message.next_attempt_at is None
    assert "Frequency cap" in message.error_text
    stats = campaign_stats(campaign=campaign)
    assert stats["failure_codes"] == {"frequency cap": 1}
    report = campaign_delivery_report(start=campaign.started_at.replace(year=2000),
                                      end=campaign.started_at.replace(year=2100))
    assert report[0]["failed_by_reason"] == {"frequency cap": 1}

    # Running the campaign again sends nothing more to them.
    Campaign.objects.filter(pk=campaign.pk).update(state="running", completed_at=None)
    with django_capture_on_commit_callbacks(execute=True):
        campaign_sending.campaign_run_slice(campaign_id=campaign.pk, budget_seconds=1)
    assert len(sent_to(graph)) == 1
    assert Message.objects.filter(conversation__contact=capped).count() == 1

    # A later campaign (a day on) reaches them.
    Message.objects.filter(pk=message.pk).update(created_at=message.created_at - timedelta(days=1))
    later = run(promo_campaign(number, promo_template, name="Summer promo"), django_capture_on_commit_callbacks)
    assert later.state == "completed"
    assert sent_to(graph) == [capped.wa_id, capped.wa_id]
    assert Message.objects.filter(conversation__contact=capped, status="sent").count() == 1


def test_frequency_cap_in_a_failed_status_is_labelled_too(
    graph, number, promo_template, django_capture_on_commit_callbacks
):
    capped = vip(number, "5511987650006")
    campaign = run(promo_campaign(number, promo_template), django_capture_on_commit_callbacks)
    message = Message.objects.get(conversation__contact=capped)
    status_record(number=number, item={
        "id": message.provider_message_id, "status": "failed", "timestamp": str(int(time.time())),
        "recipient_id": capped.wa_id,
        "errors": [{"code": 131049, "title": "This message was not delivered to maintain healthy ecosystem "
                    "engagement.", "error_data": {"details": "Message failed to send."}}],
    })
    message.refresh_from_db()
    assert message.status == "failed"
    assert campaign_stats(campaign=campaign)["failure_codes"] == {"frequency cap": 1}
    row = campaign.recipients.get()
    assert recipient_failure(row)["label"] == "frequency cap"


def test_a_spanish_admin_reads_campaign_failures_in_spanish(
    client, admin_user, graph, number, promo_template, django_capture_on_commit_callbacks
):
    from agents.models import AgentProfile

    vip(number, "5511987650007")  # opted in: capped by WhatsApp
    ContactFactory(number=number, wa_id="5511987650008", tags=["vip"])  # no opt-in: skipped
    graph.error(131049, "This message was not delivered to maintain healthy ecosystem engagement.",
                details="Message failed to send in order to maintain healthy ecosystem engagement.")
    campaign = run(promo_campaign(number, promo_template), django_capture_on_commit_callbacks)
    AgentProfile.objects.update_or_create(user=admin_user, defaults={"ui_language": "es"})
    client.force_login(admin_user)

    rows = client.get(f"/api/v1/campaigns/{campaign.pk}/recipients/").json()["results"]
    errors = [row["error"] for row in rows]
    capped_error = next(e for e in errors if e["code"] == "131049")
    assert capped_error["label"] == "límite de frecuencia"
    assert capped_error["reason"].startswith("Límite de frecuencia: WhatsApp retuvo este mensaje de marketing")
    assert "maintain healthy ecosystem engagement" in capped_error["reason"]  # WhatsApp's words as given
    skipped_error = next(e for e in errors if e["code"] == "not_opted_in")
    assert skipped_error["reason"] == "Sin consentimiento de marketing vigente en el momento del envío."
    assert campaign_stats(campaign=campaign)["failure_codes"] == {"frequency cap": 1, "not_opted_in": 1}

    html = client.get("/desk/reports/", {"tz": "UTC", "period": "30d"}).content.decode()
    assert "límite de frecuencia: 1" in html and "frequency cap" not in html
