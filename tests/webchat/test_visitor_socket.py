"""The visitor socket against the real ASGI application: who may connect, what each
visitor receives (a second visitor must receive nothing of the first's), the limits, and
the channel's path through receive, delivery, statuses, typing and read marks."""

from __future__ import annotations

import asyncio
import time

import pytest
from channels.db import database_sync_to_async
from django.core import signing
from django.test import override_settings

from conversations.models import Channel, Conversation, Message
from conversations.providers.webchat.tokens import SALT, Visitor, token_issue
from conversations.services.message_send import message_send_note, message_send_text
from tests.webchat.conftest import FOREIGN, SITE, drain, new_visitor, next_of, open_visitor, visitor_socket

pytestmark = pytest.mark.django_db(transaction=True)


async def _refused(socket) -> int | None:
    connected, code = await socket.connect()
    assert connected is False
    return code


async def _silent(socket, timeout: float = 0.4) -> None:
    assert await socket.receive_nothing(timeout=timeout), "this socket must receive nothing"


async def test_a_forged_token_is_refused(inbox):
    assert await _refused(visitor_socket(inbox, "forged.token.value")) == 4401


async def test_an_expired_token_is_refused(inbox):
    token = await database_sync_to_async(new_visitor)(inbox)
    with override_settings(WEBCHAT_TOKEN_MAX_AGE_SECONDS=-1):
        assert await _refused(visitor_socket(inbox, token)) == 4401


async def test_a_token_of_another_inbox_is_refused(inbox, number):
    other = await database_sync_to_async(type(inbox).objects.create)(
        name="Other", number=number, allowed_origins=SITE
    )
    token = token_issue(Visitor(other.pk, "a:" + "0" * 32, SITE))
    assert await _refused(visitor_socket(inbox, token)) == 4401


async def test_a_token_signed_with_another_key_is_refused(inbox):
    forged = signing.dumps({"i": inbox.pk, "v": "a:" + "1" * 32, "o": SITE}, key="not-our-key", salt=SALT)
    assert await _refused(visitor_socket(inbox, forged)) == 4401


async def test_a_foreign_origin_is_refused(inbox):
    token = await database_sync_to_async(new_visitor)(inbox)
    assert await _refused(visitor_socket(inbox, token, origin=FOREIGN.encode())) is not None


async def test_an_allowed_site_may_connect_directly(inbox):
    token = await database_sync_to_async(new_visitor)(inbox)
    socket = await open_visitor(inbox, token, origin=SITE.encode())
    await socket.disconnect()


async def test_an_unknown_inbox_is_refused(inbox):
    token = await database_sync_to_async(new_visitor)(inbox)
    assert await _refused(visitor_socket(inbox, token, key="no-such-inbox")) == 4401


async def test_visitor_message_reaches_their_socket_and_not_another_visitors(inbox):
    first = await open_visitor(inbox, await database_sync_to_async(new_visitor)(inbox))
    second = await open_visitor(inbox, await database_sync_to_async(new_visitor)(inbox, name="Bob"))
    await first.send_json_to({"action": "message", "client_id": "client-0001", "text": "<b>hi</b><script>x()</script>"})
    frames: list[dict] = []
    while not (any(f["type"] == "ack" for f in frames) and any(f["type"] == "message" and f["message"]["mine"]
                                                               for f in frames)):
        frames.append(await first.receive_json_from(timeout=5))
    echo = next(f for f in frames if f["type"] == "message" and f["message"]["mine"])
    assert echo["message"]["text"] == "<b>hi</b><script>x()</script>"  # stored and sent as text
    assert {"type": "ack", "client_id": "client-0001", "message": echo["message"]["id"]} in frames
    await _silent(second)
    conversation = await database_sync_to_async(Conversation.objects.get)(pk=echo["message"]["conversation"])
    assert conversation.channel == Channel.WEBCHAT
    assert conversation.team_id == inbox.team_id
    await first.disconnect()
    await second.disconnect()


async def test_a_resent_message_is_stored_once(inbox):
    socket = await open_visitor(inbox, await database_sync_to_async(new_visitor)(inbox))
    frame = {"action": "message", "client_id": "client-0002", "text": "once"}
    await socket.send_json_to(frame)
    await drain(socket)
    await socket.send_json_to(frame)
    again = await next_of(socket, "ack")
    assert again.get("duplicate") is True
    count = await database_sync_to_async(Message.objects.filter(text="once").count)()
    assert count == 1
    await socket.disconnect()


def _agent_reply(conversation_id: int, agent, text: str):
    conversation = Conversation.objects.select_related("contact").get(pk=conversation_id)
    Conversation.objects.filter(pk=conversation_id).update(status="assigned", assignee=agent)
    conversation.refresh_from_db()
    message_send_note(conversation=conversation, text="internal: do not show", author=agent)
    return message_send_text(conversation=conversation, text=text, sender_user=agent)


async def test_agent_reply_reaches_only_its_visitor_with_sent_delivered_read(inbox, agent):
    first = await open_visitor(inbox, await database_sync_to_async(new_visitor)(inbox))
    second = await open_visitor(inbox, await database_sync_to_async(new_visitor)(inbox, name="Bob"))
    await first.send_json_to({"action": "message", "client_id": "client-0003", "text": "help"})
    mine = (await next_of(first, "message", mine=True))["message"]
    await database_sync_to_async(_agent_reply)(mine["conversation"], agent, "Hello <i>Ann</i>")
    reply = await next_of(first, "message", text="Hello <i>Ann</i>")
    assert reply["message"]["mine"] is False
    assert reply["message"]["status"] == "sent"
    read = await next_of(first, "read")
    assert mine["id"] < read["up_to"] == reply["message"]["id"]
    await _silent(second)
    await first.send_json_to({"action": "delivered", "message": reply["message"]["id"]})
    await first.send_json_to({"action": "read", "message": reply["message"]["id"]})
    for _ in range(30):
        stored = await database_sync_to_async(Message.objects.get)(pk=reply["message"]["id"])
        if stored.status == "read":
            break
        await asyncio.sleep(0.05)
    assert stored.status == "read" and stored.delivered_at is not None
    notes = await database_sync_to_async(lambda: list(Message.objects.filter(internal=True)))()
    assert notes, "the note was stored"
    history = (await open_visitor(inbox, first.hello["token"])).hello["messages"]
    assert "internal: do not show" not in [m["text"] for m in history]
    await first.disconnect()
    await second.disconnect()


async def test_a_visitor_cannot_mark_another_visitors_message(inbox, agent):
    first = await open_visitor(inbox, await database_sync_to_async(new_visitor)(inbox))
    second = await open_visitor(inbox, await database_sync_to_async(new_visitor)(inbox, name="Bob"))
    await first.send_json_to({"action": "message", "client_id": "client-0004", "text": "help"})
    mine = (await next_of(first, "message", mine=True))["message"]
    reply = await database_sync_to_async(_agent_reply)(mine["conversation"], agent, "for Ann only")
    await second.send_json_to({"action": "read", "message": reply.pk})
    await second.send_json_to({"action": "ping"})
    await next_of(second, "pong")
    stored = await database_sync_to_async(Message.objects.get)(pk=reply.pk)
    assert stored.status == "sent"
    # Nor can they catch up from another visitor's history.
    assert second.hello["messages"] == []
    await first.disconnect()
    await second.disconnect()


async def test_reconnect_catches_up_after_the_last_seen_message(inbox, agent):
    token = await database_sync_to_async(new_visitor)(inbox)
    socket = await open_visitor(inbox, token)
    await socket.send_json_to({"action": "message", "client_id": "client-0005", "text": "first"})
    first = (await next_of(socket, "message", mine=True))["message"]
    await socket.disconnect()
    await database_sync_to_async(_agent_reply)(first["conversation"], agent, "while you were away")
    again = await open_visitor(inbox, socket.hello["token"], after=first["id"])
    texts = [m["text"] for m in again.hello["messages"]]
    assert "while you were away" in texts and "first" not in texts
    await again.disconnect()


async def test_the_greeting_rotates_the_token(inbox):
    token = await database_sync_to_async(new_visitor)(inbox)
    time.sleep(1.1)  # signing timestamps have one-second resolution
    socket = await open_visitor(inbox, token)
    assert socket.hello["token"] != token
    await socket.disconnect()


@override_settings(WEBCHAT_WS_MAX_FRAME_BYTES=200)
async def test_an_oversized_frame_closes_the_socket(inbox):
    socket = await open_visitor(inbox, await database_sync_to_async(new_visitor)(inbox))
    await socket.send_to(text_data='{"action": "message", "text": "' + "x" * 300 + '"}')
    output = await socket.receive_output(timeout=3)
    assert output == {"type": "websocket.close", "code": 4413}


@override_settings(WEBCHAT_WS_RATE_FRAMES=5)
async def test_a_flood_of_frames_closes_the_socket(inbox):
    socket = await open_visitor(inbox, await database_sync_to_async(new_visitor)(inbox))
    for _ in range(6):
        await socket.send_json_to({"action": "ping"})
    while True:
        output = await socket.receive_output(timeout=3)
        if output["type"] == "websocket.close":
            break
    assert output["code"] == 4429


async def test_a_message_before_the_prechat_form_is_refused(inbox):
    from tests.webchat.conftest import visitor_call

    response = await database_sync_to_async(visitor_call)(inbox, "session", {"origin": SITE})
    socket = await open_visitor(inbox, response.json()["token"])
    assert socket.hello["prechat"] is True
    await socket.send_json_to({"action": "message", "client_id": "client-0006", "text": "hi"})
    error = await next_of(socket, "error")
    assert error["code"] == "prechat_required"
    assert await database_sync_to_async(Message.objects.count)() == 0
    await socket.disconnect()


async def test_a_choice_never_offered_is_refused(inbox):
    socket = await open_visitor(inbox, await database_sync_to_async(new_visitor)(inbox))
    await socket.send_json_to({"action": "reply", "client_id": "client-0007", "id": "csat:1:3"})
    error = await next_of(socket, "error")
    assert error["code"] == "invalid"
    await socket.disconnect()


async def test_visitor_typing_reaches_the_desk_group_only(inbox):
    from channels.layers import get_channel_layer

    from config.realtime import conversation_group

    socket = await open_visitor(inbox, await database_sync_to_async(new_visitor)(inbox))
    await socket.send_json_to({"action": "message", "client_id": "client-0008", "text": "hi"})
    mine = (await next_of(socket, "message", mine=True))["message"]
    layer = get_channel_layer()
    channel = await layer.new_channel()
    await layer.group_add(conversation_group(mine["conversation"]), channel)
    await socket.send_json_to({"action": "typing"})
    while True:
        event = (await asyncio.wait_for(layer.receive(channel), 3))["event"]
        if event["type"] == "typing":
            break
    assert event["user"]["visitor"] is True and event["user"]["name"] == "Ann"
    await socket.disconnect()


async def test_an_agent_opening_the_conversation_marks_the_visitors_messages_read(inbox, agent):
    from tests.desk.conftest import open_desk, session_cookie

    visitor = await open_visitor(inbox, await database_sync_to_async(new_visitor)(inbox))
    await visitor.send_json_to({"action": "message", "client_id": "client-0009", "text": "anyone?"})
    mine = (await next_of(visitor, "message", mine=True))["message"]
    await drain(visitor)
    desk = await open_desk(await database_sync_to_async(session_cookie)(agent))
    await desk.send_json_to({"action": "subscribe", "conversation": mine["conversation"]})
    read = await next_of(visitor, "read")
    assert read["up_to"] >= mine["id"]
    await desk.disconnect()
    await visitor.disconnect()


def _resolve(conversation_id: int) -> None:
    from django.db import transaction

    from conversations.services import conversations as lifecycle

    with transaction.atomic():
        conversation = Conversation.objects.select_for_update().get(pk=conversation_id)
        lifecycle.conversation_resolve(conversation=conversation)


async def test_after_resolution_the_visitor_rates_with_the_same_buttons_as_on_whatsapp(inbox):
    visitor = await open_visitor(inbox, await database_sync_to_async(new_visitor)(inbox))
    await visitor.send_json_to({"action": "message", "client_id": "client-0010", "text": "thanks, solved"})
    mine = (await next_of(visitor, "message", mine=True))["message"]
    await drain(visitor)
    await database_sync_to_async(_resolve)(mine["conversation"])
    question = await next_of(visitor, "message", text="How did we do? Please rate the help you got.")
    choices = question["message"]["choices"]
    assert [c["title"] for c in choices] == ["Good", "OK", "Bad"]
    await visitor.send_json_to({"action": "reply", "client_id": "client-0011", "id": choices[0]["id"]})
    await next_of(visitor, "ack")
    conversation = await database_sync_to_async(Conversation.objects.get)(pk=mine["conversation"])
    assert conversation.csat_score == 3 and conversation.status == "resolved"
    await visitor.disconnect()
