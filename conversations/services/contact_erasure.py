"""Erasing a contact's personal data (GDPR Art. 17) everywhere Handoff keeps it.

`contact_erase` anonymises, in one transaction:
- the contact: WhatsApp id and business-scoped id replaced by a random token, profile
  name, attributes and tags cleared;
- its messages: text, raw payload and provider error text (rows, types, directions,
  statuses and times stay, so reports keep counting them); outbound messages still
  pending are failed (`erased`) rather than sent;
- delivery statuses of those messages: recipient id, error details, raw payload;
- raw webhook bodies (and their error notes) that mention the contact: each item about
  the contact is cut down to its message id, status, type and time, which redelivery
  dedupe needs; platform events (user preferences) likewise;
- per conversation: the last-message preview, timeline free text (reasons, notes, alert
  details), the bot session (collected values, state), handoff context (detail,
  collected values, transcript), routing reasons; the escalation ledger holds only
  times and counts and is kept as it is; a rating is a score without comments;
- consent rows keep category, opt-in/out, source, actor and time; their proof text is
  erased, and any current opt-in is closed by an opt-out, so nothing business-initiated
  goes to the erased contact;
- campaign recipients (error text), the contact's lines in uploaded campaign lists,
  idempotency responses of the notification API, demo order links, the admin's history
  entries about the contact, the sandbox's simulated phone of the contact;
- media: the files and thumbnails of message media (`MessageMedia`, whose rows stay
  marked `removed`), files named by a message payload's `storage_path` and any file
  field on messages are deleted from storage once the transaction commits.

Provider message ids stay while WhatsApp may still redeliver a webhook (7 days; we keep
`DEDUPE_HORIZON`, 8), so a redelivered message cannot come back as new. Older ones are
replaced by a keyed hash at once, younger ones by `erasure_follow_up` (run daily with
the retention task), which also anonymises statuses that arrive after the erasure.

The erasure is recorded once (`ContactErasure`: who, when, how, counts); a second run
changes nothing and says so. The agents app adds it to the audit log (by id only).

What the higher apps keep (consent, campaigns, the notification API's keys) they erase
themselves, as erasure parts (`conversations.erasure_parts`) run in the same transaction;
the audit entry is their erasure recorder.
"""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.contrib.auth.models import User
from django.db import IntegrityError, models, transaction
from django.db.models import Q
from django.utils import timezone

from bots.models import DemoOrder
from conversations.erasure_parts import erasure_parts, erasure_recorders
from conversations.models import Contact, ContactErasure, Conversation, Message, MessageStatusEvent
from conversations.providers.sandbox.models import Phone
from conversations.services.anonymise import (
    CHUNK,
    DEDUPE_HORIZON,
    ERASED,
    TOKEN_PREFIX,
    WAMID_PREFIX,
    Needles,
    conversation_content_anonymise,
    id_chunks,
    message_files_delete,
    messages_anonymise,
    platform_events_scrub,
    statuses_anonymise,
    wamid_token,
    wamids_replace,
    webhook_events_scrub,
)
from conversations.services.message_status import statuses_apply_pending

log = logging.getLogger(__name__)


def _sandbox_and_demo_scrub(contact: Contact, needles: Needles) -> dict[str, int]:
    ids = needles.identifiers
    phones = Phone.objects.filter(number_id=contact.number_id).filter(Q(wa_id__in=ids) | Q(user_id__in=ids))
    deleted, _ = phones.delete()
    orders = DemoOrder.objects.filter(customer_wa_id__in=ids).update(customer_wa_id="")
    return {"sandbox_records": deleted, "demo_orders": orders}


def _admin_history_scrub(contact: Contact, conversation_ids: list[int], needles: Needles) -> int:
    """The admin's change history names objects by their text form (a contact's name, a
    conversation's "#12 Name"): entries about the contact, its conversations and any row
    pointing at the contact, and entries naming one of its ids."""
    from django.apps import apps
    from django.contrib.admin.models import LogEntry
    from django.contrib.contenttypes.models import ContentType

    targets: list[tuple[type[models.Model], list[str]]] = [
        (Contact, [str(contact.pk)]),
        (Conversation, [str(pk) for pk in conversation_ids]),
    ]
    for model in apps.get_models():
        for f in model._meta.concrete_fields:
            if isinstance(f, models.ForeignKey) and f.related_model is Contact and model is not ContactErasure:
                ids = [str(pk) for pk in model._default_manager.filter(**{f.name: contact}).values_list("pk", flat=True)]
                if ids:
                    targets.append((model, ids))
    query = Q(pk__in=[])
    for model, ids in targets:
        content_type = ContentType.objects.get_for_model(model)
        for chunk in id_chunks(ids):
            query |= Q(content_type=content_type, object_id__in=chunk)
    for identifier in needles.identifiers:
        query |= Q(object_repr__contains=identifier)
    count = 0
    for entry in LogEntry.objects.filter(query).only("pk", "change_message"):
        message = entry.change_message
        if needles.matches(message):
            message = ERASED
        LogEntry.objects.filter(pk=entry.pk).update(object_repr=ERASED, change_message=message)
        count += 1
    return count


# --- the service -----------------------------------------------------------------------------------


@dataclass
class ErasureResult:
    erasure: ContactErasure
    already_erased: bool
    counts: dict[str, int]

    @property
    def summary(self) -> str:
        erasure = self.erasure
        how = "via " + {"command": "the command line", "admin": "the admin", "api": "the API"}.get(erasure.via, erasure.via)
        if erasure.actor_username:
            how = f"by {erasure.actor_username} {how}"
        if self.already_erased:
            return (
                f"Contact {erasure.contact_ref} was already erased on {erasure.erased_at:%Y-%m-%d %H:%M} UTC "
                f"({how}); nothing changed."
            )
        done = ", ".join(f"{count} {kind.replace('_', ' ')}" for kind, count in self.counts.items() if count)
        return f"Erased contact {erasure.contact_ref}: {done or 'nothing else held its data'}."


def _needles_for(contact: Contact, messages: models.QuerySet[Message]) -> Needles:
    identifiers = {contact.wa_id, contact.user_id}
    texts: set[str] = set()
    for direction, text, payload in messages.values_list("direction", "text", "payload").iterator(chunk_size=CHUNK):
        texts.add(text)
        if direction == Message.Direction.INBOUND and isinstance(payload, dict):
            identifiers |= {str(payload.get("from") or ""), str(payload.get("from_user_id") or "")}
            system = payload.get("system")
            if isinstance(system, dict):
                identifiers |= {str(system.get("wa_id") or ""), str(system.get("new_wa_id") or "")}
    wamids = messages.filter(provider_message_id__isnull=False).values("provider_message_id")
    identifiers |= set(
        MessageStatusEvent.objects.filter(provider_message_id__in=wamids).exclude(recipient_id="").values_list(
            "recipient_id", flat=True
        )
    )
    identifiers.discard("")
    names = {contact.profile_name}
    names |= set(
        Phone.objects.filter(number_id=contact.number_id)
        .filter(Q(wa_id__in=identifiers) | Q(user_id__in=identifiers))
        .values_list("name", flat=True)
    )
    number = contact.number
    identifiers -= {number.display_phone_number, number.phone_number_id, number.business_account_id}
    return Needles(identifiers=identifiers, names=names, texts=texts)


def contact_erase(*, contact: Contact, actor: User | None, via: str = ContactErasure.Via.API) -> ErasureResult:
    """Erase `contact`'s personal data everywhere it is kept (see the module docstring),
    in one transaction holding the contact's row lock, and record the erasure.

    Idempotent: a contact already erased is left as it is and the earlier record is
    returned with `already_erased` set."""
    with transaction.atomic():
        locked = Contact.objects.select_for_update().select_related("number").get(pk=contact.pk)
        existing = ContactErasure.objects.filter(contact_ref=locked.pk).first()
        if existing is not None:
            return ErasureResult(erasure=existing, already_erased=True, counts={})

        conversation_ids = list(Conversation.objects.filter(contact=locked).values_list("pk", flat=True))
        messages = Message.objects.filter(conversation_id__in=conversation_ids)
        needles = _needles_for(locked, messages)
        token = TOKEN_PREFIX + secrets.token_hex(8)
        now = timezone.now()
        counts: dict[str, int] = {}

        counts["webhook_events"] = webhook_events_scrub(needles=needles)
        counts["platform_events"] = platform_events_scrub(needles)
        wamids = messages.filter(provider_message_id__isnull=False).values("provider_message_id")
        counts["statuses"] = statuses_anonymise(
            statuses=MessageStatusEvent.objects.filter(
                Q(provider_message_id__in=wamids) | Q(recipient_id__in=needles.identifiers)
            ),
            recipient_token=token,
        )
        counts["files"] = message_files_delete(messages=messages)
        messages.filter(
            direction=Message.Direction.OUTBOUND, status=Message.Status.PENDING
        ).update(status=Message.Status.FAILED, error_code="erased", failed_at=now, next_attempt_at=None)
        counts["messages"] = messages_anonymise(messages=messages, marker=ERASED, flag="erased")
        counts["message_ids_replaced"] = wamids_replace(messages.filter(created_at__lt=now - DEDUPE_HORIZON))
        counts.update(conversation_content_anonymise(conversation_ids=conversation_ids, marker=ERASED))
        for part in erasure_parts():  # the notifications app's consent, campaigns, API keys
            counts.update(part.fn(contact=locked, needles=needles, actor=actor))
        counts.update(_sandbox_and_demo_scrub(locked, needles))
        counts["admin_history"] = _admin_history_scrub(locked, conversation_ids, needles)

        Contact.objects.filter(pk=locked.pk).update(
            wa_id=token, user_id="", parent_user_id="", profile_name=ERASED, attributes={}, tags=[], updated_at=now
        )
        try:
            with transaction.atomic():
                erasure = ContactErasure.objects.create(
                    contact=locked,
                    contact_ref=locked.pk,
                    token=token,
                    actor=actor if actor is not None and actor.is_authenticated else None,
                    actor_username=actor.get_username() if actor is not None and actor.is_authenticated else "",
                    via=via,
                    erased_at=now,
                    counts=counts,
                )
        except IntegrityError:  # erased meanwhile by a connection that did not wait on the lock
            transaction.set_rollback(True)
            return ErasureResult(
                erasure=ContactErasure.objects.get(contact_ref=locked.pk), already_erased=True, counts={}
            )
        for record in erasure_recorders():  # the agents app's audit entry
            record(actor=actor, contact=locked, via=via, erasure=erasure, counts=counts)
    log.info("contact %s erased by %s via %s", contact.pk, erasure.actor_username or "system", via)
    contact.refresh_from_db()
    return ErasureResult(erasure=erasure, already_erased=False, counts=counts)


def erasure_follow_up(*, now: datetime | None = None) -> dict[str, int]:
    """What an erasure could not finish at once (run daily, with the retention task):
    - statuses of erased contacts' messages that arrived after the erasure, and the raw
      webhook bodies carrying them, are anonymised;
    - a status that arrives for a message whose id was already replaced is recognised by
      the keyed id and anonymised too;
    - once the redelivery window has passed, the remaining provider message ids are
      replaced and the erasure is marked complete.
    Idempotent. Returns counts per kind."""
    now = now or timezone.now()
    counts = {"statuses": 0, "webhook_events": 0, "message_ids_replaced": 0, "completed": 0}
    erasures = ContactErasure.objects.filter(completed_at__isnull=True, contact__isnull=False).select_related("contact")
    for erasure in erasures:
        with transaction.atomic():
            messages = Message.objects.filter(conversation__contact=erasure.contact)
            wamids = messages.filter(provider_message_id__isnull=False).values("provider_message_id")
            late = MessageStatusEvent.objects.filter(provider_message_id__in=wamids).exclude(payload={"erased": True})
            statuses, events = _late_statuses_anonymise(late, erasure.token, since=erasure.erased_at - timedelta(days=1))
            counts["statuses"] += statuses
            counts["webhook_events"] += events
            if erasure.erased_at < now - DEDUPE_HORIZON:
                counts["message_ids_replaced"] += wamids_replace(messages)
                ContactErasure.objects.filter(pk=erasure.pk).update(completed_at=now)
                counts["completed"] += 1
    # Statuses for messages whose id was replaced wait unapplied under the original id.
    waiting = MessageStatusEvent.objects.filter(
        applied_at__isnull=True, received_at__gte=now - timedelta(days=2)
    ).exclude(provider_message_id__startswith=WAMID_PREFIX)
    for status in waiting.only("pk", "provider_message_id", "received_at"):
        token = wamid_token(status.provider_message_id)
        message = Message.objects.filter(provider_message_id=token).select_related("conversation__contact__erasure").first()
        if message is None or not hasattr(message.conversation.contact, "erasure"):
            continue
        with transaction.atomic():
            erasure = message.conversation.contact.erasure
            statuses, events = _late_statuses_anonymise(
                MessageStatusEvent.objects.filter(pk=status.pk), erasure.token, since=status.received_at - timedelta(days=1)
            )
            counts["statuses"] += statuses
            counts["webhook_events"] += events
            try:
                with transaction.atomic():
                    MessageStatusEvent.objects.filter(pk=status.pk).update(provider_message_id=token)
            except IntegrityError:  # the same status was recorded before the id was replaced
                MessageStatusEvent.objects.filter(pk=status.pk).delete()
        statuses_apply_pending(message=message)  # forward only, as any status
    return counts


def _late_statuses_anonymise(
    statuses: models.QuerySet[MessageStatusEvent], token: str, *, since: datetime
) -> tuple[int, int]:
    """Anonymise statuses that reached an erased contact's messages after its erasure, and
    the raw bodies (received since `since`) that name their recipients. Returns (statuses,
    webhook events) changed."""
    recipients = {r for r in statuses.values_list("recipient_id", flat=True) if r and r != token}
    events = webhook_events_scrub(needles=Needles(identifiers=recipients), since=since) if recipients else 0
    return statuses_anonymise(statuses=statuses, recipient_token=token), events
