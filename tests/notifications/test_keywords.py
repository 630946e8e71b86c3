from __future__ import annotations

import pytest

from conversations.models import Message
from notifications.models import ConsentKeywordRule, ConsentRecord
from notifications.services.consent import consent_is_current, consent_opt_in
from notifications.services.consent_keywords import keyword_consent_handle, keyword_match
from tests.factories import MessageFactory


def inbound(conversation, text):
    return MessageFactory(conversation=conversation, text=text)


def confirmations(graph):
    return [m["text"]["body"] for m in graph.sent_messages() if m.get("type") == "text"]


@pytest.mark.parametrize(
    ("text", "language", "expected"),
    [
        ("STOP", "en", "You have been unsubscribed"),
        ("  unsubscribe! ", "", "You have been unsubscribed"),
        ("Baja", "es", "Te has dado de baja"),
        ("PARAR", "pt_BR", "Você foi descadastrado"),
        ("stopp", "de", "Sie wurden abgemeldet"),
        ("Abmelden", "", "Sie wurden abgemeldet"),
        ("arrêt", "fr", "Vous êtes désabonné"),
        ("DESABONNER", "", "Vous êtes désabonné"),
    ],
)
def test_opt_out_keyword_opts_out_every_category_and_confirms_in_the_language(
    graph, conversation, contact, text, language, expected, django_capture_on_commit_callbacks
):
    contact.language = language
    contact.save()
    for category in ("marketing", "utility"):
        consent_opt_in(contact=contact, category=category, source="web_form")
    message = inbound(conversation, text)
    with django_capture_on_commit_callbacks(execute=True):
        assert keyword_consent_handle(message=message) is True
    assert not consent_is_current(contact=contact, category="marketing")
    assert not consent_is_current(contact=contact, category="utility")
    row = ConsentRecord.objects.filter(contact=contact, opted_in=False).first()
    assert row.source == "keyword" and message.provider_message_id in row.proof
    [sent] = confirmations(graph)
    assert sent.startswith(expected)
    reply = Message.objects.filter(conversation=conversation, direction="out").get()
    assert reply.sender_kind == "system"


@pytest.mark.parametrize(("text", "expected"), [("START", "You are subscribed again"), ("alta", "Te has vuelto"),
                                                 ("Anmelden", "Sie sind wieder angemeldet")])
def test_opt_in_keyword_opts_back_in_and_confirms(graph, conversation, contact, text, expected,
                                                  django_capture_on_commit_callbacks):
    message = inbound(conversation, text)
    with django_capture_on_commit_callbacks(execute=True):
        assert keyword_consent_handle(message=message) is True
    assert consent_is_current(contact=contact, category="marketing")
    assert consent_is_current(contact=contact, category="utility")
    assert confirmations(graph)[0].startswith(expected)


@pytest.mark.parametrize("text", ["please stop sending the wrong size", "Can I start an order?", "STOP?!x", "stopping"])
def test_ordinary_messages_are_not_keywords(graph, conversation, contact, text):
    consent_opt_in(contact=contact, category="marketing", source="web_form")
    assert keyword_consent_handle(message=inbound(conversation, text)) is False
    assert consent_is_current(contact=contact, category="marketing")
    assert graph.sent_messages() == []


def test_keywords_and_confirmation_configured_per_number_and_language(graph, number, conversation, contact,
                                                                      django_capture_on_commit_callbacks):
    ConsentKeywordRule.objects.create(number=number, language="en", action="opt_out",
                                      keywords="HALT\nNO MORE", confirmation="Done, no more messages from Acme.")
    consent_opt_in(contact=contact, category="marketing", source="web_form")
    assert keyword_match(text="STOP", number_id=number.pk) is None  # the number's own list replaces the default
    with django_capture_on_commit_callbacks(execute=True):
        assert keyword_consent_handle(message=inbound(conversation, "no more")) is True
    assert not consent_is_current(contact=contact, category="marketing")
    assert confirmations(graph) == ["Done, no more messages from Acme."]


def test_global_rule_adds_a_language(number):
    ConsentKeywordRule.objects.create(language="sv", action="opt_out", keywords="AVSLUTA", confirmation="Avslutad.")
    match = keyword_match(text="avsluta", number_id=number.pk)
    assert match is not None and match.action == "opt_out" and match.languages == ("sv",)


def test_outbound_or_non_text_messages_are_ignored(graph, conversation):
    assert keyword_consent_handle(message=MessageFactory(conversation=conversation, text="STOP", type="image")) is False
    out = MessageFactory(conversation=conversation, text="STOP", direction="out", sender_kind="agent",
                         status="sent")
    assert keyword_consent_handle(message=out) is False
