"""Hot reads compiled once (config.compiled_reads): the same rows as the queryset they
are written from, for each call's own arguments."""

from __future__ import annotations

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from config.compiled_reads import CompiledRead
from conversations.events import FOLLOWER_IDS, with_follower_ids
from conversations.models import Contact, Conversation, Participant
from tests.factories import ContactFactory, ConversationFactory

pytestmark = pytest.mark.django_db


def test_each_call_reads_its_own_arguments_with_sql_built_once(number):
    ana = ContactFactory(number=number, wa_id="15550001111", profile_name="Ana", attributes={"plan": "gold"},
                         tags=["vip"])
    ContactFactory(number=number, wa_id="15550002222", profile_name="Ben")
    built: list[tuple] = []

    def build(number_id, wa_id):
        built.append((number_id, wa_id))
        return Contact.objects.filter(number_id=number_id, wa_id=wa_id)

    read = CompiledRead(build, int, str)
    first = read.first(number.pk, "15550001111")
    second = read.first(number.pk, "15550002222")
    missing = read.first(number.pk, "15550003333")

    assert len(built) == 1  # compiled on the first call only
    assert (first.pk, first.profile_name, second.profile_name, missing) == (ana.pk, "Ana", "Ben", None)
    # Converted by the model's fields as the ORM converts them.
    expected = Contact.objects.get(pk=ana.pk)
    assert (first.attributes, first.tags, first.created_at) == (expected.attributes, expected.tags, expected.created_at)
    assert first._state.db == "default" and not first._state.adding


def test_order_and_annotations_follow_the_queryset(number, agent):
    contact = ContactFactory(number=number)
    older = ConversationFactory(contact=contact, status=Conversation.Status.RESOLVED)
    ConversationFactory(contact=contact, status=Conversation.Status.RESOLVED)
    Participant.objects.create(conversation=older, user=agent, role=Participant.Role.PARTICIPANT)
    Conversation.objects.filter(pk=older.pk).update(last_activity_at=older.last_activity_at.replace(year=2099))
    read = CompiledRead(lambda contact_id: with_follower_ids(Conversation.objects.filter(contact_id=contact_id)), int)

    row = read.first(contact.pk)

    assert row.pk == older.pk  # the model's ordering: the latest activity first
    assert row.__dict__[FOLLOWER_IDS] == str(agent.pk)


def test_a_locking_read_locks(number):
    contact = ContactFactory(number=number)
    ConversationFactory(contact=contact)
    read = CompiledRead(lambda contact_id: Conversation.objects.select_for_update().filter(contact_id=contact_id), int)

    with transaction.atomic(), CaptureQueriesContext(connection) as captured:
        assert read.first(contact.pk) is not None

    locked = [q["sql"] for q in captured.captured_queries if "conversations_conversation" in q["sql"]]
    assert len(locked) == 1
    assert locked[0].endswith("FOR UPDATE") == connection.features.has_select_for_update


def test_a_read_that_does_not_pass_its_argument_as_a_parameter_is_refused(number):
    read = CompiledRead(lambda wa_id: Contact.objects.filter(wa_id="15550001111"), str)
    with pytest.raises(ImproperlyConfigured, match="did not all reach its SQL"):
        read.first("15550002222")


def test_related_rows_are_refused(number):
    read = CompiledRead(lambda pk: Conversation.objects.select_related("contact").filter(pk=pk), int)
    with pytest.raises(ImproperlyConfigured, match="no related rows"):
        read.first(1)
