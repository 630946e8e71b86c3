"""Demo data for `manage.py load_demo`: two approved templates on the demo number (also
at the sandbox's stand-in Graph API, so they can be sent), a few contacts with consent,
and a draft campaign; then the past conversations of notifications.demo_history. Idempotent."""

from __future__ import annotations

from decimal import Decimal
from typing import Any, TextIO

from django.db import transaction

from conversations.demo import demo_number_find
from conversations.models import Contact, WhatsAppNumber
from conversations.providers.sandbox.models import Template
from notifications.demo_history import load as history_load
from notifications.models import Campaign, MessagePrice, MessageTemplate, TemplateStatus
from notifications.services.consent import consent_opt_in, consent_opt_out

# Example rates for the cost estimates (category, country, USD per charged message): not
# Meta's, only a start the admin replaces with the rate card.
DEMO_PRICES = [
    ("marketing", "", "0.0250"),
    ("utility", "", "0.0040"),
    ("authentication", "", "0.0040"),
]

TEMPLATES: list[dict[str, Any]] = [
    {
        "name": "order_update",
        "language": "en_US",
        "category": "UTILITY",
        "parameter_format": "positional",
        "components": [
            {"type": "HEADER", "format": "TEXT", "text": "Order {{1}}", "example": {"header_text": ["A-1001"]}},
            {"type": "BODY", "text": "Hi {{1}}, your order {{2}} is on its way and should arrive {{3}}.",
             "example": {"body_text": [["Maria", "A-1001", "tomorrow"]]}},
            {"type": "FOOTER", "text": "Reply STOP to unsubscribe"},
            {"type": "BUTTONS", "buttons": [{"type": "QUICK_REPLY", "text": "Talk to an agent"}]},
        ],
    },
    {
        "name": "promo",
        "language": "en",
        "category": "MARKETING",
        "parameter_format": "named",
        "components": [
            {"type": "BODY", "text": "Hello {{first_name}}! This week only: {{discount}} off everything.",
             "example": {"body_text_named_params": [{"param_name": "first_name", "example": "Maria"},
                                                    {"param_name": "discount", "example": "20%"}]}},
            {"type": "FOOTER", "text": "Reply STOP to unsubscribe"},
        ],
    },
]

# wa_id: (name, language, attributes, opted in to marketing, opted in to utility)
CONTACTS = {
    "351912345678": ("Maria Silva", "pt", {"city": "Lisbon", "discount": "20%"}, True, True),
    "15550123456": ("John Miller", "en", {"city": "Boston"}, True, True),
    "4915112345678": ("Lena Keller", "de", {"city": "Berlin"}, False, True),
}


def _sandbox_templates(number: WhatsAppNumber) -> None:
    """Make the templates approved at the stand-in Graph API too, so sends are accepted."""
    for spec in TEMPLATES:
        Template.objects.update_or_create(
            business_account_id=number.business_account_id, name=spec["name"], language=spec["language"],
            defaults={"category": str(spec["category"]), "components": spec["components"],
                      "status": Template.Status.APPROVED},
        )


def load(stdout: TextIO) -> None:
    number = demo_number_find()
    if number is None:
        stdout.write("Notifications demo skipped: no demo number.\n")
        return
    with transaction.atomic():
        templates = {}
        for spec in TEMPLATES:
            template, _ = MessageTemplate.objects.update_or_create(
                business_account_id=number.business_account_id, name=spec["name"], language=spec["language"],
                defaults={**{k: v for k, v in spec.items() if k not in ("name", "language")}, "number": number,
                          "status": TemplateStatus.APPROVED, "quality": "GREEN", "remote_id": f"demo-{spec['name']}"},
            )
            templates[spec["name"]] = template
        if number.is_sandbox:
            _sandbox_templates(number)
        for wa_id, (name, language, attributes, marketing, utility) in CONTACTS.items():
            contact, _ = Contact.objects.get_or_create(
                number=number, wa_id=wa_id,
                defaults={"profile_name": name, "language": language, "attributes": attributes, "tags": ["demo"]},
            )
            for category, wanted in (("marketing", marketing), ("utility", utility)):
                change = consent_opt_in if wanted else consent_opt_out
                change(contact=contact, category=category, source="web_form" if wanted else "keyword",
                       proof="Demo data")
        for category, country, price in DEMO_PRICES:
            MessagePrice.objects.get_or_create(category=category, country=country,
                                               defaults={"price": Decimal(price), "currency": "USD"})
        Campaign.objects.get_or_create(
            name="Demo: spring promo", number=number,
            defaults={"template": templates["promo"], "audience": Campaign.Audience.ALL_OPTED_IN,
                      "parameter_mapping": {"first_name": "contact.first_name",
                                            "discount": "attributes.discount|15%"}},
        )
    stdout.write(
        "Notifications: templates order_update (utility) and promo (marketing) approved; "
        f"{len(CONTACTS)} demo contacts with consent; a draft campaign in /admin/notifications/campaign/; "
        "example message prices in /admin/notifications/messageprice/ (replace them with Meta's rate card).\n"
    )
    history_load(stdout)
