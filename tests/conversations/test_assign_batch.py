"""An assignment batch (`conversations_assign`, the assignment engine's) gives each
conversation exactly what `conversation_assign` gives it one at a time: the same fields,
SLA clocks, participations, timeline event and profile times, with one statement per kind
of write; the desks hear of each conversation once, of each agent once (with the last
load) and of each queue once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from agents.models import AgentProfile, SlaPolicy
from config.bulk_rows import rows_update
from config.realtime import agent_group, conversation_group, team_group
from conversations.models import Conversation, Participant
from conversations.services import conversations as lifecycle
from tests.factories import ContactFactory, ConversationFactory
from tests.support.intake import DeskListener

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
QUEUED_AT = T0 - timedelta(minutes=4)


@pytest.fixture
def profiles(agent, teammate):
    for user in (agent, teammate):
        AgentProfile.objects.update_or_create(user=user, defaults={"presence": "online", "capacity": 5})
    return {p.user_id: p for p in AgentProfile.objects.select_related("user")}


def three_conversations(number, team, agent, wa_prefix):
    """From the queue (SLA clock running), from the queue with a watcher who will own it,
    and straight from the bot (a new episode)."""
    def contact(i):
        return ContactFactory(number=number, wa_id=f"{wa_prefix}{i}")

    queued = ConversationFactory(contact=contact(1), number=number, team=team, status="queued",
                                 queued_at=QUEUED_AT, first_response_due_at=QUEUED_AT + timedelta(minutes=5))
    watched = ConversationFactory(contact=contact(2), number=number, team=team, status="queued",
                                  queued_at=QUEUED_AT)
    Participant.objects.create(conversation=watched, user=agent, role=Participant.Role.WATCHER, joined_at=QUEUED_AT)
    from_bot = ConversationFactory(contact=contact(3), number=number, team=team)
    return [queued, watched, from_bot]


def snapshot(conversation):
    row = Conversation.objects.get(pk=conversation.pk)
    event = row.events.get(kind="assigned")
    return {
        "fields": (row.status, row.assignee_id, row.assigned_at, row.on_hold, row.queued_at,
                   row.first_response_at, row.first_response_due_at, row.next_response_due_at),
        "participants": sorted(row.participants.values_list("user_id", "role", "joined_at", "left_at")),
        "event": (event.actor_kind, event.from_status, event.to_status, event.reason, event.data),
    }


def locked(conversations):
    return list(
        Conversation.objects.select_for_update(of=("self",)).select_related("contact", "team")
        .filter(pk__in=[c.pk for c in conversations]).order_by("pk")
    )


def test_a_batch_assigns_each_conversation_as_one_at_a_time_would(number, team, agent, teammate, profiles):
    team.sla_policy = SlaPolicy.objects.create(name="targets", first_response_seconds=300, next_response_seconds=600)
    team.save()
    one_by_one = three_conversations(number, team, agent, "1555100")
    batch = three_conversations(number, team, agent, "1555200")
    owners = [teammate, agent, agent]  # the watcher takes the watched one

    with time_machine.travel(T0, tick=False):
        with transaction.atomic():
            for conversation, user in zip(locked(one_by_one), owners, strict=True):
                lifecycle.conversation_assign(conversation=conversation, user=user, reason="routing")
        singles = [snapshot(c) for c in one_by_one]
        AgentProfile.objects.update(last_assigned_at=None)
        with transaction.atomic(), CaptureQueriesContext(connection) as captured:
            lifecycle.conversations_assign(
                [lifecycle.Assignment(c, u) for c, u in zip(locked(batch), owners, strict=True)], reason="routing"
            )

    assert [snapshot(c) for c in batch] == singles
    assert singles[1]["participants"] == [(agent.pk, "owner", QUEUED_AT, None)]
    assert singles[2]["fields"][4:7] == (T0, None, T0 + timedelta(seconds=300))  # a new episode from the bot
    assert set(AgentProfile.objects.values_list("last_assigned_at", flat=True)) == {T0}
    writes = [q["sql"].split()[0] for q in captured.captured_queries if q["sql"].startswith(("UPDATE", "INSERT"))]
    # conversations, profiles' last_assigned_at, the watcher made owner; participations, events
    assert sorted(writes) == ["INSERT", "INSERT", "UPDATE", "UPDATE", "UPDATE"], captured.captured_queries


def test_a_batch_tells_each_desk_once(number, team, agent, teammate, profiles, django_capture_on_commit_callbacks):
    conversations = [
        ConversationFactory(contact=ContactFactory(number=number, wa_id=f"155530000{i}"), number=number, team=team,
                            status="queued", queued_at=QUEUED_AT)
        for i in range(4)
    ]
    groups = [team_group(team.pk), agent_group(agent.pk), agent_group(teammate.pk),
              *(conversation_group(c.pk) for c in conversations)]
    ears = {group: DeskListener([group]) for group in groups}
    owners = [agent, teammate, agent, agent]
    with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
        lifecycle.conversations_assign([
            lifecycle.Assignment(c, u, profiles[u.pk], load)
            for c, u, load in zip(locked(conversations), owners, [1, 1, 2, 3], strict=True)
        ], reason="routing")

    for conversation, user in zip(conversations, owners, strict=True):
        events = [e for e in ears[conversation_group(conversation.pk)].events() if e["type"] == "conversation.updated"]
        assert [(e["conversation"]["status"], e["conversation"]["assignee"]) for e in events] == [("assigned", user.pk)]
    team_events = ears[team_group(team.pk)].events()
    assert [e["queued"] for e in team_events if e["type"] == "queue.updated"] == [0]
    assert len([e for e in team_events if e["type"] == "conversation.updated"]) == 4
    for user, load in ((agent, 3), (teammate, 1)):
        loads = [e["agent"]["load"] for e in ears[agent_group(user.pk)].events() if e["type"] == "agent.updated"]
        assert loads == [load]


def test_a_batch_refuses_a_conversation_twice(number, team, agent, profiles):
    conversation = ConversationFactory(contact__number=number, number=number, team=team, status="queued",
                                       queued_at=QUEUED_AT)
    with transaction.atomic(), pytest.raises(lifecycle.InvalidTransition):
        [row] = locked([conversation])
        lifecycle.conversations_assign([lifecycle.Assignment(row, agent), lifecycle.Assignment(row, agent)])


def test_rows_update_writes_each_rows_own_values_in_one_statement(number, team, agent, teammate, profiles):
    conversations = [
        ConversationFactory(contact=ContactFactory(number=number, wa_id=f"155540000{i}"), number=number, team=team)
        for i in range(3)
    ]
    untouched = ConversationFactory(contact=ContactFactory(number=number, wa_id="1555400009"), number=number)
    values = {
        conversations[0].pk: {"priority": 1, "first_response_due_at": T0, "language": "es"},
        conversations[1].pk: {"priority": 2, "first_response_due_at": None, "language": "es"},
        conversations[2].pk: {"priority": 3, "first_response_due_at": T0 + timedelta(hours=1), "language": "es"},
    }
    with CaptureQueriesContext(connection) as captured:
        assert rows_update(Conversation, "id", values) == 3
    assert len(captured.captured_queries) == 1
    for pk, expected in values.items():
        row = Conversation.objects.get(pk=pk)
        assert (row.priority, row.first_response_due_at, row.language) == tuple(expected.values())
    untouched.refresh_from_db()
    assert (untouched.priority, untouched.language) == (0, "")
    rows_update(AgentProfile, "user", {agent.pk: {"last_assigned_at": T0}, teammate.pk: {"last_assigned_at": None}})
    assert dict(AgentProfile.objects.values_list("user_id", "last_assigned_at")) == {agent.pk: T0, teammate.pk: None}
