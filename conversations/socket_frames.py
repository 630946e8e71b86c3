"""The desk socket's frames: their rules (README, "The socket"), each with its own close
code, and what a typing frame does.

The server only lets applications close with 1000 or 3000-4999, so the codes mirror HTTP
statuses: 4401 refuses a socket without a valid session, 4403 closes one whose user or
session is no longer valid, a frame over ``DESK_WS_MAX_FRAME_BYTES`` closes with 4413 and
more than ``DESK_WS_RATE_FRAMES`` per ``DESK_WS_RATE_WINDOW_SECONDS`` with 4429. A frame
that is not a JSON object, an unknown action or a conversation that is not an id is
`BadFrame`: the socket answers an ``error`` frame with code ``invalid`` and stays open.

Client frames:

- ``{"action": "subscribe", "conversation": <id>, "silent": false}``
- ``{"action": "unsubscribe", "conversation": <id>}``
- ``{"action": "typing", "conversation": <id>, "internal": false}``
- ``{"action": "ping"}``
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from dataclasses import dataclass
from typing import Any

from channels.db import database_sync_to_async
from django.conf import settings

from config.realtime import conversation_group, desk_message
from conversations.models import Conversation
from conversations.services.message_delivery import typing_indicator_send

log = logging.getLogger(__name__)

CLOSE_UNAUTHENTICATED = 4401
CLOSE_REVOKED = 4403
CLOSE_TOO_BIG = 4413
CLOSE_TOO_FAST = 4429

ACTIONS = ("subscribe", "unsubscribe", "typing")
# Conversation ids are positive 64-bit integers; anything else is refused before a query.
MAX_ID = 2**63 - 1


def setting(name: str, default: Any) -> Any:
    return getattr(settings, name, default)


class BadFrame(Exception):
    def __init__(self, detail: str):
        super().__init__(detail)
        self.detail = detail


@dataclass(frozen=True)
class Frame:
    action: str
    conversation: int | None = None
    silent: bool = False
    internal: bool = False


class FrameGate:
    """One socket's size and rate limits: `admit` answers the close code a frame earns, or
    None. Settings are read per frame, so tests and operators can change them live."""

    def __init__(self, prefix: str = "DESK_WS") -> None:
        self.times: list[float] = []
        self.prefix = prefix  # the web chat socket's limits are WEBCHAT_WS_*

    def admit(self, text_data: str | None, bytes_data: bytes | None) -> int | None:
        size = len(text_data.encode()) if text_data is not None else len(bytes_data or b"")
        if size > int(setting(f"{self.prefix}_MAX_FRAME_BYTES", 4096)):
            return CLOSE_TOO_BIG
        now = time.monotonic()
        window = float(setting(f"{self.prefix}_RATE_WINDOW_SECONDS", 10))
        self.times = [t for t in self.times if now - t < window]
        self.times.append(now)
        if len(self.times) > int(setting(f"{self.prefix}_RATE_FRAMES", 20)):
            return CLOSE_TOO_FAST
        return None


def parse_frame(text_data: str | None) -> Frame:
    """The frame, or `BadFrame` naming what is wrong with it (binary frames are not JSON)."""
    try:
        content = json.loads(text_data) if text_data is not None else None
    except (ValueError, RecursionError):  # RecursionError: nesting deeper than the decoder goes
        content = None
    if not isinstance(content, dict):
        raise BadFrame("Frames are JSON objects.")
    action = content.get("action")
    if action == "ping":
        return Frame("ping")
    if action not in ACTIONS:
        raise BadFrame("Unknown action.")
    conversation = content.get("conversation")
    if isinstance(conversation, bool) or not isinstance(conversation, int) or not 0 < conversation <= MAX_ID:
        raise BadFrame("conversation must be an id.")
    return Frame(action, conversation, silent=bool(content.get("silent")), internal=bool(content.get("internal")))


# A typing frame is forwarded to the other desks at most this often per conversation, and
# shown on the customer's phone (WhatsApp's indicator lasts 25 s) at most this often.
TYPING_EVERY = {"desk": 2.0, "whatsapp": 20.0}


def _typing_indicator(conversation_id: int) -> None:
    conversation = Conversation.objects.filter(pk=conversation_id).select_related("number", "contact").first()
    if conversation is not None and conversation.window_open():
        typing_indicator_send(conversation=conversation)


class Typing:
    """What a typing frame does: a ``typing`` event to the conversation's desks, and,
    unless it is about an internal note or the socket watches silently, WhatsApp's typing
    indicator on the customer's phone (while the window is open); each throttled."""

    def __init__(self) -> None:
        self.sent: dict[tuple[str, int], float] = {}

    def due(self, where: str, conversation_id: int) -> bool:
        now = time.monotonic()
        if now - self.sent.get((where, conversation_id), 0) < TYPING_EVERY[where]:
            return False
        self.sent[(where, conversation_id)] = now
        return True

    async def frame(self, layer: Any, conversation_id: int, *, user: dict, internal: bool, silent: bool) -> None:
        if self.due("desk", conversation_id):
            event = {"type": "typing", "conversation": conversation_id, "user": user, "internal": internal}
            await layer.group_send(conversation_group(conversation_id), desk_message(event))
        if not (internal or silent) and self.due("whatsapp", conversation_id):
            asyncio.ensure_future(self._on_phone(conversation_id))

    async def _on_phone(self, conversation_id: int) -> None:
        try:
            await database_sync_to_async(_typing_indicator)(conversation_id)
        except Exception:
            log.warning("typing indicator for conversation %s not sent", conversation_id, exc_info=True)
