"""Delivery with real concurrency and real commits: two workers racing for one message,
message order within a conversation, and retries when tasks run on the in-process pool."""

from __future__ import annotations

import threading
import time

import pytest
from django.db import connection

from conversations.models import Message
from conversations.services.message_delivery import message_deliver
from conversations.services.message_send import message_send_text
from tests.factories import ConversationFactory

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def conversation(number):
    return ConversationFactory(contact__number=number)


def _pending(conversation, text="Hello"):
    return Message.objects.create(
        conversation=conversation,
        direction=Message.Direction.OUTBOUND,
        sender_kind=Message.SenderKind.AGENT,
        text=text,
        payload={"type": "text", "text": {"body": text}},
        status=Message.Status.PENDING,
    )


def _run_together(count: int, work) -> list:
    barrier = threading.Barrier(count)
    results: list = [None] * count

    def worker(i: int) -> None:
        try:
            barrier.wait()
            results[i] = work()
        finally:
            connection.close()

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    return results


def test_two_workers_delivering_one_message_send_it_once(conversation, graph):
    message = _pending(conversation)
    # A slow answer keeps the first worker inside its Graph call while the second tries.
    graph.script(200, {"messaging_product": "whatsapp", "messages": [{"id": "wamid.ONCE"}]}, delay=0.3)

    results = _run_together(2, lambda: message_deliver(message_id=message.pk).outcome)

    assert sorted(results) == ["sent", "skipped"]
    assert len(graph.sent_messages()) == 1
    message.refresh_from_db()
    assert message.status == Message.Status.SENT
    assert message.provider_message_id == "wamid.ONCE"
    assert message.attempts == 1


def test_later_message_waits_for_an_earlier_one_still_being_sent(conversation, graph):
    first = _pending(conversation, "First")
    second = _pending(conversation, "Second")
    Message.objects.filter(pk=first.pk).update(status=Message.Status.SENDING)

    result = message_deliver(message_id=second.pk)

    assert result.outcome == "retry"
    assert result.after_error is False
    assert graph.requests == []
    second.refresh_from_db()
    assert second.status == Message.Status.PENDING
    assert second.attempts == 0


def test_retry_on_the_in_process_pool_waits_its_backoff_then_sends(conversation, graph, settings):
    settings.TASKS_MODE = "thread"
    settings.WHATSAPP_RETRY_BASE_SECONDS = 0.2
    graph.error(131000, "Something went wrong", status=500)

    message = message_send_text(conversation=conversation, text="Hello from the pool")

    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        message.refresh_from_db()
        if message.status == Message.Status.SENT:
            break
        time.sleep(0.05)
    assert message.status == Message.Status.SENT
    assert message.attempts == 2
    assert len(graph.sent_messages()) == 2
