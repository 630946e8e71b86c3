"""Sending a file: WhatsApp's type and size rules checked before anything is stored, the
file kept in storage with its media row (and a thumbnail of an image), and the message
queued for delivery, which uploads it (`POST /{phone-number-id}/media`) and sends it by
the id Graph gives (conversations.services.message_delivery). In a web chat conversation
the same file goes to the visitor, who fetches it with their own token
(`GET /webchat/<key>/media/<message id>/`); files by link stay WhatsApp's only.

Refusals (`SendRefused`): `forbidden` (a reply the access rule does not allow),
`window_closed` (outside the 24-hour window), `invalid` naming the rule that failed
(a type WhatsApp does not take, a file over its kind's cap, bytes that are not what the
type says, a caption on a kind without one or over 1,024 characters, an empty file).
"""

from __future__ import annotations

import hashlib
import mimetypes
from dataclasses import dataclass
from typing import IO, Any

from django.contrib.auth.models import User
from django.core.files.base import ContentFile
from django.db import transaction
from django.utils.translation import gettext

from conversations.access import Roles
from conversations.media_types import (
    CAPTION_KINDS,
    CAPTION_MAX,
    SEND_TYPES,
    SIZE_CAPS,
    a_kind,
    base_type,
    bytes_match,
    human_size,
    kind_for_type,
    sniff,
)
from conversations.models import Channel, Conversation, Message, MessageMedia
from conversations.processing.summaries import message_summary
from conversations.services.media_download import thumbnail_store
from conversations.services.message_send import (
    SendRefused,
    check_channel,
    check_window,
    message_queue_outbound,
    reply_permission_check,
)

__all__ = ["MediaFile", "media_file_check", "media_row_for", "message_send_media", "message_send_media_link"]

NAME_MAX = 240


@dataclass(frozen=True)
class MediaFile:
    """An uploaded file that passed WhatsApp's rules."""

    kind: str
    mime_type: str
    name: str
    data: bytes


def _readable_types() -> str:
    return "; ".join(f"{kind}: {', '.join(types)}" for kind, types in SEND_TYPES.items())


def media_file_check(*, data: bytes | IO[bytes], name: str = "", content_type: str = "", caption: str = "") -> MediaFile:
    """The file as WhatsApp will take it, or `SendRefused("invalid", <the rule>)`. The type
    is the declared one (else guessed from the bytes or the name); the bytes must match it."""
    if not isinstance(data, bytes | bytearray):
        data = data.read()
    data = bytes(data)
    name = (name or "").replace("\\", "/").rsplit("/", 1)[-1].strip()[:NAME_MAX]
    if not data:
        raise SendRefused("invalid", gettext("The file is empty."))
    detected = sniff(data[:8192])
    declared = base_type(content_type)
    if declared in ("", "application/octet-stream", "binary/octet-stream"):
        declared = detected or base_type(mimetypes.guess_type(name)[0] or "")
    kind = kind_for_type(declared)
    if kind is None:
        raise SendRefused(
            "invalid", gettext("WhatsApp does not take files of type %(type)s. It takes %(types)s.")
            % {"type": declared or gettext("unknown"), "types": _readable_types()}
        )
    cap = SIZE_CAPS[kind]
    if len(data) > cap:
        raise SendRefused(
            "invalid", gettext("The file is %(size)s; WhatsApp allows at most %(cap)s for %(kind)s.")
            % {"size": human_size(len(data)), "cap": human_size(cap), "kind": a_kind(kind)}
        )
    if not bytes_match(declared=declared, detected=detected, kind=kind):
        raise SendRefused(
            "invalid", gettext("The file says it is %(declared)s but its bytes are %(detected)s.")
            % {"declared": declared, "detected": detected or gettext("not a known type")}
        )
    caption = caption or ""
    if caption.strip() and kind not in CAPTION_KINDS:
        raise SendRefused("invalid", gettext("WhatsApp sends no caption with %(kind)s; only with images, videos and documents.")
                          % {"kind": a_kind(kind)})
    if len(caption) > CAPTION_MAX:
        raise SendRefused("invalid", gettext("The caption is %(length)s characters; WhatsApp allows at most %(max)s.")
                          % {"length": len(caption), "max": CAPTION_MAX})
    return MediaFile(kind=kind, mime_type=declared, name=name, data=data)


def media_row_for(file: MediaFile) -> MessageMedia:
    """The media row of a checked file about to be sent, its file already in storage (the
    row itself is saved with its message: `message_queue_outbound(media=…)`)."""
    media = MessageMedia(
        kind=file.kind,
        mime_type=file.mime_type,
        file_name=file.name,
        size=len(file.data),
        sha256=hashlib.sha256(file.data).hexdigest(),
        state=MessageMedia.State.STORED,
    )
    media.file.save(file.name or file.kind, ContentFile(file.data), save=False)
    thumbnail_store(media, file.data)
    return media


def _whatsapp_only(conversation: Conversation) -> None:
    check_channel(conversation)
    if conversation.channel != Channel.WHATSAPP:
        raise SendRefused("invalid", gettext("Files by link are sent on WhatsApp only; attach the file itself."))


def message_send_media(
    *,
    conversation: Conversation,
    file: MediaFile,
    caption: str = "",
    sender_kind: str = "agent",
    sender_user: User | None = None,
    reply_to: Message | None = None,
    roles: Roles | None = None,
) -> Message:
    """Queue a checked file (`media_file_check`) for delivery inside the 24-hour window (a
    web chat visitor's conversation has none; the file is theirs at once):
    the message (`pending`) and its stored media row in one transaction, the delivery
    enqueued after commit, `message.created` published. A person's reply is refused
    `forbidden` first when they may not reply; `window_closed` outside the window."""
    if sender_user is not None and sender_kind == Message.SenderKind.AGENT:
        reply_permission_check(user=sender_user, conversation=conversation, roles=roles)
    check_channel(conversation)
    check_window(conversation)
    caption = (caption or "").strip()
    obj: dict[str, Any] = {}
    if caption:
        obj["caption"] = caption
    if file.kind == "document":
        obj["filename"] = file.name or "document"
    content = {"type": file.kind, file.kind: obj}
    media = media_row_for(file)
    try:
        with transaction.atomic():
            return message_queue_outbound(
                conversation=conversation,
                type=file.kind,
                content=content,
                text=message_summary(content),
                sender_kind=sender_kind,
                sender_user=sender_user,
                reply_to=reply_to,
                media=media,
            )
    except BaseException:
        media.file.storage.delete(media.file.name or "")
        raise


LINK_MAX = 2048


def message_send_media_link(
    *,
    conversation: Conversation,
    kind: str,
    link: str,
    caption: str = "",
    filename: str = "",
    sender_kind: str = "bot",
) -> Message:
    """Media by public link (a bot's answer): WhatsApp fetches the link, Handoff never does,
    so nothing is stored but the message. Inside the window; refused `invalid` for a kind
    WhatsApp has no media of, a link that is not http(s), a caption it does not allow, or
    a web chat conversation."""
    _whatsapp_only(conversation)
    check_window(conversation)
    link = (link or "").strip()
    if kind not in SEND_TYPES:
        raise SendRefused("invalid", gettext("WhatsApp has no media of kind %(kind)s.") % {"kind": repr(kind)})
    if not link.lower().startswith(("https://", "http://")) or len(link) > LINK_MAX or any(c.isspace() for c in link):
        raise SendRefused("invalid", gettext("A media link must be an http(s) URL of at most 2048 characters."))
    caption = (caption or "").strip()
    if caption and kind not in CAPTION_KINDS:
        raise SendRefused("invalid", gettext("WhatsApp sends no caption with %(kind)s; only with images, videos and documents.")
                          % {"kind": a_kind(kind)})
    if len(caption) > CAPTION_MAX:
        raise SendRefused("invalid", gettext("The caption is %(length)s characters; WhatsApp allows at most %(max)s.")
                          % {"length": len(caption), "max": CAPTION_MAX})
    obj: dict[str, Any] = {"link": link}
    if caption:
        obj["caption"] = caption
    if kind == "document":
        obj["filename"] = (filename or "").strip()[:NAME_MAX] or "document"
    content = {"type": kind, kind: obj}
    return message_queue_outbound(
        conversation=conversation,
        type=kind,
        content=content,
        text=f"{message_summary(content)}\n{link}",
        sender_kind=sender_kind,
    )
