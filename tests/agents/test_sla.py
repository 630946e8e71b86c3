"""SLA timers with a frozen clock: due times, breaches recorded once, supervisors told."""

from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

import time_machine

from agents.models import BusinessHours, SlaBreach, SlaPolicy
from agents.services.routing import conversation_enqueue
from agents.services.sla import sla_sweep
from conversations.models import Conversation, ConversationEvent
from tests.agents.conftest import make_agent

UTC = ZoneInfo("UTC")
T0 = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)  # a Monday


def with_policy(team, **kwargs):
    team.sla_policy = SlaPolicy.objects.create(
        name="Fast", first_response_seconds=300, next_response_seconds=600, **kwargs
    )
    team.save()
    return team


def enqueue_at(moment, conversation, team, capture):
    with time_machine.travel(moment, tick=False), capture(execute=True):
        conversation_enqueue(conversation=conversation, team=team)
    conversation.refresh_from_db()
    return conversation


def test_first_response_breach_is_recorded_once_and_supervisors_are_told(
    db, team, bot_conversation, django_capture_on_commit_callbacks, listen
):
    with_policy(team)
    conversation = enqueue_at(T0, bot_conversation(), team, django_capture_on_commit_callbacks)
    assert conversation.first_response_due_at == T0 + timedelta(seconds=300)
    supervisors = listen("supervisors")

    with time_machine.travel(T0 + timedelta(seconds=299), tick=False), django_capture_on_commit_callbacks(
        execute=True
    ):
        assert sla_sweep() == 0
    with time_machine.travel(T0 + timedelta(seconds=301), tick=False), django_capture_on_commit_callbacks(
        execute=True
    ):
        assert sla_sweep() == 1
        assert sla_sweep() == 0
    with time_machine.travel(T0 + timedelta(seconds=302), tick=False):
        # Read while the clock is still frozen: the in-memory layer expires messages by time.
        events = [e for e in supervisors.events() if e["type"] == "sla.breached"]
    conversation.refresh_from_db()
    assert conversation.sla_breached_at == T0 + timedelta(seconds=301)
    breach = SlaBreach.objects.get(conversation=conversation)
    assert breach.kind == "first_response"
    assert ConversationEvent.objects.filter(conversation=conversation, kind="sla.breached").count() == 1
    assert len(events) == 1
    assert events[0]["conversation"] == conversation.pk and events[0]["sla"] == "first_response"


def test_first_response_in_time_is_not_a_breach(db, team, bot_conversation, django_capture_on_commit_callbacks):
    with_policy(team)
    agent = make_agent(team, "quick")
    conversation = enqueue_at(T0, bot_conversation(), team, django_capture_on_commit_callbacks)
    assert conversation.assignee == agent
    Conversation.objects.filter(pk=conversation.pk).update(
        first_response_at=T0 + timedelta(seconds=100), last_agent_message_at=T0 + timedelta(seconds=100)
    )
    with time_machine.travel(T0 + timedelta(hours=1), tick=False):
        assert sla_sweep() == 0
    assert not SlaBreach.objects.exists()


def test_first_response_due_counts_only_business_hours(
    db, team, bot_conversation, django_capture_on_commit_callbacks
):
    with_policy(team)
    for weekday in range(5):
        BusinessHours.objects.create(team=team, weekday=weekday, opens=time(9), closes=time(17))
    friday_late = datetime(2026, 3, 6, 16, 58, tzinfo=UTC)
    conversation = enqueue_at(friday_late, bot_conversation(), team, django_capture_on_commit_callbacks)
    assert conversation.first_response_due_at == datetime(2026, 3, 9, 9, 3, tzinfo=UTC)
    with time_machine.travel(datetime(2026, 3, 8, 12, 0, tzinfo=UTC), tick=False):
        assert sla_sweep() == 0


def test_next_response_clock_starts_when_the_customer_waits(
    db, team, bot_conversation, django_capture_on_commit_callbacks, listen
):
    with_policy(team)
    agent = make_agent(team, "slow")
    conversation = enqueue_at(T0, bot_conversation(), team, django_capture_on_commit_callbacks)
    assert conversation.assignee == agent
    replied = T0 + timedelta(seconds=60)
    customer = T0 + timedelta(seconds=120)
    Conversation.objects.filter(pk=conversation.pk).update(
        first_response_at=replied, last_agent_message_at=replied, last_customer_message_at=customer
    )
    with time_machine.travel(customer + timedelta(seconds=5), tick=False):
        assert sla_sweep() == 0
    conversation.refresh_from_db()
    assert conversation.next_response_due_at == customer + timedelta(seconds=600)
    team_listener = listen(f"agent.{agent.pk}", "supervisors")
    with time_machine.travel(customer + timedelta(seconds=601), tick=False):
        with django_capture_on_commit_callbacks(execute=True):
            assert sla_sweep() == 1
        events = [e for e in team_listener.events() if e["type"] == "sla.breached"]
    assert SlaBreach.objects.get(conversation=conversation).kind == "next_response"
    assert {e["sla"] for e in events} == {"next_response"}


def test_agent_reply_stops_the_next_response_clock(db, team, bot_conversation, django_capture_on_commit_callbacks):
    with_policy(team)
    make_agent(team, "attentive")
    conversation = enqueue_at(T0, bot_conversation(), team, django_capture_on_commit_callbacks)
    customer = T0 + timedelta(seconds=120)
    Conversation.objects.filter(pk=conversation.pk).update(
        first_response_at=T0 + timedelta(seconds=60), last_agent_message_at=T0 + timedelta(seconds=60),
        last_customer_message_at=customer,
    )
    with time_machine.travel(customer + timedelta(seconds=5), tick=False):
        sla_sweep()
    Conversation.objects.filter(pk=conversation.pk).update(last_agent_message_at=customer + timedelta(seconds=300))
    with time_machine.travel(customer + timedelta(seconds=900), tick=False):
        assert sla_sweep() == 0
    conversation.refresh_from_db()
    assert conversation.next_response_due_at is None


def test_resolve_records_response_and_resolution_times(
    db, team, bot_conversation, django_capture_on_commit_callbacks
):
    from agents.services.desk_actions import conversation_resolve

    with_policy(team)
    agent = make_agent(team, "closer")
    conversation = enqueue_at(T0, bot_conversation(), team, django_capture_on_commit_callbacks)
    Conversation.objects.filter(pk=conversation.pk).update(first_response_at=T0 + timedelta(seconds=45))
    with time_machine.travel(T0 + timedelta(seconds=900), tick=False):
        conversation_resolve(conversation=conversation, actor=agent)
    event = ConversationEvent.objects.get(conversation=conversation, kind="resolved")
    assert event.data["first_response_seconds"] == 45
    assert event.data["resolution_seconds"] == 900
