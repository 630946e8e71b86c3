"""The conversation lifecycle (conversations/services/conversations.py): every way into a state sets
the same fields, records its event, and a transaction publishes a conversation once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.db import IntegrityError, transaction
from django.db.models import ProtectedError

from agents.models import AgentProfile, ConversationRouting, SlaPolicy
from agents.services import desk_actions as services
from agents.services.conference import conversation_takeover
from agents.services.routing import conversation_enqueue
from bots.demo import demo_policy_create
from bots.services.handoff import handoff_trigger
from config.realtime import agent_group, conversation_group, team_group
from conversations.events import publish_conversation
from conversations.models import Conversation, ConversationEvent
from conversations.services.message_receive import message_receive
from tests.factories import ContactFactory, ConversationFactory
from tests.support import webhooks
from tests.support.intake import DeskListener

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
EARLIER = T0 - timedelta(hours=3)
FIRST_RESPONSE = 300


@pytest.fixture
def profiles(agent, teammate, supervisor):
    for user in (agent, teammate, supervisor):
        AgentProfile.objects.update_or_create(user=user, defaults={"presence": "online", "capacity": 3})


def with_policy(team):
    team.sla_policy = SlaPolicy.objects.create(
        name=f"{team.slug} targets", first_response_seconds=FIRST_RESPONSE, next_response_seconds=600
    )
    team.save()
    return team


def a_conversation(number, team, **fields):
    """A conversation whose previous episode left SLA figures behind."""
    return ConversationFactory(
        contact=ContactFactory(number=number), number=number, team=team, queued_at=EARLIER,
        first_response_at=EARLIER + timedelta(minutes=1), first_response_due_at=EARLIER + timedelta(minutes=5),
        next_response_due_at=EARLIER + timedelta(minutes=30), **fields,
    )


def conversation_events(listener: DeskListener) -> list[dict]:
    return [e for e in listener.events() if e["type"].startswith("conversation.")]


def into_queue_by_handoff(number, team, other_team, agent, supervisor):
    conversation = a_conversation(number, other_team)  # with the bot, handed back before
    conversation_enqueue(conversation=conversation, team=other_team, reason="asked for a person")
    return conversation


def into_queue_by_transfer(number, team, other_team, agent, supervisor):
    conversation = a_conversation(number, team, status="assigned", assignee=agent, assigned_at=EARLIER)
    services.conversation_transfer(conversation=conversation, actor=agent, team=other_team, note="sales lead")
    return conversation


def into_queue_by_reopen(number, team, other_team, agent, supervisor):
    conversation = a_conversation(
        number, other_team, status="resolved", resolved_at=EARLIER + timedelta(hours=1), assignee=agent
    )
    services.conversation_reopen(conversation=conversation, actor=supervisor)  # not a member: queued
    return conversation


@pytest.mark.parametrize("way", [into_queue_by_handoff, into_queue_by_transfer, into_queue_by_reopen])
def test_every_way_into_the_queue_starts_the_same_fresh_episode(
    way, number, team, other_team, agent, supervisor, profiles, django_capture_on_commit_callbacks
):
    with_policy(other_team)
    other_team.supervisors.add(supervisor)
    with time_machine.travel(T0, tick=False), django_capture_on_commit_callbacks(execute=True):
        conversation = way(number, team, other_team, agent, supervisor)

    conversation.refresh_from_db()
    assert (conversation.status, conversation.team, conversation.assignee) == ("queued", other_team, None)
    assert not conversation.on_hold and conversation.resolved_at is None
    assert conversation.queued_at == T0
    assert conversation.first_response_at is None
    assert conversation.first_response_due_at == T0 + timedelta(seconds=FIRST_RESPONSE)
    assert conversation.next_response_due_at is None
    routing = ConversationRouting.objects.get(conversation=conversation)
    assert (routing.home_team, routing.overflow_step, routing.step_entered_at) == (other_team, 0, T0)
    event = conversation.events.filter(to_status="queued").latest("id")
    assert event.kind in {"queued", "transferred", "reopened"}


def test_taken_straight_from_the_bot_starts_an_episode_too(
    number, team, agent, profiles, django_capture_on_commit_callbacks
):
    with_policy(team)
    conversation = a_conversation(number, team)
    with time_machine.travel(T0, tick=False), django_capture_on_commit_callbacks(execute=True):
        services.conversation_assign(conversation=conversation, actor=agent)

    conversation.refresh_from_db()
    assert (conversation.status, conversation.assignee, conversation.queued_at) == ("assigned", agent, T0)
    assert conversation.first_response_at is None
    assert conversation.first_response_due_at == T0 + timedelta(seconds=FIRST_RESPONSE)


def rated(number, team, agent):
    return ConversationFactory(
        contact=ContactFactory(number=number, wa_id="15557654321"), number=number, team=team, status="resolved",
        resolved_at=T0 - timedelta(hours=1), assignee=agent, queued_at=EARLIER,
        first_response_at=EARLIER + timedelta(minutes=1), csat_requested_at=T0 - timedelta(minutes=50), csat_score=3,
    )


def test_customer_writing_again_reopens_to_the_bot_without_the_old_rating(
    number, team, agent, django_capture_on_commit_callbacks
):
    conversation = rated(number, team, agent)
    # Only the receive's transaction: the bot's turn after commit is another story.
    with time_machine.travel(T0, tick=False), django_capture_on_commit_callbacks(execute=False):
        message_receive(
            number=number, profile={"wa_id": "15557654321"},
            message=webhooks.text_message("one more thing", wa_id="15557654321"),
        )

    conversation.refresh_from_db()
    assert (conversation.status, conversation.assignee, conversation.resolved_at) == ("bot", None, None)
    assert (conversation.csat_requested_at, conversation.csat_score) == (None, None)
    assert (conversation.queued_at, conversation.first_response_at, conversation.first_response_due_at) == (
        None, None, None
    )
    event = conversation.events.get(kind="reopened")
    assert (event.from_status, event.to_status, event.actor_kind) == ("resolved", "bot", "contact")
    assert event.data == {"previous_assignee": agent.pk, "previous_csat_score": 3}


def test_desk_reopen_clears_the_rating_the_same_way(
    number, team, agent, teammate, profiles, django_capture_on_commit_callbacks
):
    conversation = rated(number, team, agent)
    with django_capture_on_commit_callbacks(execute=True):
        services.conversation_reopen(conversation=conversation, actor=teammate)

    conversation.refresh_from_db()
    assert (conversation.status, conversation.assignee) == ("assigned", teammate)
    assert (conversation.csat_requested_at, conversation.csat_score, conversation.resolved_at) == (None, None, None)
    event = conversation.events.get(kind="reopened")
    assert (event.to_status, event.actor) == ("queued", teammate)
    assert event.data == {"previous_assignee": agent.pk, "previous_csat_score": 3}
    assert list(conversation.events.values_list("kind", flat=True).order_by("id"))[-2:] == ["reopened", "assigned"]


@pytest.fixture
def held(number, team, agent, profiles, django_capture_on_commit_callbacks):
    conversation = ConversationFactory(contact__number=number, number=number, team=team, status="queued")
    with django_capture_on_commit_callbacks(execute=True):
        services.conversation_assign(conversation=conversation, actor=agent)
    return conversation


def listeners(conversation, *users):
    groups = ["supervisors", conversation_group(conversation.pk), *(agent_group(u.pk) for u in users)]
    return {group: DeskListener([group]) for group in groups}


def test_a_reassignment_publishes_once_to_everyone_including_the_previous_assignee(
    held, agent, teammate, supervisor, django_capture_on_commit_callbacks
):
    ears = listeners(held, agent, teammate)
    with django_capture_on_commit_callbacks(execute=True):
        services.conversation_assign(conversation=held, actor=supervisor, agent=teammate)

    for group, listener in ears.items():
        events = conversation_events(listener)
        assert len(events) == 1, (group, events)
        assert events[0]["conversation"]["assignee"] == teammate.pk


def test_a_takeover_publishes_once_and_the_previous_owner_stays_to_hear_it(
    held, agent, supervisor, django_capture_on_commit_callbacks
):
    ears = listeners(held, agent, supervisor)
    with django_capture_on_commit_callbacks(execute=True):
        conversation_takeover(conversation=held, actor=supervisor, reason="escalated")

    for group, listener in ears.items():
        events = conversation_events(listener)
        assert len(events) == 1, (group, events)
        assert events[0]["conversation"]["assignee"] == supervisor.pk
    takeover = held.events.get(kind="takeover")
    assert (takeover.from_status, takeover.to_status, takeover.data["previous_assignee"]) == (
        "assigned", "assigned", agent.pk
    )
    assert held.participants.get(user=agent, left_at__isnull=True).role == "participant"


def test_a_bot_handoff_publishes_the_conversation_once(number, team, graph, django_capture_on_commit_callbacks):
    conversation = ConversationFactory(contact__number=number, number=number)
    ears = {"supervisors": DeskListener(["supervisors"]), "team": DeskListener([team_group(team.pk)])}
    with django_capture_on_commit_callbacks(execute=True):
        handoff = handoff_trigger(
            conversation=conversation, reason_code="keyword", policy=demo_policy_create(team=team), team=team
        )

    assert handoff is not None
    kinds = set(ConversationEvent.objects.filter(conversation=conversation).values_list("kind", flat=True))
    assert {"handoff", "queued"} <= kinds
    for group, listener in ears.items():
        events = conversation_events(listener)
        assert [(e["type"], e["conversation"]["status"]) for e in events] == [("conversation.updated", "queued")], group


def test_publishes_merge_per_transaction_and_a_rolled_back_savepoint_takes_its_part_along(
    held, agent, teammate, outsider, django_capture_on_commit_callbacks
):
    ears = listeners(held, teammate, outsider)
    with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
        publish_conversation(held, also=[agent_group(teammate.pk)])
        try:
            with transaction.atomic():
                publish_conversation(held, "conversation.created", also=[agent_group(outsider.pk)])
                raise RuntimeError("the inner write failed")
        except RuntimeError:
            pass
        publish_conversation(held)

    assert [e["type"] for e in conversation_events(ears[agent_group(teammate.pk)])] == ["conversation.updated"]
    assert [e["type"] for e in conversation_events(ears["supervisors"])] == ["conversation.updated"]
    assert conversation_events(ears[agent_group(outsider.pk)]) == []


def test_a_rolled_back_transaction_leaves_nothing_to_merge_into(held, teammate, django_capture_on_commit_callbacks):
    ear = DeskListener([agent_group(teammate.pk)])
    with pytest.raises(RuntimeError), transaction.atomic():
        publish_conversation(held, also=[agent_group(teammate.pk)])
        raise RuntimeError("rolled back")
    with django_capture_on_commit_callbacks(execute=True):
        publish_conversation(held)

    assert conversation_events(ear) == []


IMPOSSIBLE = {
    "assigned to nobody": {"status": "assigned", "assignee": None},
    "queued with an assignee": {"status": "queued", "assignee": True},
    "with the bot and an assignee": {"status": "bot", "assignee": True},
    "resolved without a time": {"status": "resolved", "resolved_at": None},
    "open with a resolution time": {"status": "assigned", "assignee": True, "resolved_at": T0},
    "queued on hold": {"status": "queued", "on_hold": True},
}


@pytest.mark.parametrize("fields", IMPOSSIBLE.values(), ids=IMPOSSIBLE.keys())
def test_the_database_refuses_a_state_no_transition_makes(number, agent, fields):
    fields = dict(fields)
    if fields.get("assignee") is True:
        fields["assignee"] = agent
    with pytest.raises(IntegrityError), transaction.atomic():
        ConversationFactory(contact__number=number, number=number, **fields)
    assert not Conversation.objects.exists()


def test_an_agent_holding_a_conversation_cannot_be_deleted_until_it_is_resolved(
    held, number, team, agent, django_capture_on_commit_callbacks
):
    earlier = ConversationFactory(contact__number=number, number=number, team=team, status="resolved", assignee=agent)
    with pytest.raises(ProtectedError), transaction.atomic():
        agent.delete()
    assert Conversation.objects.get(pk=held.pk).assignee == agent

    with django_capture_on_commit_callbacks(execute=True):
        services.conversation_resolve(conversation=held, actor=agent)
    agent.delete()

    assert list(Conversation.objects.filter(pk__in=[held.pk, earlier.pk]).values_list("assignee", flat=True)) == [
        None, None
    ]


@pytest.mark.django_db(transaction=True)
def test_the_migration_brings_older_rows_within_the_constraints(number, agent):
    from django.db import connection
    from django.db.migrations.executor import MigrationExecutor

    before, after = ("conversations", "0003_contact_created_by"), ("conversations", "0004_conversation_lifecycle_constraints")
    executor = MigrationExecutor(connection)
    latest = executor.loader.graph.leaf_nodes()
    executor.migrate([before])
    try:
        _older_rows_brought_within_the_constraints(connection, executor, before, after, number, agent)
    finally:  # every app back at its latest migration, for the tests that follow
        MigrationExecutor(connection).migrate(latest)


def _older_rows_brought_within_the_constraints(connection, executor, before, after, number, agent):
    from django.db.migrations.executor import MigrationExecutor

    old = executor.loader.project_state([before]).apps
    OldConversation = old.get_model("conversations", "Conversation")

    def row(wa_id, **fields):
        contact = old.get_model("conversations", "Contact").objects.create(number_id=number.pk, wa_id=wa_id)
        return OldConversation.objects.create(number_id=number.pk, contact=contact, **fields).pk

    orphan = row("15550000001", status="assigned", assignee=None, on_hold=True)
    stale = row("15550000002", status="queued", assignee_id=agent.pk, assigned_at=T0)
    unresolved = row("15550000003", status="resolved", resolved_at=None, last_activity_at=T0)
    reopened = row("15550000004", status="bot", resolved_at=T0)
    held = row("15550000005", status="assigned", assignee_id=agent.pk, on_hold=True)

    executor = MigrationExecutor(connection)
    executor.migrate([after])

    rows = {c.pk: c for c in Conversation.objects.all()}
    assert (rows[orphan].status, rows[orphan].assignee_id, rows[orphan].on_hold) == ("queued", None, False)
    assert rows[orphan].queued_at is not None
    event = ConversationEvent.objects.get(conversation_id=orphan)
    assert (event.kind, event.from_status, event.to_status) == ("queued", "assigned", "queued")
    assert (rows[stale].assignee_id, rows[stale].assigned_at) == (None, None)
    assert rows[unresolved].resolved_at == T0
    assert rows[reopened].resolved_at is None
    assert (rows[held].status, rows[held].assignee_id, rows[held].on_hold) == ("assigned", agent.pk, True)
