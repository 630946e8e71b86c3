"""Message costs: what WhatsApp reported it charged (per-message pricing, stored on each
message from its status webhooks) and what a campaign is estimated to cost before it
starts, both priced with the admin's price table (notifications.models.MessagePrice) by
category and the recipient's country.

- A message counts as charged when WhatsApp reported `type` "regular"; free ones
  (`free_customer_service`, `free_entry_point`) are counted but cost nothing.
- The recipient's country comes from their phone number (`phonenumbers`), else from the
  ISO prefix of their business-scoped user id ("BR.1502…"), else it is unknown.
- A rate is looked up for the category in the country, else the category's rate for any
  country; messages with neither are counted as `unpriced`.
- Reads only; sums are grouped per contact, so their cost grows with the recipients,
  not the messages.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from functools import lru_cache
from typing import Any

import phonenumbers
from django.db.models import Count, QuerySet
from django.utils import timezone

from conversations.models import PRICING_TYPE_REGULAR, Message
from conversations.services.contacts import is_user_id
from notifications.campaign_audience import audience_contact_ids, csv_numbers
from notifications.models import Campaign, CampaignRecipient, MessagePrice

_BSUID_COUNTRY = re.compile(r"^([A-Z]{2})\.")


@lru_cache(maxsize=4096)
def _country_of_phone(wa_id: str) -> str:
    try:
        parsed = phonenumbers.parse(f"+{wa_id}")
    except phonenumbers.NumberParseException:
        return ""
    region = phonenumbers.region_code_for_number(parsed)
    if region is None or region == phonenumbers.UNKNOWN_REGION:
        # A calling code shared by several countries (+1, +7): the main one.
        region = phonenumbers.region_code_for_country_code(parsed.country_code or 0)
    return "" if region in (None, phonenumbers.UNKNOWN_REGION) else region


def country_of(*, wa_id: str = "", user_id: str = "") -> str:
    """The recipient's ISO country code ("" when unknown)."""
    digits = "".join(ch for ch in wa_id or "" if ch.isdigit())
    if digits:
        country = _country_of_phone(digits)
        if country:
            return country
    match = _BSUID_COUNTRY.match(user_id or "")
    return match.group(1) if match else ""


@dataclass(frozen=True)
class PriceTable:
    rates: dict[tuple[str, str], tuple[Decimal, str]]

    def rate(self, category: str, country: str) -> tuple[Decimal, str] | None:
        return self.rates.get((category, country)) or self.rates.get((category, ""))


def price_table() -> PriceTable:
    return PriceTable(
        {(p.category, p.country.upper()): (p.price, p.currency) for p in MessagePrice.objects.all()}
    )


def _money(totals: dict[str, Decimal]) -> dict[str, str]:
    return {currency: str(amount.quantize(Decimal("0.0001"))) for currency, amount in sorted(totals.items())}


def cost_of(groups: Iterable[tuple[str, str, int]], *, table: PriceTable | None = None) -> dict[str, Any]:
    """Price `(category, country, messages)` groups: per category the messages and cost,
    the total per currency, and how many messages had no rate."""
    table = table or price_table()
    by_category: dict[str, dict[str, Any]] = {}
    totals: dict[str, Decimal] = {}
    unpriced = 0
    for category, country, n in groups:
        entry = by_category.setdefault(category or "unknown", {"messages": 0, "cost": {}})
        entry["messages"] += n
        rate = table.rate(category, country) if category else None
        if rate is None:
            unpriced += n
            continue
        price, currency = rate
        entry["cost"][currency] = entry["cost"].get(currency, Decimal(0)) + price * n
        totals[currency] = totals.get(currency, Decimal(0)) + price * n
    for entry in by_category.values():
        entry["cost"] = _money(entry["cost"])
    return {"by_category": by_category, "cost": _money(totals), "unpriced": unpriced}


def messages_pricing(messages: QuerySet[Message], *, table: PriceTable | None = None) -> dict[str, Any]:
    """What WhatsApp reported for `messages`: how many were charged and free (by type),
    per category, and what the charged ones cost by the price table. Messages with no
    pricing reported yet are counted as `not_reported`."""
    rows = (
        messages.values("pricing_category", "pricing_type", "conversation__contact__wa_id",
                        "conversation__contact__user_id")
        .annotate(n=Count("pk"))
        .order_by()
    )
    by_type: dict[str, int] = {}
    charged: dict[tuple[str, str], int] = {}
    not_reported = 0
    for row in rows.iterator(chunk_size=2000):
        kind, n = row["pricing_type"], row["n"]
        if not kind and not row["pricing_category"]:
            not_reported += n
            continue
        by_type[kind or "unknown"] = by_type.get(kind or "unknown", 0) + n
        if kind == PRICING_TYPE_REGULAR:
            country = country_of(wa_id=row["conversation__contact__wa_id"],
                                 user_id=row["conversation__contact__user_id"])
            key = (row["pricing_category"], country)
            charged[key] = charged.get(key, 0) + n
    priced = cost_of(((category, country, n) for (category, country), n in charged.items()), table=table)
    return {
        "charged": sum(charged.values()),
        "free": sum(n for kind, n in by_type.items() if kind != PRICING_TYPE_REGULAR),
        "by_type": by_type,
        "not_reported": not_reported,
        **priced,
    }


def _audience_countries(campaign: Campaign) -> dict[str, int]:
    """Recipients per country: the built rows (not skipped or failed) once the campaign
    has them, else its audience as it would be built now (an uploaded list is read
    without creating contacts)."""
    countries: dict[str, int] = {}

    def add(wa_id: str, user_id: str) -> None:
        country = country_of(wa_id=wa_id, user_id=user_id)
        countries[country] = countries.get(country, 0) + 1

    if campaign.recipients_built_at is not None:
        rows = CampaignRecipient.objects.filter(campaign=campaign).exclude(
            state__in=[CampaignRecipient.State.SKIPPED, CampaignRecipient.State.FAILED]
        )
        for wa_id, user_id in rows.values_list("contact__wa_id", "contact__user_id").iterator(chunk_size=2000):
            add(wa_id, user_id)
    elif campaign.audience == Campaign.Audience.CSV:
        numbers, _ = csv_numbers(campaign.audience_csv)
        for identity in dict.fromkeys(numbers):
            add(*(("", identity) if is_user_id(identity) else (identity, "")))
    else:
        ids, _ = audience_contact_ids(campaign=campaign)
        contacts = campaign.number.contacts.filter(pk__in=ids)
        for wa_id, user_id in contacts.values_list("wa_id", "user_id").iterator(chunk_size=2000):
            add(wa_id, user_id)
    return countries


def campaign_cost_estimate(*, campaign: Campaign, table: PriceTable | None = None) -> dict[str, Any]:
    """What the campaign should cost: one message per recipient, charged in its template's
    category at each recipient's country rate. An upper bound: a recipient WhatsApp does
    not charge (a free entry point) or does not reach costs nothing."""
    category = (campaign.template.category or "").lower()
    countries = _audience_countries(campaign)
    priced = cost_of(((category, country, n) for country, n in countries.items()), table=table)
    return {
        "category": category,
        "recipients": sum(countries.values()),
        "by_country": dict(sorted(countries.items())),
        **priced,
        "estimated_at": timezone.now().isoformat(),
    }


def campaign_cost_actual(*, campaign_id: int, table: PriceTable | None = None) -> dict[str, Any]:
    """What WhatsApp reported charging for the campaign's messages, priced."""
    return messages_pricing(Message.objects.filter(campaign_recipient__campaign_id=campaign_id), table=table)


def campaign_cost(*, campaign: Campaign) -> dict[str, Any]:
    """The estimate (kept from the start, or computed now for a campaign not started)
    and, once it has sent, the actual."""
    table = price_table()
    started = campaign.state not in (Campaign.State.DRAFT, Campaign.State.SCHEDULED)
    estimate = campaign.cost_estimate if started and campaign.cost_estimate else campaign_cost_estimate(
        campaign=campaign, table=table)
    return {
        "estimate": estimate,
        "actual": campaign_cost_actual(campaign_id=campaign.pk, table=table) if started else None,
    }
