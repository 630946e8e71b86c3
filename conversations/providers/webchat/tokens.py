"""Visitor tokens and identity verification for the web chat widget.

A visitor token is `django.core.signing` data (signed with SECRET_KEY, checked against
SECRET_KEY_FALLBACKS too, so the key can be rotated) carrying the inbox, the visitor's
id and the site origin it was issued for, with its time: it expires after
WEBCHAT_TOKEN_MAX_AGE_SECONDS, and every session call and socket greeting hands out a
fresh one (the widget keeps the newest), so a visitor who keeps chatting never expires.

A visitor id is random (`a:<hex>`) unless the business vouched for the user: then it is
`u:<the business's user id>`, set only after the HMAC check in `identity_verified`.
Contacts are keyed by it, so an unverified visitor can never land in a verified user's
contact or conversations.

A media link signature is a capability for one file: `TimestampSigner` (its own salt)
over the inbox key and the message id, valid for WEBCHAT_MEDIA_LINK_SECONDS. It names no
visitor, so the visitor's token never has to appear in a URL (history, access logs, a
shared image tab); a link that leaks opens that one file, for a day at most.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass

from django.conf import settings
from django.core import signing

SALT = "handoff.webchat.visitor"
MEDIA_SALT = "handoff.webchat.media-link"


@dataclass(frozen=True)
class Visitor:
    inbox_id: int
    visitor: str
    origin: str

    @property
    def verified(self) -> bool:
        return self.visitor.startswith("u:")

    @property
    def contact_user_id(self) -> str:
        """The contact's business-scoped id: per inbox and visitor, never a WhatsApp id."""
        return f"webchat:{self.inbox_id}:{self.visitor}"


def anonymous(inbox_id: int, origin: str) -> Visitor:
    return Visitor(inbox_id, f"a:{secrets.token_hex(16)}", origin)


def token_issue(visitor: Visitor) -> str:
    return signing.dumps({"i": visitor.inbox_id, "v": visitor.visitor, "o": visitor.origin}, salt=SALT, compress=True)


def token_read(token: str, *, inbox_id: int) -> Visitor | None:
    """The visitor a token names, or None when it is forged, expired, malformed or for another inbox."""
    if not token or len(token) > 1024:
        return None
    try:
        data = signing.loads(token, salt=SALT, max_age=settings.WEBCHAT_TOKEN_MAX_AGE_SECONDS)
    except (signing.BadSignature, ValueError):
        return None
    if not isinstance(data, dict) or data.get("i") != inbox_id:
        return None
    visitor, origin = data.get("v"), data.get("o")
    if not isinstance(visitor, str) or not isinstance(origin, str) or not visitor.startswith(("a:", "u:")):
        return None
    return Visitor(inbox_id, visitor, origin)


def identity_hash(secret: str, user_id: str) -> str:
    """What the business computes on its server: hex HMAC-SHA256 of the user id with the inbox's secret."""
    return hmac.new(secret.encode(), user_id.encode(), hashlib.sha256).hexdigest()


def identity_verified(secret: str, user_id: str, user_hash: str) -> bool:
    if not secret or not user_id or not user_hash:
        return False
    return hmac.compare_digest(identity_hash(secret, user_id), user_hash.strip().lower())


def _media_value(key: str, message_id: int) -> str:
    return f"{key}/{int(message_id)}"


def media_link_signature(key: str, message_id: int) -> str:
    """`<timestamp>:<signature>` for the file of message `message_id` in inbox `key`."""
    value = _media_value(key, message_id)
    return signing.TimestampSigner(salt=MEDIA_SALT).sign(value)[len(value) + 1:]


def media_link_valid(key: str, message_id: int, signature: str) -> bool:
    """Whether `signature` was issued for exactly this inbox key and message id and has not expired."""
    if not signature or len(signature) > 200:
        return False
    try:
        signing.TimestampSigner(salt=MEDIA_SALT).unsign(
            f"{_media_value(key, message_id)}:{signature}", max_age=settings.WEBCHAT_MEDIA_LINK_SECONDS
        )
    except (signing.BadSignature, ValueError):
        return False
    return True
