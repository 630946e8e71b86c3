"""Contacts created by desk users (customers usually arrive by webhook instead), and the
identity changes WhatsApp reports (a new phone number, a new business-scoped user id):
the contact keeps its row, so its history stays with it."""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from typing import Any

import phonenumbers
from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext

from config.refusals import Refused
from conversations.models import Contact, LanguageSource, WhatsAppNumber
from conversations.services.contact_merge import contact_merge

log = logging.getLogger(__name__)


# A business-scoped user id: the ISO country code, a dot, then letters and digits
# ("BR.1502576394655843"; a parent id has "ENT." after the country).
BSUID = re.compile(r"^[A-Z]{2}\.(?:ENT\.)?[A-Za-z0-9]{1,128}$")


def is_user_id(value: str) -> bool:
    """`value` is a business-scoped user id rather than a phone number."""
    return bool(BSUID.match((value or "").strip()))


class ContactRefused(Refused):
    """A contact could not be created; `code` is `invalid` or `contact_exists`."""


def wa_id_normalize(raw: str) -> str:
    """A phone number in E.164 as WhatsApp ids are written: digits only, country code first.
    Raises `ContactRefused("invalid", ...)` for anything that cannot be a phone number."""
    cleaned = (raw or "").strip()
    if not cleaned:
        raise ContactRefused("invalid", gettext("A phone number is required."))
    if not cleaned.startswith("+"):
        cleaned = "+" + cleaned
    try:
        parsed = phonenumbers.parse(cleaned, None)
    except phonenumbers.NumberParseException as exc:
        raise ContactRefused("invalid", gettext("Not a phone number in international format: %(problem)s.")
                             % {"problem": exc}) from None
    if not phonenumbers.is_possible_number(parsed):
        raise ContactRefused("invalid", gettext("Not a possible phone number for its country code."))
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
        raise ContactRefused("invalid", gettext("Give the contact's phone number (wa_id) or business-scoped user id."))
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
        raise ContactRefused("contact_exists", gettext("This number already has a contact with that id.")) from None


# --- Identity changes reported by WhatsApp ----------------------------------------------------

# `system` message types that change who a contact is (and the platform field some providers
# forward the same change on).
USER_CHANGED_NUMBER = ("user_changed_number", "customer_changed_number")
USER_CHANGED_USER_ID = "user_changed_user_id"


@dataclass(frozen=True)
class IdentityChange:
    """What a change says: the identifiers before and after ("" where not given)."""

    kind: str
    previous_wa_id: str = ""
    wa_id: str = ""
    previous_user_id: str = ""
    user_id: str = ""

    @property
    def summary(self) -> str:
        parts = []
        if self.wa_id and self.wa_id != self.previous_wa_id:
            parts.append("phone number changed")
        if self.user_id and self.user_id != self.previous_user_id:
            parts.append("business-scoped user id changed")
        return ", ".join(parts) or "identity confirmed"


def _text(value: Any) -> str:
    return str(value).strip() if isinstance(value, str | int) and not isinstance(value, bool) else ""


def identity_change_of_system(message: dict[str, Any]) -> IdentityChange | None:
    """The change a `system` message reports, or None for other notices.

    `user_changed_number`: `from` is the old phone number, `system.wa_id` (older payloads:
    `new_wa_id`) the new one; since WhatsApp regenerates the business-scoped user id with
    the number, `system.previous_user_id` and `system.user_id` may come too.
    `user_changed_user_id`: only the user id changed (`system.previous_user_id` to
    `system.user_id`, or the message's `from_user_id`); no phone number is given."""
    system = message.get("system")
    if not isinstance(system, dict):
        return None
    kind = _text(system.get("type"))
    previous_user_id = _text(system.get("previous_user_id"))
    new_user_id = _text(system.get("user_id") or system.get("new_user_id"))
    if kind in USER_CHANGED_NUMBER:
        return IdentityChange(
            kind=kind,
            previous_wa_id=_text(message.get("from")),
            wa_id=_text(system.get("wa_id") or system.get("new_wa_id")),
            previous_user_id=previous_user_id,
            user_id=new_user_id,
        )
    if kind == USER_CHANGED_USER_ID:
        from_user_id = _text(message.get("from_user_id"))
        return IdentityChange(
            kind=kind,
            previous_wa_id=_text(message.get("from")),
            previous_user_id=previous_user_id,
            user_id=new_user_id or (from_user_id if from_user_id != previous_user_id else ""),
        )
    return None


def identity_change_of_update(item: dict[str, Any]) -> IdentityChange | None:
    """A `user_id_update` item as some providers forward it (`wa_id`, the previous and the
    new user id under `previous_user_id`/`old_user_id` and `user_id`/`new_user_id`)."""
    previous = _text(item.get("previous_user_id") or item.get("old_user_id"))
    new = _text(item.get("new_user_id") or item.get("user_id"))
    if not previous and not item.get("wa_id"):
        return None
    return IdentityChange(kind="user_id_update", previous_wa_id=_text(item.get("wa_id")), wa_id=_text(item.get("wa_id")),
                          previous_user_id=previous, user_id=new)


def contact_for_identity_change(*, number: WhatsAppNumber, change: IdentityChange) -> Contact | None:
    """The contact the change is about: by its previous user id, else its previous phone
    number (else its new ids, for a change that arrives after the customer wrote with them)."""
    for field, value in (("user_id", change.previous_user_id), ("wa_id", change.previous_wa_id),
                         ("user_id", change.user_id), ("wa_id", change.wa_id)):
        if value:
            found = Contact.objects.filter(number=number, **{field: value}).first()
            if found is not None:
                return found
    return None


@dataclass(frozen=True)
class IdentityChanged:
    """What `contact_identity_change` did: the fields changed, and the former ids of the
    contacts merged into the one changed. False when nothing changed."""

    fields: tuple[str, ...] = ()
    merged: tuple[int, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.fields)


def _holders(contact: Contact, updates: dict[str, str]) -> list[Contact]:
    """The other contacts of the number that hold one of the new identifiers."""
    held = Q()
    for field, value in updates.items():
        held |= Q(**{field: value})
    return list(Contact.objects.filter(held, number_id=contact.number_id).exclude(pk=contact.pk).order_by("pk"))


def contact_identity_change(*, contact: Contact, change: IdentityChange) -> IdentityChanged:
    """Give `contact` the new phone number and/or user id of `change`. The contact row stays
    the same, so its conversations, consent and history stay with it. When another contact
    of the number already holds a new identifier (the customer wrote with it before the
    notice came: the same person known twice), that contact is merged into this one first
    (conversations.services.contact_merge), so this one keeps the whole history. A
    redelivered notice finds the ids applied and changes nothing. Call inside a transaction."""
    updates: dict[str, str] = {}
    if change.wa_id and change.wa_id != contact.wa_id:
        updates["wa_id"] = change.wa_id
    if change.user_id and change.user_id != contact.user_id:
        updates["user_id"] = change.user_id
    if not updates:
        return IdentityChanged()
    merged = []
    for holder in _holders(contact, updates):
        done = contact_merge(survivor=contact, merged=holder, reason=change.summary)
        if done is not None:
            merged.append(done.merged_id)
    try:
        with transaction.atomic():
            Contact.objects.filter(pk=contact.pk).update(**updates, updated_at=timezone.now())
    except IntegrityError:
        # A holder that could not be merged (erased), or one created meanwhile.
        log.warning("contact %s: %s (%s) names identifiers another contact of number %s holds",
                    contact.pk, change.kind, ", ".join(updates), contact.number_id)
        return IdentityChanged(merged=tuple(merged))
    for field, value in updates.items():
        setattr(contact, field, value)
    return IdentityChanged(fields=tuple(updates), merged=tuple(merged))
