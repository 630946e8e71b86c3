"""Receiving a customer's message: the contact, its open conversation, the message once.

Every step is decided by database constraints, so concurrent deliveries of the same
webhook (Meta delivers at least once, in parallel) store one contact, one open
conversation and one message:
- contacts are unique per number and WhatsApp id, and per number and business-scoped id;
- a contact has at most one conversation that is not resolved;
- a provider message id is stored once.

Only a customer's own messages are answered automatically. Messages from the business's
own number (its display number as sender, or flagged as echoes), echoes of messages the
business sent from the WhatsApp Business app (`smb_message_echoes`) and WhatsApp's
`system` notices are stored for the record, and nothing automatic follows them: no bot
turn, no consent keyword or rating handling, no 24-hour window (so no queue message,
rating question or fallback is sent on their account). No reply loop can start.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from agents.models import Team
from config import task_names
from config.compiled_reads import CompiledRead
from config.tasking import enqueue_on_commit
from conversations.events import follower_ids, publish_conversation, publish_message, with_follower_ids
from conversations.inbound_hooks import inbound_claim, inbound_hooks_handle
from conversations.models import (
    Channel,
    Contact,
    Conversation,
    ConversationEvent,
    Message,
    WebhookEvent,
    WhatsAppNumber,
)
from conversations.processing.summaries import (
    as_dict,
    message_is_botable,
    message_summary,
    message_type,
    provider_time,
)
from conversations.services import conversations as lifecycle
from conversations.services.contact_language import contact_language_detect
from conversations.services.contacts import (
    IdentityChange,
    contact_for_identity_change,
    contact_identity_change,
    identity_change_of_system,
    is_user_id,
)
from conversations.services.media_download import media_download_dispatch, media_record_inbound
from conversations.services.message_status import statuses_apply_pending
from conversations.services.timeline import conversation_event_record
from conversations.services.webhook_outbox import EventType, webhook_message_event

log = logging.getLogger(__name__)

PREVIEW_LENGTH = 200
_RETRIES = 3


class _Duplicate(Exception):
    """The message was stored before: undo everything this delivery did."""


def _save_once(message: Message) -> None:
    """Insert the message; its provider id already stored means a duplicate. No savepoint
    of its own: the caller's atomic block, which `_Duplicate` leaves at once, rolls the
    whole delivery back (Django marks it for rollback when the insert fails)."""
    try:
        message.save()
    except IntegrityError:
        raise _Duplicate from None


class _Lost(Exception):
    """Another delivery changed the conversation first; look again."""


def _identity(profile: dict[str, Any], message: dict[str, Any]) -> tuple[str, str, str, str]:
    """(wa_id, user_id, parent user id, profile name) from a `contacts[]` entry and its
    message. `profile` is the entry (`{"profile": {"name"}, "wa_id", "user_id",
    "parent_user_id"}`); a bare `{"name": ...}` is accepted too."""
    wa_id = str(profile.get("wa_id") or message.get("from") or "").strip()
    user_id = str(profile.get("user_id") or message.get("from_user_id") or "").strip()
    parent = profile.get("parent_user_id") or message.get("from_parent_user_id")
    parent_user_id = parent.strip()[:128] if isinstance(parent, str) and is_user_id(parent) else ""
    inner = as_dict(profile.get("profile"))
    name = str(inner.get("name") or profile.get("name") or "").strip()
    return wa_id, user_id, parent_user_id, name[:256]


# The reads every customer's message makes, compiled once (config.compiled_reads).
_CONTACT_BY_WA_ID = CompiledRead(lambda number_id, wa_id: Contact.objects.filter(number_id=number_id, wa_id=wa_id),
                                 int, str)
_OPEN_CONVERSATION_LOCKED = CompiledRead(
    lambda contact_id: with_follower_ids(Conversation.objects.select_for_update())
    .filter(contact_id=contact_id)
    .exclude(status=Conversation.Status.RESOLVED),
    int,
)


def _contact_find(number: WhatsAppNumber, wa_id: str, user_id: str) -> Contact | None:
    if wa_id:
        contact = _CONTACT_BY_WA_ID.first(number.pk, wa_id)
        if contact is not None:
            return contact
    if user_id:
        return Contact.objects.filter(number=number, user_id=user_id).first()
    return None


def _contact_refresh(contact: Contact, wa_id: str, user_id: str, name: str, parent_user_id: str = "") -> None:
    """Fill in an identity the contact lacked and follow profile name and parent user id
    changes (a webhook without a parent user id leaves the stored one)."""
    changed: list[str] = []
    if name and contact.profile_name != name:
        contact.profile_name = name
        changed.append("profile_name")
    if parent_user_id and contact.parent_user_id != parent_user_id:
        contact.parent_user_id = parent_user_id
        changed.append("parent_user_id")
    identity: list[str] = []
    if wa_id and not contact.wa_id:
        contact.wa_id = wa_id
        identity.append("wa_id")
    if user_id and not contact.user_id:
        contact.user_id = user_id
        identity.append("user_id")
    if not changed and not identity:
        return
    try:
        with transaction.atomic():
            contact.save(update_fields=[*changed, *identity, "updated_at"])
    except IntegrityError:
        # Another contact of this number already holds that id (the same person known
        # twice): keep identities as they are, still follow the name.
        for field in identity:
            setattr(contact, field, "")
        log.warning("contact %s: identity %s already belongs to another contact", contact.pk, identity)
        if changed:
            contact.save(update_fields=[*changed, "updated_at"])


def contact_upsert(
    *, number: WhatsAppNumber, wa_id: str = "", user_id: str = "", profile_name: str = "", parent_user_id: str = ""
) -> Contact:
    """The contact of `number` with this WhatsApp id (or, failing that, business-scoped
    user id), created if new; both ids are stored when known and the profile name is
    kept current. Race-safe: a concurrent creation loses on the unique constraints and
    finds the winner's row."""
    if not wa_id and not user_id:
        raise ValueError("the sender has neither a WhatsApp id nor a business-scoped user id")
    for _ in range(_RETRIES):
        contact = _contact_find(number, wa_id, user_id)
        if contact is not None:
            _contact_refresh(contact, wa_id, user_id, profile_name, parent_user_id)
            return contact
        try:
            with transaction.atomic():
                return Contact.objects.create(number=number, wa_id=wa_id, user_id=user_id, profile_name=profile_name,
                                              parent_user_id=parent_user_id)
        except IntegrityError:
            continue
    raise IntegrityError(f"could not find or create the contact {wa_id or user_id} of number {number.pk}")


def _conversation_open(
    *, contact: Contact, channel: str = Channel.WHATSAPP, reason: str = "customer message", team: Team | None = None
) -> tuple[Conversation, str]:
    """The contact's open conversation, locked (with its participants' ids, for the desk
    event of a message stored in it next: `follower_ids`); or a recently resolved one
    reopened (status `bot`); or a new one. Returns it with "", "reopened" or "created"."""
    for _ in range(_RETRIES):
        conversation = _OPEN_CONVERSATION_LOCKED.first(contact.pk)
        if conversation is not None:
            conversation.contact = contact
            return conversation, ""
        now = timezone.now()
        recent = (
            Conversation.objects.filter(
                contact=contact,
                status=Conversation.Status.RESOLVED,
                resolved_at__gte=now - timedelta(hours=settings.CONVERSATION_REOPEN_HOURS),
            )
            .order_by("-resolved_at")
            .first()
        )
        try:
            with transaction.atomic():
                if recent is not None:
                    return _conversation_reopen(recent, contact), "reopened"
                return (
                    lifecycle.conversation_start(contact=contact, channel=channel, reason=reason, team=team),
                    "created",
                )
        except (IntegrityError, _Lost):
            continue
    raise IntegrityError(f"could not open a conversation for contact {contact.pk}")


def _conversation_reopen(conversation: Conversation, contact: Contact) -> Conversation:
    """Reopen `conversation` to the bot, unless another delivery changed it first (`_Lost`)."""
    locked = (
        Conversation.objects.select_for_update()
        .filter(pk=conversation.pk, status=Conversation.Status.RESOLVED)
        .first()
    )
    if locked is None:
        raise _Lost
    locked.contact = contact
    return lifecycle.conversation_reopen(
        conversation=locked,
        to=Conversation.Status.BOT,
        actor_kind=ConversationEvent.ActorKind.CONTACT,
        reason="customer wrote again",
    )


def conversation_for_contact(*, contact: Contact, channel: str = Channel.WHATSAPP) -> Conversation:
    """The contact's open conversation, a recently resolved one reopened, or a new one
    (status `bot`), with its timeline event and desk event. At most one is open per
    contact (a database constraint), also under concurrent calls."""
    with transaction.atomic():
        conversation, _ = _conversation_open(contact=contact, channel=channel)
        return conversation


def _conversation_touch(
    conversation: Conversation, text: str, sent_at: datetime | None, *, from_customer: bool = True
) -> None:
    """A message arrived: activity and preview; from the customer, also the 24-hour
    window (which counts from when the customer wrote, never moving backwards)."""
    now = timezone.now()
    at = min(sent_at, now) if sent_at is not None else now
    fields = ["last_activity_at"]
    conversation.last_activity_at = now
    if not from_customer:
        conversation.last_message_preview = text[:PREVIEW_LENGTH]
        conversation.save(update_fields=[*fields, "last_message_preview"])
        return
    latest = conversation.last_customer_message_at
    if latest is None or at >= latest:
        conversation.last_customer_message_at = at
        conversation.window_expires_at = at + timedelta(hours=settings.CUSTOMER_SERVICE_WINDOW_HOURS)
        conversation.last_message_preview = text[:PREVIEW_LENGTH]
        fields += ["last_customer_message_at", "window_expires_at", "last_message_preview"]
    conversation.save(update_fields=fields)


def _identity_changed(contact: Contact, conversation: Conversation, change: IdentityChange) -> None:
    """A `system` message saying the customer's phone number or business-scoped user id
    changed: the contact takes the new ids (keeping its conversations and history), and
    the conversation's timeline says so."""
    changed = contact_identity_change(contact=contact, change=change)
    reason = change.summary if changed else f"{change.summary} (not applied: another contact holds the new id)"
    if changed.merged:
        reason += "; merged with the contact that wrote with it (" + ", ".join(f"#{pk}" for pk in changed.merged) + ")"
    conversation_event_record(
        conversation=conversation,
        kind="contact_identity_changed",
        reason=reason,
        data={"type": change.kind, "changed": list(changed.fields), "merged_contacts": list(changed.merged),
              "previous_wa_id": change.previous_wa_id, "wa_id": change.wa_id,
              "previous_user_id": change.previous_user_id, "user_id": change.user_id},
    )


def _digits(value: Any) -> str:
    return "".join(ch for ch in str(value or "") if ch.isdigit())


def _business_phones(number: WhatsAppNumber, business_phone: str) -> set[str]:
    """The business's own number, as stored and as the webhook's metadata gives it."""
    return {_digits(number.display_phone_number), _digits(business_phone)} - {""}


def from_the_business(*, number: WhatsAppNumber, message: dict[str, Any], business_phone: str = "") -> bool:
    """The message was sent by the business's own number (its display number as sender,
    or flagged as an echo), not by a customer."""
    if message.get("is_echo") or message.get("echo"):
        return True
    sender = _digits(message.get("from"))
    return bool(sender) and sender in _business_phones(number, business_phone)


def _conversation_for_record(contact: Contact, *, reason: str) -> tuple[Conversation, str]:
    """Where a message that is not the customer's goes: the open conversation (locked),
    else the latest one as it is (a resolved conversation is not reopened for it), else a
    new one. Returns it with "" or "created"."""
    conversation = (
        Conversation.objects.select_for_update()
        .filter(contact=contact)
        .exclude(status=Conversation.Status.RESOLVED)
        .first()
    ) or Conversation.objects.filter(contact=contact).order_by("-created_at", "-pk").first()
    if conversation is None:
        return _conversation_open(contact=contact, reason=reason)
    conversation.contact = contact
    return conversation, ""


def message_echo_record(
    *,
    number: WhatsAppNumber,
    message: dict[str, Any],
    webhook_event: WebhookEvent | None = None,
) -> Message | None:
    """Store a message the business sent from its own number outside Handoff (the WhatsApp
    Business app or a linked device: a `smb_message_echoes` item, `from` the business and
    `to` the customer) in that customer's conversation, as an outbound message already
    sent.

    Guarantees: stored once (a duplicate returns None); goes into the customer's open
    conversation, else their latest one (a resolved conversation is not reopened), else a
    new one; never delivered, never answered, and it does not touch the 24-hour window or
    the agents' response times. Statuses that arrived for it first are applied. Its photo,
    voice note, video, document or sticker is recorded and downloaded by media id after
    commit (after the message's own event), under the same rules as a customer's
    (conversations.services.media_download)."""
    wamid = str(message.get("id") or "").strip()
    if not wamid:
        raise ValueError("echo without an id")
    to = str(message.get("to") or "").strip()
    to_user_id = str(message.get("to_user_id") or message.get("recipient_user_id") or "").strip()
    if not to and not to_user_id:
        raise ValueError("echo without a recipient")
    if Message.objects.filter(provider_message_id=wamid).exists():
        return None
    kind = message_type(message)
    text = message_summary(message)
    sent_at = provider_time(message.get("timestamp"))
    try:
        with transaction.atomic():
            contact = contact_upsert(number=number, wa_id=to, user_id=to_user_id)
            conversation, _ = _conversation_for_record(
                contact, reason="message sent from the business's own WhatsApp app"
            )
            stored = Message(
                conversation=conversation,
                direction=Message.Direction.OUTBOUND,
                sender_kind=Message.SenderKind.AGENT,
                type=kind,
                text=text,
                payload=message,
                provider_message_id=wamid,
                status=Message.Status.SENT,
                sent_at=sent_at or timezone.now(),
                provider_timestamp=sent_at,
            )
            _save_once(stored)
            media = media_record_inbound(message=stored)
            _conversation_touch(conversation, text, sent_at, from_customer=False)
            publish_message(stored)
            media_download_dispatch(media)
            publish_conversation(conversation)
            webhook_message_event(type=EventType.MESSAGE_CREATED, message=stored)
    except _Duplicate:
        log.info("duplicate echo %s ignored (webhook %s)", wamid, getattr(webhook_event, "pk", None))
        return None
    statuses_apply_pending(message=stored)
    return stored


def message_receive(
    *,
    number: WhatsAppNumber,
    profile: dict[str, Any],
    message: dict[str, Any],
    webhook_event: WebhookEvent | None = None,
    business_phone: str = "",
    channel: str = Channel.WHATSAPP,
    team: Team | None = None,
    upload: bytes | None = None,
) -> Message | None:
    """Store one inbound message (`messages[]` item) from the sender described by
    `profile` (its `contacts[]` entry). `business_phone` is the webhook's
    `metadata.display_phone_number`.

    Guarantees: the message is stored once; a duplicate (same wamid, in sequence or
    concurrently) returns None and changes nothing else. Otherwise the contact is found
    or created, the open conversation found, reopened or created, the window and preview
    updated, the desk told after commit, and a bot turn enqueued when the conversation
    is with the bot and the message is one a bot may answer. The apps' inbound hooks
    (`conversations.inbound_hooks`) run first: a consent keyword is honoured at once and a
    tap on a rating button rates its resolved conversation (without reopening it);
    neither goes to the bot.

    A message from the business's own number is not the customer's: an echo addressed to
    a customer is stored as that conversation's outbound message (`message_echo_record`);
    otherwise it is stored as sent by the system. Such messages and `system` notices get
    nothing automatic (see the module docstring).

    A web chat visitor's message (conversations.services.webchat) comes in WhatsApp's shape
    with `channel` webchat: a new conversation starts in that channel and in `team`; a file
    the visitor sent comes as `upload` (its bytes) and is stored at once.
    """
    wamid = str(message.get("id") or "").strip()
    if not wamid:
        raise ValueError("message without an id")
    own = from_the_business(number=number, message=message, business_phone=business_phone)
    recipient = _digits(message.get("to"))
    if own and (recipient or message.get("to_user_id")) and recipient not in _business_phones(number, business_phone):
        return message_echo_record(number=number, message=message, webhook_event=webhook_event)
    # No read for a duplicate first: the message's own insert finds it (`_save_once`) and
    # everything this delivery did is rolled back, so each new message saves a query.
    wa_id, user_id, parent_user_id, name = _identity(profile, message)
    kind = message_type(message)
    # Only a customer's own message may start anything automatic.
    from_customer = not own and kind != "system"
    text = message_summary(message)
    sent_at = provider_time(message.get("timestamp"))
    context = as_dict(message.get("context"))
    try:
        with transaction.atomic():
            change = identity_change_of_system(message) if kind == "system" and not own else None
            contact = (contact_for_identity_change(number=number, change=change) if change else None) or contact_upsert(
                number=number, wa_id=wa_id or (change.previous_wa_id if change else ""),
                user_id=user_id if not change else (change.previous_user_id or user_id or change.user_id),
                profile_name=name, parent_user_id=parent_user_id,
            )
            claim = inbound_claim(contact=contact, message=message) if from_customer else None
            if claim is not None:
                conversation = claim[1]
            elif from_customer:
                conversation, _ = _conversation_open(contact=contact, channel=channel, team=team)
            else:
                why = "message from the business's own number" if own else "WhatsApp system notice"
                conversation, _ = _conversation_for_record(contact, reason=why)
            reply_to = (
                Message.objects.filter(provider_message_id=str(context["id"])).only("pk").first()
                if context.get("id")
                else None
            )
            stored = Message(
                conversation=conversation,
                direction=Message.Direction.INBOUND,
                sender_kind=Message.SenderKind.CONTACT if from_customer else Message.SenderKind.SYSTEM,
                type=kind,
                text=text,
                payload=message,
                provider_message_id=wamid,
                reply_to=reply_to,
                status=Message.Status.RECEIVED,
                provider_timestamp=sent_at,
            )
            _save_once(stored)
            media = media_record_inbound(message=stored, upload=upload)
            _conversation_touch(conversation, text, sent_at, from_customer=from_customer)
            if change is not None:
                _identity_changed(contact, conversation, change)
            publish_message(stored, participant_ids=follower_ids(conversation))
            media_download_dispatch(media)
            publish_conversation(conversation)
            webhook_message_event(type=EventType.MESSAGE_CREATED, message=stored)
            if not from_customer:
                log.info("message %s (%s) is not a customer's: stored, not answered", wamid, kind)
                return stored
            if kind == "text":
                # Before any answer, so the answers (consent confirmation, bot, handoff) speak it.
                contact_language_detect(message=stored)
            if (
                not inbound_hooks_handle(message=stored, claimed_by=claim[0] if claim is not None else None)
                and conversation.status == Conversation.Status.BOT
                and message_is_botable(kind)
            ):
                enqueue_on_commit(task_names.BOT_TURN, message_id=stored.pk)
    except _Duplicate:
        log.info("duplicate message %s ignored (webhook %s)", wamid, getattr(webhook_event, "pk", None))
        return None
    return stored
