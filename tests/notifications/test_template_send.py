from __future__ import annotations

import pytest

from conversations.models import Message
from conversations.services.message_send import SendRefused
from notifications.models import TemplateStatus
from notifications.services.consent import consent_opt_in, consent_opt_out
from notifications.services.template_send import template_message_send

ORDER_PARAMS = {"header": ["A-100"], "body": ["Ana", "A-100", "Monday"], "buttons": {"0": "A-100"}}


def test_approved_template_with_consent_is_delivered_with_the_graph_template_body(
    graph, conversation, contact, order_template, agent, django_capture_on_commit_callbacks
):
    consent_opt_in(contact=contact, category="utility", source="web_form")
    with django_capture_on_commit_callbacks(execute=True):
        message = template_message_send(
            conversation=conversation, name="order_update", language="en_US", parameters=ORDER_PARAMS, sender_user=agent
        )
    message.refresh_from_db()
    assert message.type == "template" and message.business_initiated is True
    assert message.status == Message.Status.SENT and message.provider_message_id
    assert message.text.startswith("Order A-100\nHi Ana, your order A-100 ships on Monday.")
    [sent] = graph.sent_messages()
    assert sent["to"] == contact.wa_id and sent["type"] == "template"
    assert sent["template"]["name"] == "order_update"
    assert sent["template"]["language"] == {"code": "en_US", "policy": "deterministic"}
    assert sent["template"]["components"][1] == {
        "type": "body",
        "parameters": [{"type": "text", "text": "Ana"}, {"type": "text", "text": "A-100"}, {"type": "text", "text": "Monday"}],
    }


@pytest.mark.parametrize("status", [TemplateStatus.PENDING, TemplateStatus.REJECTED, TemplateStatus.PAUSED])
def test_template_not_approved_is_refused_before_graph(graph, conversation, contact, order_template, status):
    consent_opt_in(contact=contact, category="utility", source="web_form")
    order_template.status = status
    order_template.save()
    with pytest.raises(SendRefused) as info:
        template_message_send(conversation=conversation, name="order_update", language="en_US", parameters=ORDER_PARAMS)
    assert info.value.code == "template_not_approved"
    assert not Message.objects.filter(direction="out").exists()
    assert graph.sent_messages() == []


def test_unknown_template_is_refused_as_not_approved(graph, conversation):
    with pytest.raises(SendRefused) as info:
        template_message_send(conversation=conversation, name="nope", language="en", parameters=[])
    assert info.value.code == "template_not_approved" and "nope" in info.value.detail


def test_wrong_parameters_are_refused_with_a_clear_detail(graph, conversation, contact, order_template):
    consent_opt_in(contact=contact, category="utility", source="web_form")
    with pytest.raises(SendRefused) as info:
        template_message_send(conversation=conversation, name="order_update", language="en_US",
                              parameters={"header": ["A"], "body": ["Ana"], "buttons": ["1"]})
    assert info.value.code == "template_invalid"
    assert "body expects 3 parameter(s), got 1" in info.value.detail
    assert graph.sent_messages() == []


def test_utility_template_inside_the_open_window_still_needs_an_opt_in(graph, conversation, order_template):
    assert conversation.window_open()
    with pytest.raises(SendRefused) as info:
        template_message_send(conversation=conversation, name="order_update", language="en_US", parameters=ORDER_PARAMS)
    assert info.value.code == "not_opted_in"


def test_marketing_template_needs_marketing_consent_not_utility(graph, conversation, contact, promo_template):
    consent_opt_in(contact=contact, category="utility", source="web_form")
    with pytest.raises(SendRefused) as info:
        template_message_send(conversation=conversation, name="promo", language="en",
                              parameters={"first_name": "Ana", "discount": "20%"})
    assert info.value.code == "not_opted_in" and "marketing" in info.value.detail


def test_opted_out_contact_is_refused_at_send_time(graph, conversation, contact, promo_template):
    consent_opt_in(contact=contact, category="marketing", source="import")
    consent_opt_out(contact=contact, category="marketing", source="keyword")
    with pytest.raises(SendRefused) as info:
        template_message_send(conversation=conversation, name="promo", language="en",
                              parameters={"first_name": "Ana", "discount": "20%"})
    assert info.value.code == "not_opted_in"
    assert graph.sent_messages() == []
