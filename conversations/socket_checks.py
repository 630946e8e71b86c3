"""What an open desk socket keeps about its access between reads: when it re-checks
(`Rechecks`), which conversations it may see (`Sight`), and the presence heartbeat.

When an open desk socket re-checks its access, besides on every frame and when told
(`conversations.revocation`): every ``DESK_WS_REVALIDATE_SECONDS`` (30, jittered by ±20 %
so sockets opened together do not re-check together; the safety net for changes made
without signals, and the presence heartbeat that keeps an idle desk's agent online), and
at its session's expiry (the check reads the expiry again, in case the session was
extended meanwhile). The check itself is the consumer's: `conversations.access` reads.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable, Container
from datetime import datetime
from typing import Any

from channels.db import database_sync_to_async
from django.contrib.auth import get_user_model
from django.utils import timezone

from conversations.access import Roles, event_may_reach, visible_conversation_ids
from conversations.socket_frames import CLOSE_REVOKED, setting

log = logging.getLogger(__name__)


class Rechecks:
    """`check()` answers False once it closed the socket; `heartbeat()` records presence;
    `shut(code)` closes the socket. A failed periodic check closes it (4403); a failed
    check on an event or at expiry is logged and left to the periodic one."""

    def __init__(
        self,
        check: Callable[[], Awaitable[bool]],
        heartbeat: Callable[[], Awaitable[None]],
        shut: Callable[[int], Awaitable[None]],
        user_id: int | None = None,
    ) -> None:
        self.check, self.heartbeat, self.shut, self.user_id = check, heartbeat, shut, user_id
        self.stopped = False
        self.loop: asyncio.Future | None = None
        self.timer: asyncio.TimerHandle | None = None
        self.at_expiry: asyncio.Future | None = None

    def start(self) -> None:
        self.loop = asyncio.ensure_future(self._forever())

    def stop(self) -> None:
        self.stopped = True
        for pending in (self.loop, self.timer):
            if pending is not None:
                pending.cancel()

    def expires_at(self, expires: datetime | None) -> None:
        """(Re)arm the check at the session's expiry; None: the engine does not say."""
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        if expires is not None and not self.stopped:
            delay = max(0.0, (expires - timezone.now()).total_seconds()) + 0.05
            self.timer = asyncio.get_running_loop().call_later(delay, self._expired)

    def _expired(self) -> None:
        self.timer = None
        self.at_expiry = asyncio.ensure_future(self.now("session expired"))

    async def now(self, why: str) -> None:
        if self.stopped:
            return
        try:
            await self.check()
        except Exception:
            log.warning("desk socket re-check (%s) failed for user %s", why, self.user_id, exc_info=True)

    async def _forever(self) -> None:
        every = float(setting("DESK_WS_REVALIDATE_SECONDS", 30))
        try:
            while not self.stopped:
                await asyncio.sleep(every * random.uniform(0.8, 1.2))  # noqa: S311 - spreading load
                if self.stopped or not await self.check():
                    return
                await self.heartbeat()
        except asyncio.CancelledError:
            return
        except Exception:
            log.exception("desk socket re-validation failed; closing")
            await self.shut(CLOSE_REVOKED)


PresenceFn = Callable[..., None]
_PRESENCE: list[PresenceFn] = []


def register_presence_recorder(fn: PresenceFn) -> None:
    """Register (or replace) what records a desk socket's activity, `fn(user=...)`: the agents
    app's presence (`agent_seen`, from its `AppConfig.ready()`), so conversations imports
    no agents code."""
    _PRESENCE[:] = [fn]


def _presence_seen(user_id: int) -> None:
    user = get_user_model().objects.filter(pk=user_id).first()
    if user is not None:
        for record in _PRESENCE:
            record(user=user)


async def presence_seen(user_id: int) -> None:
    """Record the desk connection, disconnection or heartbeat (the registered recorder)."""
    try:
        await database_sync_to_async(_presence_seen)(user_id)
    except Exception:
        log.exception("could not record presence for user %s", user_id)


VISIBILITY_TTL = 30.0  # how long a socket remembers whether it may see a conversation


class Sight:
    """Which events reach the socket (`access.event_may_reach`), looking up a conversation
    an event names only by id, and remembering the answers for `VISIBILITY_TTL` (a
    supervisor's socket hears every conversation's events). `clear()` whenever the
    roles are re-read."""

    def __init__(self) -> None:
        self.known: dict[int, tuple[bool, float]] = {}

    def clear(self) -> None:
        self.known.clear()

    async def visible(self, roles: Roles, cid: int) -> bool:
        known = self.known.get(cid)
        if known is not None and time.monotonic() - known[1] < VISIBILITY_TTL:
            return known[0]
        visible = cid in await database_sync_to_async(visible_conversation_ids)(roles, [cid])
        self.known[cid] = (visible, time.monotonic())
        return visible

    async def forwards(self, roles: Roles, event: dict[str, Any], subscribed: Container[int]) -> bool:
        verdict = self.forwards_now(roles, event, subscribed)
        cid = _conversation_id(event)
        if verdict is not None or cid is None:
            return bool(verdict)
        return await self.visible(roles, cid)

    def forwards_now(self, roles: Roles, event: dict[str, Any], subscribed: Container[int]) -> bool | None:
        """`forwards` when it can answer without a read, else None (the conversation's
        visibility is to be looked up)."""
        verdict = event_may_reach(roles, event)
        conversation = event.get("conversation")
        cid = _conversation_id(event)
        if verdict is not None or cid is None:
            if verdict and cid is not None and roles.supervisor and not roles.admin:
                self.known[cid] = (True, time.monotonic())
            return bool(verdict)
        if isinstance(conversation, dict):
            self.known.pop(cid, None)  # what the event says outdates what was remembered
        if cid in subscribed:
            return True
        known = self.known.get(cid)
        if known is not None and time.monotonic() - known[1] < VISIBILITY_TTL:
            return known[0]
        return None


def _conversation_id(event: dict[str, Any]) -> int | None:
    conversation = event.get("conversation")
    cid = conversation.get("id") if isinstance(conversation, dict) else conversation
    return cid if isinstance(cid, int) else None
