"""Conference chats through the API: join, leave, whisper, take over, silent watch, and
marking a conversation seen; each with who may and may not, and what the customer gets."""

from __future__ import annotations

import pytest
from django.utils import timezone

from agents.models import AgentProfile
from conversations.models import ConversationEvent, Message, Participant
from tests.factories import ConversationFactory, MessageFactory


@pytest.fixture
def conversation(team, number, agent):
    team.announce_participants = True
    team.save(update_fields=["announce_participants"])
    conv = ConversationFactory(team=team, contact__number=number, status="assigned", assignee=agent, queued_at=timezone.now())
    Participant.objects.create(conversation=conv, user=agent, role=Participant.Role.OWNER)
    return conv


def _post(api, user, conversation, action, body=None):
    api.force_authenticate(user)
    return api.post(f"/api/v1/conversations/{conversation.pk}/{action}/", body or {}, format="json")


def _customer_texts(graph):
    return [m["text"]["body"] for m in graph.sent_messages() if m.get("type") == "text"]


@pytest.mark.django_db(transaction=True)
def test_supervisor_joins_visibly_and_the_customer_is_told(api, supervisor, conversation, graph):
    response = _post(api, supervisor, conversation, "join")
    assert response.status_code == 200, response.content
    assert response.json()["role"] == "participant"
    assert Participant.objects.filter(conversation=conversation, user=supervisor, left_at__isnull=True).exists()
    assert ConversationEvent.objects.filter(conversation=conversation, kind="participant_joined", actor=supervisor).exists()
    assert any("joined the conversation" in text for text in _customer_texts(graph))


@pytest.mark.django_db(transaction=True)
def test_join_is_not_announced_when_the_team_says_so(api, supervisor, conversation, team, graph):
    team.announce_participants = False
    team.save(update_fields=["announce_participants"])
    assert _post(api, supervisor, conversation, "join").status_code == 200
    assert _customer_texts(graph) == []


def test_outsider_cannot_join_or_whisper(api, outsider, conversation):
    assert _post(api, outsider, conversation, "join").status_code == 404
    assert _post(api, outsider, conversation, "whisper", {"text": "hi"}).status_code == 404
    assert not Participant.objects.filter(user=outsider).exists()


@pytest.mark.django_db(transaction=True)
def test_whisper_is_an_internal_note_the_customer_never_receives(api, supervisor, conversation, graph):
    response = _post(api, supervisor, conversation, "whisper", {"text": "Offer the refund"})
    assert response.status_code == 200, response.content
    note = Message.objects.get(pk=response.json()["message"])
    assert note.internal is True
    assert note.payload["whisper"] is True
    assert note.sender_user == supervisor
    assert "Offer the refund" not in str(graph.sent_messages())
    assert ConversationEvent.objects.filter(conversation=conversation, kind="whisper", actor=supervisor).exists()


def test_empty_whisper_is_refused(api, supervisor, conversation):
    response = _post(api, supervisor, conversation, "whisper", {"text": "   "})
    assert response.status_code == 400


def test_owner_cannot_leave_without_handing_over(api, agent, conversation):
    response = _post(api, agent, conversation, "leave")
    assert response.status_code == 409
    assert response.json()["code"] == "owner_must_transfer"


@pytest.mark.django_db(transaction=True)
def test_participant_leaves_and_the_timeline_records_it(api, supervisor, conversation):
    _post(api, supervisor, conversation, "join")
    assert _post(api, supervisor, conversation, "leave").status_code == 200
    assert not Participant.objects.filter(conversation=conversation, user=supervisor, left_at__isnull=True).exists()
    assert ConversationEvent.objects.filter(conversation=conversation, kind="participant_left").exists()


@pytest.mark.django_db(transaction=True)
def test_takeover_moves_ownership_and_keeps_the_previous_owner(api, supervisor, agent, conversation):
    response = _post(api, supervisor, conversation, "takeover")
    assert response.status_code == 200, response.content
    conversation.refresh_from_db()
    assert conversation.assignee == supervisor
    assert Participant.objects.get(conversation=conversation, user=agent, left_at__isnull=True).role == "participant"
    assert Participant.objects.get(conversation=conversation, user=supervisor, left_at__isnull=True).role == "owner"
    assert ConversationEvent.objects.filter(conversation=conversation, kind="takeover", actor=supervisor).exists()


def test_takeover_respects_capacity(api, supervisor, conversation):
    AgentProfile.objects.update_or_create(user=supervisor, defaults={"capacity": 0})
    response = _post(api, supervisor, conversation, "takeover")
    assert response.status_code == 409
    assert response.json()["code"] == "over_capacity"
    conversation.refresh_from_db()
    assert conversation.assignee_id != supervisor.pk


def test_agents_cannot_take_over_or_watch(api, teammate, conversation):
    assert _post(api, teammate, conversation, "takeover").status_code == 403
    assert _post(api, teammate, conversation, "watch").status_code == 403


@pytest.mark.django_db(transaction=True)
def test_opening_marks_the_customers_messages_read_on_whatsapp(api, agent, conversation, graph):
    first = MessageFactory(conversation=conversation)
    last = MessageFactory(conversation=conversation)
    response = _post(api, agent, conversation, "seen")
    assert response.json()["marked"] == 2
    assert not Message.objects.filter(pk__in=[first.pk, last.pk], read_at__isnull=True).exists()
    reads = [r.body for r in graph.requests if isinstance(r.body, dict) and r.body.get("status") == "read"]
    assert [r["message_id"] for r in reads] == [last.provider_message_id]
    assert _post(api, agent, conversation, "seen").json()["marked"] == 0


@pytest.mark.django_db(transaction=True)
def test_silent_watch_sends_no_read_receipt(api, supervisor, conversation, graph):
    message = MessageFactory(conversation=conversation)
    assert _post(api, supervisor, conversation, "watch").json()["role"] == "watcher"
    assert _post(api, supervisor, conversation, "seen").json()["marked"] == 0
    message.refresh_from_db()
    assert message.read_at is None
    assert not [r for r in graph.requests if isinstance(r.body, dict) and r.body.get("status") == "read"]
    assert ConversationEvent.objects.filter(conversation=conversation, kind="watch_started", actor=supervisor).exists()
    assert _customer_texts(graph) == []


@pytest.mark.django_db(transaction=True)
def test_whisper_is_labelled_as_such_in_the_api_and_the_desk_event(api, supervisor, conversation):
    from conversations.events import message_event

    response = _post(api, supervisor, conversation, "whisper", {"text": "Check the invoice"})
    note = Message.objects.get(pk=response.json()["message"])
    listed = api.get(f"/api/v1/conversations/{conversation.pk}/messages/").json()["results"]

    assert [m["whisper"] for m in listed if m["id"] == note.pk] == [True]
    assert message_event(note)["message"]["whisper"] is True
    plain = Message.objects.create(
        conversation=conversation, direction="out", sender_kind="agent", type="note", internal=True, text="n", status="sent"
    )
    assert message_event(plain)["message"]["whisper"] is False
