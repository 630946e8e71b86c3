"""The send services' rules: the 24-hour window, WhatsApp's size limits, what a send
records on the conversation, internal notes, and that a refusal records nothing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import time_machine

from conversations.models import Channel, Conversation, Message, Participant
from conversations.services.message_send import (
    SendRefused,
    message_queue_outbound,
    message_send_interactive,
    message_send_note,
    message_send_text,
)
from tests.factories import ConversationFactory, MessageFactory

pytestmark = pytest.mark.django_db

LAST_CUSTOMER_MESSAGE = datetime(2026, 3, 2, 9, 30, 0, tzinfo=UTC)


@pytest.fixture
def conversation(number):
    return ConversationFactory(contact__number=number, last_customer_message_at=LAST_CUSTOMER_MESSAGE)


def test_free_text_allowed_one_second_before_the_window_closes(conversation):
    with time_machine.travel(LAST_CUSTOMER_MESSAGE + timedelta(hours=23, minutes=59, seconds=59), tick=False):
        message = message_send_text(conversation=conversation, text="Still here")

    assert message.status == Message.Status.PENDING
    assert message.direction == Message.Direction.OUTBOUND


def test_free_text_refused_one_second_after_the_window_closes(conversation):
    with (
        time_machine.travel(LAST_CUSTOMER_MESSAGE + timedelta(hours=24, seconds=1), tick=False),
        pytest.raises(SendRefused) as refused,
    ):
        message_send_text(conversation=conversation, text="Too late")

    assert refused.value.code == "window_closed"
    assert "24-hour" in refused.value.detail
    assert "template" in refused.value.detail
    assert not Message.objects.filter(conversation=conversation).exists()
    conversation.refresh_from_db()
    assert conversation.last_message_preview == ""


def test_free_text_refused_when_the_customer_never_wrote(number):
    conversation = ConversationFactory(contact__number=number, last_customer_message_at=None)

    with pytest.raises(SendRefused) as refused:
        message_send_text(conversation=conversation, text="Hello")

    assert refused.value.code == "window_closed"


def test_interactive_refused_outside_the_window(conversation):
    with (
        time_machine.travel(LAST_CUSTOMER_MESSAGE + timedelta(days=2), tick=False),
        pytest.raises(SendRefused) as refused,
    ):
        message_send_interactive(conversation=conversation, body="Pick", buttons=[{"id": "a", "title": "A"}])

    assert refused.value.code == "window_closed"
    assert not Message.objects.exists()


def test_low_level_queue_sends_outside_the_window(conversation):
    with time_machine.travel(LAST_CUSTOMER_MESSAGE + timedelta(days=3), tick=False):
        message = message_queue_outbound(
            conversation=conversation,
            type="template",
            content={"template": {"name": "order_update", "language": {"code": "en", "policy": "deterministic"}}},
            text="order_update",
            sender_kind="system",
            business_initiated=True,
        )

    assert message.status == Message.Status.PENDING
    assert message.business_initiated is True
    assert message.payload["type"] == "template"


def test_text_of_4096_characters_is_accepted_and_4097_refused(conversation):
    with time_machine.travel(LAST_CUSTOMER_MESSAGE + timedelta(hours=1), tick=False):
        assert message_send_text(conversation=conversation, text="a" * 4096).text == "a" * 4096
        with pytest.raises(SendRefused) as refused:
            message_send_text(conversation=conversation, text="a" * 4097)

    assert refused.value.code == "invalid"
    assert "4096" in refused.value.detail
    assert Message.objects.count() == 1


def test_empty_text_is_refused(conversation):
    with time_machine.travel(LAST_CUSTOMER_MESSAGE + timedelta(hours=1), tick=False), pytest.raises(SendRefused) as refused:
        message_send_text(conversation=conversation, text="   ")

    assert refused.value.code == "invalid"


def test_web_chat_replies_go_to_the_visitor_not_through_whatsapp_and_have_no_window(
    conversation, graph, django_capture_on_commit_callbacks
):
    conversation.channel = Channel.WEBCHAT
    conversation.save()

    # Days after the customer's last message: web chat has no 24-hour window.
    with time_machine.travel(LAST_CUSTOMER_MESSAGE + timedelta(days=3), tick=False), \
            django_capture_on_commit_callbacks(execute=True):
        message = message_send_text(conversation=conversation, text="Hi")

    message.refresh_from_db()
    assert message.status == Message.Status.SENT
    assert message.provider_message_id.startswith("webchat-")
    assert graph.sent_messages() == []


def test_templates_are_refused_in_web_chat(conversation):
    conversation.channel = Channel.WEBCHAT
    conversation.save()

    with pytest.raises(SendRefused) as refused:
        message_queue_outbound(
            conversation=conversation, type="template", content={"template": {}}, text="t",
            sender_kind="system", business_initiated=True,
        )

    assert refused.value.code == "invalid"
    assert not Message.objects.exists()


def _button(n: int, title: str = "", id: str = "") -> dict:
    return {"id": id or f"b{n}", "title": title or f"Option {n}"}


def _rows(count: int) -> list[dict]:
    return [{"id": f"r{n}", "title": f"Row {n}"} for n in range(count)]


@pytest.mark.parametrize(
    ("kwargs", "limit"),
    [
        ({"buttons": [_button(n) for n in range(4)]}, "3"),
        ({"buttons": [_button(1, title="x" * 21)]}, "20"),
        ({"buttons": [_button(1, id="x" * 257)]}, "256"),
        ({"buttons": [_button(1)], "body": "x" * 1025}, "1024"),
        ({"buttons": [_button(1)], "footer": "x" * 61}, "60"),
        ({"buttons": [_button(1)], "header": "x" * 61}, "60"),
        ({"sections": [{"title": "A", "rows": _rows(6)}, {"title": "B", "rows": _rows(5)}]}, "10"),
        ({"sections": [{"title": f"S{n}", "rows": [{"id": f"r{n}", "title": "R"}]} for n in range(11)]}, "10"),
        ({"sections": [{"title": "A", "rows": [{"id": "r", "title": "x" * 25}]}]}, "24"),
        ({"sections": [{"title": "A", "rows": [{"id": "r", "title": "R", "description": "x" * 73}]}]}, "72"),
        ({"sections": [{"title": "A", "rows": [{"id": "x" * 201, "title": "R"}]}]}, "200"),
        ({"sections": [{"title": "x" * 25, "rows": _rows(1)}]}, "24"),
        ({"sections": [{"title": "A", "rows": _rows(1)}], "button_label": "x" * 21}, "20"),
    ],
    ids=[
        "four-buttons",
        "button-title",
        "button-id",
        "body",
        "footer",
        "header",
        "eleven-rows",
        "eleven-sections",
        "row-title",
        "row-description",
        "row-id",
        "section-title",
        "list-button",
    ],
)
def test_interactive_limits_are_refused_naming_the_limit(conversation, kwargs, limit):
    kwargs = {"body": "Choose one", **kwargs}
    with time_machine.travel(LAST_CUSTOMER_MESSAGE + timedelta(hours=1), tick=False), pytest.raises(SendRefused) as refused:
        message_send_interactive(conversation=conversation, **kwargs)

    assert refused.value.code == "invalid"
    assert f"at most {limit}" in refused.value.detail
    assert not Message.objects.exists()


def test_interactive_at_every_limit_is_accepted(conversation):
    with time_machine.travel(LAST_CUSTOMER_MESSAGE + timedelta(hours=1), tick=False):
        buttons = message_send_interactive(
            conversation=conversation,
            body="x" * 1024,
            footer="f" * 60,
            header="h" * 60,
            buttons=[_button(n, title=f"{n}" * 20, id=f"{n}" * 256) for n in range(3)],
        )
        listing = message_send_interactive(
            conversation=conversation,
            body="Choose",
            button_label="l" * 20,
            sections=[
                {
                    "title": f"{s}" * 24,
                    "rows": [{"id": f"{s}{r}" + "i" * 198, "title": "t" * 24, "description": "d" * 72} for r in range(5)],
                }
                for s in range(2)
            ],
        )

    assert buttons.payload["interactive"]["type"] == "button"
    assert len(listing.payload["interactive"]["action"]["sections"]) == 2


def test_buttons_and_list_together_are_refused(conversation):
    with time_machine.travel(LAST_CUSTOMER_MESSAGE + timedelta(hours=1), tick=False), pytest.raises(SendRefused) as refused:
        message_send_interactive(
            conversation=conversation, body="Pick", buttons=[_button(1)], sections=[{"title": "A", "rows": _rows(1)}]
        )

    assert refused.value.code == "invalid"


@pytest.fixture
def team_conversation(number, team):
    return ConversationFactory(contact__number=number, team=team, last_customer_message_at=LAST_CUSTOMER_MESSAGE)


def test_agent_reply_records_first_response_once_and_the_preview(team_conversation, agent):
    conversation = team_conversation
    first = LAST_CUSTOMER_MESSAGE + timedelta(minutes=3)
    second = LAST_CUSTOMER_MESSAGE + timedelta(minutes=9)
    with time_machine.travel(first, tick=False):
        message = message_send_text(conversation=conversation, text="Hi, I am Ana.\nHow can I help?", sender_user=agent)
    with time_machine.travel(second, tick=False):
        message_send_text(conversation=conversation, text="Still there?", sender_user=agent)

    conversation.refresh_from_db()
    assert message.sender_kind == Message.SenderKind.AGENT
    assert message.sender_user == agent
    assert conversation.first_response_at == first
    assert conversation.last_agent_message_at == second
    assert conversation.last_activity_at == second
    assert conversation.last_message_preview == "Still there?"


def test_reply_to_a_conversation_assigned_to_someone_else_is_refused_until_joining(team_conversation, agent, teammate):
    Conversation.objects.filter(pk=team_conversation.pk).update(assignee=agent, status=Conversation.Status.ASSIGNED)
    team_conversation.refresh_from_db()

    with time_machine.travel(LAST_CUSTOMER_MESSAGE + timedelta(minutes=5), tick=False):
        with pytest.raises(SendRefused) as refused:
            message_send_text(conversation=team_conversation, text="I can help", sender_user=teammate)
        assert refused.value.code == "forbidden"
        assert "assigned to someone else" in refused.value.detail
        assert not Message.objects.filter(conversation=team_conversation).exists()

        Participant.objects.create(conversation=team_conversation, user=teammate, role=Participant.Role.PARTICIPANT)
        message = message_send_text(conversation=team_conversation, text="I can help", sender_user=teammate)
    assert message.sender_user == teammate


def test_reply_from_someone_who_cannot_see_the_conversation_is_refused(conversation, agent):
    # The conversation has no team: only supervisors and admins see it.
    with time_machine.travel(LAST_CUSTOMER_MESSAGE + timedelta(minutes=5), tick=False), pytest.raises(SendRefused) as refused:
        message_send_text(conversation=conversation, text="Hello", sender_user=agent)
    assert refused.value.code == "forbidden"
    assert not Message.objects.filter(conversation=conversation).exists()


def test_bot_and_system_messages_need_no_reply_permission(team_conversation, agent):
    Conversation.objects.filter(pk=team_conversation.pk).update(assignee=agent, status=Conversation.Status.ASSIGNED)
    team_conversation.refresh_from_db()
    with time_machine.travel(LAST_CUSTOMER_MESSAGE + timedelta(minutes=5), tick=False):
        message = message_send_text(conversation=team_conversation, text="A person joined", sender_kind="system")
    assert message.sender_kind == Message.SenderKind.SYSTEM


def test_bot_message_does_not_count_as_the_first_response(conversation):
    with time_machine.travel(LAST_CUSTOMER_MESSAGE + timedelta(minutes=1), tick=False):
        message_send_interactive(conversation=conversation, body="Menu", buttons=[_button(1)])

    conversation.refresh_from_db()
    assert conversation.first_response_at is None
    assert conversation.last_agent_message_at is None
    assert conversation.last_message_preview.startswith("Menu")


def test_reply_to_a_message_without_provider_id_sends_no_context(conversation):
    note = MessageFactory(conversation=conversation, provider_message_id=None)
    with time_machine.travel(LAST_CUSTOMER_MESSAGE + timedelta(hours=1), tick=False):
        message = message_send_text(conversation=conversation, text="Re", reply_to=note)

    assert message.reply_to_id == note.pk
    assert "context" not in message.payload


def test_reply_to_a_message_of_another_conversation_is_refused(conversation, number):
    elsewhere = MessageFactory(conversation=ConversationFactory(contact__number=number))

    with time_machine.travel(LAST_CUSTOMER_MESSAGE + timedelta(hours=1), tick=False), pytest.raises(SendRefused) as refused:
        message_send_text(conversation=conversation, text="Re", reply_to=elsewhere)

    assert refused.value.code == "invalid"


def test_note_is_internal_and_never_delivered(conversation, agent, graph, django_capture_on_commit_callbacks):
    later = LAST_CUSTOMER_MESSAGE + timedelta(days=5)
    with time_machine.travel(later, tick=False), django_capture_on_commit_callbacks(execute=True):
        note = message_send_note(conversation=conversation, text="Customer is a VIP", author=agent)

    note.refresh_from_db()
    assert note.internal is True
    assert note.type == "note"
    assert note.sender_user == agent
    assert note.status == Message.Status.SENT
    assert note.provider_message_id is None
    assert graph.requests == []
    assert Conversation.objects.get(pk=conversation.pk).first_response_at is None
