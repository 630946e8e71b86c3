"""Readable one-line summaries of inbound WhatsApp messages, for the desk, previews and bots.

The raw object is always kept in `Message.payload`; the summary is what people read.
Types not known here are kept as `unsupported` with their raw object.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

# Types a bot may answer. Reactions, orders, system notices, unsupported and unknown
# types are stored and shown but never answered automatically.
BOTABLE_TYPES = frozenset(
    {"text", "image", "video", "audio", "document", "sticker", "location", "contacts", "interactive", "button"}
)

KNOWN_TYPES = BOTABLE_TYPES | {"reaction", "order", "system", "unsupported"}


def as_dict(value: Any) -> dict[str, Any]:
    """`value` if it is a JSON object, else an empty one (webhook fields may be missing)."""
    return value if isinstance(value, dict) else {}


def provider_time(value: Any) -> datetime | None:
    """A WhatsApp timestamp (Unix seconds, as a string) as an aware datetime."""
    try:
        return datetime.fromtimestamp(int(str(value)), tz=UTC)
    except (TypeError, ValueError, OverflowError, OSError):
        return None


def _obj(message: dict[str, Any], key: str) -> dict[str, Any]:
    return as_dict(message.get(key))


def _join(*parts: Any, sep: str = " ") -> str:
    return sep.join(str(p).strip() for p in parts if p not in (None, "") and str(p).strip())


def _media(kind: str, media: dict[str, Any]) -> str:
    if kind == "audio":
        return "[voice message]" if media.get("voice") else "[audio]"
    if kind == "sticker":
        return "[animated sticker]" if media.get("animated") else "[sticker]"
    if kind == "document":
        name = media.get("filename") or ""
        caption = media.get("caption") or ""
        return _join("[document]", _join(name, caption, sep=": ") if name and caption else name or caption)
    return _join(f"[{kind}]", media.get("caption"))


def _location(location: dict[str, Any]) -> str:
    place = _join(location.get("name"), location.get("address"), sep=", ")
    lat, lon = location.get("latitude"), location.get("longitude")
    coords = f"({lat}, {lon})" if lat is not None and lon is not None else ""
    return _join("[location]", place, coords)


def _contacts(contacts: Any) -> str:
    people = []
    for card in contacts if isinstance(contacts, list) else []:
        if not isinstance(card, dict):
            continue
        card_name = as_dict(card.get("name"))
        name = card_name.get("formatted_name") or card_name.get("first_name") or ""
        phones = [p.get("phone") or p.get("wa_id") for p in card.get("phones") or [] if isinstance(p, dict)]
        phone = next((p for p in phones if p), "")
        people.append(_join(name, f"({phone})" if phone else ""))
    return _join("[contacts]", ", ".join(p for p in people if p)) if people else "[contacts]"


def _interactive(interactive: dict[str, Any]) -> str:
    kind = interactive.get("type")
    reply = _obj(interactive, kind) if isinstance(kind, str) else {}
    if kind in ("button_reply", "list_reply"):
        return str(reply.get("title") or reply.get("id") or f"[{kind}]")
    if kind == "nfm_reply":
        return _join("[form reply]", reply.get("body") or reply.get("name"))
    return f"[interactive {kind}]" if kind else "[interactive]"


def _order(order: dict[str, Any]) -> str:
    items = order.get("product_items")
    count = sum(int(as_dict(i).get("quantity") or 1) for i in items if isinstance(i, dict)) if isinstance(items, list) else 0
    label = f"{count} item" + ("" if count == 1 else "s")
    return _join("[order]", label, order.get("text"))


def message_type(message: dict[str, Any]) -> str:
    """The stored type: the WhatsApp type when known, else `unsupported`."""
    kind = message.get("type")
    return kind if isinstance(kind, str) and kind in KNOWN_TYPES else "unsupported"


def message_summary(message: dict[str, Any]) -> str:
    """What the message says, in one line: the text itself, or a bracketed description."""
    kind = message.get("type")
    if kind == "text":
        return str(_obj(message, "text").get("body") or "")
    if kind in ("image", "video", "audio", "document", "sticker"):
        return _media(kind, _obj(message, kind))
    if kind == "location":
        return _location(_obj(message, "location"))
    if kind == "contacts":
        return _contacts(message.get("contacts"))
    if kind == "interactive":
        return _interactive(_obj(message, "interactive"))
    if kind == "button":
        button = _obj(message, "button")
        return str(button.get("text") or button.get("payload") or "[button]")
    if kind == "reaction":
        emoji = _obj(message, "reaction").get("emoji")
        return f"[reaction {emoji} to message]" if emoji else "[reaction removed]"
    if kind == "order":
        return _order(_obj(message, "order"))
    if kind == "system":
        return _join("[system]", _obj(message, "system").get("body"))
    if kind == "unsupported":
        return "[unsupported message]"
    return f"[unsupported message: {kind}]" if isinstance(kind, str) and kind else "[unsupported message]"


def message_is_botable(message_type: str) -> bool:
    return message_type in BOTABLE_TYPES
