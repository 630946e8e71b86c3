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
from conversations.failure_hooks import failure_hooks
from conversations.models import Message
from conversations.providers.errors import ERROR_RULES, NETWORK, Action, ErrorRule, rule_for
from conversations.services.timeline import conversation_event_record
from conversations.services.webhook_outbox import EventType, webhook_message_event

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
    event to the conversation's timeline and raise the number's alert (desk banner and
    email, once per incident). The opt-out and the alert are the notifications app's,
    run as failure hooks (conversations.failure_hooks). Publishes `message.updated`."""
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
        if rule is not None:
            _failure_hooks_run(message, rule, code=code, title=title, said=said)
        publish_message(message, "message.updated")
        webhook_message_event(type=EventType.MESSAGE_STATUS, message=message)


def _failure_hooks_run(message: Message, rule: ErrorRule, *, code: str, title: str, said: str) -> None:
    """The hooks of the error's policy, each in a savepoint: the failure itself must be
    recorded even if a hook cannot run."""
    for name, hook in failure_hooks(rule.action):
        try:
            with transaction.atomic():
                hook(message=message, rule=rule, code=code, title=title, said=said)
        except Exception:
            log.exception(
                "could not run the %s hook for error %s on message %s (number %s)",
                name,
                code,
                message.pk,
                message.conversation.number_id,
            )
