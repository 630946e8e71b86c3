"""Queue messages: position and an honest wait estimate, rate-limited per team, only
inside the window."""

from datetime import timedelta

import time_machine
from django.utils import timezone

from agents.services.queue_messages import queue_message_send, queue_message_text, wait_estimate_seconds
from agents.services.routing import conversation_enqueue
from tests.factories import ConversationFactory


def queue_one(number, team, capture, **kwargs):
    conversation = ConversationFactory(contact__number=number, number=number, **kwargs)
    with capture(execute=True):
        conversation_enqueue(conversation=conversation, team=team)
    return conversation


def texts(graph):
    return [m["text"]["body"] for m in graph.sent_messages() if m.get("type") == "text"]


def test_queued_customer_is_told_their_place(db, graph, number, team, django_capture_on_commit_callbacks):
    queue_one(number, team, django_capture_on_commit_callbacks)
    second = queue_one(number, team, django_capture_on_commit_callbacks)
    assert texts(graph) == [
        "You are next in the queue. An agent will be with you as soon as possible.",
        "You are number 2 in the queue. An agent will be with you as soon as possible.",
    ]
    # Within the team's interval nothing more is sent.
    with django_capture_on_commit_callbacks(execute=True):
        assert queue_message_send(conversation_id=second.pk) is False
    assert len(texts(graph)) == 2
    later = timezone.now() + timedelta(minutes=team.queue_message_interval_minutes, seconds=1)
    with time_machine.travel(later), django_capture_on_commit_callbacks(execute=True):
        assert queue_message_send(conversation_id=second.pk) is True
    assert texts(graph)[-1].startswith("You are number 2 in the queue.")


def test_no_queue_message_outside_the_window(db, graph, number, team, django_capture_on_commit_callbacks):
    queue_one(number, team, django_capture_on_commit_callbacks,
              last_customer_message_at=timezone.now() - timedelta(hours=30))
    assert texts(graph) == []


def test_team_can_switch_queue_messages_off(db, graph, number, team, django_capture_on_commit_callbacks):
    team.queue_messages_enabled = False
    team.save()
    conversation = queue_one(number, team, django_capture_on_commit_callbacks)
    assert queue_message_send(conversation_id=conversation.pk) is False
    assert texts(graph) == []


def test_estimate_comes_from_recent_assignment_waits(db, number, team):
    now = timezone.now()
    assert wait_estimate_seconds(team=team, position=1) is None
    # Six customers served in the last hour, each after waiting four minutes.
    for i in range(6):
        assigned = now - timedelta(minutes=10 * i)
        ConversationFactory(
            contact__number=number, number=number, team=team, status="resolved",
            queued_at=assigned - timedelta(minutes=4), assigned_at=assigned,
        )
    # The queue moved at six per fifty minutes: one every 500 s, longer than the median
    # four-minute wait, so the rate decides.
    first = wait_estimate_seconds(team=team, position=1)
    assert round(first) == 500
    fifth = wait_estimate_seconds(team=team, position=5)
    assert round(fifth) == 2500
    assert queue_message_text(position=5, estimate=fifth).endswith("about 42 minutes.")


def test_estimate_is_never_below_the_median_wait(db, number, team):
    now = timezone.now()
    # Twenty served in the last ten minutes, each after a fifteen-minute wait.
    for i in range(20):
        assigned = now - timedelta(seconds=30 * i)
        ConversationFactory(
            contact__number=number, number=number, team=team, status="resolved",
            queued_at=assigned - timedelta(minutes=15), assigned_at=assigned,
        )
    assert wait_estimate_seconds(team=team, position=1) == 900
