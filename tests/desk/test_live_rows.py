"""A conversation looks the same on the desk's list, in its pushed events and in the API
(one payload builder, conversations.payloads): after a reassignment the event carries the
new assignee's name and the participants, so no desk keeps the previous name."""

from __future__ import annotations

import pytest
from channels.db import database_sync_to_async
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from agents.models import AgentProfile
from agents.services import desk_actions as services
from conversations.events import conversation_event, publish_conversation
from conversations.models import Conversation, Participant
from conversations.payloads import person_name
from tests.desk.conftest import open_desk
from tests.factories import ContactFactory, ConversationFactory, UserFactory

DESK = "/api/v1/desk/conversations/"


def _held(number, team, agent, *others):
    """A conversation of `team` that `agent` took; everyone named has room."""
    for user in (agent, *others):
        AgentProfile.objects.update_or_create(user=user, defaults={"presence": "online", "capacity": 3})
    conversation = ConversationFactory(contact__number=number, number=number, team=team, status="queued")
    services.conversation_assign(conversation=conversation, actor=agent)
    return conversation


def _named(user, first_name: str) -> None:
    user.first_name = first_name
    user.save(update_fields=["first_name"])


def _reassign(supervisor, conversation, agent) -> int:
    client = APIClient()
    client.force_authenticate(supervisor)
    return client.post(f"/api/v1/conversations/{conversation.pk}/transfer/", {"agent": agent.pk}, format="json").status_code


async def _conversation_update(socket, conversation_id: int) -> dict:
    """The next `conversation.updated` frame about the conversation (other frames, such as
    `agent.updated`, are passed over)."""
    while True:
        frame = await socket.receive_json_from(timeout=3)
        if frame["type"] == "conversation.updated" and frame["conversation"]["id"] == conversation_id:
            return frame["conversation"]


@pytest.mark.django_db(transaction=True)
async def test_after_a_reassignment_both_desks_get_the_new_assignee_name_and_participants(
    cookies, number, team, agent, teammate, supervisor
):
    await database_sync_to_async(_named)(agent, "Ana")  # two names the desks can tell apart
    await database_sync_to_async(_named)(teammate, "Tomás")
    conversation = await database_sync_to_async(_held)(number, team, agent, teammate)
    previous = await open_desk(cookies["agent"])
    new = await open_desk(cookies["teammate"])

    assert await database_sync_to_async(_reassign)(supervisor, conversation, teammate) == 200

    for socket in (previous, new):
        shown = await _conversation_update(socket, conversation.pk)
        assert (shown["status"], shown["assignee"]) == ("assigned", teammate.pk)
        assert shown["assignee_name"] == person_name(teammate) != person_name(agent)
        assert [(p["id"], p["name"], p["role"]) for p in shown["participants"]] == [
            (teammate.pk, person_name(teammate), "owner")
        ]
        assert shown["team_name"] == team.name
    for socket in (previous, new):
        await socket.disconnect()


@pytest.mark.django_db
def test_the_desk_row_the_event_and_the_api_show_one_payload(api, number, team, agent, teammate, supervisor):
    conversation = _held(number, team, agent)
    Participant.objects.create(conversation=conversation, user=supervisor, role=Participant.Role.PARTICIPANT)
    fresh = Conversation.objects.get(pk=conversation.pk)
    api.force_authenticate(agent)

    row = next(r for r in api.get(DESK).json()["results"] if r["id"] == conversation.pk)
    event = conversation_event(fresh)["conversation"]
    item = api.get(f"/api/v1/conversations/{conversation.pk}/").json()

    assert {key: value for key, value in row.items() if key not in ("unread", "actions")} == event
    assert (event["assignee_name"], event["team_name"]) == (person_name(agent), team.name)
    assert [(p["id"], p["role"]) for p in event["participants"]] == [(agent.pk, "owner"), (supervisor.pk, "participant")]
    assert [(p["user"]["id"], p["user"]["username"], p["user"]["name"], p["role"]) for p in item["participants"]] == [
        (p["id"], p["username"], p["name"], p["role"]) for p in event["participants"]
    ]
    assert (item["assignee"]["id"], item["assignee"]["name"]) == (event["assignee"], event["assignee_name"])
    assert (item["status"], item["on_hold"], item["window_open"]) == (event["status"], event["on_hold"], event["window_open"])


def _busy_conversations(number, team, count):
    for _ in range(count):
        owner = UserFactory()
        team.members.add(owner)
        conversation = ConversationFactory(
            contact=ContactFactory(number=number), number=number, team=team, status="assigned", assignee=owner
        )
        Participant.objects.create(conversation=conversation, user=owner, role=Participant.Role.OWNER)
        Participant.objects.create(conversation=conversation, user=UserFactory(), role=Participant.Role.WATCHER)


@pytest.mark.django_db
def test_desk_rows_cost_the_same_queries_for_two_conversations_or_twelve(api, number, team, agent):
    api.force_authenticate(agent)

    def rows_and_queries():
        with CaptureQueriesContext(connection) as queries:
            rows = api.get(DESK).json()["results"]
        return len(rows), len(queries.captured_queries)

    rows_and_queries()  # what a first request of a session reads once
    _busy_conversations(number, team, 2)
    few, few_queries = rows_and_queries()
    _busy_conversations(number, team, 10)
    many, many_queries = rows_and_queries()

    assert (few, many) == (2, 12)
    assert many_queries == few_queries


@pytest.mark.django_db
def test_a_conversation_event_is_built_with_two_queries_however_many_take_part(
    number, team, agent, django_capture_on_commit_callbacks, django_assert_num_queries
):
    conversation = _held(number, team, agent)
    for _ in range(4):
        Participant.objects.create(conversation=conversation, user=UserFactory(), role=Participant.Role.WATCHER)

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        publish_conversation(conversation)
    assert len(callbacks) == 1
    with django_assert_num_queries(2):  # the conversation with its contact, team and assignee; the participants
        callbacks[0]()
