"""The statement budget of the hot paths: how many SQL statements one inbound message, one
delivery status, one handoff and one assignment in a burst cost, counted with Django's
query capture (on-commit work included: desk payloads, queue counts; savepoints left out).
The numbers are the budget `make bench`'s throughput rests on; a change that adds
statements to a hot path must raise the budget here, on purpose.

| path | statements (2026-12) | budget |
| --- | --- | --- |
| inbound text to an assigned conversation: intake insert, processing, desk event | 18 | 20 |
| delivery status `delivered` for an outbound message: intake insert, status, desk event | 14 | 16 |
| the same, per event, in a batch of 4 events processed by one task: inbound / status | 6.25 / 6.5 | 7 / 7 |
| handoff (`conversation_enqueue`, bot → queued), with its commit work | 8 | 9 |
| assignment, per conversation, in a burst of 20 drained by one `queue_drain` | 0.8 | 1.5 |

In a batch (intake hands the events stored within a few milliseconds to one task), the
claim (a read and one UPDATE), the events' lock and the UPDATE of their outcomes are the
batch's, once; the webhook endpoints, consent keyword rules and the number are read once;
and the desk events' reads after commit are shared by all the batch's conversations. What
is left per inbound text: the contact, the conversation's lock (which reads the
participants its desk event goes to in the same statement), the message insert and the
conversation's update (window, preview).

A handoff's statements: the conversation's row lock, the routing row (one upsert), the
conversation update, the owner's participation (read), the timeline event, the
outgoing-webhook outbox check, and after commit the desk event's two reads (the row with
contact, team and assignee; its participants) and the queue count (shared by the burst
here, as the test runs in one transaction; one per handoff in production, plus BEGIN and
COMMIT). An assignment batch's statements, for all its conversations together
(`conversations_assign`): the batch's reads (team, online agents, candidates, profile
locks, loads, candidate locks), one UPDATE of the conversations, one read and one insert
of participations, one insert of timeline events, one UPDATE of the profiles'
`last_assigned_at`, the agents' teams for `agent.updated`, the outbox check, and after
commit the desk events' two reads and the queue count: 16 for the burst of 20, about 17
for a batch of 50.
"""

from __future__ import annotations

import json

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from agents.services.routing import conversation_enqueue, queue_drain
from config import tasking
from conversations.models import Conversation, Message, WebhookEvent
from conversations.tasks import process_webhook_events
from tests.agents.conftest import make_agent
from tests.factories import ConversationFactory, MessageFactory
from tests.support import webhooks
from tests.support.intake import process

BUDGET = {"inbound": 20, "status": 16, "handoff": 9, "assignment": 1.5, "inbound_batched": 7,
          "status_batched": 7}
BATCH = 4
BURST = 20

pytestmark = pytest.mark.django_db


def _statements(run) -> int:
    with CaptureQueriesContext(connection) as captured:
        run()
    return len([q for q in captured.captured_queries if not q["sql"].startswith(("SAVEPOINT", "RELEASE"))])


@pytest.fixture
def burst(number, team):
    for i in range(5):
        make_agent(team, f"budget-agent-{i}", capacity=10)
    return [
        ConversationFactory(contact__number=number, number=number, contact__wa_id=f"1555000{i:04d}")
        for i in range(BURST)
    ]


def test_a_handoff_and_an_assignment_in_a_burst_stay_within_budget(burst, team, django_capture_on_commit_callbacks,
                                                                   monkeypatch):
    def handoffs():
        # Each handoff's own commit work (desk event, queue count) is counted; the drain it
        # asks for is the burst's drain below.
        with monkeypatch.context() as patch, django_capture_on_commit_callbacks(execute=True):
            patch.setattr(tasking, "dispatch", lambda *args, **kwargs: None)
            for conversation in burst:
                conversation_enqueue(conversation=conversation, team=team, reason="budget")

    per_handoff = _statements(handoffs) / BURST
    assigned = []

    def drain():
        with django_capture_on_commit_callbacks(execute=True):
            assigned.append(queue_drain(team_id=team.pk))

    per_assignment = _statements(drain) / BURST
    assert assigned == [BURST]
    assert Conversation.objects.filter(status=Conversation.Status.ASSIGNED).count() == BURST
    assert per_handoff <= BUDGET["handoff"], per_handoff
    assert per_assignment <= BUDGET["assignment"], per_assignment


def test_an_inbound_message_and_a_status_stay_within_budget(client, number, agent, team,
                                                            django_capture_on_commit_callbacks):
    conversation = ConversationFactory(contact__number=number, number=number, team=team, status="assigned",
                                       assignee=agent)
    wa_id = conversation.contact.wa_id
    process(client, webhooks.text_payload("first", wa_id=wa_id), django_capture_on_commit_callbacks)
    inbound = _statements(
        lambda: process(client, webhooks.text_payload("hello again", wa_id=wa_id), django_capture_on_commit_callbacks)
    )
    assert Message.objects.filter(conversation=conversation, text="hello again").count() == 1

    outbound = MessageFactory(conversation=conversation, direction="out", status="sent",
                              provider_message_id="wamid.BUDGET1")
    status = _statements(
        lambda: process(client, webhooks.status_payload("wamid.BUDGET1", "delivered", recipient=wa_id),
                        django_capture_on_commit_callbacks)
    )
    outbound.refresh_from_db()
    assert outbound.status == "delivered"
    assert inbound <= BUDGET["inbound"], inbound
    assert status <= BUDGET["status"], status


def test_events_processed_together_share_their_batch_work(number, agent, team, settings,
                                                          django_capture_on_commit_callbacks):
    # Contacts whose language is settled (detection reads a contact's first messages only).
    conversations = [
        ConversationFactory(contact__number=number, number=number, team=team, status="assigned", assignee=agent,
                            contact__wa_id=f"155500077{i:02d}", contact__profile_name="Ana Customer",
                            contact__language_samples=settings.LANGUAGE_DETECTION_MESSAGES)
        for i in range(BATCH)
    ]
    outbound = [MessageFactory(conversation=c, direction="out", status="sent", provider_message_id=f"wamid.BATCH{i}")
                for i, c in enumerate(conversations)]

    def stored(payloads) -> list[int]:
        return [WebhookEvent.objects.create(body=json.dumps(payload).encode()).pk for payload in payloads]

    def processed(ids) -> None:
        with django_capture_on_commit_callbacks(execute=True):
            assert process_webhook_events(ids) == ["processed"] * BATCH

    texts = stored([webhooks.text_payload("hello again", wa_id=c.contact.wa_id) for c in conversations])
    inbound = _statements(lambda: processed(texts)) / BATCH
    statuses = stored([webhooks.status_payload(m.provider_message_id, "delivered", recipient=c.contact.wa_id)
                       for m, c in zip(outbound, conversations, strict=True)])
    status = _statements(lambda: processed(statuses)) / BATCH

    assert [c.messages.filter(text="hello again").count() for c in conversations] == [1] * BATCH
    assert list(Message.objects.filter(pk__in=[m.pk for m in outbound]).values_list("status", flat=True)) == [
        "delivered"] * BATCH
    assert inbound <= BUDGET["inbound_batched"], inbound
    assert status <= BUDGET["status_batched"], status
