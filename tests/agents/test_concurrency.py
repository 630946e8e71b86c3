"""Several assigners at once never assign a conversation twice nor exceed a capacity.

Runs on whatever database is configured: on PostgreSQL the workers really contend for
row locks (SKIP LOCKED on conversations, FOR UPDATE on profiles); on SQLite the
IMMEDIATE transactions serialise them.
"""

import threading
import time
from collections import Counter

import pytest
from django.db import OperationalError, connection
from django.utils import timezone

from agents.models import AgentProfile
from agents.services.routing import queue_drain
from conversations.agent_events import agent_load
from conversations.models import Conversation, ConversationEvent, Participant
from tests.agents.conftest import make_agent
from tests.factories import ConversationFactory


def run_concurrently(workers: int, target) -> list[BaseException]:
    barrier = threading.Barrier(workers)
    errors: list[BaseException] = []

    def work():
        try:
            barrier.wait()
            target()
        except BaseException as exc:  # reported to the test below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=work) for _ in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    return errors


@pytest.mark.parametrize("workers", [2, 8])
def test_concurrent_assigners_never_double_assign_or_exceed_capacity(transactional_db, number, team, workers):
    agents = [make_agent(team, f"c{i}", capacity=2) for i in range(6)]
    now = timezone.now()
    conversations = [
        ConversationFactory(
            contact__number=number, number=number, status="queued", team=team,
            queued_at=now - timezone.timedelta(seconds=100 - i),
        )
        for i in range(30)
    ]

    errors = run_concurrently(workers, lambda: queue_drain(team_id=team.pk))
    assert errors == []

    assigned = Conversation.objects.filter(status="assigned")
    assert assigned.count() == 12  # every slot filled, no more
    per_conversation = Counter(
        ConversationEvent.objects.filter(kind="assigned").values_list("conversation_id", flat=True)
    )
    assert per_conversation and max(per_conversation.values()) == 1
    owners = Counter(
        Participant.objects.filter(role="owner", left_at__isnull=True).values_list("conversation_id", flat=True)
    )
    assert max(owners.values()) == 1
    for agent in agents:
        assert agent_load(user_id=agent.pk) == 2
    # The queue drained from its head: a worker passes over only rows other workers hold,
    # so nothing beyond the oldest twelve plus one per worker was served.
    served = set(assigned.values_list("pk", flat=True))
    assert served <= {c.pk for c in conversations[: 12 + workers]}


def test_concurrent_assigners_with_capacity_freed_midway(transactional_db, number, team):
    agents = [make_agent(team, f"m{i}", capacity=1) for i in range(4)]
    for _ in range(20):
        ConversationFactory(contact__number=number, number=number, status="queued", team=team,
                            queued_at=timezone.now())

    def free_one():
        # A bare compare-and-set resolve, as a concurrent desk action would commit it.
        mine = Conversation.objects.filter(status="assigned").order_by("?").first()
        if mine is not None:
            Conversation.objects.filter(pk=mine.pk, status="assigned").update(
                status="resolved", resolved_at=timezone.now()
            )

    def drain_and_free():
        for _ in range(3):
            queue_drain(team_id=team.pk)
            for _attempt in range(50):
                try:
                    free_one()
                    break
                except OperationalError:  # SQLite's in-memory test database reports contention at once
                    time.sleep(0.01)

    errors = run_concurrently(8, drain_and_free)
    assert errors == []
    queue_drain(team_id=team.pk)
    for agent in agents:
        assert agent_load(user_id=agent.pk) <= AgentProfile.objects.get(user=agent).capacity
    per_conversation = Counter(
        ConversationEvent.objects.filter(kind="assigned").values_list("conversation_id", flat=True)
    )
    assert max(per_conversation.values()) == 1
