"""Demo data: a flow bot on the demo number (order status, billing FAQ, a person), demo
orders served by the demo's own order API (bots.demo_views) that the flow's HTTP lookup
step calls, and a default escalation policy with a fallback contact, targeted at the
Support team. Idempotent: existing bots, policies and orders are left as edited in the
admin (a lookup step without a service gets the demo's)."""

from __future__ import annotations

import json
import re
from typing import TextIO

from django.conf import settings
from django.db import transaction

from agents.models import Team
from bots.demo_views import demo_lookup_token
from bots.models import Bot, DemoOrder, EscalationPolicy, FaqEntry, FlowStep, LookupService, StepOption
from conversations.models import WhatsAppNumber

DEMO_BOT_NAME = "Demo assistant"
DEMO_LOOKUP_NAME = "Demo orders"
ORDER_MAP = {"order_number": "order.number", "order_status": "order.status", "order_detail": "order.detail"}

ORDERS = [
    ("A1001", "shipped", "It left our warehouse yesterday and should arrive within 2 working days."),
    ("A1002", "being packed", "It will ship tomorrow."),
    ("A1003", "delivered", "It was delivered on Monday and signed for at the front door."),
    ("A1004", "cancelled", "The refund was issued to your card; banks take 3 to 5 days to show it."),
]

FAQ = [
    (
        "How do I get an invoice?",
        "invoice, receipt, bill copy, factura, rechnung, facture, fattura",
        "Invoices are emailed when your order ships. You can also download them under Account → Orders → Invoice.",
    ),
    (
        "How do refunds work?",
        "refund, money back, reimbursement, reembolso, erstattung, remboursement, rimborso",
        "Refunds go back to the original payment method within 5 working days of us receiving the return.",
    ),
    (
        "Which payment methods do you accept?",
        "payment method, pay, card, credit card, paypal, bank transfer, pago, zahlung, paiement",
        "We accept Visa, Mastercard, American Express, PayPal and bank transfer.",
    ),
    (
        "How do I change my billing address?",
        "billing address, change address, vat number, tax id, company name",
        "Update your billing address and VAT number under Account → Billing. Changes apply to future invoices.",
    ),
]


def team_get(slug: str, name: str) -> Team:
    team, _ = Team.objects.get_or_create(slug=slug, defaults={"name": name})
    return team


def demo_api_base(number: WhatsAppNumber | None = None) -> str:
    """Where this server serves the demo order API: beside the sandbox the demo number talks
    to (the port `load_demo` was given), else SITE_URL."""
    if number is not None and number.is_sandbox and "/sandbox/" in number.api_base:
        return number.api_base.split("/sandbox/", 1)[0] + "/demo/"
    return f"{(settings.SITE_URL or 'http://127.0.0.1:8000').rstrip('/')}/demo/"


def demo_lookup_service(*, base_url: str = "") -> LookupService:
    """The lookup service of the demo's own order API (at `demo_api_base()` unless
    `base_url`), with its bearer token in the encrypted headers. Created once; later runs
    keep edits, except that a base still on this machine follows a `base_url` given (the
    port the demo serves on)."""
    base = base_url or demo_api_base()
    service, created = LookupService.objects.get_or_create(
        name=DEMO_LOOKUP_NAME,
        defaults={"base_url": base, "headers": json.dumps({"Authorization": f"Bearer {demo_lookup_token()}"}),
                  "timeout_seconds": 5.0},
    )
    if base_url and not created and service.base_url != base and re.fullmatch(r"http://127\.0\.0\.1:\d+/demo/", service.base_url):
        service.base_url = base
        service.save(update_fields=["base_url"])
    return service


def demo_flow_create(
    *, name: str = DEMO_BOT_NAME, number: WhatsAppNumber | None = None, team: Team | None = None,
    is_default: bool = False, lookup_service: LookupService | None = None,
) -> Bot:
    """Build the demo flow: a menu (order status, billing question; the engine adds the
    human option), an order-number question answered by an HTTP lookup (the demo's own
    order API unless `lookup_service`), a billing FAQ, and an "anything else?" menu."""
    service = lookup_service or demo_lookup_service()
    with transaction.atomic():
        bot = Bot.objects.create(name=name, kind=Bot.Kind.FLOW, number=number, team=team, is_default=is_default)

        def step(key: str, kind: str, **fields) -> FlowStep:
            return FlowStep.objects.create(bot=bot, key=key, kind=kind, **fields)

        bye = step("bye", FlowStep.Kind.END, text="Thanks for chatting with us. Write any time if you need anything else.")
        more = step("anything-else", FlowStep.Kind.MENU, text="Can I help with anything else?")
        main = step(
            "main",
            FlowStep.Kind.MENU,
            text="Hi! I'm the demo assistant. I can check an order or answer billing questions.",
            button_label="Options",
        )
        lookup = step(
            "lookup-order",
            FlowStep.Kind.LOOKUP,
            lookup=FlowStep.Lookup.HTTP,
            lookup_service=service,
            lookup_path="orders/{order_number}/",
            lookup_map=ORDER_MAP,
            lookup_found_path="order.number",
            text="Order {order_number} is {order_status}. {order_detail}",
            not_found_text="I couldn't find an order {order_number}. Please check the number (it looks like A1001).",
            next_step=more,
        )
        ask = step(
            "ask-order",
            FlowStep.Kind.QUESTION,
            text="What is your order number? It looks like A1001.",
            value_name="order_number",
            validation=FlowStep.Validation.REGEX,
            pattern=r"#?\s*[A-Za-z]?\s*\d{3,8}",
            invalid_text="That doesn't look like an order number. Order numbers look like A1001.",
            next_step=lookup,
        )
        lookup.else_step = ask
        lookup.save(update_fields=["else_step"])
        billing = step(
            "billing-faq",
            FlowStep.Kind.FAQ,
            text="What is your billing question? For example: invoice, refund, payment methods.",
            invalid_text="I don't have an answer for that yet.",
            next_step=more,
        )
        StepOption.objects.create(step=main, title="Order status", payload="order-status", next_step=ask, position=1)
        StepOption.objects.create(step=main, title="Billing question", payload="billing", next_step=billing, position=2)
        StepOption.objects.create(step=more, title="Main menu", payload="main-menu", next_step=main, position=1)
        StepOption.objects.create(step=more, title="No, thanks", payload="done", next_step=bye, position=2)
        for position, (question, keywords, answer) in enumerate(FAQ, start=1):
            FaqEntry.objects.create(bot=bot, question=question, keywords=keywords, answer=answer, position=position)
        bot.start_step = main
        bot.save(update_fields=["start_step"])
    return bot


def demo_orders_load() -> None:
    for order_number, status, detail in ORDERS:
        DemoOrder.objects.update_or_create(order_number=order_number, defaults={"status": status, "detail": detail})


def demo_policy_create(*, team: Team | None, name: str = "Default escalation policy") -> EscalationPolicy:
    policy = EscalationPolicy(
        name=name,
        is_default=True,
        target_team=team,
        fallback_phone="+44 20 7946 0000",
        fallback_email="support@example.com",
        fallback_url="https://example.com/contact-us",
    )
    policy.full_clean()
    policy.save()
    return policy


def load(stdout: TextIO) -> None:
    support = team_get("support", "Support")
    number = WhatsAppNumber.objects.filter(is_default=True).first()
    with transaction.atomic():
        demo_orders_load()
        demo_lookup_service(base_url=demo_api_base(number))
        policy = EscalationPolicy.objects.filter(is_default=True).first() or demo_policy_create(team=support)
        bot = Bot.objects.filter(name=DEMO_BOT_NAME).first()
        if bot is None:
            taken = number is not None and Bot.objects.filter(number=number, is_active=True).exists()
            has_default = Bot.objects.filter(is_default=True, is_active=True).exists()
            bot = demo_flow_create(number=None if taken else number, is_default=not has_default)
        # A demo flow from before the HTTP lookup step: point its order lookup at the demo's API.
        FlowStep.objects.filter(bot=bot, kind=FlowStep.Kind.LOOKUP, lookup_service__isnull=True).update(
            lookup=FlowStep.Lookup.HTTP, lookup_service=demo_lookup_service(), lookup_path="orders/{order_number}/",
            lookup_map=ORDER_MAP, lookup_found_path="order.number",
        )
    stdout.write(
        f"Demo bot: {bot.name!r} on {number or 'every number'}; policy {policy.name!r} hands off to "
        f"{policy.target_team or 'any team'}; demo orders {', '.join(o for o, _, _ in ORDERS)}.\n"
    )
