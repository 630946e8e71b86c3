"""The assignment engine: fairness, order, capacity, matching, and the triggers that run it."""

from collections import Counter
from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from agents.models import AgentProfile, Team
from agents.services.desk_actions import conversation_hold, conversation_resolve
from agents.services.presence import presence_set
from agents.services.routing import conversation_enqueue, queue_drain
from conversations.agent_events import agent_load
from conversations.models import Conversation, ConversationEvent
from conversations.queue_events import queue_updated_broadcast
from tests.agents.conftest import make_agent


def enqueue(conversation, team, capture, **kwargs):
    with capture(execute=True):
        conversation_enqueue(conversation=conversation, team=team, **kwargs)
    conversation.refresh_from_db()
    return conversation


def test_least_busy_spreads_many_handoffs_evenly(db, team, bot_conversation, django_capture_on_commit_callbacks):
    agents = [make_agent(team, f"a{i}", capacity=10) for i in range(4)]
    for _ in range(24):
        enqueue(bot_conversation(), team, django_capture_on_commit_callbacks)
    loads = Counter(Conversation.objects.filter(status="assigned").values_list("assignee_id", flat=True))
    assert sorted(loads.values()) == [6, 6, 6, 6]
    assert set(loads) == {a.pk for a in agents}


def test_least_busy_prefers_the_agent_with_fewer_conversations(
    db, team, bot_conversation, django_capture_on_commit_callbacks
):
    busy = make_agent(team, "busy", capacity=5)
    free = make_agent(team, "free", capacity=5)
    for _ in range(2):
        conversation = bot_conversation()
        conversation.status, conversation.assignee, conversation.team = "assigned", busy, team
        conversation.save()
    conversation = enqueue(bot_conversation(), team, django_capture_on_commit_callbacks)
    assert conversation.assignee == free


def test_least_busy_tie_goes_to_the_agent_idle_longest(db, team, bot_conversation, django_capture_on_commit_callbacks):
    recent = make_agent(team, "recent")
    idle = make_agent(team, "idle")
    AgentProfile.objects.filter(user=recent).update(last_assigned_at=timezone.now())
    AgentProfile.objects.filter(user=idle).update(last_assigned_at=timezone.now() - timedelta(hours=1))
    conversation = enqueue(bot_conversation(), team, django_capture_on_commit_callbacks)
    assert conversation.assignee == idle


def test_round_robin_follows_the_team_cursor_in_order(db, team, bot_conversation, django_capture_on_commit_callbacks):
    team.routing_mode = Team.RoutingMode.ROUND_ROBIN
    team.save()
    agents = [make_agent(team, f"rr{i}", capacity=10) for i in range(3)]
    # Load does not matter to round robin: the first agent already carries work.
    pre = bot_conversation()
    pre.status, pre.assignee, pre.team = "assigned", agents[0], team
    pre.save()
    assignees = [enqueue(bot_conversation(), team, django_capture_on_commit_callbacks).assignee for _ in range(7)]
    expected = [agents[i % 3] for i in range(7)]
    assert assignees == expected


def test_capacity_is_never_exceeded_and_the_rest_wait(db, team, bot_conversation, django_capture_on_commit_callbacks):
    make_agent(team, "one", capacity=2)
    make_agent(team, "two", capacity=1)
    conversations = [enqueue(bot_conversation(), team, django_capture_on_commit_callbacks) for _ in range(6)]
    assert [c.status for c in conversations].count("assigned") == 3
    for profile in AgentProfile.objects.all():
        assert agent_load(user_id=profile.user_id) <= profile.capacity
    assert Conversation.objects.filter(status="queued").count() == 3


def test_backlog_drains_in_priority_then_arrival_order_when_capacity_frees(
    db, team, bot_conversation, django_capture_on_commit_callbacks
):
    agent = make_agent(team, "solo", capacity=1)
    first = enqueue(bot_conversation(), team, django_capture_on_commit_callbacks)
    assert first.assignee == agent
    old = enqueue(bot_conversation(), team, django_capture_on_commit_callbacks)
    newer = enqueue(bot_conversation(), team, django_capture_on_commit_callbacks)
    urgent = enqueue(bot_conversation(), team, django_capture_on_commit_callbacks, priority=5)
    assert {old.status, newer.status, urgent.status} == {"queued"}

    order = []
    current = first
    for _ in range(3):
        with django_capture_on_commit_callbacks(execute=True):
            conversation_resolve(conversation=current, actor=agent)
        current = Conversation.objects.get(status="assigned", assignee=agent)
        order.append(current.pk)
    assert order == [urgent.pk, old.pk, newer.pk]


def test_hold_releases_capacity_for_the_next_in_queue(db, team, bot_conversation, django_capture_on_commit_callbacks):
    agent = make_agent(team, "solo", capacity=1)
    first = enqueue(bot_conversation(), team, django_capture_on_commit_callbacks)
    waiting = enqueue(bot_conversation(), team, django_capture_on_commit_callbacks)
    assert waiting.status == "queued"
    with django_capture_on_commit_callbacks(execute=True):
        conversation_hold(conversation=first, actor=agent)
    waiting.refresh_from_db()
    assert waiting.assignee == agent
    assert agent_load(user_id=agent.pk) == 1


def test_skills_and_language_from_the_handoff_are_matched(
    db, team, bot_conversation, django_capture_on_commit_callbacks
):
    make_agent(team, "generalist", capacity=5, languages=["en"])
    billing_es = make_agent(team, "billing_es", capacity=5, skills=["billing"], languages=["es", "en"])
    conversation = enqueue(
        bot_conversation(), team, django_capture_on_commit_callbacks, skills=["billing"], language="es_MX"
    )
    assert conversation.assignee == billing_es
    assert conversation.required_skills == ["billing"]
    assert conversation.language == "es_MX"

    nobody = enqueue(bot_conversation(), team, django_capture_on_commit_callbacks, skills=["legal"])
    assert nobody.status == "queued"
    # A conversation nobody can take does not block the one behind it.
    behind = enqueue(bot_conversation(), team, django_capture_on_commit_callbacks, language="en")
    assert behind.status == "assigned"


def test_team_required_skills_exclude_agents_without_them(
    db, team, bot_conversation, django_capture_on_commit_callbacks
):
    team.required_skills = ["vip"]
    team.save()
    make_agent(team, "plain")
    vip = make_agent(team, "vip_agent", skills=["vip"])
    assert enqueue(bot_conversation(), team, django_capture_on_commit_callbacks).assignee == vip


def test_offline_and_away_agents_get_nothing_until_they_come_online(
    db, team, bot_conversation, django_capture_on_commit_callbacks
):
    agent = make_agent(team, "late", presence="offline")
    make_agent(team, "lunch", presence="away")
    conversation = enqueue(bot_conversation(), team, django_capture_on_commit_callbacks)
    assert conversation.status == "queued"
    with django_capture_on_commit_callbacks(execute=True):
        presence_set(user=agent, presence="online")
    conversation.refresh_from_db()
    assert conversation.assignee == agent


def test_each_assignment_records_an_event_with_the_wait(db, team, bot_conversation, django_capture_on_commit_callbacks):
    agent = make_agent(team, "ana")
    conversation = enqueue(bot_conversation(), team, django_capture_on_commit_callbacks, reason="asked for a human")
    queued = ConversationEvent.objects.get(conversation=conversation, kind="queued")
    assigned = ConversationEvent.objects.get(conversation=conversation, kind="assigned")
    assert queued.reason == "asked for a human"
    assert (queued.from_status, queued.to_status) == ("bot", "queued")
    assert assigned.data["assignee"] == agent.pk
    assert assigned.data["wait_seconds"] >= 0


def test_drain_is_harmless_to_repeat(db, team, bot_conversation, django_capture_on_commit_callbacks):
    make_agent(team, "ana", capacity=1)
    enqueue(bot_conversation(), team, django_capture_on_commit_callbacks)
    enqueue(bot_conversation(), team, django_capture_on_commit_callbacks)
    assert queue_drain(team_id=team.pk) == 0
    assert queue_drain(team_id=team.pk) == 0
    assert ConversationEvent.objects.filter(kind="assigned").count() == 1


def test_handoff_publishes_queue_conversation_and_agent_events(
    db, team, bot_conversation, django_capture_on_commit_callbacks, listen
):
    agent = make_agent(team, "ana")
    listener = listen(f"team.{team.pk}", f"agent.{agent.pk}")
    enqueue(bot_conversation(), team, django_capture_on_commit_callbacks)
    events = listener.events()
    types = [event["type"] for event in events]
    assert "queue.updated" in types
    assert "conversation.updated" in types
    agent_events = [e for e in events if e["type"] == "agent.updated"]
    assert agent_events[-1]["agent"]["load"] == 1
    assert agent_events[-1]["agent"]["presence"] == "online"


def test_a_drained_burst_tells_the_desks_the_queue_length_once(db, team, bot_conversation, listen,
                                                               django_capture_on_commit_callbacks):
    for i in range(2):
        make_agent(team, f"once{i}", capacity=10)
    queued = [bot_conversation().pk for _ in range(25)]
    Conversation.objects.filter(pk__in=queued).update(status="queued", team=team, queued_at=timezone.now())
    listener = listen(f"team.{team.pk}")

    with django_capture_on_commit_callbacks(execute=True):
        assert queue_drain(team_id=team.pk) == 20

    counts = [e["queued"] for e in listener.events() if e["type"] == "queue.updated"]
    assert counts == [5]


def test_a_queue_count_asked_for_in_a_rolled_back_savepoint_is_asked_again(db, team, listen,
                                                                          django_capture_on_commit_callbacks):
    listener = listen(f"team.{team.pk}")
    with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
        try:
            with transaction.atomic():
                queue_updated_broadcast(team.pk)
                raise RuntimeError("undo")
        except RuntimeError:
            pass
        queue_updated_broadcast(team.pk)
        queue_updated_broadcast(team.pk)

    assert [e["type"] for e in listener.events()] == ["queue.updated"]


def test_one_drain_assigns_a_burst_in_queue_order_up_to_capacity(
    db, team, bot_conversation, django_capture_on_commit_callbacks
):
    agents = [make_agent(team, f"burst{i}", capacity=10) for i in range(2)]
    with django_capture_on_commit_callbacks(execute=False):  # queued, not drained yet
        normal = [conversation_enqueue(conversation=bot_conversation(), team=team) for _ in range(25)]
        urgent = [conversation_enqueue(conversation=bot_conversation(), team=team, priority=5) for _ in range(5)]
    assert queue_drain(team_id=team.pk) == 20
    assigned = set(Conversation.objects.filter(status="assigned").values_list("pk", flat=True))
    # The urgent ones first, then the oldest of the rest; nobody above capacity.
    assert assigned == {c.pk for c in urgent} | {c.pk for c in normal[:15]}
    loads = Counter(Conversation.objects.filter(status="assigned").values_list("assignee_id", flat=True))
    assert loads == {agents[0].pk: 10, agents[1].pk: 10}
    assert ConversationEvent.objects.filter(kind="assigned").count() == 20
    assert queue_drain(team_id=team.pk) == 0
