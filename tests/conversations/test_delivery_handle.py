"""The delivery handle: every send carries its message's id in `biz_opaque_callback_data`,
WhatsApp echoes it in the message's statuses, and a status for a wamid we never stored
settles the message instead of the sweep sending it a second time.

Graph is a real local HTTP server; the worker "crash" is the delivery being killed right
after Graph accepted its send, before it could store Graph's answer."""

from __future__ import annotations

import ctypes
import threading
from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone

from conversations.delivery_tasks import sweep_pending_messages
from conversations.models import Message, MessageStatusEvent
from conversations.services.message_delivery import LEASE, message_deliver
from conversations.services.message_send import message_queue_outbound, message_send_text
from tests.factories import ContactFactory, ConversationFactory, MessageFactory, NumberFactory
from tests.support import intake as intake_support
from tests.support import webhooks
from tests.support.intake import process

fresh_secrets = intake_support.fresh_secrets

pytestmark = pytest.mark.django_db

CUSTOMER = "15557654321"


class WorkerKilled(BaseException):
    """Stands for the worker process being killed: nothing after it runs, no handler catches it."""


@pytest.fixture
def conversation(number):
    return ConversationFactory(contact__number=number, contact__wa_id=CUSTOMER)


def _accepted(wamid: str) -> dict:
    return {
        "messaging_product": "whatsapp",
        "contacts": [{"input": CUSTOMER, "wa_id": CUSTOMER}],
        "messages": [{"id": wamid}],
    }


def _kill_worker_once_graph_accepts(graph, number, wamid: str) -> None:
    """Graph accepts the next send (records it, answers with `wamid`), and the worker that
    made it is killed before it reads the answer."""
    worker = threading.get_ident()
    path = f"/v23.0/{number.phone_number_id}/messages"

    def accept_and_kill(request):
        graph.routes.pop(("POST", path), None)
        ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(worker), ctypes.py_object(WorkerKilled))
        return 200, _accepted(wamid)

    graph.route("POST", path, accept_and_kill)


def _queue(conversation, django_capture_on_commit_callbacks, text="Your refund is on its way") -> Message:
    with django_capture_on_commit_callbacks(execute=False):
        return message_send_text(conversation=conversation, text=text)


def _status(wamid: str, status: str, callback_data: str | None) -> dict:
    payload = webhooks.status_payload(wamid, status, recipient=CUSTOMER)
    if callback_data is not None:
        payload["entry"][0]["changes"][0]["value"]["statuses"][0]["biz_opaque_callback_data"] = callback_data
    return payload


def _crash_after_graph_accepted(conversation, graph, number, django_capture_on_commit_callbacks, wamid):
    message = _queue(conversation, django_capture_on_commit_callbacks)
    _kill_worker_once_graph_accepts(graph, number, wamid)
    with pytest.raises(WorkerKilled):
        message_deliver(message_id=message.pk)
    message.refresh_from_db()
    assert message.status == Message.Status.SENDING
    assert message.provider_message_id is None
    [sent] = graph.sent_messages()
    return message, sent


def test_a_sent_status_after_a_worker_crash_settles_the_message_and_the_sweep_sends_no_second_copy(
    client, conversation, graph, number, django_capture_on_commit_callbacks
):
    wamid = "wamid.HBgLMTU1NTc2NTQzMjEVAgARGBI5QUNDRVBURUQA"
    message, sent = _crash_after_graph_accepted(conversation, graph, number, django_capture_on_commit_callbacks, wamid)

    # WhatsApp's statuses for that wamid echo the callback data the send carried.
    process(client, _status(wamid, "sent", sent.get("biz_opaque_callback_data")), django_capture_on_commit_callbacks)

    message.refresh_from_db()
    assert message.status == Message.Status.SENT
    assert message.provider_message_id == wamid
    assert message.sent_at is not None
    assert message.next_attempt_at is None

    with time_machine.travel(timezone.now() + LEASE + timedelta(minutes=5)), django_capture_on_commit_callbacks(
        execute=True
    ):
        assert sweep_pending_messages.apply().result == 0

    assert len(graph.sent_messages()) == 1
    message.refresh_from_db()
    assert message.status == Message.Status.SENT
    assert message.attempts == 1


def test_a_delivered_status_alone_settles_the_message_as_delivered(
    client, conversation, graph, number, django_capture_on_commit_callbacks
):
    wamid = "wamid.HBgLMTU1NTc2NTQzMjEVAgARGBJERUxJVkVSRUQA"
    message, sent = _crash_after_graph_accepted(conversation, graph, number, django_capture_on_commit_callbacks, wamid)

    process(client, _status(wamid, "delivered", sent["biz_opaque_callback_data"]), django_capture_on_commit_callbacks)
    process(client, _status(wamid, "read", sent["biz_opaque_callback_data"]), django_capture_on_commit_callbacks)

    message.refresh_from_db()
    assert message.provider_message_id == wamid
    assert message.status == Message.Status.READ
    assert message.delivered_at is not None and message.read_at is not None
    with time_machine.travel(timezone.now() + LEASE + timedelta(minutes=5)), django_capture_on_commit_callbacks(
        execute=True
    ):
        assert sweep_pending_messages.apply().result == 0
    assert len(graph.sent_messages()) == 1


def test_a_failed_status_after_a_crash_fails_the_message_with_the_providers_error(
    client, conversation, graph, number, django_capture_on_commit_callbacks
):
    wamid = "wamid.HBgLMTU1NTc2NTQzMjEVAgARGBJGQUlMRUQA"
    message, sent = _crash_after_graph_accepted(conversation, graph, number, django_capture_on_commit_callbacks, wamid)
    errors = [{"code": 131026, "title": "Message undeliverable", "error_data": {"details": "Not on WhatsApp"}}]
    payload = _status(wamid, "failed", sent["biz_opaque_callback_data"])
    payload["entry"][0]["changes"][0]["value"]["statuses"][0]["errors"] = errors

    process(client, payload, django_capture_on_commit_callbacks)

    message.refresh_from_db()
    assert message.status == Message.Status.FAILED
    assert message.error_code == "131026"
    with time_machine.travel(timezone.now() + LEASE + timedelta(minutes=5)), django_capture_on_commit_callbacks(
        execute=True
    ):
        assert sweep_pending_messages.apply().result == 0
    assert len(graph.sent_messages()) == 1


def test_without_any_status_the_sweep_still_resends_after_the_lease(
    conversation, graph, number, django_capture_on_commit_callbacks
):
    """The remaining risk, documented: no status before the lease runs out means a resend."""
    wamid = "wamid.HBgLMTU1NTc2NTQzMjEVAgARGBJOT1NUQVRVUwA"
    message, _sent = _crash_after_graph_accepted(conversation, graph, number, django_capture_on_commit_callbacks, wamid)

    with time_machine.travel(timezone.now() + LEASE + timedelta(minutes=5)), django_capture_on_commit_callbacks(
        execute=True
    ):
        assert sweep_pending_messages.apply().result == 1

    message.refresh_from_db()
    assert message.status == Message.Status.SENT
    assert message.provider_message_id != wamid
    assert len(graph.sent_messages()) == 2


def test_a_late_status_of_the_first_copy_does_not_overwrite_the_stored_one(
    client, conversation, graph, number, django_capture_on_commit_callbacks
):
    first = "wamid.HBgLMTU1NTc2NTQzMjEVAgARGBJGSVJTVENPUFkA"
    message, sent = _crash_after_graph_accepted(conversation, graph, number, django_capture_on_commit_callbacks, first)
    with time_machine.travel(timezone.now() + LEASE + timedelta(minutes=5)), django_capture_on_commit_callbacks(
        execute=True
    ):
        sweep_pending_messages.apply()
    message.refresh_from_db()
    second = message.provider_message_id
    assert second and second != first

    process(client, _status(first, "delivered", sent["biz_opaque_callback_data"]), django_capture_on_commit_callbacks)

    message.refresh_from_db()
    assert message.provider_message_id == second
    assert message.status == Message.Status.SENT
    assert MessageStatusEvent.objects.get(provider_message_id=first).applied_at is None


def test_a_handle_naming_another_numbers_message_settles_nothing(
    client, graph, number, django_capture_on_commit_callbacks
):
    other_number = NumberFactory(phone_number_id="1000000555", app_secret="other-secret", is_default=False)
    other = MessageFactory(
        conversation=ConversationFactory(contact=ContactFactory(number=other_number, wa_id=CUSTOMER)),
        direction=Message.Direction.OUTBOUND,
        sender_kind=Message.SenderKind.AGENT,
        provider_message_id=None,
        status=Message.Status.SENDING,
        payload={"type": "text", "text": {"body": "Hello"}},
        next_attempt_at=timezone.now() + LEASE,
    )

    # Signed and addressed as our number, naming the other number's message.
    process(client, _status("wamid.FORGED1", "sent", f"handoff:m:{other.pk}"), django_capture_on_commit_callbacks)

    other.refresh_from_db()
    assert other.status == Message.Status.SENDING
    assert other.provider_message_id is None
    assert MessageStatusEvent.objects.get(provider_message_id="wamid.FORGED1").applied_at is None


def test_a_handle_naming_another_recipient_settles_nothing(
    client, conversation, graph, number, django_capture_on_commit_callbacks
):
    wamid = "wamid.HBgLMTU1NTc2NTQzMjEVAgARGBJPVEhFUlJFQ0lQAA"
    message, sent = _crash_after_graph_accepted(conversation, graph, number, django_capture_on_commit_callbacks, wamid)
    payload = _status(wamid, "sent", sent["biz_opaque_callback_data"])
    payload["entry"][0]["changes"][0]["value"]["statuses"][0]["recipient_id"] = "15550009999"

    process(client, payload, django_capture_on_commit_callbacks)

    message.refresh_from_db()
    assert message.status == Message.Status.SENDING
    assert message.provider_message_id is None


def test_every_send_carries_the_handle_templates_too_and_keeps_data_the_content_had(
    conversation, graph, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        text = message_send_text(conversation=conversation, text="Hi")
        template = message_queue_outbound(
            conversation=conversation,
            type="template",
            content={
                "template": {"name": "order_update", "language": {"code": "en", "policy": "deterministic"}},
                "biz_opaque_callback_data": "campaign=42",
            },
            text="Your order shipped",
            sender_kind=Message.SenderKind.SYSTEM,
            business_initiated=True,
        )

    text_body, template_body = graph.sent_messages()
    assert text_body["biz_opaque_callback_data"] == f"handoff:m:{text.pk}"
    assert template_body["type"] == "template"
    assert template_body["biz_opaque_callback_data"] == f"handoff:m:{template.pk};campaign=42"
    template.refresh_from_db()
    assert template.status == Message.Status.SENT
