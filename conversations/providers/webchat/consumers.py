"""The web chat visitor socket at /ws/webchat/<inbox key>/?token=…&after=<message id>.

Thin, like the desk's: it authenticates the visitor by their signed token (forged,
expired or another inbox's: closed 4401), checks the origin (the widget's own frame,
served by Handoff, or a site the inbox allows; else 4403), joins only the visitor's own
group, and greets with a fresh token, the messages after `after` (catch-up on reconnect:
the widget places messages by id, so a replayed one replaces rather than duplicates),
whether the pre-chat form is still owed and whether the inbox is offline. Frames over
WEBCHAT_WS_MAX_FRAME_BYTES close it with 4413, more than WEBCHAT_WS_RATE_FRAMES per
WEBCHAT_WS_RATE_WINDOW_SECONDS with 4429. An open socket re-checks its origin when the
inbox changes (`inbox.changed` on the inbox's group, conversations.services.webchat_inbox)
and closes with 4403 once its site is no longer allowed or the inbox is disabled. Every frame goes to a service in
conversations.services.webchat, which looks ids up under the visitor's own contact.

Client frames: ``{"action": "message", "client_id", "text"}``, ``{"action": "reply",
"client_id", "id"}`` (a menu choice), ``{"action": "typing"}``, ``{"action": "delivered" |
"read", "message": <id>}``, ``{"action": "ping"}``. Server frames: ``hello``, ``message``,
``ack``, ``typing``, ``read``, ``error``, ``pong``.
"""

from __future__ import annotations

import json
import time
from typing import Any
from urllib.parse import parse_qs, urlsplit

from channels.db import database_sync_to_async
from django.utils import timezone

from config.refusals import Refused
from config.socket_consumer import SocketConsumer
from conversations.models import WebChatInbox
from conversations.providers import webchat
from conversations.providers.webchat.tokens import Visitor, token_issue
from conversations.selectors import webchat_inbox_by_key
from conversations.services import webchat as service
from conversations.socket_frames import CLOSE_REVOKED, CLOSE_UNAUTHENTICATED, FrameGate

TYPING_EVERY_SECONDS = 2.0


def _header(scope: dict[str, Any], name: bytes) -> str:
    for key, value in scope.get("headers", []):
        if key == name:
            return value.decode("latin-1")
    return ""


def origin_accepted(scope: dict[str, Any], inbox: WebChatInbox) -> bool:
    """The socket comes from the widget's frame (Handoff's own origin) or an allowed site."""
    origin = _header(scope, b"origin").rstrip("/")
    if not origin:
        return False
    return urlsplit(origin).netloc == _header(scope, b"host") or inbox.origin_allowed(origin)


def still_allowed(scope: dict[str, Any], inbox: WebChatInbox, visitor: Visitor) -> bool:
    """An open socket may stay: the inbox takes chats, and both the socket's origin and the
    site its visitor's token was issued for are still allowed."""
    return inbox.is_active and origin_accepted(scope, inbox) and inbox.origin_allowed(visitor.origin)


def _greeting(inbox: WebChatInbox, visitor: Visitor, after: int) -> dict[str, Any]:
    contact = service.webchat_contact(inbox=inbox, visitor=visitor, create=False)
    conversation = service.webchat_latest_conversation(contact=contact)
    return {
        "type": "hello",
        "token": token_issue(visitor),
        "verified": visitor.verified,
        "messages": service.webchat_history(inbox=inbox, contact=contact, after=after),
        "media_links": service.webchat_media_refresh(inbox=inbox, contact=contact, after=after),
        "conversation": {"id": conversation.pk, "status": conversation.status} if conversation else None,
        "prechat": service.prechat_needed(inbox=inbox, contact=contact),
        "offline": service.webchat_offline(inbox=inbox),
        "server_time": timezone.now().isoformat(),
    }


class WebchatConsumer(SocketConsumer):
    async def connect(self):
        self.closing, self.group = False, ""
        self.gate, self.typed_at = FrameGate("WEBCHAT_WS"), 0.0
        key = str(self.scope["url_route"]["kwargs"].get("key", ""))
        query = parse_qs(self.scope.get("query_string", b"").decode("latin-1"))
        token = (query.get("token") or [""])[0]
        try:
            after = max(int((query.get("after") or ["0"])[0]), 0)
        except ValueError:
            after = 0
        inbox = await database_sync_to_async(webchat_inbox_by_key)(key)
        if inbox is None:
            await self.close(code=CLOSE_UNAUTHENTICATED)
            return
        if not origin_accepted(self.scope, inbox):
            await self.close(code=CLOSE_REVOKED)
            return
        try:
            self.visitor = service.webchat_visitor(inbox=inbox, token=token)
        except Refused:
            await self.close(code=CLOSE_UNAUTHENTICATED)
            return
        self.inbox = inbox
        self.group = webchat.visitor_group(self.visitor.contact_user_id)
        self.inbox_group = webchat.inbox_group(inbox.pk)
        await self.channel_layer.group_add(self.group, self.channel_name)
        await self.channel_layer.group_add(self.inbox_group, self.channel_name)
        await self.accept()
        await self.send_json(await database_sync_to_async(_greeting)(inbox, self.visitor, after))

    async def disconnect(self, code):
        self.closing = True
        if getattr(self, "group", ""):
            await self.channel_layer.group_discard(self.group, self.channel_name)
            await self.channel_layer.group_discard(self.inbox_group, self.channel_name)

    async def receive(self, text_data=None, bytes_data=None, **kwargs):
        if self.closing:
            return
        code = self.gate.admit(text_data, bytes_data)
        if code is not None:
            self.closing = True
            await self.close(code=code)
            return
        try:
            frame = json.loads(text_data) if text_data is not None else None
        except (ValueError, RecursionError):
            frame = None
        if not isinstance(frame, dict):
            await self._error("invalid", "Frames are JSON objects.")
            return
        try:
            await self._handle(frame)
        except Refused as refused:
            await self._error(refused.code, refused.detail, client_id=frame.get("client_id"))

    async def _handle(self, frame: dict[str, Any]) -> None:
        action = frame.get("action")
        run = database_sync_to_async
        if action == "ping":
            await self.send_json({"type": "pong", "server_time": timezone.now().isoformat()})
        elif action in ("message", "reply"):
            stored = await run(service.webchat_message_receive)(
                inbox=self.inbox,
                visitor=self.visitor,
                client_id=frame.get("client_id"),
                text=frame.get("text") if action == "message" else "",
                reply=frame.get("id") if action == "reply" else None,
            )
            ack = {"type": "ack", "client_id": str(frame.get("client_id"))}
            await self.send_json({**ack, "message": stored.pk} if stored is not None else {**ack, "duplicate": True})
        elif action == "typing":
            now = time.monotonic()
            if now - self.typed_at >= TYPING_EVERY_SECONDS:
                self.typed_at = now
                contact = await run(service.webchat_contact)(inbox=self.inbox, visitor=self.visitor, create=False)
                if contact is not None:
                    await run(service.webchat_typing)(contact=contact)
        elif action in ("delivered", "read"):
            contact = await run(service.webchat_contact)(inbox=self.inbox, visitor=self.visitor, create=False)
            if contact is not None:
                await run(service.webchat_status_record)(contact=contact, message_id=frame.get("message"), status=action)
        else:
            await self._error("invalid", "Unknown action.")

    async def _error(self, code: str, detail: str, client_id: Any = None) -> None:
        extra = {"client_id": str(client_id)} if isinstance(client_id, str) else {}
        await self.send_json({"type": "error", "code": code, "detail": detail, **extra})

    async def desk_event(self, message):
        """An event published to the visitor's own group (config.realtime.publish), or the
        inbox's change to its group: re-checked here, never forwarded."""
        if self.closing:
            return
        event = message.get("event") or {}
        if event.get("type") == webchat.INBOX_CHANGED:
            await self._inbox_changed(event)
            return
        await self.send_json(event)

    async def _inbox_changed(self, event: dict[str, Any]) -> None:
        origins = event.get("origins")
        self.inbox.allowed_origins = "\n".join(str(o) for o in origins) if isinstance(origins, list) else ""
        self.inbox.is_active = bool(event.get("active"))
        if not still_allowed(self.scope, self.inbox, self.visitor):
            self.closing = True
            await self.close(code=CLOSE_REVOKED)
