"""Overflow: after the team's timeout a waiting conversation moves to the next team, and
finally to any online agent with room."""

from datetime import timedelta

import time_machine
from django.utils import timezone

from agents.models import TeamOverflow
from agents.services.routing import conversation_enqueue
from agents.tasks import routing_sweep
from conversations.models import ConversationEvent
from tests.agents.conftest import make_agent
from tests.factories import TeamFactory


def test_overflow_moves_along_the_list_after_each_timeout(
    db, team, other_team, bot_conversation, django_capture_on_commit_callbacks
):
    TeamOverflow.objects.create(team=team, position=1, target_team=other_team, after_seconds=60)
    TeamOverflow.objects.create(team=team, position=2, target_team=None, after_seconds=120)
    elsewhere = TeamFactory(name="Elsewhere", slug="elsewhere")
    make_agent(team, "busy_support", presence="away")
    anyone = make_agent(elsewhere, "anyone")
    start = timezone.now()
    with time_machine.travel(start, tick=False):
        conversation = bot_conversation()
        with django_capture_on_commit_callbacks(execute=True):
            conversation_enqueue(conversation=conversation, team=team)
    conversation.refresh_from_db()
    assert conversation.status == "queued" and conversation.team == team

    with time_machine.travel(start + timedelta(seconds=59), tick=False), django_capture_on_commit_callbacks(
        execute=True
    ):
        routing_sweep.apply()
    conversation.refresh_from_db()
    assert conversation.team == team

    with time_machine.travel(start + timedelta(seconds=61), tick=False), django_capture_on_commit_callbacks(
        execute=True
    ):
        routing_sweep.apply()
    conversation.refresh_from_db()
    assert conversation.team == other_team and conversation.status == "queued"
    event = ConversationEvent.objects.get(conversation=conversation, kind="overflowed")
    assert event.data["to_team"] == other_team.pk

    # The second step counts from the move: 120 s in Sales, then any online agent.
    with time_machine.travel(start + timedelta(seconds=61 + 119), tick=False), django_capture_on_commit_callbacks(
        execute=True
    ):
        routing_sweep.apply()
    conversation.refresh_from_db()
    assert conversation.status == "queued"

    with time_machine.travel(start + timedelta(seconds=61 + 121), tick=False), django_capture_on_commit_callbacks(
        execute=True
    ):
        routing_sweep.apply()
    conversation.refresh_from_db()
    assert conversation.status == "assigned" and conversation.assignee == anyone
    assert ConversationEvent.objects.filter(conversation=conversation, kind="overflowed").count() == 2


def test_overflowed_conversation_is_served_by_the_next_team(
    db, team, other_team, bot_conversation, django_capture_on_commit_callbacks
):
    TeamOverflow.objects.create(team=team, position=1, target_team=other_team, after_seconds=30)
    sales = make_agent(other_team, "sales_agent")
    start = timezone.now()
    with time_machine.travel(start, tick=False):
        conversation = bot_conversation()
        with django_capture_on_commit_callbacks(execute=True):
            conversation_enqueue(conversation=conversation, team=team)
    with time_machine.travel(start + timedelta(seconds=31), tick=False), django_capture_on_commit_callbacks(
        execute=True
    ):
        routing_sweep.apply()
    conversation.refresh_from_db()
    assert conversation.assignee == sales


def test_no_overflow_when_assigned_in_time(db, team, other_team, bot_conversation, django_capture_on_commit_callbacks):
    TeamOverflow.objects.create(team=team, position=1, target_team=other_team, after_seconds=30)
    mine = make_agent(team, "mine")
    conversation = bot_conversation()
    with django_capture_on_commit_callbacks(execute=True):
        conversation_enqueue(conversation=conversation, team=team)
    with time_machine.travel(timezone.now() + timedelta(minutes=5)), django_capture_on_commit_callbacks(execute=True):
        routing_sweep.apply()
    conversation.refresh_from_db()
    assert conversation.team == team and conversation.assignee == mine
    assert not ConversationEvent.objects.filter(kind="overflowed").exists()
