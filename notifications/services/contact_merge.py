"""The notifications app's part of merging two contacts of a number
(`conversations.services.contact_merge`), registered as a merge part
(`conversations.merge_parts`) from `NotificationsConfig.ready()`."""

from __future__ import annotations

from conversations.models import Contact
from notifications.models import CampaignRecipient, ConsentRecord


def notifications_contact_merge(*, survivor: Contact, merged: Contact) -> dict[str, int]:
    """Every consent record of `merged` moves to `survivor` (the current state stays the
    latest record, so the customer's latest choice on either id counts), and so do its
    campaign rows, except in a campaign that has a row for the survivor already (one
    recipient per campaign: that row goes with the merged contact). Returns counts."""
    consent = ConsentRecord.objects.filter(contact=merged).update(contact=survivor)
    taken = CampaignRecipient.objects.filter(contact=survivor).values("campaign_id")
    rows = CampaignRecipient.objects.filter(contact=merged).exclude(campaign_id__in=taken).update(contact=survivor)
    return {"consent_records": consent, "campaign_recipients": rows}
