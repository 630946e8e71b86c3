"""Receiving a customer's message: identity, the open conversation, reopening, the
window, the desk events, and duplicates that change nothing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from config.realtime import agent_group, conversation_group, team_group
from conversations.events import conversation_groups, follower_ids, with_follower_ids
from conversations.models import Contact, Conversation, ConversationEvent, Message, Participant
from conversations.services.message_receive import conversation_for_contact, message_receive
from tests.factories import ContactFactory, ConversationFactory, MessageFactory, UserFactory
from tests.support import intake as intake_support
from tests.support import webhooks
from tests.support.intake import DeskListener, process

# Shared fixtures of the intake tests.
broker_at = intake_support.broker_at
broker_queue = intake_support.broker_queue
fresh_secrets = intake_support.fresh_secrets
supervisors_listener = intake_support.supervisors_listener

pytestmark = pytest.mark.django_db


@pytest.fixture
def deliver(client, django_capture_on_commit_callbacks, broker_queue):
    def deliver(payload):
        return process(client, payload, django_capture_on_commit_callbacks)

    return deliver


def user_id_only_payload(text: str, user_id: str, name: str = "Handle User") -> dict:
    message = webhooks.text_message(text)
    del message["from"]
    message["from_user_id"] = user_id
    value = webhooks.messages_value([message], name=name)
    value["contacts"] = [{"profile": {"name": name}, "user_id": user_id}]
    return webhooks.envelope(value)


def test_first_message_creates_contact_conversation_and_window(deliver, number):
    sent = int(timezone.now().timestamp()) - 60

    deliver(webhooks.text_payload("hello", wa_id="15550009999", name="Bea", ts=sent))

    contact = Contact.objects.get()
    assert (contact.number, contact.wa_id, contact.profile_name) == (number, "15550009999", "Bea")
    conversation = Conversation.objects.get()
    assert conversation.status == Conversation.Status.BOT
    sent_at = datetime.fromtimestamp(sent, tz=UTC)
    assert conversation.last_customer_message_at == sent_at
    assert conversation.window_expires_at == sent_at + timedelta(hours=24)
    assert conversation.last_message_preview == "hello"
    assert list(conversation.events.values_list("kind", "to_status")) == [("created", "bot")]
    assert Message.objects.get().provider_timestamp == sent_at


def test_later_messages_join_the_open_conversation_and_follow_the_profile_name(deliver, number):
    deliver(webhooks.text_payload("one", name="Bea"))
    deliver(webhooks.text_payload("two", name="Beatriz"))

    assert Conversation.objects.count() == 1
    assert Contact.objects.get().profile_name == "Beatriz"
    assert list(Message.objects.values_list("text", flat=True)) == ["one", "two"]
    assert Conversation.objects.get().last_message_preview == "two"


def test_older_message_arriving_late_does_not_move_the_window_back(deliver, number):
    now = int(timezone.now().timestamp())
    deliver(webhooks.text_payload("newer", ts=now))
    deliver(webhooks.text_payload("older", ts=now - 3600))

    conversation = Conversation.objects.get()
    assert conversation.last_customer_message_at == datetime.fromtimestamp(now, tz=UTC)
    assert conversation.last_message_preview == "newer"


def test_contact_known_only_by_business_scoped_user_id(deliver, number):
    deliver(user_id_only_payload("hi from a username", "US.13491208655302741918"))
    deliver(user_id_only_payload("again", "US.13491208655302741918", name="Renamed"))

    contact = Contact.objects.get()
    assert contact.wa_id == ""
    assert contact.user_id == "US.13491208655302741918"
    assert contact.profile_name == "Renamed"
    assert Message.objects.filter(conversation__contact=contact).count() == 2


def test_user_id_contact_gains_its_phone_number_when_it_appears(deliver, number):
    deliver(user_id_only_payload("first", "US.777"))
    message = webhooks.text_message("now with phone", wa_id="15550001234")
    value = webhooks.messages_value([message], wa_id="15550001234", user_id="US.777")

    deliver(webhooks.envelope(value))

    contact = Contact.objects.get()
    assert (contact.wa_id, contact.user_id) == ("15550001234", "US.777")
    assert Conversation.objects.count() == 1


def test_both_ids_are_stored_for_a_new_contact(deliver, number):
    value = webhooks.messages_value([webhooks.text_message("hi", wa_id="15550004321")], wa_id="15550004321", user_id="US.42")

    deliver(webhooks.envelope(value))

    assert Contact.objects.filter(wa_id="15550004321", user_id="US.42").count() == 1


def test_resolved_conversation_reopens_within_the_reopen_period(deliver, number, settings):
    settings.CONVERSATION_REOPEN_HOURS = 24
    conversation = ConversationFactory(
        contact=ContactFactory(number=number, wa_id="15551234567"),
        status=Conversation.Status.RESOLVED,
        resolved_at=timezone.now() - timedelta(hours=2),
    )

    deliver(webhooks.text_payload("one more thing"))

    conversation.refresh_from_db()
    assert Conversation.objects.count() == 1
    assert conversation.status == Conversation.Status.BOT
    assert conversation.resolved_at is None
    event = conversation.events.get(kind="reopened")
    assert (event.from_status, event.to_status, event.actor_kind) == ("resolved", "bot", "contact")
    assert Message.objects.get().conversation == conversation


def test_resolved_conversation_past_the_reopen_period_starts_a_new_one(deliver, number, settings):
    settings.CONVERSATION_REOPEN_HOURS = 24
    old = ConversationFactory(
        contact=ContactFactory(number=number, wa_id="15551234567"),
        status=Conversation.Status.RESOLVED,
        resolved_at=timezone.now() - timedelta(hours=30),
    )

    deliver(webhooks.text_payload("hello again"))

    old.refresh_from_db()
    assert old.status == Conversation.Status.RESOLVED
    new = Conversation.objects.exclude(pk=old.pk).get()
    assert new.status == Conversation.Status.BOT
    assert new.events.filter(kind="created").exists()
    assert Message.objects.get().conversation == new


def test_duplicate_webhook_in_sequence_changes_nothing(deliver, number):
    payload = webhooks.text_payload("only once", msg_id="wamid.DUPLICATE1")
    deliver(payload)
    conversation = Conversation.objects.get()
    Conversation.objects.filter(pk=conversation.pk).update(status="resolved", resolved_at=timezone.now())

    second = deliver(payload)

    assert second.state == "processed"
    assert Message.objects.count() == 1
    conversation.refresh_from_db()
    assert conversation.status == Conversation.Status.RESOLVED
    assert not ConversationEvent.objects.filter(kind="reopened").exists()


def test_message_receive_returns_none_for_a_duplicate(number, django_capture_on_commit_callbacks, broker_queue):
    item = webhooks.text_message("hi", msg_id="wamid.SAME")
    profile = {"profile": {"name": "Ana"}, "wa_id": item["from"]}

    with django_capture_on_commit_callbacks(execute=True):
        first = message_receive(number=number, profile=profile, message=item)
        again = message_receive(number=number, profile={"profile": {"name": "Changed"}, "wa_id": item["from"]}, message=item)

    assert first is not None and first.text == "hi"
    assert again is None
    assert Contact.objects.get().profile_name == "Ana"
    assert [n for n in broker_queue.names() if n == "bots.tasks.bot_turn"] == ["bots.tasks.bot_turn"]


def test_conversation_with_a_person_gets_no_bot_turn(deliver, number, agent, team, broker_queue):
    ConversationFactory(
        contact=ContactFactory(number=number, wa_id="15551234567"),
        status=Conversation.Status.ASSIGNED,
        assignee=agent,
        team=team,
    )

    deliver(webhooks.text_payload("are you there?"))

    assert Message.objects.get().conversation.status == Conversation.Status.ASSIGNED
    assert "bots.tasks.bot_turn" not in broker_queue.names()


def test_desk_hears_of_the_new_conversation_and_its_message(deliver, number, supervisors_listener):
    deliver(webhooks.text_payload("hello desk", name="Cato"))

    events = supervisors_listener.events()
    message = Message.objects.get()
    by_type = {e["type"]: e for e in events}
    assert set(by_type) == {"message.created", "conversation.created"}
    created = by_type["message.created"]["message"]
    assert created["id"] == message.pk
    assert created["conversation"] == message.conversation_id
    assert (created["direction"], created["sender_kind"], created["type"], created["text"]) == ("in", "contact", "text", "hello desk")
    assert (created["status"], created["internal"]) == ("received", False)
    assert created["created_at"]
    conversation = by_type["conversation.created"]["conversation"]
    assert conversation["id"] == message.conversation_id
    assert (conversation["status"], conversation["contact_name"], conversation["preview"]) == ("bot", "Cato", "hello desk")
    assert conversation["window_expires_at"]
    assert conversation["team"] is None and conversation["assignee"] is None


def test_message_to_an_assigned_conversation_reaches_assignee_team_and_followers(deliver, number, agent, team, outsider):
    conversation = ConversationFactory(
        contact=ContactFactory(number=number, wa_id="15551234567"),
        status=Conversation.Status.ASSIGNED,
        assignee=agent,
        team=team,
    )
    groups = [agent_group(agent.pk), team_group(team.pk), conversation_group(conversation.pk)]
    listeners = [DeskListener([g]) for g in groups]
    elsewhere = DeskListener([agent_group(outsider.pk)])

    deliver(webhooks.text_payload("for my agent"))

    for listener in listeners:
        types = sorted(e["type"] for e in listener.events())
        assert types == ["conversation.updated", "message.created"]
    assert elsewhere.events() == []


def test_message_reaches_the_participants_read_with_the_locked_conversation(deliver, number, agent, team, supervisor,
                                                                            outsider):
    """The receive path reads the conversation's participants in the statement that locks
    the conversation (no query of their own): everyone in it hears of the message, whoever
    left does not."""
    conversation = ConversationFactory(
        contact=ContactFactory(number=number, wa_id="15551234567"),
        status=Conversation.Status.ASSIGNED, assignee=agent, team=team,
    )
    helper = UserFactory(username="helper")
    now = timezone.now()
    Participant.objects.create(conversation=conversation, user=agent, role=Participant.Role.OWNER)
    Participant.objects.create(conversation=conversation, user=supervisor, role=Participant.Role.PARTICIPANT)
    Participant.objects.create(conversation=conversation, user=helper, role=Participant.Role.WATCHER)
    Participant.objects.create(conversation=conversation, user=outsider, role=Participant.Role.PARTICIPANT,
                               left_at=now)
    inside = [DeskListener([agent_group(user.pk)]) for user in (supervisor, helper)]
    gone = DeskListener([agent_group(outsider.pk)])

    with CaptureQueriesContext(connection) as captured:
        deliver(webhooks.text_payload("for everyone in it"))

    for listener in inside:
        created = [e for e in listener.events() if e["type"] == "message.created"]
        assert [e["message"]["text"] for e in created] == ["for everyone in it"]
    assert [e for e in gone.events() if e["type"] == "message.created"] == []
    participant_reads = [q for q in captured.captured_queries if q["sql"].startswith('SELECT "conversations_participant"')]
    assert len(participant_reads) == 1  # the conversation event's read after commit, none per message


def test_participant_ids_read_with_a_row_are_taken_once(number, agent, supervisor):
    conversation = ConversationFactory(contact=ContactFactory(number=number), status=Conversation.Status.ASSIGNED,
                                       assignee=agent)
    Participant.objects.create(conversation=conversation, user=supervisor, role=Participant.Role.PARTICIPANT)
    row = with_follower_ids(Conversation.objects.filter(pk=conversation.pk)).get()
    Participant.objects.filter(conversation=conversation).update(left_at=timezone.now())

    with CaptureQueriesContext(connection) as first:
        assert agent_group(supervisor.pk) in conversation_groups(row, follower_ids(row))  # as read with the row
    with CaptureQueriesContext(connection) as second:
        assert follower_ids(row) is None
        assert agent_group(supervisor.pk) not in conversation_groups(row)  # read afresh: they left
    assert (len(first.captured_queries), len(second.captured_queries)) == (0, 1)


def test_status_reaches_the_conversations_participants(deliver, number, agent, supervisor, outsider):
    conversation = ConversationFactory(contact=ContactFactory(number=number, wa_id="15551234567"),
                                       status=Conversation.Status.ASSIGNED, assignee=agent)
    Participant.objects.create(conversation=conversation, user=supervisor, role=Participant.Role.PARTICIPANT)
    Participant.objects.create(conversation=conversation, user=outsider, role=Participant.Role.PARTICIPANT,
                               left_at=timezone.now())
    MessageFactory(conversation=conversation, direction="out", status="sent", provider_message_id="wamid.FOLLOW1")
    inside, gone = DeskListener([agent_group(supervisor.pk)]), DeskListener([agent_group(outsider.pk)])

    deliver(webhooks.status_payload("wamid.FOLLOW1", "delivered", recipient="15551234567"))

    assert [e["message"]["status"] for e in inside.events() if e["type"] == "message.updated"] == ["delivered"]
    assert gone.events() == []


def test_rolled_back_delivery_publishes_nothing(number, supervisors_listener, django_capture_on_commit_callbacks):
    from django.db import transaction

    item = webhooks.text_message("x", wa_id="15550000001")
    with django_capture_on_commit_callbacks(execute=True), pytest.raises(RuntimeError), transaction.atomic():
        message_receive(number=number, profile={"wa_id": "15550000001"}, message=item)
        raise RuntimeError("the surrounding write failed")

    assert supervisors_listener.events() == []
    assert not Message.objects.exists()


def test_conversation_for_contact_opens_once_and_reuses(number, django_capture_on_commit_callbacks):
    contact = ContactFactory(number=number)

    with django_capture_on_commit_callbacks(execute=True):
        first = conversation_for_contact(contact=contact)
        second = conversation_for_contact(contact=contact)

    assert first == second
    assert first.status == Conversation.Status.BOT
    assert first.events.filter(kind="created").count() == 1
