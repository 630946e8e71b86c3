"""GET and POST /api/v1/conversations/<id>/messages/: reading, replying, notes, refusals."""

from __future__ import annotations

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from conversations.models import Conversation, Message
from tests.api.conftest import join
from tests.factories import MessageFactory


def url(conversation) -> str:
    return f"/api/v1/conversations/{conversation.id}/messages/"


def assign(conversation, user) -> None:
    conversation.assignee = user
    conversation.status = Conversation.Status.ASSIGNED
    conversation.save()


def close_window(conversation) -> None:
    conversation.last_customer_message_at = timezone.now() - timezone.timedelta(hours=25)
    conversation.window_expires_at = conversation.last_customer_message_at + timezone.timedelta(hours=24)
    conversation.save()


def test_messages_include_internal_notes_marked_and_oldest_first(api, agent, teammate, team_conversation):
    inbound = MessageFactory(conversation=team_conversation, text="Where is my <b>order</b>?")
    note = MessageFactory(
        conversation=team_conversation,
        direction="out",
        sender_kind="agent",
        sender_user=teammate,
        type="note",
        internal=True,
        text="VIP customer",
        status="sent",
        provider_message_id=None,
    )
    api.force_authenticate(agent)

    rows = api.get(url(team_conversation)).json()["results"]

    assert [(r["id"], r["internal"]) for r in rows] == [(inbound.id, False), (note.id, True)]
    assert rows[0]["text"] == "Where is my <b>order</b>?"
    assert rows[1]["sender"]["username"] == "teammate"
    assert rows[0]["sender_name"] == "Ada Customer"
    assert rows[1]["whisper"] is False
    assert rows[0]["direction"] == "in" and rows[0]["sender"] is None


def test_messages_after_cursor_returns_only_newer(api, agent, team_conversation):
    first, second, third = (MessageFactory(conversation=team_conversation) for _ in range(3))
    api.force_authenticate(agent)

    rows = api.get(url(team_conversation), {"after": first.id}).json()["results"]

    assert [r["id"] for r in rows] == [second.id, third.id]


def test_outsider_cannot_read_or_post_messages(api, outsider, graph, team_conversation):
    MessageFactory(conversation=team_conversation)
    api.force_authenticate(outsider)

    read = api.get(url(team_conversation))
    post = api.post(url(team_conversation), {"note": "hello"}, format="json")

    assert read.status_code == 404 and read.json()["code"] == "not_found"
    assert post.status_code == 404
    assert not Message.objects.filter(type="note").exists()


def test_anonymous_cannot_post(graph, team_conversation):
    response = APIClient().post(url(team_conversation), {"text": "hi"}, format="json")

    assert response.status_code in (401, 403)
    assert response.json()["code"] == "not_authenticated"
    assert not Message.objects.filter(direction="out").exists()


def test_text_reply_is_delivered_to_graph(
    api, agent, graph, team_conversation, django_capture_on_commit_callbacks
):
    quoted = MessageFactory(conversation=team_conversation, provider_message_id="wamid.QUOTED")
    api.force_authenticate(agent)

    with django_capture_on_commit_callbacks(execute=True):
        response = api.post(url(team_conversation), {"text": "On its way!", "reply_to": quoted.id}, format="json")

    assert response.status_code == 201
    body = response.json()
    assert body["direction"] == "out" and body["sender"]["username"] == "agent"
    assert body["text"] == "On its way!" and body["reply_to"] == quoted.id and body["internal"] is False
    sent = graph.sent_messages()
    assert len(sent) == 1
    assert sent[0]["to"] == team_conversation.contact.wa_id
    assert sent[0]["text"]["body"] == "On its way!"
    assert sent[0]["context"] == {"message_id": "wamid.QUOTED"}
    assert Message.objects.get(pk=body["id"]).status == Message.Status.SENT


def test_note_is_stored_internal_and_never_sent(api, agent, graph, team_conversation, django_capture_on_commit_callbacks):
    api.force_authenticate(agent)

    with django_capture_on_commit_callbacks(execute=True):
        response = api.post(url(team_conversation), {"note": "Customer asked for a refund"}, format="json")

    assert response.status_code == 201
    assert response.json()["internal"] is True and response.json()["type"] == "note"
    assert graph.requests == []


def test_free_text_refused_after_window_closes(api, agent, graph, team_conversation, django_capture_on_commit_callbacks):
    close_window(team_conversation)
    api.force_authenticate(agent)

    with django_capture_on_commit_callbacks(execute=True):
        response = api.post(url(team_conversation), {"text": "Are you still there?"}, format="json")

    assert response.status_code == 409
    assert response.json()["code"] == "window_closed"
    assert "24" in response.json()["detail"]
    assert not Message.objects.filter(direction="out").exists()
    assert graph.requests == []


def test_note_allowed_after_window_closes(api, agent, graph, team_conversation):
    close_window(team_conversation)
    api.force_authenticate(agent)

    response = api.post(url(team_conversation), {"note": "Waiting for the customer"}, format="json")

    assert response.status_code == 201


def test_text_to_someone_elses_conversation_is_forbidden_until_joining(api, agent, teammate, graph, team_conversation):
    assign(team_conversation, teammate)
    api.force_authenticate(agent)

    refused = api.post(url(team_conversation), {"text": "I can help"}, format="json")
    note = api.post(url(team_conversation), {"note": "I can help if needed"}, format="json")
    join(team_conversation, agent)
    allowed = api.post(url(team_conversation), {"text": "I can help"}, format="json")

    assert refused.status_code == 403 and refused.json()["code"] == "forbidden"
    assert note.status_code == 201
    assert allowed.status_code == 201


def test_supervisor_and_admin_may_reply_to_an_assigned_conversation(
    api, supervisor, admin_user, teammate, graph, team_conversation
):
    assign(team_conversation, teammate)

    for user in (supervisor, admin_user):
        api.force_authenticate(user)
        assert api.post(url(team_conversation), {"text": f"Hello from {user}"}, format="json").status_code == 201


@pytest.mark.parametrize(
    "payload",
    [
        {},
        {"text": "a", "note": "b"},
        {"text": "   "},
        {"note": "b", "reply_to": 1},
        {"text": "x" * 4097},
        {"template": {"name": "order_update"}},
    ],
)
def test_malformed_post_is_invalid(api, agent, graph, team_conversation, payload):
    api.force_authenticate(agent)

    response = api.post(url(team_conversation), payload, format="json")

    assert response.status_code == 400
    assert response.json()["code"] == "invalid"
    assert response.json()["detail"]
    assert not Message.objects.exists()


def test_reply_to_a_message_of_another_conversation_is_invalid(api, agent, graph, team_conversation, other_conversation):
    elsewhere = MessageFactory(conversation=other_conversation)
    api.force_authenticate(agent)

    response = api.post(url(team_conversation), {"text": "hi", "reply_to": elsewhere.id}, format="json")

    assert response.status_code == 400
    assert response.json()["code"] == "invalid"
    assert not Message.objects.filter(direction="out").exists()


def test_session_post_needs_csrf_token(agent, graph, team_conversation):
    client = APIClient(enforce_csrf_checks=True)
    client.force_login(agent)

    without = client.post(url(team_conversation), {"note": "n"}, format="json")
    client.get("/admin/login/")  # any page that sets the CSRF cookie
    token = client.cookies["csrftoken"].value
    with_token = client.post(url(team_conversation), {"note": "n"}, format="json", HTTP_X_CSRFTOKEN=token)

    assert without.status_code == 403 and without.json()["code"] == "forbidden"
    assert "CSRF" in without.json()["detail"]
    assert with_token.status_code == 201


def test_messages_query_count_stays_constant(api, agent, teammate, team_conversation, django_assert_max_num_queries):
    api.force_authenticate(agent)

    def add(count):
        for _ in range(count):
            MessageFactory(conversation=team_conversation, direction="out", sender_kind="agent", sender_user=teammate)

    add(2)
    with django_assert_max_num_queries(5):
        assert api.get(url(team_conversation)).json()["count"] == 2
    add(20)
    with django_assert_max_num_queries(5):
        assert api.get(url(team_conversation)).json()["count"] == 22


def test_whisper_is_marked_apart_from_a_plain_note(api, agent, teammate, team_conversation):
    MessageFactory(
        conversation=team_conversation,
        direction="out",
        sender_kind="agent",
        sender_user=teammate,
        type="note",
        internal=True,
        text="Offer the discount",
        status="sent",
        provider_message_id=None,
        payload={"whisper": True, "to": None},
    )
    api.force_authenticate(agent)

    row = api.get(url(team_conversation)).json()["results"][0]

    assert row["internal"] is True and row["whisper"] is True
