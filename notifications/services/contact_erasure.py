"""The notifications app's part of a contact's erasure (`conversations.services.contact_erasure`),
registered as an erasure part (`conversations.erasure_parts`) from `NotificationsConfig.ready()`."""

from __future__ import annotations

from django.contrib.auth.models import User

from conversations.models import Contact
from conversations.services.anonymise import ERASED, Needles, scrub_json
from notifications.models import Campaign, CampaignRecipient, ConsentRecord, ConsentSource, IdempotencyKey
from notifications.services.consent import CATEGORIES, consent_is_current, consent_opt_out


def _digits(value: str) -> str:
    return "".join(ch for ch in value if ch.isdigit())


def notifications_contact_erase(*, contact: Contact, needles: Needles, actor: User | None) -> dict[str, int]:
    """Consent proofs erased and any current opt-in closed by an opt-out; campaign recipients'
    error text, the contact's lines in uploaded campaign lists and the notification API's
    idempotency responses scrubbed. Returns counts per kind."""
    counts = {"consent_records": 0, "campaign_recipients": 0, "campaigns": 0, "idempotency_keys": 0}
    counts["consent_records"] = (
        ConsentRecord.objects.filter(contact=contact).exclude(proof="").update(proof=ERASED)
    )
    for category in CATEGORIES:
        if consent_is_current(contact=contact, category=category):
            consent_opt_out(
                contact=contact, category=category, source=ConsentSource.ADMIN, proof="Personal data erased", actor=actor
            )
    counts["campaign_recipients"] = (
        CampaignRecipient.objects.filter(contact=contact).exclude(error_reason="").update(error_reason=ERASED)
    )
    phones = {_digits(i) for i in needles.identifiers if _digits(i) == i}
    for campaign in Campaign.objects.filter(number_id=contact.number_id).exclude(audience_csv="").select_for_update():
        lines = campaign.audience_csv.splitlines()
        kept = [
            ERASED if _digits(line.split(",")[0]) in phones or needles.mentions(line) else line for line in lines
        ]
        rejected = [
            {**r, "value": ERASED} if isinstance(r, dict) and _digits(str(r.get("value", ""))) in phones else r
            for r in campaign.audience_rejected or []
        ]
        if kept != lines or rejected != campaign.audience_rejected:
            campaign.audience_csv = "\n".join(kept)
            campaign.audience_rejected = rejected
            campaign.save(update_fields=["audience_csv", "audience_rejected"])
            counts["campaigns"] += 1
    keys = IdempotencyKey.objects.filter(message__conversation__contact=contact).select_for_update()
    for key in keys:
        # The request fingerprint hashes the phone number: a repeat of the request no
        # longer matches it, and gets `idempotency_key_reused` instead of a second send.
        key.response_body = scrub_json(key.response_body, needles)
        key.request_hash = "erased"
        key.save(update_fields=["response_body", "request_hash"])
        counts["idempotency_keys"] += 1
    return counts
