"""Campaign costs: what a campaign is estimated to cost before it starts and what WhatsApp
reported it charged after, priced with the admin's price table (notifications.models.MessagePrice) by
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

from typing import Any

from django.utils import timezone

from conversations.models import Message
from conversations.pricing import PriceTable, cost_of, country_of, messages_pricing, price_table
from conversations.services.contacts import is_user_id
from notifications.campaign_audience import audience_contact_ids, csv_numbers
from notifications.models import Campaign, CampaignRecipient


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
