"""CSAT after resolve: asked with reply buttons only inside the window; the tap is stored."""

from datetime import timedelta

from django.utils import timezone

from agents.services.csat import csat_record_reply
from agents.services.desk_actions import conversation_resolve
from conversations.models import Conversation, ConversationEvent, Message
from tests.agents.conftest import make_agent
from tests.factories import ConversationFactory, MessageFactory
from tests.support import webhooks


def resolved_by(agent, conversation, capture):
    with capture(execute=True):
        conversation_resolve(conversation=conversation, actor=agent)
    conversation.refresh_from_db()
    return conversation


def held(number, team, agent, **kwargs):
    return ConversationFactory(
        contact__number=number, number=number, team=team, status="assigned", assignee=agent, **kwargs
    )


def inbound_button(conversation, button_id, title):
    raw = webhooks.button_reply_payload(button_id, title)["entry"][0]["changes"][0]["value"]["messages"][0]
    return MessageFactory(conversation=conversation, type="interactive", text=title, payload=raw,
                          provider_message_id=raw["id"])


def test_rating_question_is_sent_inside_the_window(db, graph, number, team, django_capture_on_commit_callbacks):
    agent = make_agent(team, "rater")
    conversation = resolved_by(agent, held(number, team, agent), django_capture_on_commit_callbacks)
    assert conversation.csat_requested_at is not None
    sent = graph.sent_messages()
    assert len(sent) == 1
    interactive = sent[0]["interactive"]
    assert interactive["type"] == "button"
    buttons = [b["reply"] for b in interactive["action"]["buttons"]]
    assert [b["title"] for b in buttons] == ["Good", "OK", "Bad"]
    assert buttons[0]["id"] == f"csat:{conversation.pk}:3"
    question = Message.objects.get(conversation=conversation, direction="out")
    assert question.sender_kind == "system"


def test_no_rating_question_outside_the_window(db, graph, number, team, django_capture_on_commit_callbacks):
    agent = make_agent(team, "late_rater")
    conversation = held(number, team, agent, last_customer_message_at=timezone.now() - timedelta(hours=25))
    conversation = resolved_by(agent, conversation, django_capture_on_commit_callbacks)
    assert conversation.csat_requested_at is None
    assert graph.sent_messages() == []
    assert not Message.objects.filter(conversation=conversation, direction="out").exists()


def test_team_can_switch_ratings_off(db, graph, number, team, django_capture_on_commit_callbacks):
    team.csat_enabled = False
    team.save()
    agent = make_agent(team, "no_rating")
    conversation = resolved_by(agent, held(number, team, agent), django_capture_on_commit_callbacks)
    assert conversation.csat_requested_at is None
    assert graph.sent_messages() == []


def test_rating_is_asked_once_even_if_the_task_runs_twice(db, graph, number, team, django_capture_on_commit_callbacks):
    from agents.tasks import csat_request

    agent = make_agent(team, "twice")
    conversation = resolved_by(agent, held(number, team, agent), django_capture_on_commit_callbacks)
    with django_capture_on_commit_callbacks(execute=True):
        assert csat_request.apply(kwargs={"conversation_id": conversation.pk}).get() is False
    assert len(graph.sent_messages()) == 1


def test_button_reply_stores_the_score(db, graph, number, team, django_capture_on_commit_callbacks):
    agent = make_agent(team, "scored")
    conversation = resolved_by(agent, held(number, team, agent), django_capture_on_commit_callbacks)
    reply = inbound_button(conversation, f"csat:{conversation.pk}:2", "OK")
    assert csat_record_reply(message=reply) is True
    conversation.refresh_from_db()
    assert conversation.csat_score == 2
    event = ConversationEvent.objects.get(conversation=conversation, kind="csat.recorded")
    assert event.data["score"] == 2


def test_other_messages_are_not_taken_for_a_rating(db, graph, number, team, django_capture_on_commit_callbacks):
    agent = make_agent(team, "unrated")
    conversation = resolved_by(agent, held(number, team, agent), django_capture_on_commit_callbacks)
    text = MessageFactory(conversation=conversation, text="3", payload={"type": "text", "text": {"body": "3"}})
    other_button = inbound_button(conversation, "menu:orders", "Orders")
    assert csat_record_reply(message=text) is False
    assert csat_record_reply(message=other_button) is False
    conversation.refresh_from_db()
    assert conversation.csat_score is None


def test_rating_for_another_customers_conversation_is_ignored(
    db, graph, number, team, django_capture_on_commit_callbacks
):
    agent = make_agent(team, "guard")
    mine = resolved_by(agent, held(number, team, agent), django_capture_on_commit_callbacks)
    stranger = ConversationFactory(contact__number=number, number=number, status="bot")
    forged = inbound_button(stranger, f"csat:{mine.pk}:1", "Bad")
    assert csat_record_reply(message=forged) is False
    assert Conversation.objects.get(pk=mine.pk).csat_score is None
