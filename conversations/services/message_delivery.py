"""Delivery of outbound messages to WhatsApp, the failure policy, the sweep, read receipts.

`message_deliver` (run by `conversations.delivery_tasks.deliver_message`) claims the row
with a compare-and-set update (`pending` → `sending`) before calling Graph, so two
workers never send one message twice; the claim is a lease (`next_attempt_at`) that the
periodic sweep takes back from a crashed worker. Every send carries the message's id
in `biz_opaque_callback_data`; WhatsApp echoes it in the message's statuses, so a worker
that died after Graph accepted its send is settled by the first status instead of being
sent again (conversations.services.message_status). Errors are handled by Graph's code through the
table in `providers.errors`; the delivery handle and a message's terminal failure live in
`conversations.services.delivery_outcomes`, shared with the status webhooks.
"""

from __future__ import annotations

import logging
import random
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.core.cache import cache
from django.db import IntegrityError, transaction
from django.db.models import Exists, F, OuterRef, Prefetch, Q, QuerySet
from django.utils import timezone

from config import task_names
from config.realtime import broadcast_on_commit
from config.tasking import enqueue_on_commit
from conversations import throttle
from conversations.events import publish_message
from conversations.media_types import KINDS as MEDIA_KINDS
from conversations.models import Channel, Conversation, Message, MessageMedia, Participant, WhatsAppNumber
from conversations.payloads import ACTIVE_PARTICIPANTS
from conversations.providers import webchat
from conversations.providers.errors import Action
from conversations.providers.whatsapp import GraphClient, GraphError, InvalidBody, send_body
from conversations.services.delivery_outcomes import delivery_handle, message_mark_failed
from conversations.services.message_status import statuses_apply_pending
from conversations.services.webhook_outbox import EventType, webhook_message_event

log = logging.getLogger(__name__)

# A claimed (`sending`) row whose worker has not finished within this lease is taken
# back by the sweep; a `pending` row not picked up by then is dispatched again
# (DELIVERY_LEASE_SECONDS, two minutes unless set).
LEASE = timedelta(seconds=settings.DELIVERY_LEASE_SECONDS)
# A later message of a conversation waits for earlier ones still on their way (so a
# bot's two messages arrive in order), but never for one older than this.
ORDER_WINDOW = timedelta(minutes=2)
ORDER_WAIT_SECONDS = 1.0
# The sweep is the safety net for a scheduled retry: it steps in this long after it.
SWEEP_SLACK = timedelta(seconds=30)
TYPING_EVERY_SECONDS = 20
@dataclass(frozen=True)
class DeliveryResult:
    """What one delivery run did. `retry_in`: run again after this many seconds.
    `after_error`: the retry follows a provider error (it counts as an attempt)."""

    outcome: str  # sent | failed | retry | skipped
    retry_in: float | None = None
    after_error: bool = False


def _backoff(attempts: int, min_delay: float) -> float:
    delay = settings.WHATSAPP_RETRY_BASE_SECONDS * (2 ** max(attempts - 1, 0))
    delay = min(delay, settings.WHATSAPP_RETRY_MAX_SECONDS)
    return max(delay, min_delay) * random.uniform(1.0, 1.2)


def _earlier_in_flight(now) -> Exists:
    """An earlier outbound message of the same conversation is still waiting or sending
    (annotated on the message's own query, so the check costs no extra round trip)."""
    return Exists(
        Message.objects.filter(
            conversation_id=OuterRef("conversation_id"),
            direction=Message.Direction.OUTBOUND,
            internal=False,
            pk__lt=OuterRef("pk"),
            created_at__gte=now - ORDER_WINDOW,
            status__in=[Message.Status.PENDING, Message.Status.SENDING],
        )
    )


def message_deliver(*, message_id: int) -> DeliveryResult:
    """Send one pending outbound message to Graph; safe to run any number of times.

    Requires nothing held. Claims the row (`pending` → `sending`, attempts + 1) with a
    compare-and-set update after taking a slot of the number's throughput, so a
    duplicate run does nothing. On success stores the wamid (`sent`), applies statuses
    that arrived first and publishes `message.updated`. Transient errors put the row
    back to `pending` with `next_attempt_at` and ask for a retry (capped by
    WHATSAPP_SEND_MAX_ATTEMPTS); permanent ones call `message_mark_failed`."""
    return _deliver_loaded(_deliverable([message_id]).first())


def messages_deliver(*, message_ids: list[int]) -> dict[int, DeliveryResult]:
    """`message_deliver` for several messages (a campaign's batch), one after another in
    the order given, with their rows read in one query. Each keeps every guarantee of a
    single delivery (its own pacing slot, compare-and-set claim, result); the caller
    retries those whose result asks for it."""
    loaded = {message.pk: message for message in _deliverable(message_ids)}
    return {pk: _deliver_loaded(loaded.get(pk)) for pk in dict.fromkeys(message_ids)}


def _deliverable(message_ids: list[int]) -> QuerySet[Message]:
    now = timezone.now()
    # The conversation's active participants come with it: the `message.updated` event
    # goes to them (conversations.events.conversation_groups).
    return (
        Message.objects.select_related("conversation__number", "conversation__contact")
        .prefetch_related(Prefetch("conversation__participants",
                                   queryset=Participant.objects.filter(left_at__isnull=True)
                                   .select_related("user").order_by("joined_at", "id"),
                                   to_attr=ACTIVE_PARTICIPANTS))
        .annotate(earlier_in_flight=_earlier_in_flight(now))
        .filter(pk__in=message_ids, direction=Message.Direction.OUTBOUND, internal=False)
    )


def _deliver_loaded(message: Message | None) -> DeliveryResult:
    if message is None or message.status != Message.Status.PENDING:
        return DeliveryResult("skipped")
    # The widget places web chat messages by id, so they need not wait for earlier ones.
    if getattr(message, "earlier_in_flight", False) and message.conversation.channel != Channel.WEBCHAT:
        return DeliveryResult("retry", ORDER_WAIT_SECONDS)
    if message.conversation.contact.is_erased:
        message_mark_failed(
            message=message, code="erased", title="Contact erased",
            details="This contact's personal data was erased; nothing can be sent to them.",
        )
        return DeliveryResult("failed")
    if message.conversation.channel == Channel.WEBCHAT:
        return _deliver_webchat(message)
    number = message.conversation.number
    if not throttle.number_throughput_acquire(number=number, timeout=settings.WHATSAPP_THROUGHPUT_WAIT_SECONDS):
        return DeliveryResult("retry", 1.0)
    now = timezone.now()
    # Compare-and-set on the attempts read above too, so the row is exactly as read plus
    # this claim (an attempt in between means another worker has it).
    claimed = Message.objects.filter(pk=message.pk, status=Message.Status.PENDING, attempts=message.attempts).update(
        status=Message.Status.SENDING, attempts=F("attempts") + 1, next_attempt_at=now + LEASE
    )
    if not claimed:
        return DeliveryResult("skipped")
    message.status, message.attempts, message.next_attempt_at = Message.Status.SENDING, message.attempts + 1, now + LEASE
    contact = message.conversation.contact
    try:
        content = _with_media_id(message, number) if message.type in (*MEDIA_KINDS, "template") else message.payload
        body = send_body(to=contact.wa_id, user_id=contact.user_id, content=content)
        existing = body.get("biz_opaque_callback_data")
        body["biz_opaque_callback_data"] = delivery_handle(
            message_id=message.pk, existing=existing if isinstance(existing, str) else ""
        )
        throttle.number_send_window(number=number)
        wamid = GraphClient(number).send_message(body)
    except InvalidBody as exc:
        message_mark_failed(message=message, code="invalid", title="Invalid message", details=str(exc))
        return DeliveryResult("failed")
    except GraphError as exc:
        return _delivery_error(message, exc)
    return _delivery_sent(message, wamid)


def _with_media_id(message: Message, number: WhatsAppNumber) -> dict:
    """The send body of a media message, by id: a stored file not yet uploaded is uploaded
    first (`POST /{phone-number-id}/media`) and its id kept on the media row and in the
    payload, so a retried delivery sends the same upload. A body that already names an
    `id` or a `link` (a bot's media by link) is sent as it is. A template whose header
    takes an uploaded file gets the file's id in that header parameter the same way."""
    payload = dict(message.payload) if isinstance(message.payload, dict) else {}
    if message.type == "template":
        header = _template_header_media(payload)
        if header is None:
            return payload
        obj = header
    else:
        found = payload.get(message.type)
        obj = dict(found) if isinstance(found, dict) else {}
        if obj.get("id") or obj.get("link"):
            return payload
    media = MessageMedia.objects.filter(message=message).first()
    if media is None or media.state != MessageMedia.State.STORED or not media.file:
        raise InvalidBody("The file of this message is not stored (erased or removed); nothing to send.")
    if not media.media_id:
        with media.file.open("rb") as handle:
            data = handle.read()
        media_id = GraphClient(number).media_upload(data=data, mime_type=media.mime_type, file_name=media.file_name)
        MessageMedia.objects.filter(pk=media.pk).update(media_id=media_id)
        media.media_id = media_id
    obj["id"] = media.media_id
    if message.type != "template":
        payload[message.type] = obj
    Message.objects.filter(pk=message.pk).update(payload=payload)
    message.payload = payload
    return payload


def _deliver_webchat(message: Message) -> DeliveryResult:
    """A web chat message still `pending` (sent before web chat messages were delivered by
    their commit, or found by the sweep): claimed like a WhatsApp send, then `sent` with an
    id of its own, and pushed to the visitor when that commits."""
    claimed = Message.objects.filter(pk=message.pk, status=Message.Status.PENDING, attempts=message.attempts).update(
        status=Message.Status.SENDING, attempts=F("attempts") + 1, next_attempt_at=timezone.now() + LEASE
    )
    if not claimed:
        return DeliveryResult("skipped")
    with transaction.atomic():
        result = _delivery_sent(message, webchat.provider_message_id())
        if message.status == Message.Status.SENT:
            webchat_message_push(message)
    return result


def webchat_message_push(message: Message) -> None:
    """A web chat message just recorded `sent`: its frame goes to the visitor's socket group
    when the transaction commits (the visitor catches up from the database on reconnect, so
    a dropped frame loses nothing). An agent's reply also tells the visitor that their
    messages before it were read (the widget marks its own messages up to that id). With
    its inbox gone there is no widget to tell."""
    conversation = message.conversation
    user_id = conversation.contact.user_id
    inbox_key = webchat.inbox_key_of(user_id)
    if inbox_key is None:
        return
    group = webchat.visitor_group(user_id)
    broadcast_on_commit([group], webchat.message_frame(message, inbox_key=inbox_key))
    if message.sender_kind == Message.SenderKind.AGENT:
        broadcast_on_commit([group], {"type": "read", "conversation": conversation.pk, "up_to": message.pk})


def _template_header_media(payload: dict) -> dict | None:
    """The media object of a template's header parameter still waiting for its uploaded
    file's id (`{"id": ""}`), to be filled in place; None when there is none."""
    template = payload.get("template")
    for component in template.get("components") or [] if isinstance(template, dict) else []:
        if not isinstance(component, dict) or component.get("type") != "header":
            continue
        for parameter in component.get("parameters") or []:
            kind = parameter.get("type") if isinstance(parameter, dict) else None
            obj = parameter.get(kind) if kind in MEDIA_KINDS else None
            if isinstance(obj, dict) and not obj.get("id") and not obj.get("link"):
                return obj
    return None


def _delivery_sent(message: Message, wamid: str) -> DeliveryResult:
    now = timezone.now()
    try:
        with transaction.atomic():
            recorded = Message.objects.filter(
                pk=message.pk,
                status__in=[Message.Status.SENDING, Message.Status.PENDING],
                provider_message_id__isnull=True,
            ).update(
                provider_message_id=wamid,
                status=Message.Status.SENT,
                sent_at=now,
                next_attempt_at=None,
                error_code="",
                error_text="",
            )
            if recorded:
                message.provider_message_id, message.status, message.sent_at = wamid, Message.Status.SENT, now
                message.next_attempt_at, message.error_code, message.error_text = None, "", ""
                publish_message(message, "message.updated")
                webhook_message_event(type=EventType.MESSAGE_STATUS, message=message)
    except IntegrityError:
        log.exception("message %s: Graph returned wamid %s, already stored for another message", message.pk, wamid)
        message_mark_failed(message=message, code="duplicate_id", title="Duplicate provider id", details=wamid)
        return DeliveryResult("failed")
    if not recorded:
        stored = Message.objects.filter(pk=message.pk).values_list("provider_message_id", flat=True).first()
        if stored == wamid:
            # A status carrying the handle arrived first and settled the row.
            log.info("message %s: already settled by its status webhook (%s)", message.pk, wamid)
            return DeliveryResult("sent")
        log.warning(
            "message %s went out a second time (%s) after its lease ran out; the first copy (%s) is kept",
            message.pk,
            wamid,
            stored,
        )
        return DeliveryResult("skipped")
    try:
        statuses_apply_pending(message=message)
    except Exception:  # the send is recorded; waiting statuses are applied by their own path
        log.exception("could not apply waiting statuses to message %s", message.pk)
    return DeliveryResult("sent")


def _delivery_error(message: Message, exc: GraphError) -> DeliveryResult:
    rule = exc.rule
    details = exc.details or exc.message
    if rule.transient and message.attempts >= settings.WHATSAPP_SEND_MAX_ATTEMPTS:
        log.warning("message %s failed after %s attempts: %s", message.pk, message.attempts, exc)
        message_mark_failed(message=message, code=exc.code_text, title=exc.title, details=details)
        return DeliveryResult("failed")
    if rule.transient:
        delay = _backoff(message.attempts, rule.min_delay)
        _release(message, delay, exc)
        log.info("message %s: %s; retry in %.0f s", message.pk, exc, delay)
        return DeliveryResult("retry", delay, after_error=True)
    message_mark_failed(message=message, code=exc.code_text, title=exc.title, details=details)
    return DeliveryResult("failed")


def _release(message: Message, delay: float, exc: GraphError) -> None:
    """Back to `pending` for another attempt; the error is kept for the desk meanwhile."""
    Message.objects.filter(pk=message.pk, status=Message.Status.SENDING).update(
        status=Message.Status.PENDING,
        next_attempt_at=timezone.now() + timedelta(seconds=delay) + SWEEP_SLACK,
        error_code=exc.code_text[:16],
        error_text=f"{exc.rule.explanation} ({exc.title}: {exc.details or exc.message})"[:2000],
    )


def messages_redispatch_due(*, limit: int = 200) -> int:
    """Dispatch deliveries whose time has come and nobody ran: pending messages past
    `next_attempt_at` (a lost dispatch, a retry after a restart) and
    `sending` ones whose lease ran out (a crashed worker). Each is re-leased first, so
    overlapping sweeps dispatch it once. A row whose status webhook already arrived was
    settled by it (see `delivery_handle`) and is not `sending` any more, so it is not
    sent again. Returns how many were dispatched."""
    now = timezone.now()
    due = list(
        Message.objects.filter(
            direction=Message.Direction.OUTBOUND,
            internal=False,
            status__in=[Message.Status.PENDING, Message.Status.SENDING],
            provider_message_id__isnull=True,
        )
        .filter(Q(next_attempt_at__lte=now) | Q(next_attempt_at__isnull=True, created_at__lte=now - LEASE))
        .order_by("next_attempt_at", "pk")
        .values_list("pk", "status")[:limit]
    )
    count = 0
    for pk, status in due:
        with transaction.atomic():
            taken = (
                Message.objects.filter(pk=pk, status=status, provider_message_id__isnull=True)
                .filter(Q(next_attempt_at__lte=now) | Q(next_attempt_at__isnull=True))
                .update(status=Message.Status.PENDING, next_attempt_at=now + LEASE)
            )
            if taken:
                if status == Message.Status.SENDING:
                    log.warning("message %s: delivery lease expired; sending again", pk)
                enqueue_on_commit(task_names.MESSAGE_DELIVER, message_id=pk)
                count += 1
    return count


# --- Read receipts and typing ----------------------------------------------------------------


def message_mark_read_remote(*, message: Message, typing: bool = False) -> None:
    """Mark an inbound message read on WhatsApp (blue ticks), optionally showing a typing
    indicator, in a task after commit: never blocks the request."""
    if message.direction != Message.Direction.INBOUND or not message.provider_message_id:
        return
    if message.conversation.channel == Channel.WEBCHAT:
        webchat_read_marks_send(conversation=message.conversation)
        return
    enqueue_on_commit(task_names.READ_RECEIPT_SEND, message_id=message.pk, typing=typing)


def webchat_read_marks_send(*, conversation: Conversation) -> None:
    """Tell a web chat visitor (after commit) that their messages up to the latest one were
    read: the widget shows the read mark. Nothing for other channels."""
    if conversation.channel != Channel.WEBCHAT:
        return
    last = (
        conversation.messages.filter(direction=Message.Direction.INBOUND)
        .order_by("-pk")
        .values_list("pk", flat=True)
        .first()
    )
    if last is not None:
        group = webchat.visitor_group(conversation.contact.user_id)
        broadcast_on_commit([group], {"type": "read", "conversation": conversation.pk, "up_to": last})


def conversation_opened(*, conversation_id: int) -> None:
    """A desk user opened the conversation: a web chat visitor sees their messages read (no
    read receipt goes to WhatsApp for merely looking)."""
    conversation = (
        Conversation.objects.select_related("contact").filter(pk=conversation_id, channel=Channel.WEBCHAT).first()
    )
    if conversation is not None:
        with transaction.atomic():
            webchat_read_marks_send(conversation=conversation)


def typing_indicator_send(*, conversation: Conversation) -> None:
    """Show the customer a typing indicator (it lasts up to 25 s or until the next message),
    at most once per 20 s per conversation. WhatsApp ties it to the customer's last
    message, which it also marks read. Only inside the window; sent by a task. A web chat
    visitor sees it on their socket at once (and their messages marked read)."""
    if conversation.channel == Channel.WEBCHAT:
        group = webchat.visitor_group(conversation.contact.user_id)
        broadcast_on_commit([group], {"type": "typing", "conversation": conversation.pk})
        webchat_read_marks_send(conversation=conversation)
        return
    if conversation.channel != Channel.WHATSAPP or not conversation.window_open():
        return
    last_inbound = (
        conversation.messages.filter(direction=Message.Direction.INBOUND, provider_message_id__isnull=False)
        .order_by("-created_at", "-pk")
        .first()
    )
    if last_inbound is None:
        return
    if not cache.add(f"typing-indicator:{conversation.pk}", 1, timeout=TYPING_EVERY_SECONDS):
        return
    enqueue_on_commit(task_names.READ_RECEIPT_SEND, message_id=last_inbound.pk, typing=True)


def read_receipt_deliver(*, message_id: int, typing: bool = False) -> bool:
    """Call Graph's mark-read (with the typing indicator if asked). Best effort: a read
    receipt is never retried; errors are logged (admin alerts as errors)."""
    message = (
        Message.objects.select_related("conversation__number")
        .filter(pk=message_id, direction=Message.Direction.INBOUND, provider_message_id__isnull=False)
        .first()
    )
    if message is None:
        return False
    try:
        GraphClient(message.conversation.number).mark_read(str(message.provider_message_id), typing=typing)
    except GraphError as exc:
        level = logging.ERROR if exc.action == Action.ALERT_ADMIN else logging.WARNING
        log.log(level, "read receipt for message %s failed: %s", message.pk, exc)
        return False
    return True
