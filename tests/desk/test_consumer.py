"""The desk websocket against the real ASGI application (origin check, session auth,
routing): who may connect, what each socket receives, and when it is closed."""

from __future__ import annotations

import pytest
from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from django.conf import settings
from django.contrib.auth import get_user_model
from django.test import Client

from config.realtime import SUPERVISORS_GROUP, agent_group, conversation_group, desk_message, team_group
from conversations.events import conversation_event, conversation_groups
from tests.desk.conftest import desk_socket, open_desk, publish
from tests.factories import ConversationFactory

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("socket_writes")]


@pytest.fixture
def conversation(team, number):
    return ConversationFactory(team=team, contact__number=number, status="queued")


@pytest.fixture
def sales_conversation(other_team, number):
    return ConversationFactory(team=other_team, contact__number=number, status="queued")


async def _closed_with(socket) -> int:
    output = await socket.receive_output(timeout=3)
    assert output["type"] == "websocket.close", output
    return output.get("code")


async def test_anonymous_socket_is_refused():
    socket = desk_socket(cookie=None)
    connected, _ = await socket.connect()
    assert connected is False


async def test_socket_from_a_foreign_origin_is_refused(cookies):
    socket = desk_socket(cookies["agent"], origin=b"https://evil.example")
    connected, _ = await socket.connect()
    assert connected is False


async def test_unknown_session_cookie_is_refused():
    socket = desk_socket("not-a-session")
    connected, _ = await socket.connect()
    assert connected is False


async def test_team_event_reaches_team_members_and_nobody_else(cookies, agent, team):
    mine = await open_desk(cookies["agent"])
    teammate = await open_desk(cookies["teammate"])
    outsider = await open_desk(cookies["outsider"])
    assert mine.hello["teams"] == [team.pk]

    await publish(team_group(team.pk), {"type": "queue.updated", "team": team.pk, "waiting": 1})

    assert (await mine.receive_json_from())["waiting"] == 1
    assert (await teammate.receive_json_from())["type"] == "queue.updated"
    assert await outsider.receive_nothing(timeout=0.3)
    for socket in (mine, teammate, outsider):
        await socket.disconnect()


async def test_a_broadcast_is_written_as_its_text_without_a_thread_hop_per_socket(cookies, team, monkeypatch):
    """A desk event fans out to every socket of a team: each writes the text serialised once
    by the publisher and none waits on the database thread (channels' per-message
    close_old_connections would queue a thousand sockets behind one thread)."""
    sockets = [await open_desk(cookies["agent"]), await open_desk(cookies["teammate"])]
    hops = []
    monkeypatch.setattr("channels.consumer.aclose_old_connections", lambda: hops.append(1) or _nothing())

    event = {"type": "queue.updated", "team": team.pk, "waiting": 3}
    await get_channel_layer().group_send(team_group(team.pk), desk_message(event))

    for socket in sockets:
        assert await socket.receive_from() == desk_message(event)["text"]
    assert hops == []
    await sockets[0].send_json_to({"action": "ping"})
    assert (await sockets[0].receive_json_from())["type"] == "pong"
    assert hops == [1]  # frames from the socket keep channels' connection hygiene
    for socket in sockets:
        await socket.disconnect()


async def _nothing() -> None:
    return None


async def test_personal_event_reaches_only_that_agent(cookies, agent):
    mine = await open_desk(cookies["agent"])
    teammate = await open_desk(cookies["teammate"])
    await publish(agent_group(agent.pk), {"type": "conversation.updated", "conversation": {"id": 1, "assignee": agent.pk}})
    assert (await mine.receive_json_from())["type"] == "conversation.updated"
    assert await teammate.receive_nothing(timeout=0.3)
    await mine.disconnect()
    await teammate.disconnect()


async def test_outsider_may_not_subscribe_to_another_teams_conversation(cookies, conversation):
    outsider = await open_desk(cookies["outsider"])
    await outsider.send_json_to({"action": "subscribe", "conversation": conversation.pk})
    frame = await outsider.receive_json_from()
    assert frame == {"type": "error", "code": "forbidden", "detail": "No such conversation.", "conversation": conversation.pk}

    await publish(conversation_group(conversation.pk), {"type": "message.created", "conversation": conversation.pk})
    assert await outsider.receive_nothing(timeout=0.3)
    await outsider.disconnect()


async def test_subscribed_agent_receives_the_conversation_until_unsubscribing(cookies, conversation):
    mine = await open_desk(cookies["agent"])
    await mine.send_json_to({"action": "subscribe", "conversation": conversation.pk})
    assert await mine.receive_json_from() == {"type": "subscribed", "conversation": conversation.pk, "silent": False}

    await publish(conversation_group(conversation.pk), {"type": "message.created", "conversation": conversation.pk})
    assert (await mine.receive_json_from())["type"] == "message.created"

    await mine.send_json_to({"action": "unsubscribe", "conversation": conversation.pk})
    assert (await mine.receive_json_from())["type"] == "unsubscribed"
    await publish(conversation_group(conversation.pk), {"type": "message.created", "conversation": conversation.pk})
    assert await mine.receive_nothing(timeout=0.3)
    await mine.disconnect()


async def test_typing_is_forwarded_to_other_subscribers_only_after_subscribing(cookies, conversation):
    mine = await open_desk(cookies["agent"])
    teammate = await open_desk(cookies["teammate"])
    await mine.send_json_to({"action": "typing", "conversation": conversation.pk, "internal": True})
    assert (await mine.receive_json_from())["code"] == "not_subscribed"

    for socket in (mine, teammate):
        await socket.send_json_to({"action": "subscribe", "conversation": conversation.pk})
        assert (await socket.receive_json_from())["type"] == "subscribed"
    await mine.send_json_to({"action": "typing", "conversation": conversation.pk, "internal": True})
    typing = await teammate.receive_json_from()
    assert typing["type"] == "typing"
    assert typing["conversation"] == conversation.pk
    assert typing["internal"] is True
    await mine.disconnect()
    await teammate.disconnect()


async def test_supervisor_hears_their_teams_conversations_but_not_other_teams(
    cookies, conversation, sales_conversation
):
    supervisor = await open_desk(cookies["supervisor"])
    assert supervisor.hello["supervisor"] is True

    groups = await database_sync_to_async(conversation_groups)(sales_conversation)
    assert SUPERVISORS_GROUP in groups
    other = await database_sync_to_async(conversation_event)(sales_conversation)
    for group in groups:
        await publish(group, other)
    assert await supervisor.receive_nothing(timeout=0.3)

    own = await database_sync_to_async(conversation_event)(conversation)
    await publish(SUPERVISORS_GROUP, own)
    assert (await supervisor.receive_json_from())["conversation"]["id"] == conversation.pk
    await publish(SUPERVISORS_GROUP, {"type": "message.created", "conversation": sales_conversation.pk})
    assert await supervisor.receive_nothing(timeout=0.3)
    await supervisor.disconnect()


async def test_deactivated_user_is_closed_on_their_next_frame(cookies, agent):
    mine = await open_desk(cookies["agent"])
    await database_sync_to_async(get_user_model().objects.filter(pk=agent.pk).update)(is_active=False)
    await mine.send_json_to({"action": "ping"})
    assert await _closed_with(mine) == 4403


async def test_deactivated_user_is_closed_by_the_periodic_check(cookies, agent, settings):
    settings.DESK_WS_REVALIDATE_SECONDS = 0.1
    mine = await open_desk(cookies["agent"])
    await database_sync_to_async(get_user_model().objects.filter(pk=agent.pk).update)(is_active=False)
    assert await _closed_with(mine) == 4403


async def test_logging_out_closes_that_sessions_socket_only(cookies, agent):
    from tests.desk.conftest import session_cookie

    other_session = await database_sync_to_async(session_cookie)(agent)
    first = await open_desk(cookies["agent"])
    second = await open_desk(other_session)

    def log_out():
        client = Client()
        client.cookies[settings.SESSION_COOKIE_NAME] = cookies["agent"]
        return client.post("/accounts/logout/")

    response = await database_sync_to_async(log_out)()
    assert response.status_code == 302
    assert await _closed_with(first) == 4403
    await second.send_json_to({"action": "ping"})
    assert (await second.receive_json_from())["type"] == "pong"
    await second.disconnect()


async def test_leaving_a_team_prunes_its_group(cookies, agent, team):
    mine = await open_desk(cookies["agent"])
    await database_sync_to_async(team.members.remove)(agent)
    await publish(agent_group(agent.pk), {"type": "agent.updated", "agent": {"id": agent.pk, "presence": "online"}})
    assert (await mine.receive_json_from())["type"] == "agent.updated"

    await publish(team_group(team.pk), {"type": "queue.updated", "team": team.pk, "waiting": 3})
    assert await mine.receive_nothing(timeout=0.3)
    await mine.disconnect()


async def test_subscription_is_dropped_when_access_is_lost(cookies, agent, team, conversation, settings):
    settings.DESK_WS_REVALIDATE_SECONDS = 0.1
    mine = await open_desk(cookies["agent"])
    await mine.send_json_to({"action": "subscribe", "conversation": conversation.pk})
    assert (await mine.receive_json_from())["type"] == "subscribed"
    await database_sync_to_async(team.members.remove)(agent)
    frame = await mine.receive_json_from(timeout=3)
    assert frame == {"type": "unsubscribed", "conversation": conversation.pk, "reason": "forbidden"}
    await mine.disconnect()


async def test_oversized_frame_closes_the_socket(cookies):
    mine = await open_desk(cookies["agent"])
    await mine.send_to(text_data='{"action": "ping", "pad": "' + "x" * 5000 + '"}')
    assert await _closed_with(mine) == 4413


async def test_too_many_frames_close_the_socket(cookies):
    mine = await open_desk(cookies["agent"])
    for _ in range(20):
        await mine.send_json_to({"action": "ping"})
        assert (await mine.receive_json_from())["type"] == "pong"
    await mine.send_json_to({"action": "ping"})
    assert await _closed_with(mine) == 4429


async def test_malformed_frames_get_an_error_frame(cookies):
    mine = await open_desk(cookies["agent"])
    await mine.send_to(text_data="not json")
    assert (await mine.receive_json_from())["code"] == "invalid"
    await mine.send_json_to({"action": "subscribe", "conversation": "1; drop"})
    assert (await mine.receive_json_from())["code"] == "invalid"
    await mine.disconnect()
