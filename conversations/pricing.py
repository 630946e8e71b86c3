"""Message costs: what WhatsApp reported it charged (per-message pricing, stored on each
message from its status webhooks), priced with the admin's price table
(notifications.models.MessagePrice) by category and the recipient's country.

- A message counts as charged when WhatsApp reported `type` "regular"; free ones
  (`free_customer_service`, `free_entry_point`) are counted but cost nothing.
- The recipient's country comes from their phone number (`phonenumbers`), else from the
  ISO prefix of their business-scoped user id ("BR.1502…"), else it is unknown.
- A rate is looked up for the category in the country, else the category's rate for any
  country; messages with neither are counted as `unpriced`.
- Reads only; sums are grouped per contact, so their cost grows with the recipients,
  not the messages.

Campaign estimates, which read campaign audiences, are in notifications.pricing.
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

from conversations.models import PRICING_TYPE_REGULAR, Message
from notifications.models import MessagePrice

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
