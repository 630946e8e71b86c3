"""Meta delivers at least once and in parallel: the same webhook arriving ten times at
once, or ten workers processing at once, must store one contact, one open conversation,
one message and one status event. The database constraints decide (on PostgreSQL, CI's
database, the threads really overlap inside their transactions). The test database on
SQLite lives in memory with a shared cache, which reports "table is locked" instead of
waiting, so there the workers take turns: still duplicates, no longer overlapping."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from contextlib import nullcontext

import pytest
from django.db import connection
from django.test import Client

from conversations.models import Contact, Conversation, Message, MessageStatusEvent, WebhookEvent
from conversations.services.message_status import status_record
from conversations.services.webhook_intake import webhook_event_process
from conversations.tasks import process_webhook_events
from tests.factories import ContactFactory, ConversationFactory, MessageFactory
from tests.support import intake as intake_support
from tests.support import webhooks

broker_at = intake_support.broker_at
broker_queue = intake_support.broker_queue
fresh_secrets = intake_support.fresh_secrets

pytestmark = pytest.mark.django_db(transaction=True)

WORKERS = 10


def at_once(work: Callable[[int], object], count: int = WORKERS) -> list[object]:
    """Run `work(i)` in `count` threads released together; each uses its own database
    connection. Returns the results, re-raising the first error."""
    barrier = threading.Barrier(count)
    turns = threading.Lock() if connection.vendor == "sqlite" else nullcontext()
    results: list[object] = [None] * count
    errors: list[BaseException] = []

    def run(i: int) -> None:
        try:
            barrier.wait()
            with turns:
                results[i] = work(i)
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]
    return results


def test_same_webhook_ten_times_at_once_stores_one_of_everything(number, broker_queue):
    body = json.dumps(webhooks.text_payload("only once please", wa_id="15550101010", name="Dee")).encode()

    statuses = at_once(lambda i: Client().post(
        "/webhooks/whatsapp/", data=body, content_type="application/json", HTTP_X_HUB_SIGNATURE_256=webhooks.sign(body)
    ).status_code)
    assert statuses == [200] * WORKERS
    events = list(WebhookEvent.objects.values_list("pk", flat=True))
    assert len(events) == WORKERS

    outcomes = at_once(lambda i: webhook_event_process(event_id=events[i]))

    assert outcomes == ["processed"] * WORKERS
    assert Contact.objects.count() == 1
    assert Conversation.objects.count() == 1
    assert Message.objects.get().text == "only once please"
    assert Conversation.objects.get().events.filter(kind="created").count() == 1
    assert broker_queue.names().count("bots.tasks.bot_turn") == 1


def test_ten_workers_on_one_event_process_it_once(number, broker_queue):
    event = WebhookEvent.objects.create(body=json.dumps(webhooks.text_payload("claimed once")).encode())

    outcomes = at_once(lambda i: webhook_event_process(event_id=event.pk))

    assert outcomes.count("processed") == 1
    assert outcomes.count("skipped") == WORKERS - 1
    event.refresh_from_db()
    assert event.state == WebhookEvent.State.PROCESSED
    assert Message.objects.count() == 1


def test_new_customer_writing_ten_messages_at_once_gets_one_conversation(number, broker_queue):
    payloads = [webhooks.text_payload(f"message {i}", wa_id="15550202020") for i in range(WORKERS)]
    events = [WebhookEvent.objects.create(body=json.dumps(p).encode()).pk for p in payloads]

    outcomes = at_once(lambda i: webhook_event_process(event_id=events[i]))

    assert outcomes == ["processed"] * WORKERS
    assert Contact.objects.count() == 1
    conversation = Conversation.objects.get()
    assert conversation.messages.count() == WORKERS
    assert conversation.events.filter(kind="created").count() == 1


def test_same_status_ten_times_at_once_is_stored_and_applied_once(number, broker_queue):
    message = MessageFactory(
        conversation=ConversationFactory(contact=ContactFactory(number=number)),
        direction=Message.Direction.OUTBOUND,
        sender_kind=Message.SenderKind.AGENT,
        status=Message.Status.SENT,
        provider_message_id="wamid.CONCURRENT1",
    )
    item = webhooks.status_item("wamid.CONCURRENT1", "delivered")

    at_once(lambda i: status_record(number=number, item=dict(item)))

    assert MessageStatusEvent.objects.filter(provider_message_id="wamid.CONCURRENT1").count() == 1
    message.refresh_from_db()
    assert message.status == Message.Status.DELIVERED


def test_workers_processing_overlapping_batches_store_each_message_once(number, broker_queue):
    # The same events handed to several tasks (a redelivered task, the sweep) in different
    # orders and groupings: every event is won by one worker and processed once.
    payloads = [webhooks.text_payload(f"batch {i}", wa_id=f"1555030{i % 3:04d}") for i in range(6)]
    events = [WebhookEvent.objects.create(body=json.dumps(p).encode()).pk for p in payloads]
    groupings = [events, events[::-1], events[:3], events[3:], events[1:5], events[::2]]

    outcomes = at_once(lambda i: process_webhook_events(groupings[i % len(groupings)]), count=6)

    won = {}
    for grouping, states in zip(groupings, outcomes, strict=True):
        for pk, state in zip(grouping, states, strict=True):
            assert state in ("processed", "skipped")
            won[pk] = won.get(pk, 0) + (state == "processed")
    assert won == dict.fromkeys(events, 1)
    assert set(WebhookEvent.objects.values_list("state", flat=True)) == {"processed"}
    # A task claiming an event while another processes it counts an attempt, then finds the
    # event processed under its row lock: attempts may repeat, processing never does.
    for pk, attempts in WebhookEvent.objects.values_list("pk", "attempts"):
        assert 1 <= attempts <= sum(pk in grouping for grouping in groupings)
    assert sorted(Message.objects.values_list("text", flat=True)) == [f"batch {i}" for i in range(6)]
    assert Conversation.objects.count() == 3
