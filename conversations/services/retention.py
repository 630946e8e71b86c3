"""How long each kind of data is kept, and the daily job that deletes or anonymises what
is older (`conversations.tasks.retention_apply`, scheduled in PERIODIC_TASKS).

| setting | default | what happens to older data |
| --- | --- | --- |
| RETENTION_WEBHOOK_BODY_DAYS | 30 | raw webhook bodies and their signatures are emptied (the event row stays) |
| RETENTION_WEBHOOK_EVENT_DAYS | 90 | processed, partial and failed webhook events are deleted (pending ones never) |
| RETENTION_STATUS_DAYS | 90 | delivery status events are deleted (the message keeps its status and times) |
| RETENTION_PLATFORM_EVENT_DAYS | 365 | platform events (template, quality, account, preferences) are deleted |
| RETENTION_MEDIA_DAYS | 90 | media references leave message payloads; stored media files are deleted |
| RETENTION_MESSAGE_DAYS | 365 | message texts, payloads and error texts become "[expired]"; resolved conversations
  inactive that long lose their preview, timeline free text, bot values and handoff context |

0 keeps that kind for ever. Dedupe survives: WhatsApp redelivers a webhook for up to 7
days, so webhook events, statuses and platform events (whose rows are the dedupe keys)
may not be set below 8 days, and messages are anonymised in place, keeping their
provider ids. Contacts stay until erased (conversations.services.contact_erasure).

Each step works in batches, each its own transaction, and skips what an earlier run
did, so the job may stop at any point and run again.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, fields
from datetime import datetime, timedelta

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import transaction
from django.utils import timezone

from conversations.models import (
    Conversation,
    ConversationEvent,
    Message,
    MessageStatusEvent,
    PlatformEvent,
    WebhookEvent,
)
from conversations.services.anonymise import (
    conversation_content_anonymise,
    message_files_delete,
    messages_anonymise,
)
from conversations.services.contact_erasure import erasure_follow_up

log = logging.getLogger(__name__)

EXPIRED = "[expired]"
EXPIRED_EVENT = "retention.expired"
BATCH = 500
MEDIA_TYPES = ("image", "video", "audio", "document", "sticker")
# WhatsApp redelivers webhooks for up to 7 days.
MIN_DEDUPE_DAYS = 8


@dataclass(frozen=True)
class RetentionPolicy:
    """Days each kind of data is kept (0: for ever)."""

    webhook_body_days: int
    webhook_event_days: int
    status_days: int
    platform_event_days: int
    media_days: int
    message_days: int


# Policy field -> (setting, smallest value other than 0).
SETTINGS: dict[str, tuple[str, int]] = {
    "webhook_body_days": ("RETENTION_WEBHOOK_BODY_DAYS", MIN_DEDUPE_DAYS),
    "webhook_event_days": ("RETENTION_WEBHOOK_EVENT_DAYS", MIN_DEDUPE_DAYS),
    "status_days": ("RETENTION_STATUS_DAYS", MIN_DEDUPE_DAYS),
    "platform_event_days": ("RETENTION_PLATFORM_EVENT_DAYS", MIN_DEDUPE_DAYS),
    "media_days": ("RETENTION_MEDIA_DAYS", 1),
    "message_days": ("RETENTION_MESSAGE_DAYS", 1),
}


def retention_policy() -> RetentionPolicy:
    """The policy from the settings. Raises ImproperlyConfigured, naming the setting, for a
    negative value or one below its minimum."""
    values: dict[str, int] = {}
    for item in fields(RetentionPolicy):
        name, minimum = SETTINGS[item.name]
        value = getattr(settings, name)
        if not isinstance(value, int) or value < 0 or 0 < value < minimum:
            raise ImproperlyConfigured(
                f"{name} must be 0 (keep for ever) or at least {minimum} days"
                + (" (WhatsApp redelivers webhooks for up to 7 days)" if minimum == MIN_DEDUPE_DAYS else "")
                + f"; it is {value!r}."
            )
        values[item.name] = value
    return RetentionPolicy(**values)


def _in_batches(queryset, apply) -> int:
    """Call `apply(ids)` in a transaction for each batch of `queryset`'s ids, in id order,
    each row once. Returns rows handled."""
    total, last = 0, 0
    while True:
        ids = list(queryset.filter(pk__gt=last).order_by("pk").values_list("pk", flat=True)[:BATCH])
        if not ids:
            return total
        with transaction.atomic():
            apply(ids)
        total, last = total + len(ids), ids[-1]


def webhook_bodies_clear(*, before: datetime) -> int:
    """Empty the raw bodies (and signatures) of webhook events received before `before`.
    Pending events keep theirs: they are not processed yet."""
    old = (
        WebhookEvent.objects.filter(received_at__lt=before)
        .exclude(state=WebhookEvent.State.PENDING)
        .exclude(body=b"")
    )
    return _in_batches(old, lambda ids: WebhookEvent.objects.filter(pk__in=ids).update(body=b"", signature=""))


def webhook_events_delete(*, before: datetime) -> int:
    """Delete webhook events received before `before` once processed (or failed)."""
    old = WebhookEvent.objects.filter(received_at__lt=before).exclude(state=WebhookEvent.State.PENDING)
    return _in_batches(old, lambda ids: WebhookEvent.objects.filter(pk__in=ids).delete())


def statuses_delete(*, before: datetime) -> int:
    old = MessageStatusEvent.objects.filter(received_at__lt=before)
    return _in_batches(old, lambda ids: MessageStatusEvent.objects.filter(pk__in=ids).delete())


def platform_events_delete(*, before: datetime) -> int:
    old = PlatformEvent.objects.filter(received_at__lt=before)
    return _in_batches(old, lambda ids: PlatformEvent.objects.filter(pk__in=ids).delete())


def media_remove(*, before: datetime) -> int:
    """Media messages created before `before`: stored files are deleted (after commit) and
    the media object (id, link, caption, file name) leaves the payload. The readable
    summary stays until the message itself expires."""
    old = Message.objects.filter(created_at__lt=before, type__in=MEDIA_TYPES)
    for flag in ("expired", "erased", "media_removed"):  # done by retention, erasure or an earlier pass
        old = old.exclude(payload__has_key=flag)

    def apply(ids: list[int]) -> None:
        batch = Message.objects.filter(pk__in=ids)
        message_files_delete(messages=batch)
        for message in batch.only("pk", "type", "payload"):
            payload = dict(message.payload) if isinstance(message.payload, dict) else {}
            if message.type in payload:
                payload[message.type] = {"removed": True}
            payload["media_removed"] = True
            Message.objects.filter(pk=message.pk).update(payload=payload)

    return _in_batches(old, apply)


def messages_expire(*, before: datetime) -> int:
    """Anonymise messages created before `before` (rows, statuses, times and provider ids
    stay, so reports keep counting and redeliveries stay duplicates)."""
    old = Message.objects.filter(created_at__lt=before)
    for flag in ("expired", "erased"):
        old = old.exclude(payload__has_key=flag)

    def apply(ids: list[int]) -> None:
        batch = Message.objects.filter(pk__in=ids)
        message_files_delete(messages=batch)
        messages_anonymise(messages=batch, marker=EXPIRED, flag="expired")

    return _in_batches(old, apply)


def conversations_expire(*, before: datetime) -> int:
    """Resolved conversations without activity since `before`: their preview, timeline
    free text, bot values and handoff context are anonymised, and a `retention.expired`
    timeline entry marks them done."""
    done = ConversationEvent.objects.filter(kind=EXPIRED_EVENT).values("conversation_id")
    old = Conversation.objects.filter(status=Conversation.Status.RESOLVED, last_activity_at__lt=before).exclude(
        pk__in=done
    )

    def apply(ids: list[int]) -> None:
        conversation_content_anonymise(conversation_ids=ids, marker=EXPIRED)
        ConversationEvent.objects.bulk_create(
            [ConversationEvent(conversation_id=pk, kind=EXPIRED_EVENT, reason="retention period over") for pk in ids]
        )

    return _in_batches(old, apply)


def retention_apply(*, now: datetime | None = None) -> dict[str, int]:
    """Apply the retention policy as of `now`, then finish recent erasures
    (conversations.services.contact_erasure.erasure_follow_up). Idempotent. Returns counts per kind."""
    policy = retention_policy()
    now = now or timezone.now()

    def cutoff(days: int) -> datetime:
        return now - timedelta(days=days)

    counts: dict[str, int] = {}
    if policy.webhook_body_days:
        counts["webhook_bodies_cleared"] = webhook_bodies_clear(before=cutoff(policy.webhook_body_days))
    if policy.webhook_event_days:
        counts["webhook_events_deleted"] = webhook_events_delete(before=cutoff(policy.webhook_event_days))
    if policy.status_days:
        counts["statuses_deleted"] = statuses_delete(before=cutoff(policy.status_days))
    if policy.platform_event_days:
        counts["platform_events_deleted"] = platform_events_delete(before=cutoff(policy.platform_event_days))
    if policy.media_days:
        counts["media_removed"] = media_remove(before=cutoff(policy.media_days))
    if policy.message_days:
        counts["messages_expired"] = messages_expire(before=cutoff(policy.message_days))
        counts["conversations_expired"] = conversations_expire(before=cutoff(policy.message_days))
    for kind, count in erasure_follow_up(now=now).items():
        counts[f"erasure_{kind}"] = count
    if any(counts.values()):
        log.info("retention: %s", ", ".join(f"{k} {v}" for k, v in counts.items() if v))
    return counts
