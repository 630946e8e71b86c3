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

from conversations.events import CREATED, publish_conversations
from conversations.models import Channel, Contact, Conversation, ConversationEvent
from conversations.payloads import ACTIVE_PARTICIPANTS
from conversations.services.message_receive import conversation_for_contact
from conversations.services.timeline import conversation_event_build, conversation_events_record
from conversations.services.webhook_outbox import EventType, webhook_conversation_events


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
                for conversation in _start_many(contacts=fresh) if fresh else []:
                    setattr(conversation, ACTIVE_PARTICIPANTS, [])  # nobody has joined a new conversation
                    found[conversation.contact_id] = conversation
        except IntegrityError:
            pass  # another writer opened one of them meanwhile: one by one below
        for contact in missing:
            if contact.pk not in found:
                found[contact.pk] = conversation_for_contact(contact=contact)
    return found


def _start_many(*, contacts: list[Contact], reason: str = "customer message") -> list[Conversation]:
    """`conversations.conversation_start` for many contacts (a campaign's batch): the same
    rows, `created` entries and events, with one insert of the conversations and one of
    their entries, their desk events read back together after commit. IntegrityError when
    one of them has an open conversation already (the caller's savepoint then rolls back
    all of them)."""
    now = timezone.now()
    conversations = Conversation.objects.bulk_create([
        Conversation(number_id=contact.number_id, contact=contact, channel=Channel.WHATSAPP,
                     status=Conversation.Status.BOT, created_at=now, last_activity_at=now)
        for contact in contacts
    ])
    conversation_events_record([
        conversation_event_build(conversation=conversation, kind="created",
                                 actor_kind=ConversationEvent.ActorKind.CONTACT, to_status=Conversation.Status.BOT,
                                 reason=reason)
        for conversation in conversations
    ])
    publish_conversations([(conversation, ()) for conversation in conversations], CREATED)
    webhook_conversation_events(type=EventType.CONVERSATION_CREATED,
                                events=[(conversation, {}) for conversation in conversations])
    return conversations
