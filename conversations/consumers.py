"""The desk websocket at /ws/desk/: authenticated, thin, forwarding events published by services.

On connect the socket joins ``agent.<id>``, the ``team.<id>`` groups of the teams the user
works in or supervises, and ``supervisors`` for supervisors and admins; a conversation's
own group only once `conversations.access` says the user may see it. The socket re-reads
its user, session and roles (`access.socket_access`) on every frame, when told through
``agent.<id>`` (`conversations.revocation`) and on the schedule of
`conversations.socket_checks`: it closes (4403) when the user or session is no longer
valid, and otherwise joins and leaves team groups and drops subscriptions as access
changes. Frames, their rules and close codes: `conversations.socket_frames`.
"""

from __future__ import annotations

import contextlib
from typing import Any

from channels.db import database_sync_to_async
from django.utils import timezone

from config.realtime import SUPERVISORS_GROUP, agent_group, conversation_group, team_group
from config.socket_consumer import SocketConsumer
from conversations.access import NOBODY, SocketAccess, socket_access, visible_conversation_ids
from conversations.revocation import ACCESS_CHANGED, SESSION_REVOKED
from conversations.services.message_delivery import conversation_opened
from conversations.socket_checks import Rechecks, Sight, presence_seen
from conversations.socket_frames import (
    CLOSE_REVOKED,
    CLOSE_UNAUTHENTICATED,
    BadFrame,
    Frame,
    FrameGate,
    Typing,
    parse_frame,
    setting,
)


class DeskConsumer(SocketConsumer):
    async def connect(self):
        self.closing, self.roles, self.joined = False, NOBODY, set()
        self.subscriptions: dict[int, bool] = {}  # conversation id -> silent
        self.gate, self.typing, self.sight = FrameGate(), Typing(), Sight()
        self.rechecks = Rechecks(self._revalidate, self._seen, self._shut)
        user = self.scope.get("user")
        if user is None or not user.is_authenticated or not user.is_active:
            await self.close(code=CLOSE_UNAUTHENTICATED)
            return
        self.user_id = user.pk
        self.session_key = getattr(self.scope.get("session"), "session_key", None)
        access = await database_sync_to_async(socket_access)(self.user_id, self.session_key)
        if access is None:
            await self.close(code=CLOSE_UNAUTHENTICATED)
            return
        self.rechecks.user_id = self.user_id
        await self._join(agent_group(self.user_id))
        await self._apply(access)
        await self.accept()
        await self.send_json({"type": "hello", "user": {"id": self.user_id, "name": access.name},
                              "teams": list(access.teams), "supervisor": access.roles.supervisor,
                              "server_time": timezone.now().isoformat()})
        await self._seen()
        self.rechecks.start()
        self.receive_now(self._event_now)

    async def disconnect(self, code):
        self.closing = True
        self.receive_now_stop()
        if getattr(self, "rechecks", None) is not None:
            self.rechecks.stop()
        for group in list(getattr(self, "joined", ())):
            await self.channel_layer.group_discard(group, self.channel_name)
        self.joined = set()
        if getattr(self, "user_id", None) is not None:
            await self._seen()

    # --- groups and access ---------------------------------------------------------------
    async def _join(self, group: str) -> None:
        if group not in self.joined:
            await self.channel_layer.group_add(group, self.channel_name)
            self.joined.add(group)

    async def _leave(self, group: str) -> None:
        if group in self.joined:
            await self.channel_layer.group_discard(group, self.channel_name)
            self.joined.discard(group)

    async def _apply(self, access: SocketAccess) -> None:
        """Take the roles read now: join the groups the user belongs in, leave the others."""
        self.roles, self.name = access.roles, access.name
        self.sight.clear()
        self.rechecks.expires_at(access.session_expires)
        wanted = {team_group(tid) for tid in access.teams} | ({SUPERVISORS_GROUP} if access.roles.supervisor else set())
        for group in [g for g in self.joined if (g.startswith("team.") or g == SUPERVISORS_GROUP) and g not in wanted]:
            await self._leave(group)
        for group in sorted(wanted):
            await self._join(group)

    async def _refresh(self) -> bool:
        """Re-read the access; close (4403) when the user or the session is no longer valid."""
        access = await database_sync_to_async(socket_access)(self.user_id, self.session_key)
        if access is None:
            await self._shut(CLOSE_REVOKED)
            return False
        await self._apply(access)
        return True

    async def _revalidate(self) -> bool:
        """`_refresh`, and drop the subscriptions the user may no longer see."""
        if not await self._refresh():
            return False
        if self.subscriptions:
            still = await database_sync_to_async(visible_conversation_ids)(self.roles, list(self.subscriptions))
            for cid in [c for c in self.subscriptions if c not in still]:
                await self._unsubscribe(cid, reason="forbidden")
        return True

    async def _shut(self, code: int) -> None:
        if not self.closing:
            self.closing = True
            await self.close(code=code)

    async def _seen(self) -> None:
        await presence_seen(self.user_id)

    # --- client frames ------------------------------------------------------------------
    async def receive(self, text_data=None, bytes_data=None, **kwargs):
        if self.closing:
            return
        code = self.gate.admit(text_data, bytes_data)
        if code is not None:
            await self._shut(code)
        elif await self._refresh():
            try:
                frame = parse_frame(text_data)
            except BadFrame as bad:
                await self._error("invalid", bad.detail)
                return
            await self._handle(frame)

    async def _handle(self, frame: Frame) -> None:
        cid = frame.conversation
        if frame.action == "ping" or cid is None:  # only pings name no conversation
            await self.send_json({"type": "pong", "server_time": timezone.now().isoformat()})
        elif frame.action == "subscribe":
            limit = int(setting("DESK_WS_MAX_SUBSCRIPTIONS", 50))
            if cid not in self.subscriptions and len(self.subscriptions) >= limit:
                await self._error("too_many_subscriptions", f"At most {limit} conversations at once.", cid)
            elif not await self.sight.visible(self.roles, cid):
                await self._error("forbidden", "No such conversation.", cid)
            else:
                await self._join(conversation_group(cid))
                self.subscriptions[cid] = frame.silent
                await self.send_json({"type": "subscribed", "conversation": cid, "silent": frame.silent})
                if not frame.silent:  # an agent opened it: a web chat visitor sees their messages read
                    await database_sync_to_async(conversation_opened)(conversation_id=cid)
        elif frame.action == "unsubscribe":
            await self._unsubscribe(cid)
        elif cid not in self.subscriptions:
            await self._error("not_subscribed", "Subscribe to the conversation first.", cid)
        else:
            user = {"id": self.user_id, "name": self.name}
            await self.typing.frame(self.channel_layer, cid, user=user, internal=frame.internal,
                                    silent=self.subscriptions[cid])

    async def _error(self, code: str, detail: str, conversation: int | None = None) -> None:
        extra = {"conversation": conversation} if conversation is not None else {}
        await self.send_json({"type": "error", "code": code, "detail": detail, **extra})

    async def _unsubscribe(self, cid: int, reason: str = "") -> None:
        self.subscriptions.pop(cid, None)
        await self._leave(conversation_group(cid))
        await self.send_json({"type": "unsubscribed", "conversation": cid, **({"reason": reason} if reason else {})})

    # --- events from the channel layer ---------------------------------------------------
    async def desk_event(self, message):
        if self.closing:
            return
        event = message.get("event") or {}
        kind = event.get("type")
        if kind == SESSION_REVOKED:  # the session's sockets close (all of the user's, without a key)
            if not event.get("session_key") or event.get("session_key") == self.session_key:
                await self._shut(CLOSE_REVOKED)
        elif kind == ACCESS_CHANGED:
            await self.rechecks.now(str(event.get("reason", "")))
        else:
            if kind == "agent.updated" and _event_user_id(event) == self.user_id:
                with contextlib.suppress(Exception):
                    await self._revalidate()
            if not self.closing and await self.sight.forwards(self.roles, event, self.subscriptions):
                text = message.get("text")
                await (self.send(text_data=text) if isinstance(text, str) else self.send_json(event))

    def _event_now(self, message: dict[str, Any]) -> bool:
        """`desk_event` for an idle socket, when it needs no wait: an event that changes
        the socket's own access, or whose conversation's visibility is to be read, is
        declined (False) and goes through `desk_event` in turn. True once forwarded or
        found not to be this socket's."""
        event = message.get("event") or {}
        kind = event.get("type")
        text = message.get("text")
        if (message.get("type") != "desk.event" or not self.idle or self.closing or not isinstance(text, str)
                or kind in (SESSION_REVOKED, ACCESS_CHANGED)
                or (kind == "agent.updated" and _event_user_id(event) == self.user_id)):
            return False
        verdict = self.sight.forwards_now(self.roles, event, self.subscriptions)
        if verdict is None:
            return False
        if verdict:
            self.write_now(text)  # False: the socket is closing, and the event is not for it
        return True


def _event_user_id(event: dict[str, Any]) -> int | None:
    agent = event.get("agent") or event.get("user")
    if isinstance(agent, dict):
        agent = agent.get("id")
    return agent if isinstance(agent, int) else None
