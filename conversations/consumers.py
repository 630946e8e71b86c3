"""The desk websocket at /ws/desk/: authenticated, thin, forwarding events published by services.

On connect the socket joins ``agent.<id>``, the ``team.<id>`` groups of the teams the user
works in or supervises, and ``supervisors`` for supervisors and admins. A conversation's
own group is joined only after the access check pages and the API use
(`conversation_for_user`). Client frames:

- ``{"action": "subscribe", "conversation": <id>, "silent": false}``
- ``{"action": "unsubscribe", "conversation": <id>}``
- ``{"action": "typing", "conversation": <id>, "internal": false}``
- ``{"action": "ping"}``

The socket re-checks its user, session, teams and subscriptions on every frame,
periodically, at its session's expiry, and at once when told through ``agent.<id>``
(``access.changed``, ``session.revoked``; see `conversations.revocation`): it closes when the
user or session is no longer valid, and joins and leaves team groups and drops
subscriptions as access changes.

Frame rules, each with its own close code (the server only lets applications close with
1000 or 3000-4999, so the codes mirror HTTP statuses): a frame over
``DESK_WS_MAX_FRAME_BYTES`` closes with 4413, more than ``DESK_WS_RATE_FRAMES`` per
``DESK_WS_RATE_WINDOW_SECONDS`` with 4429; a frame that is not a JSON object, an unknown
action or a conversation that is not an id gets an ``error`` frame with code ``invalid``
and the socket stays open. 4401 refuses a socket without a valid session, 4403 closes one
whose user or session is no longer valid.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
import time
from typing import Any

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from django.conf import settings
from django.contrib.auth import get_user_model
from django.http import Http404
from django.utils import timezone

from agents.presence import agent_seen
from config.realtime import SUPERVISORS_GROUP, agent_group, conversation_group, team_group

from .revocation import ACCESS_CHANGED, SESSION_REVOKED, active_user, desk_membership
from .selectors import conversation_for_user

log = logging.getLogger(__name__)

CLOSE_UNAUTHENTICATED = 4401
CLOSE_REVOKED = 4403
CLOSE_TOO_BIG = 4413
CLOSE_TOO_FAST = 4429

# Typing is forwarded to other agents at most this often per conversation, and the
# WhatsApp indicator (which lasts 25 s on the phone) at most this often.
TYPING_FORWARD_EVERY = 2.0
TYPING_REMOTE_EVERY = 20.0
# How long a supervisor's socket remembers whether it may see a conversation.
VISIBILITY_TTL = 30.0
# Conversation ids are positive 64-bit integers; anything else is refused before a query.
MAX_ID = 2**63 - 1


def _setting(name: str, default: Any) -> Any:
    return getattr(settings, name, default)


def _visible(user: Any, conversation_id: int) -> bool:
    try:
        conversation_for_user(user, conversation_id)
    except Http404:
        return False
    return True


def _visible_ids(user_id: int, conversation_ids: list[int]) -> set[int]:
    user = active_user(user_id)
    if user is None:
        return set()
    return {cid for cid in conversation_ids if _visible(user, cid)}


def _typing_indicator(conversation_id: int, user_id: int) -> None:
    from .models import Conversation
    from .sending import typing_indicator_send

    conversation = Conversation.objects.filter(pk=conversation_id).select_related("number", "contact").first()
    if conversation is not None and conversation.window_open():
        typing_indicator_send(conversation=conversation)


def _presence_seen(user_id: int) -> None:
    user = get_user_model().objects.filter(pk=user_id).first()
    if user is not None:
        agent_seen(user=user)


class DeskConsumer(AsyncJsonWebsocketConsumer):
    async def connect(self):
        self.closing = False
        self.joined: set[str] = set()
        self.subscriptions: dict[int, bool] = {}  # conversation id -> silent
        self.frame_times: list[float] = []
        self.typing_forwarded: dict[int, float] = {}
        self.typing_remote: dict[int, float] = {}
        self.revalidator: asyncio.Task | None = None
        self.expiry_timer: asyncio.TimerHandle | None = None
        self.visibility: dict[int, tuple[bool, float]] = {}
        self.team_ids: set[int] = set()
        self.is_supervisor = self.is_admin = False
        user = self.scope.get("user")
        session = self.scope.get("session")
        if user is None or not user.is_authenticated or not user.is_active:
            await self.close(code=CLOSE_UNAUTHENTICATED)
            return
        self.user_id = user.pk
        self.session_key = getattr(session, "session_key", None)
        membership = await database_sync_to_async(desk_membership)(self.user_id, self.session_key)
        if membership is None:
            await self.close(code=CLOSE_UNAUTHENTICATED)
            return
        self.user = membership["user"]
        self.user_name = membership["name"]
        await self._join(agent_group(self.user_id))
        await self._apply_membership(membership)
        await self.accept()
        await self.send_json(
            {
                "type": "hello",
                "user": {"id": self.user_id, "name": self.user_name},
                "teams": membership["teams"],
                "supervisor": membership["supervisor"],
                "server_time": timezone.now().isoformat(),
            }
        )
        await self._seen()
        self.revalidator = asyncio.ensure_future(self._revalidate_forever())

    async def disconnect(self, code):
        self.closing = True
        if getattr(self, "revalidator", None) is not None:
            self.revalidator.cancel()
        if getattr(self, "expiry_timer", None) is not None:
            self.expiry_timer.cancel()
        for group in list(getattr(self, "joined", ())):
            await self.channel_layer.group_discard(group, self.channel_name)
        self.joined = set()
        if getattr(self, "user_id", None) is not None:
            await self._seen()

    # --- groups -------------------------------------------------------------------------
    async def _join(self, group: str) -> None:
        if group not in self.joined:
            await self.channel_layer.group_add(group, self.channel_name)
            self.joined.add(group)

    async def _leave(self, group: str) -> None:
        if group in self.joined:
            await self.channel_layer.group_discard(group, self.channel_name)
            self.joined.discard(group)

    async def _apply_membership(self, membership: dict[str, Any]) -> None:
        """Join the groups the user belongs in now and leave the ones they no longer do."""
        self.team_ids = set(membership["teams"])
        self.is_supervisor = membership["supervisor"]
        self.is_admin = membership["admin"]
        if self.visibility:
            self.visibility.clear()
        self.user = membership["user"]
        self._recheck_at(membership["session_expires"])
        wanted = {team_group(tid) for tid in self.team_ids}
        if self.is_supervisor:
            wanted.add(SUPERVISORS_GROUP)
        for group in list(self.joined):
            if (group.startswith("team.") or group == SUPERVISORS_GROUP) and group not in wanted:
                await self._leave(group)
        for group in sorted(wanted):
            await self._join(group)

    async def _seen(self) -> None:
        try:
            await database_sync_to_async(_presence_seen)(self.user_id)
        except Exception:
            log.exception("could not record presence for user %s", self.user_id)

    # --- validity -----------------------------------------------------------------------
    async def _revalidate(self) -> bool:
        """Re-check the user, the session, the teams and every subscription; close when invalid."""
        membership = await database_sync_to_async(desk_membership)(self.user_id, self.session_key)
        if membership is None:
            await self._shut(CLOSE_REVOKED)
            return False
        await self._apply_membership(membership)
        if self.subscriptions:
            still = await database_sync_to_async(_visible_ids)(self.user_id, list(self.subscriptions))
            for cid in [c for c in self.subscriptions if c not in still]:
                await self._unsubscribe(cid, reason="forbidden")
        return True

    def _recheck_at(self, expires: Any) -> None:
        """Re-check when the session expires (a later check reads the expiry again, in case
        the session was extended meanwhile)."""
        if self.expiry_timer is not None:
            self.expiry_timer.cancel()
            self.expiry_timer = None
        if expires is None or self.closing:
            return
        delay = max(0.0, (expires - timezone.now()).total_seconds()) + 0.05
        self.expiry_timer = asyncio.get_running_loop().call_later(delay, self._expired)

    def _expired(self) -> None:
        self.expiry_timer = None
        self.expiry_check = asyncio.ensure_future(self._recheck("session expired"))

    async def _recheck(self, why: str) -> None:
        """Re-check now (told by an event or the expiry timer); on failure the periodic
        check still runs."""
        if self.closing:
            return
        try:
            await self._revalidate()
        except Exception:
            log.warning("desk socket re-check (%s) failed for user %s", why, self.user_id, exc_info=True)

    async def _revalidate_forever(self) -> None:
        every = float(_setting("DESK_WS_REVALIDATE_SECONDS", 30))
        try:
            while not self.closing:
                await asyncio.sleep(every * random.uniform(0.8, 1.2))  # noqa: S311 - spreading load
                if self.closing or not await self._revalidate():
                    return
                await self._seen()  # the heartbeat that keeps an idle desk's agent online
        except asyncio.CancelledError:
            return
        except Exception:
            log.exception("desk socket re-validation failed; closing")
            await self._shut(CLOSE_REVOKED)

    async def _shut(self, code: int) -> None:
        if not self.closing:
            self.closing = True
            await self.close(code=code)

    # --- client frames ------------------------------------------------------------------
    async def receive(self, text_data=None, bytes_data=None, **kwargs):
        if self.closing:
            return
        size = len(text_data.encode()) if text_data is not None else len(bytes_data or b"")
        if size > int(_setting("DESK_WS_MAX_FRAME_BYTES", 4096)):
            await self._shut(CLOSE_TOO_BIG)
            return
        now = time.monotonic()
        window = float(_setting("DESK_WS_RATE_WINDOW_SECONDS", 10))
        self.frame_times = [t for t in self.frame_times if now - t < window]
        self.frame_times.append(now)
        if len(self.frame_times) > int(_setting("DESK_WS_RATE_FRAMES", 20)):
            await self._shut(CLOSE_TOO_FAST)
            return
        if not await database_sync_to_async(desk_membership)(self.user_id, self.session_key):
            await self._shut(CLOSE_REVOKED)
            return
        try:
            content = json.loads(text_data) if text_data is not None else None
        except (ValueError, RecursionError):  # RecursionError: nesting deeper than the decoder goes
            content = None
        if not isinstance(content, dict):
            await self._error("invalid", "Frames are JSON objects.")
            return
        await self.receive_json(content)

    async def receive_json(self, content, **kwargs):
        action = content.get("action")
        if action == "ping":
            await self.send_json({"type": "pong", "server_time": timezone.now().isoformat()})
            return
        if action not in ("subscribe", "unsubscribe", "typing"):
            await self._error("invalid", "Unknown action.")
            return
        conversation_id = content.get("conversation")
        if isinstance(conversation_id, bool) or not isinstance(conversation_id, int) or not 0 < conversation_id <= MAX_ID:
            await self._error("invalid", "conversation must be an id.")
            return
        if action == "subscribe":
            await self._subscribe(conversation_id, silent=bool(content.get("silent")))
        elif action == "unsubscribe":
            await self._unsubscribe(conversation_id)
        else:
            await self._typing(conversation_id, internal=bool(content.get("internal")))

    async def _error(self, code: str, detail: str, conversation: int | None = None) -> None:
        frame: dict[str, Any] = {"type": "error", "code": code, "detail": detail}
        if conversation is not None:
            frame["conversation"] = conversation
        await self.send_json(frame)

    async def _subscribe(self, conversation_id: int, *, silent: bool) -> None:
        limit = int(_setting("DESK_WS_MAX_SUBSCRIPTIONS", 50))
        if conversation_id not in self.subscriptions and len(self.subscriptions) >= limit:
            await self._error("too_many_subscriptions", f"At most {limit} conversations at once.", conversation_id)
            return
        if not await database_sync_to_async(_visible)(self.user, conversation_id):
            await self._error("forbidden", "No such conversation.", conversation_id)
            return
        await self._join(conversation_group(conversation_id))
        self.subscriptions[conversation_id] = silent
        await self.send_json({"type": "subscribed", "conversation": conversation_id, "silent": silent})

    async def _unsubscribe(self, conversation_id: int, reason: str = "") -> None:
        self.subscriptions.pop(conversation_id, None)
        await self._leave(conversation_group(conversation_id))
        frame: dict[str, Any] = {"type": "unsubscribed", "conversation": conversation_id}
        if reason:
            frame["reason"] = reason
        await self.send_json(frame)

    async def _typing(self, conversation_id: int, *, internal: bool) -> None:
        if conversation_id not in self.subscriptions:
            await self._error("not_subscribed", "Subscribe to the conversation first.", conversation_id)
            return
        now = time.monotonic()
        if now - self.typing_forwarded.get(conversation_id, 0) >= TYPING_FORWARD_EVERY:
            self.typing_forwarded[conversation_id] = now
            await self.channel_layer.group_send(
                conversation_group(conversation_id),
                {
                    "type": "desk.event",
                    "event": {
                        "type": "typing",
                        "conversation": conversation_id,
                        "user": {"id": self.user_id, "name": self.user_name},
                        "internal": internal,
                    },
                },
            )
        silent = self.subscriptions.get(conversation_id, False)
        if internal or silent:
            return
        if now - self.typing_remote.get(conversation_id, 0) >= TYPING_REMOTE_EVERY:
            self.typing_remote[conversation_id] = now
            asyncio.ensure_future(self._typing_remote(conversation_id))

    async def _typing_remote(self, conversation_id: int) -> None:
        try:
            await database_sync_to_async(_typing_indicator)(conversation_id, self.user_id)
        except Exception:
            log.warning("typing indicator for conversation %s not sent", conversation_id, exc_info=True)

    # --- events from the channel layer ---------------------------------------------------
    async def desk_event(self, message):
        if self.closing:
            return
        event = message.get("event") or {}
        kind = event.get("type")
        if kind == SESSION_REVOKED:
            # A session that ended closes its sockets (or all of the user's, without a key).
            key = event.get("session_key")
            if not key or key == self.session_key:
                await self._shut(CLOSE_REVOKED)
            return
        if kind == ACCESS_CHANGED:
            await self._recheck(str(event.get("reason", "")))
            return
        if kind == "agent.updated" and _event_user_id(event) == self.user_id:
            with contextlib.suppress(Exception):
                await self._revalidate()
            if self.closing:
                return
        if not await self._may_forward(event):
            return
        await self.send_json(event)

    async def _may_forward(self, event: dict[str, Any]) -> bool:
        """Agents only join groups that carry what they may see. The ``supervisors`` group
        carries every conversation, so for a supervisor who is not an admin each
        conversation's visibility is checked (and remembered briefly)."""
        if self.is_admin or not self.is_supervisor:
            return True
        conversation = event.get("conversation")
        cid: Any = conversation.get("id") if isinstance(conversation, dict) else conversation
        if isinstance(conversation, dict) and isinstance(cid, int):
            team, assignee = conversation.get("team"), conversation.get("assignee")
            if (team is None or team in self.team_ids) or assignee == self.user_id:
                self.visibility[cid] = (True, time.monotonic())
                return True
            self.visibility.pop(cid, None)
        if not isinstance(cid, int):
            team = event.get("team")
            if isinstance(team, dict):
                team = team.get("id")
            return not isinstance(team, int) or team in self.team_ids
        if cid in self.subscriptions:
            return True
        known = self.visibility.get(cid)
        if known is not None and time.monotonic() - known[1] < VISIBILITY_TTL:
            return known[0]
        visible = await database_sync_to_async(_visible)(self.user, cid)
        self.visibility[cid] = (visible, time.monotonic())
        return visible


def _event_user_id(event: dict[str, Any]) -> int | None:
    agent = event.get("agent") or event.get("user")
    if isinstance(agent, dict):
        agent = agent.get("id")
    return agent if isinstance(agent, int) else None
