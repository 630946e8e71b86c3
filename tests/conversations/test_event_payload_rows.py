"""The conversation event built at commit reads the conversation narrowly
(`conversation_for_event`): the payload and the groups it goes to are the same as from the
full rows (`with_payload_rows`), in two queries, without a deferred field loaded later."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from conversations.events import conversation_event, conversation_groups
from conversations.models import Channel, Conversation, Participant
from conversations.payloads import conversation_for_event, conversation_payload, with_payload_rows
from tests.factories import ContactFactory, ConversationFactory, TeamFactory, UserFactory

pytestmark = pytest.mark.django_db


def _full(pk: int) -> Conversation:
    return with_payload_rows(Conversation.objects.filter(pk=pk)).get()


def _assert_same(pk: int, django_assert_num_queries) -> dict:
    expected = conversation_payload(_full(pk))
    expected_groups = conversation_groups(_full(pk))
    with django_assert_num_queries(2):
        narrow = conversation_for_event(pk)
        payload = conversation_payload(narrow)
        groups = conversation_groups(narrow)
        conversation_event(narrow)
    assert payload == expected
    assert groups == expected_groups
    return payload


def test_an_assigned_team_conversation_with_participants_reads_the_same(django_assert_num_queries):
    team = TeamFactory(name="Billing")
    owner = UserFactory(username="owner-a", first_name="Olga", last_name="Ruiz")
    helper = UserFactory(username="helper-b", first_name="", last_name="")
    gone = UserFactory(username="gone-c")
    now = timezone.now()
    conversation = ConversationFactory(
        status=Conversation.Status.ASSIGNED, assignee=owner, team=team, priority=2, on_hold=True,
        contact__profile_name="Ana Souza", last_message_preview="the part is broken",
        last_customer_message_at=now - timedelta(hours=1), queued_at=now - timedelta(minutes=30),
        first_response_due_at=now + timedelta(minutes=5), sla_breached_at=now,
    )
    Participant.objects.create(conversation=conversation, user=owner, role=Participant.Role.OWNER,
                               joined_at=now - timedelta(minutes=3))
    Participant.objects.create(conversation=conversation, user=helper, role=Participant.Role.WATCHER,
                               joined_at=now - timedelta(minutes=2))
    Participant.objects.create(conversation=conversation, user=gone, joined_at=now - timedelta(minutes=1),
                               left_at=now)

    payload = _assert_same(conversation.pk, django_assert_num_queries)

    assert payload["team_name"] == "Billing"
    assert payload["assignee_name"] == "Olga Ruiz"
    assert [p["username"] for p in payload["participants"]] == ["owner-a", "helper-b"]
    assert payload["participants"][1]["name"] == "helper-b"
    assert payload["window_open"] is True


def test_a_bot_conversation_without_team_or_assignee_reads_the_same(django_assert_num_queries):
    conversation = ConversationFactory(contact__profile_name="", contact__wa_id="15550009999")

    payload = _assert_same(conversation.pk, django_assert_num_queries)

    assert payload["team_name"] == "" and payload["assignee_name"] == ""
    assert payload["contact_name"] == "15550009999"
    assert payload["participants"] == []


def test_a_web_chat_conversation_reads_the_same(django_assert_num_queries):
    contact = ContactFactory(profile_name="", wa_id="", user_id="visitor-7")
    conversation = ConversationFactory(contact=contact, channel=Channel.WEBCHAT, resolved_at=timezone.now(),
                                       status=Conversation.Status.RESOLVED)

    payload = _assert_same(conversation.pk, django_assert_num_queries)

    assert payload["contact_name"] == "Web visitor"
    assert payload["window_expires_at"] is None


def test_a_conversation_gone_by_commit_gives_nothing():
    assert conversation_for_event(10**9) is None
