"""A contact's language: detected from their first messages, or set by a person.

Detection reads the customer's first `LANGUAGE_DETECTION_MESSAGES` text messages (each new
one together with the earlier ones, since a longer sample is more reliable) and then stops,
so a customer's language does not flip because of one message in another language later.
A language set by a person (desk, API or admin) is never overwritten by detection.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext

from config.refusals import Refused
from conversations.languages import SHIPPED_LANGUAGES, detect_language, language_base
from conversations.models import Contact, Conversation, LanguageSource, Message

log = logging.getLogger(__name__)

LANGUAGE_CODE = re.compile(r"^[A-Za-z]{2,3}([-_][A-Za-z0-9]{2,8})?$")


class LanguageRefused(Refused):
    """A language that is not one Handoff speaks to customers (`code`: `invalid`)."""


def contact_language_detect(*, message: Message) -> str | None:
    """Read a customer's inbound text `message` for their language, while detection still
    reads this contact's messages (the first few, and the language not set by a person).
    Returns the language the contact has now when detection set it, else None.

    Safe under concurrent deliveries: the sample counter and the language are written with
    one conditional update that never touches a language a person set."""
    if message.direction != Message.Direction.INBOUND or message.type != "text" or not message.text.strip():
        return None
    contact = message.conversation.contact
    limit = settings.LANGUAGE_DETECTION_MESSAGES
    if contact.language_source == LanguageSource.AGENT or contact.language_samples >= limit:
        return None
    texts = list(
        Message.objects.filter(
            conversation__contact=contact,
            direction=Message.Direction.INBOUND,
            sender_kind=Message.SenderKind.CONTACT,
            type="text",
            pk__lte=message.pk,
        )
        .order_by("-pk")
        .values_list("text", flat=True)[:limit]
    )
    detection = detect_language(" ".join(reversed(texts)))
    still_open = Q(pk=contact.pk, language_samples__lt=limit) & ~Q(language_source=LanguageSource.AGENT)
    changes: dict[str, Any] = {"language_samples": F("language_samples") + 1}
    if detection is not None:
        changes.update(
            language=detection.language,
            language_source=LanguageSource.DETECTED,
            language_confidence=detection.confidence,
            language_set_by=None,
            language_set_at=timezone.now(),
        )
    updated = Contact.objects.filter(still_open).update(**changes, updated_at=timezone.now())
    if not updated:
        return None
    # What the row now holds, without reading it again (the answers that follow read it).
    contact.language_samples += 1
    for field, value in changes.items():
        if field != "language_samples":
            setattr(contact, field, value)
    if detection is None:
        log.info("contact %s: no language detected from message %s", contact.pk, message.pk)
        return None
    return contact.language


def contact_language_set(*, contact: Contact, language: str, actor: Any = None) -> Contact:
    """A person sets (corrects) the contact's language, and that of their open conversations;
    "" clears it (detection does not resume). Any ISO 639 code is accepted and stored by its base (`es-MX` → `es`): routing
    matches it against agents' languages, and a language Handoff ships no texts for
    (`SHIPPED_LANGUAGES`) gets the number's default language's texts. Raises
    `LanguageRefused("invalid", ...)` for something that is not a language code."""
    code = language_base(language)
    if language and not LANGUAGE_CODE.match((language or "").strip()):
        raise LanguageRefused(
            "invalid",
            gettext("language: give a language code such as %(codes)s (or empty to clear it).")
            % {"codes": ", ".join(SHIPPED_LANGUAGES)},
        )
    with transaction.atomic():
        locked = Contact.objects.select_for_update().get(pk=contact.pk)
        locked.language = code
        locked.language_source = LanguageSource.AGENT if code else LanguageSource.UNKNOWN
        locked.language_confidence = None
        locked.language_set_by = actor if getattr(actor, "is_authenticated", False) else None
        locked.language_set_at = timezone.now()
        # A person has spoken: detection no longer changes this contact.
        locked.language_samples = max(locked.language_samples, settings.LANGUAGE_DETECTION_MESSAGES)
        locked.save(
            update_fields=[
                "language",
                "language_source",
                "language_confidence",
                "language_set_by",
                "language_set_at",
                "language_samples",
                "updated_at",
            ]
        )
        # Open conversations carry the language routing matches: a waiting one is offered to
        # agents who speak the corrected language from the next assignment run on.
        Conversation.objects.filter(contact=locked).exclude(status=Conversation.Status.RESOLVED).update(
            language=code
        )
    return locked
