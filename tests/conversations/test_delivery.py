"""Delivery to WhatsApp against a real local HTTP server playing Graph: success, error
codes by the table, retries with their cap, admin alerts, and the sweep."""

from __future__ import annotations

import logging
import time
import uuid
from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone

from conversations import throttle
from conversations.delivery_tasks import sweep_pending_messages
from conversations.models import ConversationEvent, Message
from conversations.services.message_delivery import message_deliver, message_mark_read_remote
from conversations.services.message_send import message_send_interactive, message_send_text
from notifications.services.consent import consent_is_current
from tests.factories import ConversationFactory, MessageFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def conversation(number):
    return ConversationFactory(contact__number=number, contact__wa_id="15557654321")


def _send(conversation, django_capture_on_commit_callbacks, text="Hello there", **kwargs):
    with django_capture_on_commit_callbacks(execute=True):
        message = message_send_text(conversation=conversation, text=text, **kwargs)
    message.refresh_from_db()
    return message


def _success_body(wamid: str) -> dict:
    return {
        "messaging_product": "whatsapp",
        "contacts": [{"input": "15557654321", "wa_id": "15557654321"}],
        "messages": [{"id": wamid}],
    }


def test_text_is_delivered_and_its_wamid_stored(conversation, graph, number, django_capture_on_commit_callbacks):
    graph.script(200, _success_body("wamid.HBgLMTY1MDM4Nzk0MzkVAgARGBJCOTY3"))

    message = _send(conversation, django_capture_on_commit_callbacks, text="Your order shipped")

    assert message.status == Message.Status.SENT
    assert message.provider_message_id == "wamid.HBgLMTY1MDM4Nzk0MzkVAgARGBJCOTY3"
    assert message.sent_at is not None
    assert message.attempts == 1
    [request] = graph.requests
    assert request.method == "POST"
    assert request.path == f"/v23.0/{number.phone_number_id}/messages"
    assert request.headers["Authorization"] == "Bearer test-access-token"
    assert request.body == {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": "15557654321",
        "type": "text",
        "text": {"body": "Your order shipped", "preview_url": False},
        "biz_opaque_callback_data": f"handoff:m:{message.pk}",
    }


def test_text_with_a_link_asks_for_a_preview(conversation, graph, django_capture_on_commit_callbacks):
    _send(conversation, django_capture_on_commit_callbacks, text="Track it at https://example.com/t/1")

    assert graph.sent_messages()[0]["text"] == {"body": "Track it at https://example.com/t/1", "preview_url": True}


def test_reply_quotes_the_customer_message_with_context(conversation, graph, django_capture_on_commit_callbacks):
    inbound = MessageFactory(conversation=conversation, provider_message_id="wamid.CUSTOMER1")

    message = _send(conversation, django_capture_on_commit_callbacks, text="About that", reply_to=inbound)

    body = graph.sent_messages()[0]
    assert body["context"] == {"message_id": "wamid.CUSTOMER1"}
    assert set(body) == {"context", "messaging_product", "recipient_type", "text", "to", "type", "biz_opaque_callback_data"}
    assert message.reply_to_id == inbound.pk


def test_reply_buttons_go_out_in_graph_shape(conversation, graph, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        message_send_interactive(
            conversation=conversation,
            body="How can we help?",
            buttons=[{"id": "orders", "title": "Orders"}, {"id": "human", "title": "Talk to a person"}],
        )

    assert graph.sent_messages()[0]["interactive"] == {
        "type": "button",
        "body": {"text": "How can we help?"},
        "action": {
            "buttons": [
                {"type": "reply", "reply": {"id": "orders", "title": "Orders"}},
                {"type": "reply", "reply": {"id": "human", "title": "Talk to a person"}},
            ]
        },
    }


def test_list_goes_out_in_graph_shape(conversation, graph, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        message = message_send_interactive(
            conversation=conversation,
            body="Pick a topic",
            header="Help",
            footer="Reply any time",
            button_label="Topics",
            sections=[
                {"title": "Orders", "rows": [{"id": "track", "title": "Track", "description": "Where is it?"}]},
                {"title": "People", "rows": [{"id": "human", "title": "Talk to a person"}]},
            ],
        )

    body = graph.sent_messages()[0]
    assert body["type"] == "interactive"
    assert body["interactive"] == {
        "type": "list",
        "header": {"type": "text", "text": "Help"},
        "body": {"text": "Pick a topic"},
        "footer": {"text": "Reply any time"},
        "action": {
            "button": "Topics",
            "sections": [
                {"title": "Orders", "rows": [{"id": "track", "title": "Track", "description": "Where is it?"}]},
                {"title": "People", "rows": [{"id": "human", "title": "Talk to a person"}]},
            ],
        },
    }
    message.refresh_from_db()
    assert message.status == Message.Status.SENT
    assert "- Track" in message.text


def test_window_error_131047_fails_without_retry_and_tells_the_agent_to_use_a_template(
    conversation, graph, django_capture_on_commit_callbacks
):
    graph.error(131047, "Re-engagement message", details="Message failed to send because more than 24 hours")

    message = _send(conversation, django_capture_on_commit_callbacks)

    assert message.status == Message.Status.FAILED
    assert message.error_code == "131047"
    assert "template" in message.error_text
    assert message.failed_at is not None
    assert len(graph.sent_messages()) == 1


def test_throughput_error_130429_is_retried_then_sent(conversation, graph, django_capture_on_commit_callbacks):
    graph.error(130429, "Rate limit hit", status=400)

    message = _send(conversation, django_capture_on_commit_callbacks)

    assert message.status == Message.Status.SENT
    assert message.provider_message_id.startswith("wamid.TEST")
    assert message.attempts == 2
    assert message.error_code == ""
    assert len(graph.sent_messages()) == 2


def test_a_send_leaves_only_when_the_numbers_window_has_room(conversation, graph, number,
                                                            django_capture_on_commit_callbacks):
    number.phone_number_id, number.throughput_mps = f"pn-{uuid.uuid4().hex[:12]}", 2  # a fresh pacer: its slot is free
    number.save(update_fields=["phone_number_id", "throughput_mps"])
    window = f"wa:sent:{number.phone_number_id}"
    # Another send of this number (limit 2 - 1 per window) left just now.
    assert throttle.backend().window_try(window, 1, throttle.SEND_WINDOW_SECONDS) == 0.0
    started = time.monotonic()

    message = _send(conversation, django_capture_on_commit_callbacks)

    assert message.status == Message.Status.SENT
    assert len(graph.sent_messages()) == 1
    assert time.monotonic() - started >= throttle.SEND_WINDOW_SECONDS - 0.05  # it waited for the other to leave
    assert throttle.backend().window_try(window, 1, throttle.SEND_WINDOW_SECONDS) > 0  # and is counted itself


def test_undeliverable_131026_fails_at_once(conversation, graph, django_capture_on_commit_callbacks):
    graph.error(131026, "Message undeliverable")

    message = _send(conversation, django_capture_on_commit_callbacks)

    assert message.status == Message.Status.FAILED
    assert message.error_code == "131026"
    assert "WhatsApp" in message.error_text
    assert len(graph.sent_messages()) == 1


def test_expired_token_190_fails_and_alerts_admins(conversation, graph, django_capture_on_commit_callbacks, caplog):
    graph.error(190, "Error validating access token: Session has expired", status=401)

    with caplog.at_level(logging.ERROR, logger="conversations.services.message_send"):
        message = _send(conversation, django_capture_on_commit_callbacks)

    assert message.status == Message.Status.FAILED
    assert message.error_code == "190"
    assert len(graph.sent_messages()) == 1
    alert = ConversationEvent.objects.get(conversation=conversation, kind="provider_alert")
    assert alert.data["alert"] == "access_token_invalid"
    assert alert.data["code"] == "190"
    assert alert.data["message"] == message.pk
    assert "access token" in alert.reason
    assert any("access_token_invalid" in record.getMessage() for record in caplog.records)


def test_account_locked_131031_alerts_admins(conversation, graph, django_capture_on_commit_callbacks):
    graph.error(131031, "Account has been locked")

    _send(conversation, django_capture_on_commit_callbacks)

    assert ConversationEvent.objects.get(conversation=conversation, kind="provider_alert").data["alert"] == "account_locked"


def test_marketing_stop_131050_records_an_opt_out(conversation, graph, django_capture_on_commit_callbacks):
    graph.error(131050, "Unable to deliver the message. This recipient has chosen to stop receiving marketing")

    message = _send(conversation, django_capture_on_commit_callbacks)

    assert message.status == Message.Status.FAILED
    assert message.error_code == "131050"
    assert consent_is_current(contact=conversation.contact, category="marketing") is False
    record = conversation.contact.consent_records.order_by("-id").first()
    assert record.source == "error_131050"
    assert "131050" in record.proof


def test_timeout_then_success_is_retried(conversation, graph, settings, django_capture_on_commit_callbacks):
    settings.WHATSAPP_HTTP_TIMEOUT = 0.3
    graph.script(200, _success_body("wamid.TOO.LATE"), delay=1.5)
    graph.script(200, _success_body("wamid.SECOND.TRY"))

    message = _send(conversation, django_capture_on_commit_callbacks)

    assert message.status == Message.Status.SENT
    assert message.provider_message_id == "wamid.SECOND.TRY"
    assert message.attempts == 2


def test_dropped_connection_then_success_is_retried(conversation, graph, number, django_capture_on_commit_callbacks):
    calls = []

    def drop_first(request):
        calls.append(request)
        if len(calls) == 1:
            raise ConnectionAbortedError("the server closes the connection without answering")
        return 200, _success_body("wamid.AFTER.DROP")

    graph.route("POST", f"/v23.0/{number.phone_number_id}/messages", drop_first)

    message = _send(conversation, django_capture_on_commit_callbacks)

    assert len(calls) == 2
    assert message.status == Message.Status.SENT
    assert message.provider_message_id == "wamid.AFTER.DROP"


def test_unreachable_graph_fails_after_the_attempt_cap(conversation, number, settings, django_capture_on_commit_callbacks):
    settings.WHATSAPP_SEND_MAX_ATTEMPTS = 3
    number.api_base = "http://127.0.0.1:9/v23.0"
    number.save()

    message = _send(conversation, django_capture_on_commit_callbacks)

    assert message.status == Message.Status.FAILED
    assert message.attempts == 3
    assert message.error_code == "network"
    assert "could not be reached" in message.error_text


def test_marketing_cap_131049_fails_as_frequency_cap_and_is_never_sent_again(
    conversation, graph, django_capture_on_commit_callbacks
):
    graph.error(131049, "This message was not delivered to maintain healthy ecosystem engagement.")

    message = _send(conversation, django_capture_on_commit_callbacks)

    assert message.status == Message.Status.FAILED
    assert message.error_code == "131049"
    assert message.error_text.startswith("Frequency cap")
    assert message.next_attempt_at is None
    later = timezone.now() + timedelta(days=2)
    with time_machine.travel(later), django_capture_on_commit_callbacks(execute=True):
        assert sweep_pending_messages.apply().result == 0
    assert len(graph.sent_messages()) == 1


def test_sweep_resends_a_message_whose_worker_crashed_mid_send(
    conversation, graph, django_capture_on_commit_callbacks
):
    message = MessageFactory(
        conversation=conversation,
        direction=Message.Direction.OUTBOUND,
        sender_kind=Message.SenderKind.AGENT,
        provider_message_id=None,
        status=Message.Status.SENDING,
        attempts=1,
        payload={"type": "text", "text": {"body": "Are you there?"}},
        next_attempt_at=timezone.now() - timedelta(seconds=1),
    )

    with django_capture_on_commit_callbacks(execute=True):
        assert sweep_pending_messages.apply().result == 1

    message.refresh_from_db()
    assert message.status == Message.Status.SENT
    assert message.attempts == 2
    assert graph.sent_messages()[0]["text"] == {"body": "Are you there?"}


def test_sweep_leaves_a_message_inside_its_lease_alone(conversation, graph, django_capture_on_commit_callbacks):
    message = MessageFactory(
        conversation=conversation,
        direction=Message.Direction.OUTBOUND,
        sender_kind=Message.SenderKind.AGENT,
        provider_message_id=None,
        status=Message.Status.SENDING,
        payload={"type": "text", "text": {"body": "In flight"}},
        next_attempt_at=timezone.now() + timedelta(seconds=90),
    )

    with django_capture_on_commit_callbacks(execute=True):
        assert sweep_pending_messages.apply().result == 0

    message.refresh_from_db()
    assert message.status == Message.Status.SENDING
    assert graph.requests == []


def test_delivering_a_sent_message_again_does_nothing(conversation, graph, django_capture_on_commit_callbacks):
    message = _send(conversation, django_capture_on_commit_callbacks)

    assert message_deliver(message_id=message.pk).outcome == "skipped"
    assert len(graph.sent_messages()) == 1


def test_decision_follows_the_error_code_not_the_http_status(conversation, graph, django_capture_on_commit_callbacks):
    graph.error(131026, "Message undeliverable", status=500)

    message = _send(conversation, django_capture_on_commit_callbacks)

    assert message.status == Message.Status.FAILED
    assert message.error_code == "131026"
    assert len(graph.sent_messages()) == 1


def test_a_gateway_error_without_graphs_shape_is_retried(conversation, graph, django_capture_on_commit_callbacks):
    graph.script(502, "<html>Bad gateway</html>")

    message = _send(conversation, django_capture_on_commit_callbacks)

    assert message.status == Message.Status.SENT
    assert len(graph.sent_messages()) == 2


def test_mark_read_with_typing_shows_the_indicator(conversation, graph, django_capture_on_commit_callbacks):
    inbound = MessageFactory(conversation=conversation, provider_message_id="wamid.TYPING.1")

    with django_capture_on_commit_callbacks(execute=True):
        message_mark_read_remote(message=inbound, typing=True)

    assert graph.requests[0].body["typing_indicator"] == {"type": "text"}
