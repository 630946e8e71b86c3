from __future__ import annotations

from io import StringIO

from conversations.models import Contact
from conversations.providers.sandbox.models import Template
from notifications import demo
from notifications.models import Campaign, MessageTemplate
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
