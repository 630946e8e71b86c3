"""Who a campaign reaches and what each recipient's template parameters are.

The audience is resolved once into CampaignRecipient rows (unique per campaign and
contact). Consent is checked again when each row is sent, so a contact who opts out
after the audience was built is still never messaged.
"""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.utils import timezone

from conversations.models import Contact
from conversations.services.contacts import ContactRefused, is_user_id, wa_id_normalize
from notifications.models import Campaign, CampaignRecipient
from notifications.services.consent import consent_category_for_template, contacts_opted_in

INSERT_BATCH = 500
CONTACT_FIELDS = {"first_name", "profile_name", "wa_id", "language", "user_id"}


class MappingError(ValueError):
    """A parameter mapping that cannot be resolved for a contact."""


def csv_numbers(text: str) -> tuple[list[str], list[dict[str, Any]]]:
    """Recipients from an uploaded list (one per line; the first column of a CSV line):
    phone numbers normalised to WhatsApp ids, business-scoped user ids (`BR.1502…`, for
    customers WhatsApp gives no phone number of) as they are, and the rejected lines with
    their reason."""
    numbers: list[str] = []
    rejected: list[dict[str, Any]] = []
    for line_no, line in enumerate((text or "").splitlines(), start=1):
        value = line.split(",")[0].strip().strip('"')
        if not value or (line_no == 1 and not any(ch.isdigit() for ch in value)):
            continue  # blank line or a header row
        if is_user_id(value):
            numbers.append(value)
            continue
        try:
            numbers.append(wa_id_normalize(value))
        except ContactRefused as exc:
            rejected.append({"line": line_no, "value": value[:64], "reason": exc.detail})
    return numbers, rejected


def _matches_filter(contact: Contact, tags: list[str], attributes: dict[str, Any]) -> bool:
    contact_tags = {str(t).lower() for t in (contact.tags or [])}
    if any(str(tag).lower() not in contact_tags for tag in tags):
        return False
    values = contact.attributes or {}
    return all(str(values.get(key)) == str(value) for key, value in attributes.items())


def audience_contact_ids(*, campaign: Campaign) -> tuple[list[int], list[dict[str, Any]]]:
    """Contact ids of the campaign's audience (and rejected CSV lines)."""
    # Web chat visitors have no WhatsApp id: campaigns never reach them.
    contacts = Contact.objects.filter(number=campaign.number, webchat_inbox__isnull=True)
    if campaign.audience == Campaign.Audience.ALL_OPTED_IN:
        category = consent_category_for_template(campaign.template.category)
        return list(contacts_opted_in(queryset=contacts, category=category).values_list("pk", flat=True)), []
    if campaign.audience == Campaign.Audience.FILTER:
        spec = campaign.audience_filter or {}
        tags = [str(t) for t in spec.get("tags") or []]
        attributes = dict(spec.get("attributes") or {})
        # Tags are filtered here rather than in SQL: JSON containment is not portable.
        return [
            c.pk
            for c in contacts.only("pk", "tags", "attributes").iterator(chunk_size=2000)
            if _matches_filter(c, tags, attributes)
        ], []
    numbers, rejected = csv_numbers(campaign.audience_csv)
    ids: list[int] = []
    for identity in dict.fromkeys(numbers):
        if is_user_id(identity):
            contact, _ = Contact.objects.get_or_create(number=campaign.number, user_id=identity)
        else:
            contact, _ = Contact.objects.get_or_create(number=campaign.number, wa_id=identity)
        ids.append(contact.pk)
    return ids, rejected


def campaign_recipients_build(*, campaign: Campaign) -> int:
    """Create the recipient rows once (idempotent: unique per campaign and contact).
    Returns the number of rows the campaign has."""
    if campaign.recipients_built_at is not None:
        return campaign.recipients.count()
    ids, rejected = audience_contact_ids(campaign=campaign)
    with transaction.atomic():
        for start in range(0, len(ids), INSERT_BATCH):
            CampaignRecipient.objects.bulk_create(
                [CampaignRecipient(campaign=campaign, contact_id=pk) for pk in ids[start : start + INSERT_BATCH]],
                ignore_conflicts=True,
            )
        Campaign.objects.filter(pk=campaign.pk, recipients_built_at__isnull=True).update(
            recipients_built_at=timezone.now(), audience_rejected=rejected
        )
    campaign.refresh_from_db(fields=["recipients_built_at", "audience_rejected"])
    return campaign.recipients.count()


def _resolve(source: Any, contact: Contact) -> Any:
    """One mapped value: "contact.<field>", "attributes.<key>" (with "|default"), or "=literal"."""
    if not isinstance(source, str):
        return source
    if source.startswith("="):
        return source[1:]
    path, _, default = source.partition("|")
    scope, _, name = path.partition(".")
    if scope == "contact" and name in CONTACT_FIELDS:
        value = getattr(contact, name, "")
    elif scope == "attributes" and name:
        value = (contact.attributes or {}).get(name, "")
    else:
        raise MappingError(f"Unknown source {source!r}: use contact.<field>, attributes.<key> or =text.")
    if value in (None, "") and default:
        return default
    if value in (None, ""):
        raise MappingError(f"The contact has no value for {path}.")
    return value


def mapping_check(mapping: Any) -> None:
    """Raise MappingError when a mapping names an unknown source (before a campaign starts)."""
    sources: list[Any] = []
    if isinstance(mapping, list):
        sources = mapping
    elif isinstance(mapping, dict):
        for value in mapping.values():
            sources.extend(value.values() if isinstance(value, dict) else value if isinstance(value, list) else [value])
    elif mapping not in (None, ""):
        raise MappingError("The parameter mapping must be a list or an object.")
    for source in sources:
        if isinstance(source, str) and not source.startswith("="):
            scope, _, name = source.partition("|")[0].partition(".")
            if not ((scope == "contact" and name in CONTACT_FIELDS) or (scope == "attributes" and name)):
                raise MappingError(f"Unknown source {source!r}: use contact.<field>, attributes.<key> or =text.")


def campaign_parameters(*, mapping: Any, contact: Contact) -> list | dict | None:
    """The template parameters for one contact, in the same shape as the mapping."""
    if mapping in (None, "", [], {}):
        return None
    if isinstance(mapping, list):
        return [_resolve(s, contact) for s in mapping]
    if not isinstance(mapping, dict):
        raise MappingError("The parameter mapping must be a list or an object.")
    out: dict[str, Any] = {}
    for key, value in mapping.items():
        if isinstance(value, list):
            out[key] = [_resolve(s, contact) for s in value]
        elif isinstance(value, dict):
            out[key] = {k: _resolve(s, contact) for k, s in value.items()}
        else:
            out[key] = _resolve(value, contact)
    return out
