"""What a customer's message does besides being stored: a consent keyword is honoured at
once (and no bot answers it), and a tap on a rating button rates the resolved conversation
instead of reopening it. Driven through the real webhook."""

from __future__ import annotations

from django.utils import timezone

from conversations.models import Conversation, Message
from notifications.services.consent import consent_is_current, consent_opt_in
from tests.factories import ContactFactory, ConversationFactory
from tests.support import webhooks


def test_stop_through_the_webhook_opts_out_confirms_and_is_not_answered_by_the_bot(
    client, graph, number, django_capture_on_commit_callbacks
):
    contact = ContactFactory(number=number, wa_id="15557770001", language="en")
    for category in ("marketing", "utility"):
        consent_opt_in(contact=contact, category=category, source="web_form")

    with django_capture_on_commit_callbacks(execute=True):
        response = webhooks.post(client, webhooks.text_payload("STOP", wa_id=contact.wa_id))

    assert response.status_code == 200
    assert not consent_is_current(contact=contact, category="marketing")
    assert not consent_is_current(contact=contact, category="utility")
    sent = graph.sent_messages()
    assert [m["text"]["body"] for m in sent] == [
        "You have been unsubscribed and will not receive further messages from us. Reply START to subscribe again."
    ]
    conversation = Conversation.objects.get(contact=contact)
    assert conversation.status == Conversation.Status.BOT
    assert not Message.objects.filter(conversation=conversation, sender_kind="bot").exists()


def test_rating_tap_rates_the_resolved_conversation_without_reopening_it(
    client, graph, number, team, django_capture_on_commit_callbacks
):
    contact = ContactFactory(number=number, wa_id="15557770002")
    conversation = ConversationFactory(
        contact=contact,
        number=number,
        team=team,
        status=Conversation.Status.RESOLVED,
        resolved_at=timezone.now(),
        csat_requested_at=timezone.now(),
    )

    with django_capture_on_commit_callbacks(execute=True):
        response = webhooks.post(
            client, webhooks.button_reply_payload(f"csat:{conversation.pk}:3", "Good", wa_id=contact.wa_id)
        )

    assert response.status_code == 200
    conversation.refresh_from_db()
    assert conversation.status == Conversation.Status.RESOLVED
    assert conversation.csat_score == 3
    assert Conversation.objects.filter(contact=contact).count() == 1
    tap = Message.objects.get(conversation=conversation, direction="in")
    assert "Good" in tap.text
    assert graph.sent_messages() == []


def test_rating_button_of_another_customers_conversation_reopens_nothing_of_theirs(
    client, graph, number, team, django_capture_on_commit_callbacks
):
    victim = ConversationFactory(
        contact=ContactFactory(number=number, wa_id="15557770003"),
        number=number,
        team=team,
        status=Conversation.Status.RESOLVED,
        resolved_at=timezone.now(),
        csat_requested_at=timezone.now(),
    )
    forger = ContactFactory(number=number, wa_id="15557770004")

    with django_capture_on_commit_callbacks(execute=True):
        webhooks.post(client, webhooks.button_reply_payload(f"csat:{victim.pk}:1", "Bad", wa_id=forger.wa_id))

    victim.refresh_from_db()
    assert victim.csat_score is None
    assert victim.status == Conversation.Status.RESOLVED
    assert Conversation.objects.filter(contact=forger).exists()
