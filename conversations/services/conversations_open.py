"""Open conversations for many contacts at once (a campaign's batch of recipients).

`conversations_for_contacts` gives each contact what `message_receive.conversation_for_contact`
would: its open conversation, a recently resolved one reopened, or a new one (status `bot`,
with its `created` timeline entry, desk event and outgoing webhook event; the desk events
of conversations created together are built from one read after commit). The open ones
are read in one query; contacts with none and nothing recently resolved get their
conversations created together (one insert, one insert of their timeline entries); the
rest (a conversation to reopen, or a concurrent writer that opened one first) go one by
one through `conversation_for_contact`, which holds the at-most-one-open rule.
"""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from conversations.models import Contact, Conversation
from conversations.payloads import ACTIVE_PARTICIPANTS
from conversations.services import conversations as lifecycle
from conversations.services.message_receive import conversation_for_contact


def conversations_for_contacts(*, contacts: list[Contact]) -> dict[int, Conversation]:
    """Each contact's WhatsApp conversation, by contact id, opened as `conversation_for_contact`
    opens one. Requires the caller's transaction; open conversations are locked (FOR UPDATE)."""
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("conversations_for_contacts runs inside the caller's transaction")
    by_id = {contact.pk: contact for contact in contacts}
    found: dict[int, Conversation] = {}
    for conversation in (
        Conversation.objects.select_for_update()
        .filter(contact_id__in=list(by_id))
        .exclude(status=Conversation.Status.RESOLVED)
    ):
        conversation.contact = by_id[conversation.contact_id]
        found[conversation.contact_id] = conversation
    missing = [contact for pk, contact in by_id.items() if pk not in found]
    if missing:
        recent = set(
            Conversation.objects.filter(
                contact_id__in=[contact.pk for contact in missing],
                status=Conversation.Status.RESOLVED,
                resolved_at__gte=timezone.now() - timedelta(hours=settings.CONVERSATION_REOPEN_HOURS),
            ).values_list("contact_id", flat=True)
        )
        try:
            with transaction.atomic():
                fresh = [contact for contact in missing if contact.pk not in recent]
                for conversation in lifecycle.conversations_start_many(contacts=fresh) if fresh else []:
                    setattr(conversation, ACTIVE_PARTICIPANTS, [])  # nobody has joined a new conversation
                    found[conversation.contact_id] = conversation
        except IntegrityError:
            pass  # another writer opened one of them meanwhile: one by one below
        for contact in missing:
            if contact.pk not in found:
                found[contact.pk] = conversation_for_contact(contact=contact)
    return found
