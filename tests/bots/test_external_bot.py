"""An external bot speaking Rasa's REST channel, against a real local HTTP server."""

from __future__ import annotations

import pytest

from bots.models import Bot, Handoff
from conversations.models import Conversation
from tests.bots.conftest import menus, offers_a_person, option_ids, texts

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def rasa_bot(db, number, policy, rasa):
    return Bot.objects.create(
        name="Rasa", kind=Bot.Kind.EXTERNAL, number=number, endpoint_url=rasa.url, timeout_seconds=1.0
    )


def test_rasa_answers_are_sent_with_buttons_and_the_person_option(customer, rasa_bot, rasa):
    replies = customer.says("hello")

    assert rasa.requests[0]["message"] == "hello"
    assert rasa.requests[0]["sender"] == str(customer.conversation.contact.pk)
    assert texts(replies) == ["Hello from Rasa!", "What do you need?"]
    menu = menus(replies)[0]
    assert [b["reply"]["title"] for b in menu["interactive"]["action"]["buttons"]] == [
        "Track my parcel", "Refund", "Talk to a person",
    ]
    assert offers_a_person(menu)


def test_a_tapped_button_sends_its_payload_to_rasa(customer, rasa_bot, rasa):
    replies = customer.says("hello")
    first_id = option_ids(menus(replies)[0])[0]

    replies = customer.taps(first_id, "Track my parcel")

    assert rasa.requests[-1]["message"] == '/track{"carrier": "ups"}'
    assert texts(replies) == ['You chose /track{"carrier": "ups"}.']


def test_rasa_custom_handoff_hands_off_to_the_named_team(customer, rasa_bot, rasa, agent):
    from tests.factories import TeamFactory

    billing = TeamFactory(name="Billing", slug="billing")
    replies = customer.says("hello")
    refund_id = option_ids(menus(replies)[0])[1]

    replies = customer.taps(refund_id, "Refund")

    assert texts(replies)[0] == "Let me get a colleague."
    handoff = customer.conversation.handoffs.get()
    assert handoff.reason_code == Handoff.Reason.EXTERNAL_BOT
    assert handoff.detail == "refund over limit"
    assert handoff.suggested_team == billing
    assert handoff.bot_name == "Rasa"
    assert customer.conversation.team == billing


def test_rasa_down_hands_off_as_bot_error(customer, policy, number, agent):
    Bot.objects.create(
        name="Rasa", kind=Bot.Kind.EXTERNAL, number=number, endpoint_url="http://127.0.0.1:9/webhooks/rest/webhook"
    )

    replies = customer.says("hello")

    assert texts(replies)[0].startswith("Our team isn't available right now.")
    handoff = customer.conversation.handoffs.get()
    assert handoff.reason_code == Handoff.Reason.BOT_ERROR
    assert "could not reach the bot" in handoff.detail
    assert customer.conversation.status == Conversation.Status.QUEUED


def test_rasa_too_slow_hands_off_within_the_timeout(customer, rasa_bot, rasa, agent):
    rasa_bot.timeout_seconds = 0.3
    rasa_bot.save()
    rasa.reply = lambda body: (200, [{"text": "finally"}], 2.0)

    replies = customer.says("hello")

    handoff = customer.conversation.handoffs.get()
    assert handoff.reason_code == Handoff.Reason.BOT_ERROR
    assert "no answer within 0.3 s" in handoff.detail
    assert "finally" not in texts(replies)


@pytest.mark.parametrize(
    "answer",
    [(200, b"<html>oops</html>", 0.0), (500, {"error": "boom"}, 0.0), (200, {"text": "not a list"}, 0.0)],
    ids=["not-json", "http-500", "not-a-list"],
)
def test_a_broken_rasa_answer_hands_off_as_bot_error(customer, rasa_bot, rasa, agent, answer):
    rasa.reply = lambda body: answer

    customer.says("hello")

    assert customer.conversation.handoffs.get().reason_code == Handoff.Reason.BOT_ERROR


def test_rasa_with_nothing_to_say_twice_hands_off_as_not_understood(customer, rasa_bot, rasa, agent):
    rasa.reply = lambda body: (200, [], 0.0)

    first = customer.says("qwerty")
    assert texts(first) == ["Sorry, I didn't understand that."]
    assert offers_a_person(first[0])
    customer.says("asdfgh")

    assert customer.conversation.handoffs.get().reason_code == Handoff.Reason.NOT_UNDERSTOOD


def test_keywords_hand_off_before_rasa_is_asked(customer, rasa_bot, rasa, agent):
    customer.says("mitarbeiter bitte")

    assert rasa.requests == []
    assert customer.conversation.handoffs.get().reason_code == Handoff.Reason.KEYWORD


def test_rasa_image_and_attachment_answers_go_out_as_media_by_link(customer, rasa_bot, rasa):
    rasa.reply = lambda body: (
        200,
        [
            {"text": "Here is the part", "image": "https://cdn.example.com/part.jpg"},
            {"attachment": {"type": "file", "payload": {"src": "https://cdn.example.com/manual.pdf", "title": "manual.pdf"}}},
            {"attachment": {"type": "audio", "payload": {"url": "https://cdn.example.com/hello.ogg"}}},
        ],
        0.0,
    )

    replies = customer.says("show me")

    assert [(r["type"], r[r["type"]]) for r in replies] == [
        ("image", {"link": "https://cdn.example.com/part.jpg", "caption": "Here is the part"}),
        ("document", {"link": "https://cdn.example.com/manual.pdf", "filename": "manual.pdf"}),
        ("audio", {"link": "https://cdn.example.com/hello.ogg"}),
    ]


def test_a_media_link_whatsapp_would_refuse_goes_as_text(customer, rasa_bot, rasa):
    rasa.reply = lambda body: (200, [{"text": "see", "image": "javascript:alert(1)"}], 0.0)

    replies = customer.says("show me")

    assert texts(replies) == ["see\njavascript:alert(1)"]
