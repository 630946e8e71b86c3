"""Messaging limits per business portfolio: read from `whatsapp_business_manager_messaging_limit`
and `max_daily_conversations_per_business` (the older per-number fields still read), and
one budget for campaigns on all the portfolio's numbers."""

from __future__ import annotations

import pytest
from django.conf import settings as django_settings

from conversations.management.commands.run_embedded import PeriodicScheduler
from conversations.models import BusinessPortfolio, Contact, Conversation, Message
from notifications.compliance_cases import number_health
from notifications.models import MessageTemplate, NumberHealthEvent, TemplateStatus
from notifications.services.number_health import number_limits_refresh
from notifications.tasks import number_limits_refresh_all
from tests.factories import NumberFactory
from tests.notifications.conftest import PROMO_COMPONENTS
from tests.notifications.test_campaigns import make_contacts, promo_campaign, run, sent_to
from tests.support import webhooks

pytestmark = pytest.mark.django_db

SECOND_PHONE_NUMBER_ID = "1000000002"


@pytest.fixture
def portfolio(number):
    portfolio = BusinessPortfolio.objects.create(name="Acme", business_id="5550001", messaging_limit="TIER_2K")
    number.portfolio = portfolio
    number.messaging_limit = "TIER_10K"  # the number's own (older) limit: no longer what counts
    number.save()
    return portfolio


@pytest.fixture
def second_number(graph, portfolio):
    return NumberFactory(phone_number_id=SECOND_PHONE_NUMBER_ID, display_phone_number="15550002222", name="Sales",
                         api_base=graph.base_url, is_default=False, portfolio=portfolio, messaging_limit="TIER_10K")


def promo_for(number):
    """The promo template in another business account (a number of its own WABA)."""
    return MessageTemplate.objects.create(
        number=number, business_account_id=number.business_account_id, name="promo", language="en",
        category="MARKETING", components=PROMO_COMPONENTS, parameter_format="named",
        status=TemplateStatus.APPROVED, remote_id=f"90{number.pk}",
    )


def reached_earlier(number, n: int, prefix: str) -> None:
    """`n` people reached by a template on `number` within the last 24 h."""
    contacts = Contact.objects.bulk_create(
        [Contact(number=number, wa_id=f"{prefix}{i:04d}") for i in range(n)]
    )
    conversations = Conversation.objects.bulk_create(
        [Conversation(number=number, contact=c, status="resolved", resolved_at=c.created_at) for c in contacts]
    )
    Message.objects.bulk_create(
        [Message(conversation=c, direction="out", sender_kind="system", type="template", business_initiated=True,
                 status="delivered", text="earlier") for c in conversations]
    )


def test_two_numbers_of_one_portfolio_share_its_limit_in_campaigns(
    graph, number, second_number, portfolio, promo_template, django_capture_on_commit_callbacks
):
    portfolio.messaging_limit = "TIER_250"
    portfolio.save()
    reached_earlier(number, 244, "1555500")  # 244 of the portfolio's 250 already spent, all on the first number
    first = make_contacts(number, 4, prefix="1555501")
    second = make_contacts(second_number, 4, prefix="1555502")
    one = run(promo_campaign(number, promo_template), django_capture_on_commit_callbacks)
    # The same business account's template; the numbers share the portfolio.
    two = run(promo_campaign(second_number, promo_template, name="Sales promo"), django_capture_on_commit_callbacks)
    reached = sent_to(graph)
    assert len(reached) == 6  # 250 - 244, over both numbers, though each number's own limit is 10,000
    assert set(reached) == {c.wa_id for c in first} | {c.wa_id for c in second[:2]}
    assert one.state == "completed"
    assert two.state == "running" and two.recipients.filter(state="queued").count() == 2


def test_without_a_portfolio_each_number_keeps_its_own_limit(
    graph, number, promo_template, django_capture_on_commit_callbacks
):
    other = NumberFactory(phone_number_id=SECOND_PHONE_NUMBER_ID, display_phone_number="15550002222",
                          business_account_id="WABA-OTHER", api_base=graph.base_url, is_default=False,
                          messaging_limit="TIER_250")
    number.messaging_limit = "TIER_250"
    number.save()
    reached_earlier(number, 248, "1555510")
    make_contacts(number, 3, prefix="1555511")
    make_contacts(other, 3, prefix="1555512")
    run(promo_campaign(number, promo_template), django_capture_on_commit_callbacks)
    run(promo_campaign(other, promo_for(other), name="Other"), django_capture_on_commit_callbacks)
    assert len(sent_to(graph)) == 2 + 3


@pytest.mark.django_db(transaction=True)
def test_the_portfolio_limit_webhook_field_sets_the_portfolio_and_the_old_field_the_number(
    client, number, second_number, portfolio
):
    response = webhooks.post(client, webhooks.envelope({
        "display_phone_number": webhooks.DISPLAY_NUMBER, "event": "UPGRADE", "old_limit": "TIER_2K",
        "current_limit": "TIER_10K", "max_daily_conversations_per_business": "TIER_100K",
    }, field="phone_number_quality_update"))
    assert response.status_code == 200
    portfolio.refresh_from_db()
    number.refresh_from_db()
    assert portfolio.messaging_limit == "TIER_100K" and portfolio.limit_reported_at is not None
    assert number.messaging_limit == "TIER_10K"  # the older per-number field, still kept
    assert number.effective_messaging_limit == second_number.effective_messaging_limit == "TIER_100K"
    assert NumberHealthEvent.objects.get(number=number).messaging_limit == "TIER_100K"


@pytest.mark.django_db(transaction=True)
def test_business_capability_update_with_unlimited_reaches_every_number_of_the_portfolio(
    client, number, second_number, portfolio
):
    webhooks.post(client, webhooks.envelope({
        "max_daily_conversation_per_phone": 2000, "max_daily_conversations_per_business": -1,
        "max_phone_numbers_per_business": 20, "max_phone_numbers_per_waba": 20,
    }, field="business_capability_update"))
    portfolio.refresh_from_db()
    second_number.refresh_from_db()
    assert portfolio.messaging_limit == "TIER_UNLIMITED"
    assert second_number.messaging_limit == "TIER_2K"  # per-phone value, kept while it still comes


def test_graph_refresh_reads_whatsapp_business_manager_messaging_limit(graph, number, portfolio):
    graph.script(200, {"whatsapp_business_manager_messaging_limit": "TIER_10K", "quality_rating": "GREEN",
                       "id": number.phone_number_id})
    event = number_limits_refresh(number=number)
    portfolio.refresh_from_db()
    assert portfolio.messaging_limit == "TIER_10K"
    assert event.messaging_limit == "TIER_10K"
    request = graph.requests[-1]
    assert request.method == "GET" and request.path.endswith(f"/{number.phone_number_id}")
    assert "whatsapp_business_manager_messaging_limit" in request.query


def test_number_health_shows_the_limit_that_applies_and_its_portfolio(number, portfolio):
    health = number_health(number=number)
    assert health["messaging_limit"] == "TIER_2K" and health["portfolio"] == "Acme"
    assert health["messaging_limit_label"] == "2,000 users / 24 h"
    assert health["number_messaging_limit"] == "TIER_10K"


def test_the_numbers_admin_action_reads_their_limits_from_whatsapp(graph, number, portfolio, client, admin_user):
    # The numbers' admin is the conversations app's; the notifications app adds this action.
    graph.script(200, {"whatsapp_business_manager_messaging_limit": "TIER_10K", "quality_rating": "GREEN",
                       "id": number.phone_number_id})
    client.force_login(admin_user)
    response = client.post("/admin/conversations/whatsappnumber/",
                           {"action": "read_limits", "_selected_action": [number.pk]}, follow=True)
    assert response.status_code == 200
    portfolio.refresh_from_db()
    assert portfolio.messaging_limit == "TIER_10K"
    assert "limit TIER_10K (portfolio Acme)" in response.content.decode()


def test_messaging_limits_are_read_periodically_in_celery_beat_and_the_embedded_scheduler():
    name = "notifications.tasks.number_limits_refresh_all"
    assert django_settings.CELERY_BEAT_SCHEDULE[name] == {"task": name, "schedule": 6 * 3600}
    assert PeriodicScheduler(django_settings.PERIODIC_TASKS).schedule[name] == 6 * 3600


def test_the_periodic_read_updates_each_number_from_whatsapp_and_skips_the_sandbox(graph, number, portfolio):
    sandbox = NumberFactory(phone_number_id="1000000099", api_base=graph.base_url, is_default=False,
                            is_sandbox=True, messaging_limit="TIER_250")
    graph.script(200, {"whatsapp_business_manager_messaging_limit": "TIER_100K", "quality_rating": "YELLOW",
                       "id": number.phone_number_id})
    assert number_limits_refresh_all() == 1
    portfolio.refresh_from_db()
    number.refresh_from_db()
    sandbox.refresh_from_db()
    assert portfolio.messaging_limit == "TIER_100K"
    assert number.quality_rating == "YELLOW"
    assert sandbox.messaging_limit == "TIER_250"
    assert len(graph.requests) == 1 and graph.requests[0].path.endswith(f"/{number.phone_number_id}")
    assert NumberHealthEvent.objects.filter(number=number, event="LIMITS_READ").exists()


def test_a_failing_number_does_not_stop_the_periodic_read_of_the_others(graph, number, second_number):
    graph.route("GET", f"/v23.0/{number.phone_number_id}", lambda request: (500, "<html>down</html>"))
    graph.script(200, {"whatsapp_business_manager_messaging_limit": "TIER_10K", "id": second_number.phone_number_id})
    assert number_limits_refresh_all() == 1
    second_number.portfolio.refresh_from_db()
    assert second_number.portfolio.messaging_limit == "TIER_10K"
