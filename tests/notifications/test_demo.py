from __future__ import annotations

from decimal import Decimal
from io import StringIO

from conversations.models import Contact
from conversations.providers.sandbox.models import Template
from notifications import demo
from notifications.models import Campaign, MessagePrice, MessageTemplate
from notifications.pricing import campaign_cost_estimate
from notifications.services.consent import consent_is_current
from tests.factories import NumberFactory


def test_demo_loads_templates_consent_and_a_campaign_idempotently(db):
    number = NumberFactory(is_sandbox=True)
    for _ in range(2):
        demo.load(StringIO())
    assert set(MessageTemplate.objects.filter(status="APPROVED").values_list("name", flat=True)) == {
        "order_update", "promo"}
    assert Template.objects.filter(business_account_id=number.business_account_id, status="APPROVED").count() == 2
    maria = Contact.objects.get(wa_id="351912345678")
    lena = Contact.objects.get(wa_id="4915112345678")
    assert consent_is_current(contact=maria, category="marketing")
    assert not consent_is_current(contact=lena, category="marketing")
    assert consent_is_current(contact=lena, category="utility")
    assert Campaign.objects.count() == 1


def test_demo_prices_make_the_draft_campaign_estimable(db):
    NumberFactory(is_sandbox=True)
    for _ in range(2):
        demo.load(StringIO())
    assert MessagePrice.objects.count() == 3
    estimate = campaign_cost_estimate(campaign=Campaign.objects.get())
    assert estimate["category"] == "marketing" and estimate["unpriced"] == 0
    assert estimate["cost"]["USD"] == str(Decimal("0.0250") * estimate["recipients"])
