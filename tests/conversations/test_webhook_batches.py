"""Webhook events stored together are processed together: one claim, one transaction with
a savepoint per event, shared reads. A batch keeps every guarantee a single event has: an
event that raises is undone alone and tried again alone, a batch whose transaction fails
has each event tried alone, a message delivered twice inside one batch is stored once, and
each conversation's desk event carries its own committed state."""

from __future__ import annotations

import json

import pytest
from django.db import DatabaseError, OperationalError, connection, transaction
from django.test.utils import CaptureQueriesContext

from config import realtime
from config.batch_scope import batch_cached, batch_scope
from conversations.events import publish_conversation
from conversations.models import Conversation, Message, WebhookEvent
from conversations.processing import batch as processing
from conversations.services import webhook_intake as intake
from conversations.tasks import process_webhook_events
from notifications.models import WebhookEndpoint
from tests.factories import ConversationFactory
from tests.support import webhooks
from tests.support.intake import DeskListener

pytestmark = pytest.mark.django_db


def _stored(*payloads) -> list[int]:
    return [WebhookEvent.objects.create(body=json.dumps(payload).encode()).pk for payload in payloads]


def _texts(*names: str) -> list[int]:
    return _stored(*(webhooks.text_payload(name, wa_id=f"155504{i:05d}") for i, name in enumerate(names)))


def test_an_event_that_raises_is_undone_alone_and_tried_again_alone(number, monkeypatch, caplog):
    ids = _texts("ana", "ben", "cid")
    real = processing.payload_process
    calls = {"ben": 0}

    def flaky(*, event, payload, numbers=None):
        if "ben" in json.dumps(payload):
            calls["ben"] += 1
            real(event=event, payload=payload, numbers=numbers)  # its writes must be undone
            if calls["ben"] == 1:
                raise RuntimeError("worker bug")
        return real(event=event, payload=payload, numbers=numbers)

    monkeypatch.setattr(intake, "payload_process", flaky)

    states = process_webhook_events(ids)

    assert states == ["processed"] * 3
    assert calls["ben"] == 2
    assert sorted(Message.objects.values_list("text", flat=True)) == ["ana", "ben", "cid"]
    attempts = dict(WebhookEvent.objects.values_list("pk", "attempts"))
    assert attempts == {ids[0]: 1, ids[1]: 2, ids[2]: 1}
    assert f"webhook event {ids[1]} failed" in caplog.text


def test_an_event_that_keeps_raising_stays_pending_for_the_sweep(number, monkeypatch):
    ids = _texts("ana", "ben")
    real = processing.payload_process

    def broken(*, event, payload, numbers=None):
        if "ben" in json.dumps(payload):
            raise RuntimeError("worker bug")
        return real(event=event, payload=payload, numbers=numbers)

    monkeypatch.setattr(intake, "payload_process", broken)

    assert process_webhook_events(ids) == ["processed", "error"]
    ben = WebhookEvent.objects.get(pk=ids[1])
    assert (ben.state, ben.attempts) == (WebhookEvent.State.PENDING, 2)
    assert list(Message.objects.values_list("text", flat=True)) == ["ana"]


def test_a_deadlock_in_an_item_is_tried_again_not_recorded_as_the_items_error(number, monkeypatch):
    """Two batches creating the same new contacts in opposite orders can deadlock; the
    database aborts one item's statement. That says nothing about the item: the event is
    undone and tried again, and its message is stored, not dropped as a partial event."""
    ids = _texts("ana", "ben", "cid")
    real = processing.message_receive
    calls = {"ben": 0}

    def deadlocked_once(**kwargs):
        if kwargs["message"]["text"]["body"] == "ben":
            calls["ben"] += 1
            if calls["ben"] == 1:
                real(**kwargs)  # its writes must be undone
                raise OperationalError("deadlock detected")
        return real(**kwargs)

    monkeypatch.setattr(processing, "message_receive", deadlocked_once)

    assert process_webhook_events(ids) == ["processed"] * 3
    assert sorted(Message.objects.values_list("text", flat=True)) == ["ana", "ben", "cid"]
    ben = WebhookEvent.objects.get(pk=ids[1])
    assert (ben.state, ben.errors, ben.attempts) == (WebhookEvent.State.PROCESSED, [], 2)


def test_an_item_that_fails_on_its_own_content_is_recorded_and_the_rest_go_through(number, monkeypatch):
    ids = _texts("ana", "ben")
    real = processing.message_receive

    def bad_item(**kwargs):
        if kwargs["message"]["text"]["body"] == "ben":
            raise ValueError("no such thing")
        return real(**kwargs)

    monkeypatch.setattr(processing, "message_receive", bad_item)

    assert process_webhook_events(ids) == ["processed", "partial"]
    ben = WebhookEvent.objects.get(pk=ids[1])
    assert ben.attempts == 1 and "ValueError: no such thing" in ben.errors[0]["error"]


def test_a_batch_whose_transaction_fails_has_each_event_tried_alone(number, monkeypatch):
    ids = _texts("ana", "ben", "cid")
    real = intake.rows_update
    failures = []

    def fails_for_the_batch(model, key, rows):
        if len(rows) > 1:
            failures.append(len(rows))
            raise DatabaseError("connection lost")
        return real(model, key, rows)

    monkeypatch.setattr(intake, "rows_update", fails_for_the_batch)

    assert process_webhook_events(ids) == ["processed"] * 3
    assert failures == [3]
    assert sorted(Message.objects.values_list("text", flat=True)) == ["ana", "ben", "cid"]
    assert set(WebhookEvent.objects.values_list("state", "attempts")) == {("processed", 2)}


def test_one_message_delivered_twice_in_a_batch_is_stored_once(number):
    payload = webhooks.text_payload("twice", wa_id="15550400001", msg_id="wamid.TWICE")
    ids = _stored(payload, webhooks.text_payload("after", wa_id="15550400001"), payload)

    assert process_webhook_events(ids) == ["processed"] * 3
    assert list(Message.objects.order_by("pk").values_list("text", flat=True)) == ["twice", "after"]
    assert Conversation.objects.count() == 1


def test_events_not_pending_are_skipped_and_the_rest_processed(number):
    ids = _texts("ana", "ben")
    WebhookEvent.objects.filter(pk=ids[0]).update(state=WebhookEvent.State.PROCESSED)

    assert process_webhook_events([*ids, 10**9]) == ["skipped", "processed", "skipped"]
    assert list(Message.objects.values_list("text", flat=True)) == ["ben"]


@pytest.mark.django_db(transaction=True)  # real commits: the desk events are sent by them
def test_each_conversation_of_a_batch_gets_its_own_state_read_in_two_queries(number, agent, team):
    conversations = [
        ConversationFactory(contact__number=number, number=number, team=team, status="assigned", assignee=agent,
                            contact__wa_id=f"155504100{i:02d}", last_customer_message_at=None)
        for i in range(3)
    ]
    listener = DeskListener([f"conversation.{c.pk}" for c in conversations])
    ids = _stored(*(webhooks.text_payload(f"hello {i}", wa_id=c.contact.wa_id) for i, c in enumerate(conversations)))

    with CaptureQueriesContext(connection) as captured:
        assert process_webhook_events(ids) == ["processed"] * 3
    assert realtime.flush()

    updated = {e["conversation"]["id"]: e["conversation"] for e in listener.events()
               if e.get("type") == "conversation.updated"}
    listener.close()
    assert {pk: row["preview"] for pk, row in updated.items()} == {
        c.pk: f"hello {i}" for i, c in enumerate(conversations)}
    # After the commit (the batch's last write is its events' outcomes), the three
    # conversations' rows and participants are read together.
    sql = [q["sql"] for q in captured.captured_queries]
    last_write = max(i for i, text in enumerate(sql) if text.startswith("UPDATE"))
    after_commit = [text for text in sql[last_write + 1:] if not text.startswith(("SAVEPOINT", "RELEASE", "COMMIT"))]
    assert len(after_commit) == 2
    assert 'FROM "conversations_conversation"' in after_commit[0]
    assert all(str(c.pk) in after_commit[0] for c in conversations)
    assert 'FROM "conversations_participant"' in after_commit[1]


@pytest.mark.django_db(transaction=True)
def test_a_change_published_while_others_are_sent_is_not_overwritten_by_an_older_read(number, agent, team):
    first, second = (ConversationFactory(contact__number=number, number=number, team=team, status="assigned",
                                         assignee=agent, contact__wa_id=f"155504200{i:02d}") for i in range(2))
    listener = DeskListener([f"conversation.{second.pk}"])

    def change_second():
        # Work run after commit that changes another conversation of the same commit.
        Conversation.objects.filter(pk=second.pk).update(last_message_preview="changed after commit")
        publish_conversation(second)

    with transaction.atomic():
        publish_conversation(first)
        transaction.on_commit(change_second)
        publish_conversation(second)
    assert realtime.flush()

    previews = [e["conversation"]["preview"] for e in listener.events()
                if e.get("type") == "conversation.updated"]
    listener.close()
    assert previews and previews[-1] == "changed after commit"


def test_configuration_is_read_once_inside_a_batch_scope(db):
    WebhookEndpoint.objects.create(url="https://example.com/hook", events=["message.created"])
    reads = []

    def load():
        reads.append(1)
        return list(WebhookEndpoint.objects.values_list("url", flat=True))

    assert batch_cached("endpoints", load) == ["https://example.com/hook"]
    assert batch_cached("endpoints", load) == ["https://example.com/hook"]
    with batch_scope():
        assert batch_cached("endpoints", load) == ["https://example.com/hook"]
        with batch_scope():
            assert batch_cached("endpoints", load) == ["https://example.com/hook"]
        assert batch_cached("endpoints", load) == ["https://example.com/hook"]
    assert batch_cached("endpoints", load) == ["https://example.com/hook"]

    assert len(reads) == 4  # twice outside, once for the whole scope, once after it
