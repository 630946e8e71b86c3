"""What the customer said, as the bot sees it: typed text, or the id and title of a tapped
button or list row. Only these message types reach a bot."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from conversations.models import Message

# Media and shared locations or contacts get a turn (the bot says it did not understand
# and a person stays one tap away); system, unsupported, order and reaction never do.
ANSWERABLE_TYPES = {"text", "interactive", "button", "image", "video", "audio", "document", "sticker", "location", "contacts"}


@dataclass(frozen=True)
class Inbound:
    text: str
    payload: str = ""
    kind: str = "text"  # text | reply | media

    @property
    def normalized(self) -> str:
        return normalize(self.text)


def normalize(text: str) -> str:
    """Case-folded, accents removed, punctuation turned into spaces, whitespace collapsed."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    stripped = "".join(c for c in decomposed if not unicodedata.combining(c))
    return " ".join(re.sub(r"[^\w@.+-]+", " ", stripped).split())


def contains_phrase(normalized_text: str, phrase: str) -> bool:
    """Whole-word (or whole-phrase) match on normalized text."""
    wanted = normalize(phrase)
    if not wanted:
        return False
    return re.search(rf"(?<!\w){re.escape(wanted)}(?!\w)", normalized_text) is not None


def answerable(message: Message) -> bool:
    return (
        message.direction == Message.Direction.INBOUND
        and message.sender_kind == Message.SenderKind.CONTACT
        and not message.internal
        and message.type in ANSWERABLE_TYPES
    )


def inbound_from_message(message: Message) -> Inbound:
    payload = message.payload or {}
    if message.type == "interactive":
        interactive = payload.get("interactive", {}) if isinstance(payload, dict) else {}
        kind = interactive.get("type", "")
        reply = interactive.get(kind, {}) if isinstance(interactive.get(kind), dict) else {}
        if kind in {"button_reply", "list_reply"}:
            return Inbound(text=str(reply.get("title", "")), payload=str(reply.get("id", "")), kind="reply")
        return Inbound(text=message.text or "", kind="media")
    if message.type == "button":
        button = payload.get("button", {}) if isinstance(payload, dict) else {}
        return Inbound(text=str(button.get("text", "")), payload=str(button.get("payload", "")), kind="reply")
    if message.type == "text":
        body = payload.get("text", {}).get("body") if isinstance(payload.get("text"), dict) else None
        return Inbound(text=str(body if body is not None else message.text or ""))
    return Inbound(text="", kind="media")
