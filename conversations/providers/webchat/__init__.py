"""The web chat provider: what the visitor's socket carries, beside WhatsApp's Graph client.

Outbound messages are stored exactly as for WhatsApp (a Graph-shaped `payload`: text, or
interactive buttons and lists, which the widget renders as buttons), and delivery
(conversations.services.message_delivery) hands them here instead of to Graph: the
message gets a provider id of its own (`webchat-<uuid>`) and its frame goes to the
visitor's group after the `sent` state commits. The widget answers `delivered` and
`read` for each message it shows; those become ordinary status records
(conversations.services.message_status), so the desk's ticks work unchanged.

Visitors only ever join their own group (`webchat.<hash of the contact's user id>`): no desk event, and no
other visitor's frame, can reach them. Internal notes are never delivered, so never
reach this module.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

from django.urls import reverse

from conversations.media_types import KINDS, human_size, served_inline
from conversations.models import Message, MessageMedia, WebChatInbox
from conversations.providers.webchat.tokens import media_link_signature

PROVIDER_ID_PREFIX = "webchat-"
# The widget's always-present "Talk to a person" answers as the bots' human option does
# (bots.models.flows.HUMAN_OPTION_ID), so escalation needs nothing of its own.
HUMAN_OPTION_ID = "handoff:human"
HUMAN_OPTION_TITLE = "Talk to a person"


def visitor_group(contact_user_id: str) -> str:
    """The visitor's socket group, from their contact's user id (known before the contact
    row exists: a visitor's socket is open before their first message)."""
    return f"webchat.{hashlib.sha256(contact_user_id.encode()).hexdigest()[:40]}"


def inbox_group(inbox_id: int) -> str:
    """Every visitor socket of one inbox: told when the inbox's origins or state change."""
    return f"webchat.inbox.{inbox_id}"


INBOX_CHANGED = "inbox.changed"


def inbox_changed_event(inbox: WebChatInbox, *, removed: bool = False) -> dict[str, Any]:
    """What an inbox's sockets need to re-check their origin (never forwarded to visitors)."""
    return {"type": INBOX_CHANGED, "inbox": inbox.pk, "active": inbox.is_active and not removed,
            "origins": inbox.origins}


def inbox_key_of(contact_user_id: str) -> str | None:
    """The public key of the inbox a web chat contact came through (its user id is
    `webchat:<inbox id>:<visitor>`), or None when that is not a web chat contact's id."""
    parts = contact_user_id.split(":", 2)
    if len(parts) != 3 or parts[0] != "webchat" or not parts[1].isdigit():
        return None
    return WebChatInbox.objects.filter(pk=int(parts[1])).values_list("key", flat=True).first()


def provider_message_id() -> str:
    return f"{PROVIDER_ID_PREFIX}{uuid.uuid4().hex}"


def choices_of(payload: dict[str, Any]) -> tuple[str, list[dict[str, str]]]:
    """(`button_reply` or `list_reply`, [{"id", "title"}]) of an interactive body: a list's
    rows are offered as buttons too, and a tap answers the way WhatsApp's would."""
    interactive: dict[str, Any] = payload.get("interactive") or {}
    if not isinstance(interactive, dict):
        interactive = {}
    action: dict[str, Any] = interactive.get("action") or {}
    if not isinstance(action, dict):
        action = {}
    if interactive.get("type") == "button":
        return "button_reply", [
            {"id": str(b["reply"]["id"]), "title": str(b["reply"]["title"])}
            for b in action.get("buttons", [])
            if isinstance(b, dict) and isinstance(b.get("reply"), dict)
        ]
    rows = [row for section in action.get("sections", []) for row in section.get("rows", []) if isinstance(row, dict)]
    return "list_reply", [{"id": str(r.get("id", "")), "title": str(r.get("title", ""))} for r in rows]


def visitor_message(message: Message, *, inbox_key: str) -> dict[str, Any]:
    """A message as the widget renders it (text only; the widget never renders HTML), with
    its file when it has a stored one (`media`, with fresh links into inbox `inbox_key`;
    the text is then the caption)."""
    data: dict[str, Any] = {
        "id": message.pk,
        "conversation": message.conversation_id,
        "mine": message.direction == Message.Direction.INBOUND,
        "sender": message.sender_kind,
        "text": message.text,
        "status": message.status,
        "created_at": message.created_at.isoformat() if message.created_at else None,
    }
    if message.direction == Message.Direction.OUTBOUND:
        payload = message.payload if isinstance(message.payload, dict) else {}
        if message.type == "interactive":
            reply_kind, choices = choices_of(payload)
            interactive = payload.get("interactive") or {}
            data["text"] = str((interactive.get("body") or {}).get("text") or message.text)
            data["choices"], data["reply_kind"] = choices, reply_kind
        if message.sender_user_id is not None and message.sender_user is not None:
            user = message.sender_user
            data["sender_name"] = user.first_name or user.get_username()
    media = _stored_media(message)
    if media is not None:
        obj = (message.payload if isinstance(message.payload, dict) else {}).get(message.type)
        data["text"] = str(obj.get("caption") or "") if isinstance(obj, dict) else ""
        data["media"] = visitor_media(media, inbox_key=inbox_key)
    return data


def _stored_media(message: Message) -> MessageMedia | None:
    if message.type not in KINDS:
        return None
    try:
        media = message.media
    except MessageMedia.DoesNotExist:
        return None
    return media if media.state == MessageMedia.State.STORED and media.file else None


def visitor_media(media: MessageMedia, *, inbox_key: str) -> dict[str, Any]:
    """A file as the widget shows it: an image (by its thumbnail, opening full size), an
    audio or video player, or a download link with name and size. The widget fetches it by
    `url` (`thumbnail_url`): `/webchat/<key>/media/<message id>/` (`thumbnail/`) with a
    signature for that file alone, issued now (tokens.media_link_signature), never the
    visitor's token."""
    size = media.size or 0
    return {
        "kind": media.kind,
        "mime_type": media.mime_type,
        "name": media.file_name,
        "size": size,
        "size_text": human_size(size) if size else "",
        "inline": served_inline(media.mime_type),
        "thumbnail": bool(media.thumbnail),
        **media_links(media, inbox_key=inbox_key),
    }


def media_links(media: MessageMedia, *, inbox_key: str) -> dict[str, str]:
    """`url` and, with a thumbnail, `thumbnail_url` of a file, signed now for it alone."""
    args = {"key": inbox_key, "message_id": media.message_id}
    query = "?" + urlencode({"sig": media_link_signature(inbox_key, media.message_id)})
    links = {"url": reverse("webchat-media", kwargs=args) + query}
    if media.thumbnail:
        links["thumbnail_url"] = reverse("webchat-media-thumbnail", kwargs=args) + query
    return links


def message_frame(message: Message, *, inbox_key: str) -> dict[str, Any]:
    return {"type": "message", "message": visitor_message(message, inbox_key=inbox_key)}


def webchat_snippet(*, base_url: str, key: str) -> str:
    """The one line a business pastes into its pages."""
    return f'<script src="{base_url.rstrip("/")}/widget.js" data-inbox="{key}" async></script>'


# Whether an inbox is away (the widget offers the offline form): decided by the agents app
# (business hours and presence), which registers it from its AppConfig.ready(), so this
# app never imports it. Without a registration an inbox is never away.
_away_check: Callable[[WebChatInbox], bool] | None = None


def register_away_check(fn: Callable[[WebChatInbox], bool]) -> None:
    global _away_check
    _away_check = fn


def inbox_away(inbox: WebChatInbox) -> bool:
    return bool(_away_check(inbox)) if _away_check is not None else False
