from __future__ import annotations

import pytest

from notifications.models import MessageTemplate, TemplateStatus
from tests.factories import ContactFactory, ConversationFactory
from tests.support import webhooks

ORDER_UPDATE_COMPONENTS = [
    {"type": "HEADER", "format": "TEXT", "text": "Order {{1}}"},
    {"type": "BODY", "text": "Hi {{1}}, your order {{2}} ships on {{3}}.",
     "example": {"body_text": [["Ana", "A-100", "Monday"]]}},
    {"type": "FOOTER", "text": "Reply STOP to opt out"},
    {"type": "BUTTONS", "buttons": [
        {"type": "URL", "text": "Track", "url": "https://shop.example/track/{{1}}"},
        {"type": "QUICK_REPLY", "text": "Talk to us"},
    ]},
]

PROMO_COMPONENTS = [
    {"type": "BODY", "text": "Hello {{first_name}}, {{discount}} off this week!",
     "example": {"body_text_named_params": [{"param_name": "first_name", "example": "Ana"},
                                            {"param_name": "discount", "example": "20%"}]}},
]


@pytest.fixture
def order_template(number):
    return MessageTemplate.objects.create(
        number=number, business_account_id=webhooks.WABA_ID, name="order_update", language="en_US",
        category="UTILITY", components=ORDER_UPDATE_COMPONENTS, status=TemplateStatus.APPROVED, remote_id="9001",
    )


@pytest.fixture
def promo_template(number):
    return MessageTemplate.objects.create(
        number=number, business_account_id=webhooks.WABA_ID, name="promo", language="en",
        category="MARKETING", components=PROMO_COMPONENTS, parameter_format="named",
        status=TemplateStatus.APPROVED, remote_id="9002",
    )


@pytest.fixture
def contact(number):
    return ContactFactory(number=number, wa_id="15557654321", profile_name="Ana Lima")


@pytest.fixture
def conversation(contact):
    return ConversationFactory(contact=contact)
