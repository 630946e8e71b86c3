"""Web chat visitors: sessions, identity, the pre-chat and offline forms, their messages,
statuses and typing, and the emails they ask for (README, "Web chat").

A visitor's message goes through `message_receive` in WhatsApp's shape with the web chat
channel, so the bot turn, handoff, routing, desk events, notes, canned responses,
conference chats and ratings work unchanged. Every call names the visitor by a signed
token (conversations.providers.webchat.tokens); a visitor reaches only their own
contact's conversations and messages: ids from the widget are always looked up under
that contact, so naming another visitor's message or conversation finds nothing.

Refusals (`config.refusals.Refused`): `forbidden` for an origin the inbox does not allow or
a bad token, `invalid` (with `field`) for form input, `prechat_required` for a message
before the pre-chat form when the inbox asks for one.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.mail import send_mail
from django.core.validators import validate_email
from django.db import transaction
from django.utils import timezone

from config import task_names
from config.realtime import broadcast_on_commit, conversation_group
from config.refusals import Refused
from config.tasking import enqueue_on_commit
from conversations.models import Channel, Contact, Conversation, ConversationEvent, Message, WebChatInbox
from conversations.providers import webchat
from conversations.providers.webchat.tokens import (
    Visitor,
    anonymous,
    identity_verified,
    token_issue,
    token_read,
)
from conversations.selectors import webchat_visitor_files
from conversations.services import conversations as lifecycle
from conversations.services.media_send import media_file_check
from conversations.services.message_receive import contact_upsert, message_receive
from conversations.services.message_status import status_record

log = logging.getLogger(__name__)

NAME_MAX = 100
TEXT_MAX = 4096
CLIENT_ID = re.compile(r"^[A-Za-z0-9_-]{8,64}$")
USER_ID_MAX = 64
HISTORY_LIMIT = 200


@dataclass(frozen=True)
class Session:
    visitor: Visitor
    token: str


def _refused_origin() -> Refused:
    return Refused("forbidden", "This site may not embed this chat.")


def webchat_session_start(*, inbox: WebChatInbox, origin: str, token: str = "") -> Session:
    """A visitor session for a page of `origin`: the visitor of `token` when it is valid for
    this inbox (with a fresh token: tokens rotate on every call), else a new anonymous
    visitor. Refused `forbidden` when the inbox is inactive or does not allow the origin."""
    if not inbox.is_active or not inbox.origin_allowed(origin):
        raise _refused_origin()
    visitor = token_read(token, inbox_id=inbox.pk) if token else None
    if visitor is None:
        visitor = anonymous(inbox.pk, origin.rstrip("/"))
    elif visitor.origin != origin.rstrip("/"):
        visitor = Visitor(inbox.pk, visitor.visitor, origin.rstrip("/"))
    return Session(visitor, token_issue(visitor))


def webchat_visitor(*, inbox: WebChatInbox, token: str) -> Visitor:
    """The token's visitor, refused `forbidden` when the token is forged, expired or for
    another inbox, or its origin is no longer allowed."""
    visitor = token_read(token, inbox_id=inbox.pk)
    if visitor is None or not inbox.is_active or not inbox.origin_allowed(visitor.origin):
        raise Refused("forbidden", "The chat session is not valid; reload the page.")
    return visitor


def webchat_contact(*, inbox: WebChatInbox, visitor: Visitor, create: bool = True) -> Contact | None:
    """The visitor's contact (created when `create`), marked as this inbox's visitor."""
    user_id = visitor.contact_user_id
    if not create:
        return Contact.objects.filter(number_id=inbox.number_id, user_id=user_id).first()
    contact = contact_upsert(number=inbox.number, user_id=user_id)
    if contact.webchat_inbox_id is None:
        Contact.objects.filter(pk=contact.pk, webchat_inbox__isnull=True).update(webchat_inbox=inbox)
        contact.webchat_inbox = inbox
    return contact


def _clean_name(value: Any) -> str:
    return " ".join(str(value or "").split())[:NAME_MAX]


def _clean_email(value: Any, *, required: bool) -> str:
    email = str(value or "").strip()
    if not email:
        if required:
            raise Refused("invalid", "Please enter your email address.", field="email")
        return ""
    try:
        validate_email(email)
    except ValidationError:
        raise Refused("invalid", "Please enter a valid email address.", field="email") from None
    return email[:254]


def prechat_needed(*, inbox: WebChatInbox, contact: Contact | None) -> bool:
    asks = inbox.ask_name or inbox.ask_email or bool(inbox.consent_text)
    return asks and (contact is None or not (contact.attributes or {}).get("prechat_at"))


def webchat_prechat_submit(
    *, inbox: WebChatInbox, visitor: Visitor, name: Any = "", email: Any = "", consent: Any = False
) -> Contact:
    """Check the pre-chat form on the server (name, email, the consent box, as the inbox
    asks) and keep it on the visitor's contact, with the consent's text and time."""
    name = _clean_name(name)
    if inbox.ask_name and not name:
        raise Refused("invalid", "Please enter your name.", field="name")
    email = _clean_email(email, required=inbox.ask_email)
    if inbox.consent_text and consent is not True:
        raise Refused("invalid", "Please accept the terms to start the chat.", field="consent")
    now = timezone.now()
    with transaction.atomic():
        contact = webchat_contact(inbox=inbox, visitor=visitor)
        assert contact is not None
        contact = Contact.objects.select_for_update().get(pk=contact.pk)
        attributes = dict(contact.attributes or {})
        attributes["prechat_at"] = now.isoformat()
        if email:
            attributes["email"] = email
        if inbox.consent_text:
            attributes["consent"] = {"text": inbox.consent_text, "at": now.isoformat()}
        contact.attributes = attributes
        if name:
            contact.profile_name = name
        contact.save(update_fields=["attributes", "profile_name", "updated_at"])
    return contact


def webchat_identify(
    *, inbox: WebChatInbox, visitor: Visitor, user_id: Any = "", user_hash: Any = "", name: Any = "", email: Any = ""
) -> Session:
    """`Handoff.identify()`: with a `user_hash` that checks out against the inbox's identity
    secret, the visitor becomes that verified user (their own contact and conversations);
    otherwise what the page claims is kept on the anonymous visitor's contact as
    unverified attributes and never joins a verified user's contact."""
    user_id = str(user_id or "").strip()[:USER_ID_MAX]
    name = _clean_name(name)
    email = _clean_email(email, required=False)
    if user_id and identity_verified(inbox.identity_secret, user_id, str(user_hash or "")):
        visitor = Visitor(inbox.pk, f"u:{user_id}", visitor.origin)
        verified = True
    else:
        verified = False
    if user_id or name or email:
        with transaction.atomic():
            contact = webchat_contact(inbox=inbox, visitor=visitor)
            assert contact is not None
            contact = Contact.objects.select_for_update().get(pk=contact.pk)
            attributes = dict(contact.attributes or {})
            if verified:
                attributes["verified_user_id"] = user_id
            elif user_id:
                attributes["claimed_user_id"] = user_id
            if email:
                attributes["email"] = email
            contact.attributes = attributes
            if name and (verified or not contact.profile_name):
                contact.profile_name = name
            contact.save(update_fields=["attributes", "profile_name", "updated_at"])
    return Session(visitor, token_issue(visitor))


def _offered_reply(contact: Contact, reply_id: str) -> tuple[str, str] | None:
    """(reply kind, title) of a choice offered to this visitor in a recent menu, or of the
    widget's own "Talk to a person"."""
    if reply_id == webchat.HUMAN_OPTION_ID:
        return "button_reply", webchat.HUMAN_OPTION_TITLE
    menus = Message.objects.filter(
        conversation__contact=contact, direction=Message.Direction.OUTBOUND, type="interactive", internal=False
    ).order_by("-pk")[:20]
    for menu in menus:
        kind, choices = webchat.choices_of(menu.payload if isinstance(menu.payload, dict) else {})
        for choice in choices:
            if choice["id"] == reply_id:
                return kind, choice["title"]
    return None


def webchat_message_receive(
    *, inbox: WebChatInbox, visitor: Visitor, client_id: Any, text: Any = "", reply: Any = None
) -> Message | None:
    """A visitor's message (text, or a tap on a menu choice offered to them) into their
    conversation, through `message_receive`: stored once per `client_id` (the widget's
    id for the message, so a resend after a reconnect changes nothing), echoed to the
    visitor's other tabs. Refused `prechat_required` before the pre-chat form, `invalid`
    for an empty or oversized text or a choice never offered."""
    client_id = str(client_id or "")
    if not CLIENT_ID.match(client_id):
        raise Refused("invalid", "A message needs a client id.", field="client_id")
    contact = webchat_contact(inbox=inbox, visitor=visitor)
    assert contact is not None
    if prechat_needed(inbox=inbox, contact=contact):
        raise Refused("prechat_required", "Please fill in the form first.")
    body: dict[str, Any]
    if reply is not None:
        offered = _offered_reply(contact, str(reply)[:256])
        if offered is None:
            raise Refused("invalid", "That choice is not offered.", field="reply")
        kind, title = offered
        body = {"type": "interactive", "interactive": {"type": kind, kind: {"id": str(reply), "title": title}}}
    else:
        text = str(text or "").strip()
        if not text:
            raise Refused("invalid", "The message is empty.", field="text")
        if len(text) > TEXT_MAX:
            raise Refused("invalid", f"A message has at most {TEXT_MAX} characters.", field="text")
        body = {"type": "text", "text": {"body": text}}
    message = {
        "id": f"webchat:{contact.pk}:{client_id}",
        "timestamp": str(int(timezone.now().timestamp())),
        **body,
    }
    profile = {"user_id": contact.user_id, "name": contact.profile_name}
    with transaction.atomic():
        stored = message_receive(
            number=inbox.number, profile=profile, message=message, channel=Channel.WEBCHAT, team=inbox.team
        )
        if stored is not None:
            broadcast_on_commit([webchat.visitor_group(contact.user_id)], webchat.message_frame(stored, inbox_key=inbox.key))
    return stored


def webchat_file_receive(
    *, inbox: WebChatInbox, visitor: Visitor, client_id: Any, data: Any, name: str = "", content_type: str = "",
    caption: Any = "",
) -> Message | None:
    """A file the visitor attached, under the same rules as files sent on WhatsApp (types,
    sizes, bytes matching the declared type: `media_file_check`, refused `invalid` naming
    the rule), stored at once with the message (no download) and shown in the desk like a
    WhatsApp customer's file. Stored once per `client_id`; refused `prechat_required` before
    the pre-chat form."""
    client_id = str(client_id or "")
    if not CLIENT_ID.match(client_id):
        raise Refused("invalid", "A message needs a client id.", field="client_id")
    contact = webchat_contact(inbox=inbox, visitor=visitor)
    assert contact is not None
    if prechat_needed(inbox=inbox, contact=contact):
        raise Refused("prechat_required", "Please fill in the form first.")
    caption = str(caption or "").strip()
    file = media_file_check(data=data, name=name, content_type=content_type, caption=caption)
    obj: dict[str, Any] = {"mime_type": file.mime_type, "filename": file.name}
    if caption:
        obj["caption"] = caption
    message = {
        "id": f"webchat:{contact.pk}:{client_id}",
        "timestamp": str(int(timezone.now().timestamp())),
        "type": file.kind,
        file.kind: obj,
    }
    profile = {"user_id": contact.user_id, "name": contact.profile_name}
    with transaction.atomic():
        stored = message_receive(
            number=inbox.number, profile=profile, message=message, channel=Channel.WEBCHAT, team=inbox.team,
            upload=file.data,
        )
        if stored is not None:
            broadcast_on_commit([webchat.visitor_group(contact.user_id)], webchat.message_frame(stored, inbox_key=inbox.key))
    return stored


def webchat_status_record(*, contact: Contact, message_id: Any, status: str) -> bool:
    """The widget showed (`delivered`) or the visitor saw (`read`) one of the messages sent
    to them: recorded like a WhatsApp status (forward only, once). A message that is not
    this visitor's changes nothing."""
    if status not in ("delivered", "read") or isinstance(message_id, bool) or not isinstance(message_id, int):
        return False
    message = (
        Message.objects.filter(
            pk=message_id,
            conversation__contact=contact,
            direction=Message.Direction.OUTBOUND,
            internal=False,
            provider_message_id__isnull=False,
        )
        .select_related("conversation__number")
        .first()
    )
    if message is None:
        return False
    status_record(
        number=message.conversation.number,
        item={
            "id": message.provider_message_id,
            "status": status,
            "recipient_id": contact.user_id,
            "timestamp": str(int(timezone.now().timestamp())),
        },
    )
    return True


def webchat_typing(*, contact: Contact) -> int | None:
    """The visitor is typing: a `typing` event to the desks following their open conversation."""
    conversation = (
        Conversation.objects.filter(contact=contact).exclude(status=Conversation.Status.RESOLVED).only("pk").first()
    )
    if conversation is None:
        return None
    name = contact.profile_name or "Visitor"
    event = {"type": "typing", "conversation": conversation.pk, "user": {"id": None, "name": name, "visitor": True},
             "internal": False}
    broadcast_on_commit([conversation_group(conversation.pk)], event)
    return conversation.pk


def webchat_history(*, inbox: WebChatInbox, contact: Contact | None, after: int = 0) -> list[dict[str, Any]]:
    """The visitor's messages after id `after` (catch-up on reconnect), oldest first: their
    own, and those sent to them (never notes, nothing still waiting to go out), each file
    with links signed now (so a reconnecting widget always holds fresh ones)."""
    if contact is None:
        return []
    messages = (
        Message.objects.filter(conversation__contact=contact, internal=False, pk__gt=max(int(after), 0))
        .exclude(direction=Message.Direction.OUTBOUND, provider_message_id__isnull=True)
        .select_related("sender_user", "media")
        .order_by("-pk")[:HISTORY_LIMIT]
    )
    return [webchat.visitor_message(m, inbox_key=inbox.key) for m in reversed(list(messages))]


def webchat_media_refresh(*, inbox: WebChatInbox, contact: Contact | None, after: int) -> list[dict[str, Any]]:
    """Fresh links (`id`, `url`, `thumbnail_url`?) for the files a reconnecting widget already
    shows (its messages up to `after`, which the catch-up does not resend), so a widget left
    open longer than WEBCHAT_MEDIA_LINK_SECONDS never holds only expired ones."""
    if contact is None or after <= 0:
        return []
    files = webchat_visitor_files(contact=contact, upto=int(after), limit=HISTORY_LIMIT)
    return [{"id": media.message_id, **webchat.media_links(media, inbox_key=inbox.key)} for media in files]


def webchat_latest_conversation(*, contact: Contact | None) -> Conversation | None:
    if contact is None:
        return None
    return Conversation.objects.filter(contact=contact).order_by("-created_at", "-pk").first()


def webchat_offline(*, inbox: WebChatInbox) -> bool:
    """The widget offers the offline form: the inbox's team is outside its business hours
    and none of its agents is online (agents.services.presence.team_away, registered)."""
    return webchat.inbox_away(inbox)


def webchat_offline_submit(
    *,
    inbox: WebChatInbox,
    visitor: Visitor,
    name: Any = "",
    email: Any = "",
    text: Any = "",
    client_id: Any = "",
    consent: Any = False,
) -> Conversation:
    """The offline form: the visitor's message and email become a conversation queued for
    the inbox's team (the bot does not answer it), and a confirmation email goes out
    after commit. The same `client_id` twice queues one conversation."""
    email = _clean_email(email, required=True)
    name = _clean_name(name)
    text = str(text or "").strip()
    if not text:
        raise Refused("invalid", "Please write your message.", field="text")
    if len(text) > TEXT_MAX:
        raise Refused("invalid", f"A message has at most {TEXT_MAX} characters.", field="text")
    with transaction.atomic():
        contact = webchat_prechat_submit(
            inbox=inbox, visitor=visitor, name=name or email, email=email, consent=consent
        )
        stored = webchat_message_receive(inbox=inbox, visitor=visitor, client_id=client_id, text=text)
        conversation = (
            Conversation.objects.select_for_update()
            .filter(contact=contact)
            .exclude(status=Conversation.Status.RESOLVED)
            .first()
        )
        if conversation is None:  # a repeat of a form whose conversation was resolved since
            return webchat_latest_conversation(contact=contact)  # type: ignore[return-value]
        if conversation.status == Conversation.Status.BOT:
            lifecycle.conversation_queue(
                conversation=conversation,
                team=inbox.team,
                reason="web chat offline form",
                actor_kind=ConversationEvent.ActorKind.CONTACT,
            )
        if stored is not None:
            enqueue_on_commit(task_names.WEBCHAT_EMAIL_SEND, kind="offline", conversation_id=conversation.pk)
    return conversation


def webchat_transcript_request(*, contact: Contact, email: Any = "") -> int:
    """"Email me the transcript": of the visitor's latest conversation, to `email` (kept on
    the contact) or the address they gave before. Returns the conversation id."""
    address = _clean_email(email, required=False) or str((contact.attributes or {}).get("email") or "")
    if not address:
        raise Refused("invalid", "Please enter your email address.", field="email")
    conversation = webchat_latest_conversation(contact=contact)
    if conversation is None:
        raise Refused("invalid", "There is no conversation to send yet.")
    with transaction.atomic():
        if address != (contact.attributes or {}).get("email"):
            locked = Contact.objects.select_for_update().get(pk=contact.pk)
            locked.attributes = {**(locked.attributes or {}), "email": address}
            locked.save(update_fields=["attributes", "updated_at"])
        enqueue_on_commit(task_names.WEBCHAT_EMAIL_SEND, kind="transcript", conversation_id=conversation.pk)
    return conversation.pk


def _transcript(conversation: Conversation) -> str:
    lines = []
    for message in conversation.messages.filter(internal=False).order_by("created_at", "pk"):
        who = "You" if message.direction == Message.Direction.INBOUND else (
            "Agent" if message.sender_kind == Message.SenderKind.AGENT else "Bot"
        )
        lines.append(f"[{message.created_at:%Y-%m-%d %H:%M} UTC] {who}: {message.text}")
    return "\n".join(lines)


def webchat_email_send(*, kind: str, conversation_id: int) -> bool:
    """Send the offline form's confirmation or a transcript to the address on the contact,
    as plain text through Django's email backend. Returns whether one was sent."""
    conversation = Conversation.objects.select_related("contact__webchat_inbox").filter(pk=conversation_id).first()
    inbox = conversation.contact.webchat_inbox if conversation is not None else None
    if conversation is None or inbox is None:
        return False
    contact = conversation.contact
    address = str((contact.attributes or {}).get("email") or "")
    if not address or contact.is_erased:
        return False
    if kind == "offline":
        subject = f"{inbox.title}: we got your message"
        body = (
            "Thank you for your message. Nobody is available right now; "
            "we will answer as soon as we are back.\n\n" + _transcript(conversation)
        )
    elif kind == "transcript":
        subject = f"{inbox.title}: your conversation"
        body = _transcript(conversation)
    else:
        return False
    send_mail(subject, body, settings.DEFAULT_FROM_EMAIL, [address])
    return True

