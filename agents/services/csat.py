"""Customer satisfaction: after a resolve, while the window is open, the customer gets a
rating question with three reply buttons; their tap is stored on the conversation.

Button ids are `csat:<conversation id>:<score>` with scores 3 (Good), 2 (OK), 1 (Bad).
`csat_rated_conversation` and `csat_record_reply` are registered as an inbound hook
(agents.apps): a tap is stored on the resolved conversation it rates, never reopening it.
"""

from __future__ import annotations

import re
from typing import Any

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext, gettext_noop

from conversations.events import publish_conversation
from conversations.languages import speaking_to
from conversations.models import Contact, Conversation, Message
from conversations.processing.summaries import as_dict
from conversations.services.message_send import SendRefused, message_send_interactive
from conversations.services.timeline import conversation_event_record
from conversations.services.webhook_outbox import EventType, webhook_conversation_event

# English labels (records, events); customers get them in their language (csat_buttons).
QUESTION = gettext_noop("How did we do? Please rate the help you got.")
CHOICES = [(3, gettext_noop("Good")), (2, gettext_noop("OK")), (1, gettext_noop("Bad"))]
BUTTON_ID = re.compile(r"^csat:(\d+):([1-3])$")


def csat_buttons(conversation: Conversation) -> list[dict[str, str]]:
    """The rating buttons, titled in the active language (`speaking_to` the customer)."""
    return [{"id": f"csat:{conversation.pk}:{score}", "title": gettext(title)} for score, title in CHOICES]


def csat_request(*, conversation_id: int) -> bool:
    """Ask for a rating once: only for a resolved conversation whose team wants ratings,
    while the window is open. `csat_requested_at` is claimed with a compare-and-set before
    sending, so a repeated run sends nothing."""
    conversation = (
        Conversation.objects.select_related("team", "contact__number").filter(pk=conversation_id).first()
    )
    if conversation is None or conversation.status != Conversation.Status.RESOLVED:
        return False
    if conversation.team is not None and not conversation.team.csat_enabled:
        return False
    if not conversation.window_open():
        return False
    with transaction.atomic():
        claimed = Conversation.objects.filter(
            pk=conversation.pk, status=Conversation.Status.RESOLVED, csat_requested_at__isnull=True
        ).update(csat_requested_at=timezone.now())
        if not claimed:
            return False
        try:
            with speaking_to(conversation.contact):
                message_send_interactive(
                    conversation=conversation,
                    body=gettext(QUESTION),
                    buttons=csat_buttons(conversation),
                    sender_kind="system",
                )
        except SendRefused:
            transaction.set_rollback(True)
            return False
    return True


def csat_rated_conversation(*, contact: Contact, message: dict[str, Any]) -> Conversation | None:
    """The resolved conversation of `contact` whose rating question the raw inbound
    `message` answers, locked; such a tap is stored there and does not reopen it."""
    interactive = as_dict(message.get("interactive"))
    reply_id = str(as_dict(interactive.get("button_reply")).get("id") or "")
    match = BUTTON_ID.match(reply_id)
    if match is None:
        return None
    return (
        Conversation.objects.select_for_update()
        .filter(pk=int(match.group(1)), contact=contact, status=Conversation.Status.RESOLVED)
        .first()
    )


def _button_reply_id(message: Message) -> str:
    payload: dict[str, Any] = message.payload or {}
    interactive = payload.get("interactive") or {}
    reply = interactive.get("button_reply") or {}
    if not reply and payload.get("type") == "button":
        return str((payload.get("button") or {}).get("payload") or "")
    return str(reply.get("id") or "")


def csat_record_reply(*, message: Message) -> bool:
    """Store the rating carried by an inbound reply to our rating question. Returns True
    when the message was such a reply (the caller then treats it as handled); False for
    anything else, which the caller processes as usual."""
    if message.direction != Message.Direction.INBOUND:
        return False
    match = BUTTON_ID.match(_button_reply_id(message))
    if match is None:
        return False
    conversation_id, score = int(match.group(1)), int(match.group(2))
    with transaction.atomic():
        conversation = (
            Conversation.objects.select_for_update()
            .filter(pk=conversation_id, contact_id=message.conversation.contact_id, csat_requested_at__isnull=False)
            .first()
        )
        if conversation is None:
            return False
        previous = conversation.csat_score
        conversation.csat_score = score
        conversation.save(update_fields=["csat_score"])
        conversation_event_record(
            conversation=conversation,
            kind="csat.recorded",
            actor_kind="contact",
            reason=dict(CHOICES)[score],
            data={"score": score, "previous_score": previous, "message": message.pk},
        )
        publish_conversation(conversation)
        webhook_conversation_event(type=EventType.CSAT_RECEIVED, conversation=conversation, score=score,
                                   label=dict(CHOICES)[score], previous_score=previous)
    return True
