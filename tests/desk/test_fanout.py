"""Group events handed straight to idle sockets (`config.fanout`), on whichever channel
layer is configured (Redis pub/sub in CI): who takes them, that the event is decoded once
for all of a process's sockets, and that no event overtakes one that came before it."""

from __future__ import annotations

import asyncio
import threading

import pytest
from channels.layers import get_channel_layer

from config.fanout import LocalFanout
from config.realtime import SUPERVISORS_GROUP, desk_message, team_group
from conversations import socket_checks
from conversations.consumers import DeskConsumer
from tests.desk.conftest import open_desk
from tests.factories import ConversationFactory

pytestmark = pytest.mark.django_db(transaction=True)


async def _open(cookie: str):
    """A desk socket whose connect has finished (its ping answered): idle, taking events
    from the layer."""
    socket = await open_desk(cookie)
    await socket.send_json_to({"action": "ping"})
    assert (await socket.receive_json_from())["type"] == "pong"
    return socket


async def _until(predicate, timeout: float = 3.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(0.01)


async def test_idle_sockets_write_a_team_event_from_the_layer_and_outsiders_get_nothing(
    cookies, team, writes_now, monkeypatch
):
    handled = []
    original = DeskConsumer.desk_event

    async def desk_event(self, message):
        handled.append(message)
        await original(self, message)

    monkeypatch.setattr(DeskConsumer, "desk_event", desk_event)
    mine, teammate, outsider = [await _open(cookies[who]) for who in ("agent", "teammate", "outsider")]
    message = desk_message({"type": "queue.updated", "team": team.pk, "waiting": 4})

    await get_channel_layer().group_send(team_group(team.pk), message)

    assert (await mine.receive_json_from())["waiting"] == 4
    assert (await teammate.receive_json_from())["waiting"] == 4
    assert await outsider.receive_nothing(timeout=0.3)
    assert mine.written_now == teammate.written_now == [message["text"]]
    assert handled == []  # no socket went through its queue and handler
    for socket in (mine, teammate, outsider):
        await socket.disconnect()


async def test_the_sockets_of_a_process_share_one_decoded_event(cookies, team, writes_now, monkeypatch):
    seen = []
    original = DeskConsumer._event_now

    def event_now(self, message):
        seen.append(message)
        return original(self, message)

    monkeypatch.setattr(DeskConsumer, "_event_now", event_now)
    sockets = [await _open(cookies[who]) for who in ("agent", "teammate")]

    await get_channel_layer().group_send(team_group(team.pk), desk_message({"type": "queue.updated", "team": team.pk}))

    for socket in sockets:
        assert (await socket.receive_json_from())["type"] == "queue.updated"
    assert len(seen) == 2 and seen[0] is seen[1]
    for socket in sockets:
        await socket.disconnect()


async def test_an_event_waiting_on_a_read_is_not_overtaken_by_the_next(cookies, supervisor, team, number, writes_now,
                                                                       monkeypatch):
    """A supervisor's socket looks up a conversation an event names only by id (a thread
    hop to the database); a team event published meanwhile could be written at once, but
    waits its turn."""
    conversation = await _conversation(team, number)
    entered, release = threading.Event(), threading.Event()
    original = socket_checks.visible_conversation_ids

    def slow_visibility(roles, ids):
        entered.set()
        release.wait(5)
        return original(roles, ids)

    monkeypatch.setattr(socket_checks, "visible_conversation_ids", slow_visibility)
    socket = await _open(cookies["supervisor"])
    layer = get_channel_layer()

    await layer.group_send(SUPERVISORS_GROUP, desk_message({"type": "note", "conversation": conversation.pk, "n": 1}))
    await _until(entered.is_set)
    await layer.group_send(team_group(team.pk), desk_message({"type": "queue.updated", "team": team.pk, "n": 2}))
    assert await socket.receive_nothing(timeout=0.3)  # the team event waits behind the lookup
    release.set()

    first, second = await socket.receive_json_from(), await socket.receive_json_from()
    assert [first.get("n"), second.get("n")] == [1, 2]
    assert first["type"] == "note" and first["conversation"] == conversation.pk
    await socket.disconnect()


async def test_a_socket_that_revokes_its_session_still_closes(cookies, agent, writes_now):
    socket = await _open(cookies["agent"])

    await get_channel_layer().group_send(f"agent.{agent.pk}", desk_message({"type": "session.revoked"}))

    output = await socket.receive_output(timeout=3)
    assert output == {"type": "websocket.close", "code": 4403}


def test_the_registry_asks_a_receiver_only_when_nothing_comes_before():
    fanout, asked = LocalFanout(), []
    fanout.register("c", lambda message: asked.append(message) or True)

    assert fanout.offer("c", 0, lambda: {"n": 1}) is True
    assert fanout.offer("c", 1, lambda: {"n": 2}) is False  # its queue holds an earlier message
    fanout.taken("c")
    assert fanout.offer("c", 0, lambda: {"n": 3}) is False  # one is off the queue, not yet handled
    fanout.dispatching("c")  # from here the consumer itself keeps the order
    assert fanout.offer("c", 0, lambda: {"n": 4}) is True
    assert fanout.offer("other", 0, lambda: {"n": 5}) is False  # no receiver
    fanout.unregister("c")
    assert fanout.offer("c", 0, lambda: {"n": 6}) is False
    assert asked == [{"n": 1}, {"n": 4}]


def test_a_receiver_that_fails_leaves_the_event_to_the_queue(caplog):
    fanout = LocalFanout()

    def broken(message):
        raise RuntimeError("bug")

    fanout.register("c", broken)
    assert fanout.offer("c", 0, lambda: {}) is False
    assert "socket receiver for c failed" in caplog.text


async def _conversation(team, number):
    from channels.db import database_sync_to_async

    return await database_sync_to_async(ConversationFactory)(team=team, contact__number=number, status="queued")
