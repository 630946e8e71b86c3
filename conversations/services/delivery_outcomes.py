"""What delivery and the status webhooks both settle: the handle that ties a status to its
message, and a message's terminal failure with its error policy.

`conversations.services.message_delivery` sends; `conversations.services.message_status` applies WhatsApp's statuses
(and delivery applies the statuses that arrived before its send was recorded). Both
import from here, so neither imports the other's caller.
"""

from __future__ import annotations

import logging
import re

from django.db import transaction
from django.utils import timezone

from conversations.events import publish_message
from conversations.models import Conversation, Message
from conversations.providers.errors import ERROR_RULES, NETWORK, Action, rule_for
from conversations.services.timeline import conversation_event_record
from conversations.services.webhook_outbox import EventType, webhook_message_event
from notifications.services.alerts import alert_provider_error
from notifications.services.consent import consent_opt_out

log = logging.getLogger("conversations.services.message_delivery")

# Every send carries its message's own id in `biz_opaque_callback_data`, which WhatsApp
# echoes in that message's status webhooks: a status for a wamid we never stored (the
# worker died after Graph accepted) still names its message and settles it, instead of
# the sweep sending a second copy. Anything the content already carried there follows
# after a ";" (the field holds at most 512 characters).
HANDLE_PREFIX = "handoff:m:"
CALLBACK_DATA_MAX = 512
_HANDLE = re.compile(rf"^{re.escape(HANDLE_PREFIX)}(\d{{1,19}})(?:;|$)")


def delivery_handle(*, message_id: int, existing: str = "") -> str:
    """The `biz_opaque_callback_data` of a send: our handle, then `existing` if any."""
    handle = f"{HANDLE_PREFIX}{message_id}"
    return f"{handle};{existing}"[:CALLBACK_DATA_MAX] if existing else handle


def message_id_from_handle(value: object) -> int | None:
    """The message id a status's `biz_opaque_callback_data` names, or None."""
    match = _HANDLE.match(value) if isinstance(value, str) else None
    return int(match.group(1)) if match else None


def message_mark_failed(*, message: Message, code: str, title: str, details: str = "") -> None:
    """Mark a message failed (terminal) with the provider's code and a readable reason,
    once, and apply the error's policy: 131050 records a marketing opt-out; token and
    account errors (190, 100, 368, 131031, …) log an admin alert, add a `provider_alert`
    event to the conversation's timeline and raise the number's alert (notifications.services.alerts:
    desk banner and email, once per incident). Publishes `message.updated`."""
    code = str(code)
    known = code.lstrip("-").isdigit() or code == NETWORK
    rule = rule_for(code) if known else None
    reason = rule.explanation if rule is not None and rule.code in ERROR_RULES else title
    said = ": ".join(part for part in (title, details) if part)
    error_text = f"{reason} ({said})" if said and said != reason else reason
    with transaction.atomic():
        updated = (
            Message.objects.filter(pk=message.pk)
            .exclude(status__in=[Message.Status.FAILED, Message.Status.READ])
            .update(
                status=Message.Status.FAILED,
                error_code=code[:16],
                error_text=error_text[:2000],
                failed_at=timezone.now(),
                next_attempt_at=None,
            )
        )
        if not updated:
            return
        message.refresh_from_db()
        conversation = message.conversation
        if rule is not None and rule.action == Action.ALERT_ADMIN:
            log.error(
                "WhatsApp admin alert %s on number %s: (%s) %s %s",
                rule.alert,
                conversation.number_id,
                code,
                title,
                details,
            )
            conversation_event_record(
                conversation=conversation,
                kind="provider_alert",
                reason=rule.explanation,
                data={
                    "alert": rule.alert,
                    "code": code,
                    "title": title,
                    "details": details,
                    "message": message.pk,
                    "number": conversation.number_id,
                },
            )
            _raise_alert(conversation, code=code, explanation=rule.explanation, title=title)
        if rule is not None and rule.action == Action.OPT_OUT:
            _record_opt_out(message, proof=f"({code}) {said}")
        publish_message(message, "message.updated")
        webhook_message_event(type=EventType.MESSAGE_STATUS, message=message)


def _raise_alert(conversation: Conversation, *, code: str, explanation: str, title: str) -> None:
    """The admins' and supervisors' alert (banner and email, once per incident)."""
    try:
        with transaction.atomic():
            alert_provider_error(number=conversation.number, code=code, explanation=explanation, title=title)
    except Exception:  # the failure itself must be recorded even if the alert cannot be
        log.exception("could not raise the alert for error %s on number %s", code, conversation.number_id)


def _record_opt_out(message: Message, proof: str) -> None:
    try:
        with transaction.atomic():
            consent_opt_out(
                contact=message.conversation.contact, category="marketing", source="error_131050", proof=proof
            )
    except Exception:  # the failure itself must be recorded even if the consent write fails
        log.exception("could not record the marketing opt-out of contact %s", message.conversation.contact_id)
