"""Contacts created by desk users (customers usually arrive by webhook instead)."""

from __future__ import annotations

from typing import Any

import phonenumbers
from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from config.refusals import Refused
from conversations.models import Contact, LanguageSource, WhatsAppNumber


class ContactRefused(Refused):
    """A contact could not be created; `code` is `invalid` or `contact_exists`."""


def wa_id_normalize(raw: str) -> str:
    """A phone number in E.164 as WhatsApp ids are written: digits only, country code first.
    Raises `ContactRefused("invalid", ...)` for anything that cannot be a phone number."""
    cleaned = (raw or "").strip()
    if not cleaned:
        raise ContactRefused("invalid", "A phone number is required.")
    if not cleaned.startswith("+"):
        cleaned = "+" + cleaned
    try:
        parsed = phonenumbers.parse(cleaned, None)
    except phonenumbers.NumberParseException as exc:
        raise ContactRefused("invalid", f"Not a phone number in international format: {exc}.") from None
    if not phonenumbers.is_possible_number(parsed):
        raise ContactRefused("invalid", "Not a possible phone number for its country code.")
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164).lstrip("+")


def contact_create(
    *,
    number: WhatsAppNumber,
    wa_id: str = "",
    user_id: str = "",
    profile_name: str = "",
    language: str = "",
    attributes: dict[str, Any] | None = None,
    created_by: Any = None,
) -> Contact:
    """Create a contact of `number`, identified by its phone number (normalised to E.164
    digits) or by a business-scoped user id, recording the desk user who created it (they
    see it before it has a conversation). The database's unique constraints decide
    duplicates, so two concurrent creations of the same customer yield one contact and
    one `ContactRefused("contact_exists", ...)`, which names no existing contact."""
    user_id = (user_id or "").strip()
    wa_id = wa_id_normalize(wa_id) if (wa_id or "").strip() else ""
    if not wa_id and not user_id:
        raise ContactRefused("invalid", "Give the contact's phone number (wa_id) or business-scoped user id.")
    try:
        with transaction.atomic():
            return Contact.objects.create(
                number=number,
                wa_id=wa_id,
                user_id=user_id,
                profile_name=profile_name.strip(),
                language=language.strip(),
                # A language given by the person creating the contact is theirs: detection keeps off it.
                language_source=LanguageSource.AGENT if language.strip() else LanguageSource.UNKNOWN,
                language_set_by=created_by if language.strip() and getattr(created_by, "is_authenticated", False)
                else None,
                language_set_at=timezone.now() if language.strip() else None,
                language_samples=settings.LANGUAGE_DETECTION_MESSAGES if language.strip() else 0,
                attributes=attributes or {},
                created_by=created_by if getattr(created_by, "is_authenticated", False) else None,
            )
    except IntegrityError:
        raise ContactRefused("contact_exists", "This number already has a contact with that id.") from None
