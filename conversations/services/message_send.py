"""Sending: the rules for what may go out, and the pending record that delivery picks up.

A send service checks the rules (the 24-hour window for free-form messages, WhatsApp's
size limits), records the message as `pending` in one transaction and enqueues its
delivery after commit. Nothing is recorded when a send is refused. A web chat message
has no provider to call: it is recorded `sent` at once and its frame goes to the
visitor's socket on commit (`message_delivery.webchat_message_push`), with no task hop.

Delivery itself, the sweep, read receipts and the typing indicator live in
`conversations.services.message_delivery`; a message's terminal failure in `conversations.services.delivery_outcomes`.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import User
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext, gettext_noop

from config import task_names
from config.batch_scope import batch_scope
from config.bulk_rows import rows_update
from config.refusals import Refused
from config.tasking import enqueue_on_commit
from conversations import access
from conversations.events import publish_message
from conversations.models import Channel, Conversation, Message, MessageMedia
from conversations.providers import webchat
from conversations.providers.whatsapp import (
    InvalidBody,
    interactive_content,
    interactive_summary,
    text_content,
)
from conversations.services.message_delivery import LEASE, webchat_message_push
from conversations.services.webhook_outbox import EventType, webhook_message_event, webhook_message_events

__all__ = [
    "SendRefused",
    "check_channel",
    "check_window",
    "message_queue_outbound",
    "message_send_interactive",
    "message_send_note",
    "message_send_text",
    "messages_queue_templates",
    "reply_permission_check",
]

PREVIEW_LENGTH = 200


class SendRefused(Refused):
    """A send the rules forbid. `code`: window_closed, not_opted_in, template_not_approved,
    template_invalid, forbidden or invalid; `detail`: a sentence for the person sending."""

    def __str__(self) -> str:
        return f"{self.code}: {self.detail}"


WINDOW_CLOSED_DETAIL = gettext_noop(
    "More than 24 hours have passed since the customer's last message. WhatsApp's 24-hour "
    "customer-service window is closed, so only an approved template can be sent."
)


def reply_permission_check(*, user: Any, conversation: Conversation, roles: access.Roles | None = None) -> None:
    """Refuse (`forbidden`, with the rule's sentence) a person's reply that the access rule
    does not allow (`conversations.access`, action `reply`): to a conversation assigned to
    somebody else it needs a part in it or oversight of its team. `roles`: the user's, when
    the caller has read them already this request (`access.request_roles`)."""
    if roles is None or roles.user_id != getattr(user, "pk", None):
        roles = access.roles_for(user)
    shape = access.conversation_shape(conversation)
    if not access.may_act(roles, shape, "reply"):
        raise SendRefused("forbidden", access.refusal(roles, shape, "reply") or access.NOT_SENDER)


def check_window(conversation: Conversation) -> None:
    if not conversation.window_open():
        raise SendRefused("window_closed", WINDOW_CLOSED_DETAIL)


def check_channel(conversation: Conversation, *, business_initiated: bool = False) -> None:
    """WhatsApp and web chat conversations take the same bodies (a web chat visitor sees
    interactive menus as buttons); templates and campaigns are WhatsApp's only."""
    if conversation.channel not in (Channel.WHATSAPP, Channel.WEBCHAT):
        raise SendRefused("invalid", gettext("Messages in %(channel)s conversations cannot be sent.")
                          % {"channel": conversation.get_channel_display()})
    if business_initiated and conversation.channel != Channel.WHATSAPP:
        raise SendRefused("invalid", gettext("Templates are sent on WhatsApp only; reply to a web chat visitor with text."))


def _check_reply_to(conversation: Conversation, reply_to: Message | None) -> None:
    if reply_to is not None and reply_to.conversation_id != conversation.pk:
        raise SendRefused("invalid", gettext("A reply must quote a message of the same conversation."))


def message_queue_outbound(
    *,
    conversation: Conversation,
    type: str,
    content: dict[str, Any],
    text: str,
    sender_kind: str,
    sender_user: User | None = None,
    business_initiated: bool = False,
    reply_to: Message | None = None,
    media: MessageMedia | None = None,
    deliver: bool = True,
) -> Message:
    """Record a pending outbound message and enqueue its delivery after commit.

    Low level (templates use it): no window check. `content` is the Graph body minus
    messaging_product/recipient_type/to; a `context` is added when `reply_to` has a
    provider id. `media`: the unsaved media row of a file to send (its file already in
    storage), saved with the message. Publishes `message.created` after commit.
    `deliver=False`: the caller enqueues the delivery itself (a campaign's batch goes out
    as one delivery task, `task_names.MESSAGES_DELIVER`)."""
    check_channel(conversation, business_initiated=business_initiated)
    _check_reply_to(conversation, reply_to)
    if sender_kind not in (Message.SenderKind.AGENT, Message.SenderKind.BOT, Message.SenderKind.SYSTEM):
        raise SendRefused("invalid", f"An outbound message cannot be sent as '{sender_kind}'.")
    content = dict(content)
    content.setdefault("type", type)
    if reply_to is not None and reply_to.provider_message_id:
        content["context"] = {"message_id": reply_to.provider_message_id}
    now = timezone.now()
    # A web chat message is delivered by its commit (the visitor's socket, or their
    # catch-up from the database): stored `sent`, one event, no delivery task. An erased
    # visitor's goes the usual way, where delivery marks it failed.
    at_once = conversation.channel == Channel.WEBCHAT and not conversation.contact.is_erased
    with transaction.atomic():
        message = Message.objects.create(
            conversation=conversation,
            direction=Message.Direction.OUTBOUND,
            sender_kind=sender_kind,
            sender_user=sender_user,
            type=type,
            business_initiated=business_initiated,
            text=text,
            payload=content,
            reply_to=reply_to,
            status=Message.Status.SENT if at_once else Message.Status.PENDING,
            provider_message_id=webchat.provider_message_id() if at_once else None,
            sent_at=now if at_once else None,
            next_attempt_at=None if at_once else now + LEASE,
            created_at=now,
        )
        if media is not None:
            media.message = message
            media.save()
            message.media = media
        _conversation_touch(conversation, text=text, sender_kind=sender_kind, at=now)
        publish_message(message, "message.created")
        if at_once:
            webhook_message_events(types=[EventType.MESSAGE_CREATED, EventType.MESSAGE_STATUS], message=message)
            webchat_message_push(message)
        else:
            webhook_message_event(type=EventType.MESSAGE_CREATED, message=message)
            if deliver:
                enqueue_on_commit(task_names.MESSAGE_DELIVER, message_id=message.pk)
    return message


def messages_queue_templates(*, items: list[tuple[Conversation, dict[str, Any], str]]) -> list[Message]:
    """`message_queue_outbound` for many business-initiated template messages from the
    system at once (a campaign's batch): `items` are (conversation, content, text), one
    per conversation. Same rules and records: each pending message with its lease, its
    conversation's activity and preview, `message.created` after commit and the outgoing
    webhook event; written with one insert and one update of the conversations. The
    caller enqueues their delivery (`task_names.MESSAGES_DELIVER`). Refuses (SendRefused)
    before writing anything."""
    for conversation, _content, _text in items:
        check_channel(conversation, business_initiated=True)
    now = timezone.now()
    with transaction.atomic(), batch_scope():  # the webhook endpoints read once for the batch
        messages = Message.objects.bulk_create([
            Message(conversation=conversation, direction=Message.Direction.OUTBOUND,
                    sender_kind=Message.SenderKind.SYSTEM, type="template", business_initiated=True, text=text,
                    payload={**content, "type": content.get("type", "template")}, status=Message.Status.PENDING,
                    next_attempt_at=now + LEASE, created_at=now)
            for conversation, content, text in items
        ])
        touched: dict[int, dict[str, Any]] = {}
        for message, (conversation, _content, text) in zip(messages, items, strict=True):
            conversation.last_activity_at = now
            conversation.last_message_preview = _preview(text)
            touched[conversation.pk] = {"last_activity_at": now, "last_message_preview": conversation.last_message_preview}
            message.conversation = conversation
        rows_update(Conversation, "id", touched)
        for message in messages:
            publish_message(message, "message.created")
            webhook_message_event(type=EventType.MESSAGE_CREATED, message=message)
    return messages


def _preview(text: str) -> str:
    """A conversation's preview of a message: its text on one line, cut to PREVIEW_LENGTH."""
    return " ".join(text.split())[:PREVIEW_LENGTH]


def _conversation_touch(conversation: Conversation, *, text: str, sender_kind: str, at) -> None:
    """Activity, preview and the agent response times, by conditional updates so concurrent
    writers of other fields are not overwritten."""
    fields: dict[str, Any] = {"last_activity_at": at, "last_message_preview": _preview(text)}
    if sender_kind == Message.SenderKind.AGENT:
        fields["last_agent_message_at"] = at
    Conversation.objects.filter(pk=conversation.pk).update(**fields)
    for name, value in fields.items():
        setattr(conversation, name, value)
    # The first response is set once; a conversation read with it set needs no update.
    if (
        sender_kind == Message.SenderKind.AGENT
        and conversation.first_response_at is None
        and Conversation.objects.filter(pk=conversation.pk, first_response_at__isnull=True).update(first_response_at=at)
    ):
        conversation.first_response_at = at


def message_send_text(
    *,
    conversation: Conversation,
    text: str,
    sender_kind: str = "agent",
    sender_user: User | None = None,
    reply_to: Message | None = None,
    roles: access.Roles | None = None,
) -> Message:
    """A free-form text (≤ 4096 characters) inside the 24-hour window; refused
    `window_closed` outside it and `invalid` when too long or empty. A person's reply
    (`sender_user` given, sent as an agent) is first refused `forbidden` when they may not
    reply (`reply_permission_check`, with the sender's `roles` when already read)."""
    if sender_user is not None and sender_kind == Message.SenderKind.AGENT:
        reply_permission_check(user=sender_user, conversation=conversation, roles=roles)
    check_channel(conversation)
    check_window(conversation)
    try:
        content = text_content(text)
    except InvalidBody as exc:
        raise SendRefused("invalid", str(exc)) from exc
    return message_queue_outbound(
        conversation=conversation,
        type="text",
        content=content,
        text=content["text"]["body"],
        sender_kind=sender_kind,
        sender_user=sender_user,
        reply_to=reply_to,
    )


def message_send_interactive(
    *,
    conversation: Conversation,
    body: str,
    buttons: list[dict] | None = None,
    sections: list[dict] | None = None,
    button_label: str = "Choose",
    header: str = "",
    footer: str = "",
    sender_kind: str = "bot",
) -> Message:
    """Reply buttons (`[{"id", "title"}]`, ≤ 3) or a list (`[{"title", "rows": [{"id",
    "title", "description"}]}]`, ≤ 10 rows in all) inside the window. Every WhatsApp
    limit is checked first; a broken one is refused `invalid`, naming the limit."""
    check_channel(conversation)
    check_window(conversation)
    try:
        content = interactive_content(
            body=body, buttons=buttons, sections=sections, button_label=button_label, header=header, footer=footer
        )
    except InvalidBody as exc:
        raise SendRefused("invalid", str(exc)) from exc
    return message_queue_outbound(
        conversation=conversation,
        type="interactive",
        content=content,
        text=interactive_summary(content),
        sender_kind=sender_kind,
    )


def message_send_note(*, conversation: Conversation, text: str, author: User) -> Message:
    """An internal note: visible to agents only, never delivered. It is stored as `sent`
    (final, with no provider id) so no delivery or sweep ever picks it up."""
    text = (text or "").strip()
    if not text:
        raise SendRefused("invalid", gettext("The note is empty."))
    now = timezone.now()
    with transaction.atomic():
        message = Message.objects.create(
            conversation=conversation,
            direction=Message.Direction.OUTBOUND,
            sender_kind=Message.SenderKind.AGENT,
            sender_user=author,
            type="note",
            internal=True,
            text=text,
            status=Message.Status.SENT,
            sent_at=now,
            created_at=now,
        )
        Conversation.objects.filter(pk=conversation.pk).update(last_activity_at=now)
        conversation.last_activity_at = now
        publish_message(message, "message.created")
    return message
