"""Revoking access closes or prunes open desk sockets at once, not at the next periodic
check: deactivation, a password change, a session that ends (deleted, flushed, expired),
losing or gaining a team as member or supervisor. Against the real ASGI application with
the periodic check left at its default (30 s), so only the immediate path can pass within
a second; another user's socket stays open and receives nothing it should not."""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta

import pytest
from channels.db import database_sync_to_async
from django.conf import settings
from django.contrib.auth.models import Group
from django.contrib.sessions.backends.db import SessionStore
from django.contrib.sessions.models import Session
from django.db import transaction
from django.test import Client
from django.utils import timezone

from agents.models import Team
from config.realtime import SUPERVISORS_GROUP, agent_group, conversation_group, team_group
from conversations.access import ADMIN_GROUP
from tests.desk.conftest import open_desk, publish, session_cookie
from tests.factories import ConversationFactory

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("socket_writes")]

WITHIN = 1.0


@pytest.fixture(autouse=True)
def periodic_check_far_away(settings):
    settings.DESK_WS_REVALIDATE_SECONDS = 30


@pytest.fixture
def conversation(team, number):
    return ConversationFactory(team=team, contact__number=number, status="queued")


@pytest.fixture
def sales_conversation(other_team, number):
    return ConversationFactory(team=other_team, contact__number=number, status="queued")


async def _closed_within(socket, seconds: float = WITHIN) -> int:
    started = time.monotonic()
    output = await socket.receive_output(timeout=seconds + 0.5)
    assert output["type"] == "websocket.close", output
    assert time.monotonic() - started <= seconds + 0.1
    return output.get("code")


async def _still_open(socket) -> None:
    """Answers a ping, and had received nothing before it."""
    assert await socket.receive_nothing(timeout=0.1)
    await socket.send_json_to({"action": "ping"})
    assert (await socket.receive_json_from(timeout=2))["type"] == "pong"


async def _settled() -> None:
    # The change was published on commit; give the socket its second to act on it.
    await asyncio.sleep(WITHIN)


def _sync(fn, *args, **kwargs):
    return database_sync_to_async(fn)(*args, **kwargs)


# --- the user ----------------------------------------------------------------------------
async def test_deactivating_a_user_closes_their_socket_at_once(cookies, agent):
    mine = await open_desk(cookies["agent"])
    teammate = await open_desk(cookies["teammate"])

    def deactivate():
        agent.is_active = False
        agent.save()

    await _sync(deactivate)
    assert await _closed_within(mine) == 4403
    await _still_open(teammate)
    await teammate.disconnect()


async def test_deactivation_rolled_back_closes_nothing(cookies, agent):
    mine = await open_desk(cookies["agent"])

    def deactivate_then_fail():
        with transaction.atomic():
            agent.is_active = False
            agent.save()
            transaction.set_rollback(True)

    await _sync(deactivate_then_fail)
    await _settled()
    await _still_open(mine)
    await mine.disconnect()


async def test_deleting_a_user_closes_their_socket(cookies, agent):
    mine = await open_desk(cookies["agent"])
    teammate = await open_desk(cookies["teammate"])
    await _sync(agent.delete)
    assert await _closed_within(mine) == 4403
    await _still_open(teammate)
    await teammate.disconnect()


async def test_password_change_closes_sockets_of_older_sessions(cookies, agent, teammate):
    mine = await open_desk(cookies["agent"])
    teammate_socket = await open_desk(cookies["teammate"])

    def change_password():
        agent.set_password("a-new-password-1")
        agent.save()

    await _sync(change_password)
    assert await _closed_within(mine) == 4403
    await _still_open(teammate_socket)
    await teammate_socket.disconnect()


async def test_session_signed_in_after_the_password_change_keeps_its_socket(agent):
    def change_password_and_sign_in():
        agent.set_password("a-new-password-2")
        agent.save()
        return session_cookie(agent)

    fresh = await _sync(change_password_and_sign_in)
    mine = await open_desk(fresh)

    def save_again():
        agent.first_name = "Renamed"
        agent.save()

    await _sync(save_again)
    await _settled()
    await _still_open(mine)
    await mine.disconnect()


async def test_saving_a_user_without_watched_changes_keeps_the_socket(cookies, agent):
    mine = await open_desk(cookies["agent"])

    def rename():
        agent.last_name = "Other"
        agent.save()

    await _sync(rename)
    await _settled()
    await _still_open(mine)
    await mine.disconnect()


# --- sessions ----------------------------------------------------------------------------
async def test_deleting_a_session_closes_that_sessions_socket_only(cookies, agent):
    other_session = await _sync(session_cookie, agent)
    first = await open_desk(cookies["agent"])
    second = await open_desk(other_session)
    await _sync(Session.objects.filter(session_key=cookies["agent"]).delete)
    assert await _closed_within(first) == 4403
    await _still_open(second)
    await second.disconnect()


async def test_flushing_a_session_closes_its_socket(cookies, agent):
    mine = await open_desk(cookies["agent"])
    teammate = await open_desk(cookies["teammate"])
    await _sync(SessionStore(session_key=cookies["agent"]).flush)
    assert await _closed_within(mine) == 4403
    await _still_open(teammate)
    await teammate.disconnect()


async def test_logging_out_closes_that_sessions_socket(cookies, agent):
    mine = await open_desk(cookies["agent"])
    teammate = await open_desk(cookies["teammate"])

    def log_out():
        client = Client()
        client.cookies[settings.SESSION_COOKIE_NAME] = cookies["agent"]
        return client.post("/accounts/logout/")

    assert (await _sync(log_out)).status_code == 302
    assert await _closed_within(mine) == 4403
    await _still_open(teammate)
    await teammate.disconnect()


async def test_an_expiring_session_closes_its_socket_when_it_expires(agent, cookies):
    def short_session():
        key = session_cookie(agent)
        Session.objects.filter(session_key=key).update(expire_date=timezone.now() + timedelta(seconds=1.5))
        return key

    key = await _sync(short_session)
    mine = await open_desk(key)
    teammate = await open_desk(cookies["teammate"])
    assert await mine.receive_nothing(timeout=1.0)  # still valid before it expires
    assert await _closed_within(mine, seconds=1.5) == 4403
    await _still_open(teammate)
    await teammate.disconnect()


async def test_a_session_extended_before_it_expires_keeps_its_socket(agent):
    def short_session():
        key = session_cookie(agent)
        Session.objects.filter(session_key=key).update(expire_date=timezone.now() + timedelta(seconds=1))
        return key

    key = await _sync(short_session)
    mine = await open_desk(key)
    await _sync(Session.objects.filter(session_key=key).update, expire_date=timezone.now() + timedelta(hours=1))
    await asyncio.sleep(1.5)
    await _still_open(mine)
    await mine.disconnect()


# --- teams -------------------------------------------------------------------------------
async def test_removal_from_a_team_prunes_its_group_at_once(cookies, agent, team):
    mine = await open_desk(cookies["agent"])
    teammate = await open_desk(cookies["teammate"])
    await _sync(team.members.remove, agent)
    await _settled()

    await publish(team_group(team.pk), {"type": "queue.updated", "team": team.pk, "waiting": 3})
    assert await mine.receive_nothing(timeout=0.3)
    assert (await teammate.receive_json_from())["type"] == "queue.updated"
    # The socket itself stays: the user may still work other conversations.
    await _still_open(mine)
    for socket in (mine, teammate):
        await socket.disconnect()


async def test_removal_from_the_user_side_prunes_too(cookies, agent, team):
    mine = await open_desk(cookies["agent"])
    await _sync(agent.teams.remove, team)
    await _settled()
    await publish(team_group(team.pk), {"type": "queue.updated", "team": team.pk, "waiting": 3})
    assert await mine.receive_nothing(timeout=0.3)
    await mine.disconnect()


async def test_clearing_a_teams_members_prunes_each_of_them(cookies, agent, teammate, team):
    mine = await open_desk(cookies["agent"])
    theirs = await open_desk(cookies["teammate"])
    outsider = await open_desk(cookies["outsider"])
    await _sync(team.members.clear)
    await _settled()
    await publish(team_group(team.pk), {"type": "queue.updated", "team": team.pk, "waiting": 3})
    for socket in (mine, theirs, outsider):
        assert await socket.receive_nothing(timeout=0.3)
        await socket.disconnect()


async def test_team_changed_as_the_admin_form_does_prunes_and_adds(cookies, agent, teammate, outsider, team):
    """The admin saves a team's members with `set()`: those dropped lose the team's group,
    those added gain it, at once."""
    mine = await open_desk(cookies["agent"])
    theirs = await open_desk(cookies["outsider"])
    await _sync(team.members.set, [teammate, outsider])
    await _settled()
    await publish(team_group(team.pk), {"type": "queue.updated", "team": team.pk, "waiting": 2})
    assert (await theirs.receive_json_from())["type"] == "queue.updated"
    assert await mine.receive_nothing(timeout=0.3)
    for socket in (mine, theirs):
        await socket.disconnect()


async def test_losing_a_team_drops_subscriptions_to_its_conversations(cookies, agent, team, conversation):
    mine = await open_desk(cookies["agent"])
    teammate = await open_desk(cookies["teammate"])
    for socket in (mine, teammate):
        await socket.send_json_to({"action": "subscribe", "conversation": conversation.pk})
        assert (await socket.receive_json_from())["type"] == "subscribed"

    started = time.monotonic()
    await _sync(team.members.remove, agent)
    frame = await mine.receive_json_from(timeout=WITHIN + 0.5)
    assert frame == {"type": "unsubscribed", "conversation": conversation.pk, "reason": "forbidden"}
    assert time.monotonic() - started <= WITHIN

    await publish(conversation_group(conversation.pk), {"type": "message.created", "conversation": conversation.pk})
    assert await mine.receive_nothing(timeout=0.3)
    assert (await teammate.receive_json_from())["type"] == "message.created"
    assert await teammate.receive_nothing(timeout=0.2)  # nothing of the other user's change
    for socket in (mine, teammate):
        await socket.disconnect()


async def test_gaining_a_team_joins_its_group_at_once(cookies, outsider, team, other_team):
    theirs = await open_desk(cookies["outsider"])
    assert theirs.hello["teams"] == [other_team.pk]
    await _sync(team.members.add, outsider)
    await _settled()
    await publish(team_group(team.pk), {"type": "queue.updated", "team": team.pk, "waiting": 1})
    assert (await theirs.receive_json_from())["type"] == "queue.updated"
    await theirs.disconnect()


async def test_losing_supervision_stops_the_teams_conversations(cookies, supervisor, team, conversation):
    watching = await open_desk(cookies["supervisor"])
    agent_socket = await open_desk(cookies["agent"])
    assert watching.hello["supervisor"] is True
    await _sync(team.supervisors.remove, supervisor)
    await _settled()

    event = {"type": "conversation.updated", "conversation": {"id": conversation.pk, "team": team.pk, "assignee": None}}
    await publish(SUPERVISORS_GROUP, event)
    await publish(team_group(team.pk), {"type": "queue.updated", "team": team.pk, "waiting": 1})
    assert await watching.receive_nothing(timeout=0.3)
    assert (await agent_socket.receive_json_from())["type"] == "queue.updated"
    for socket in (watching, agent_socket):
        await socket.disconnect()


async def test_gaining_supervision_of_another_team_shows_its_conversations(cookies, supervisor, other_team, sales_conversation):
    watching = await open_desk(cookies["supervisor"])
    await _sync(other_team.supervisors.add, supervisor)
    await _settled()
    event = {
        "type": "conversation.updated",
        "conversation": {"id": sales_conversation.pk, "team": other_team.pk, "assignee": None},
    }
    await publish(SUPERVISORS_GROUP, event)
    assert (await watching.receive_json_from())["conversation"]["id"] == sales_conversation.pk
    await watching.disconnect()


async def test_deleting_a_team_prunes_its_members(cookies, agent, team):
    mine = await open_desk(cookies["agent"])
    team_id = team.pk
    await _sync(Team.objects.filter(pk=team_id).delete)
    await _settled()
    await publish(team_group(team_id), {"type": "queue.updated", "team": team_id, "waiting": 1})
    assert await mine.receive_nothing(timeout=0.3)
    await mine.disconnect()


async def test_leaving_the_admin_group_stops_seeing_every_conversation(cookies, outsider, conversation):
    def make_admin():
        group, _ = Group.objects.get_or_create(name=ADMIN_GROUP)
        outsider.groups.add(group)
        return group

    group = await _sync(make_admin)
    theirs = await open_desk(await _sync(session_cookie, outsider))
    assert theirs.hello["supervisor"] is True
    await _sync(outsider.groups.remove, group)
    await _settled()
    event = {"type": "conversation.updated", "conversation": {"id": conversation.pk, "team": conversation.team_id, "assignee": None}}
    await publish(SUPERVISORS_GROUP, event)
    assert await theirs.receive_nothing(timeout=0.3)
    await theirs.disconnect()


async def test_revocation_events_are_not_sent_to_the_browser(cookies, agent, team):
    mine = await open_desk(cookies["agent"])
    await _sync(team.members.add, agent)  # already a member: nothing to change
    await publish(agent_group(agent.pk), {"type": "access.changed", "reason": "teams"})
    await _settled()
    await _still_open(mine)
    await mine.disconnect()
