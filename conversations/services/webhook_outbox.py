"""The outbox of outgoing webhooks: events written in the same transaction as the change.

The services that make a change call one function here (`webhook_conversation_event`,
`webhook_message_event`, `webhook_event_record`) inside their transaction. The event is
stored with a delivery row for every enabled endpoint that wants its type, and the
deliveries are enqueued after commit; a rolled-back change leaves no event and sends
nothing. When no enabled endpoint wants the type nothing is written (one small query).

The payload (the posted body) is `{"id", "type", "created", "data"}`; the shapes of `data`
per type are in the README ("Integrations") and the OpenAPI document
(notifications.webhook_schemas).

Where it lives: the outbox belongs to notifications (its models, the delivery task, the
admin), but the changes that raise events start in conversations, so the writer sits in the
lowest app that calls it and imports only models and config (models are one data layer;
tests/test_app_layers.py). Conversations, agents and notifications services call it.
"""

from __future__ import annotations

import uuid
from typing import Any

from django.db import transaction
from django.db.models import Count
from django.utils import timezone

from config import task_names
from config.batch_scope import batch_cached
from config.commit_hooks import hook_pending
from config.tasking import dispatch
from conversations.models import Contact, Conversation, Message
from conversations.payloads import iso, message_fields
from notifications.models import (
    Campaign,
    CampaignRecipient,
    ConsentRecord,
    OutboxEvent,
    WebhookDelivery,
    WebhookEndpoint,
    WebhookEventType,
)

EventType = WebhookEventType
_PENDING = "_handoff_webhook_deliveries"



def contact_data(contact: Contact) -> dict[str, Any]:
    return {
        "id": contact.pk,
        "wa_id": contact.wa_id,
        "user_id": contact.user_id,
        "name": contact.profile_name,
        "language": contact.language,
    }


def conversation_data(conversation: Conversation) -> dict[str, Any]:
    """A conversation in a webhook (no query beyond its contact and assignee)."""
    assignee = conversation.assignee if conversation.assignee_id is not None else None
    return {
        "id": conversation.pk,
        "status": conversation.status,
        "channel": conversation.channel,
        "number": conversation.number_id,
        "contact": contact_data(conversation.contact),
        "team": conversation.team_id,
        "assignee": {"id": assignee.pk, "username": assignee.get_username()} if assignee is not None else None,
        "priority": conversation.priority,
        "language": conversation.language,
        "created_at": iso(conversation.created_at),
        "queued_at": iso(conversation.queued_at),
        "assigned_at": iso(conversation.assigned_at),
        "resolved_at": iso(conversation.resolved_at),
        "csat_score": conversation.csat_score,
    }


def message_data(message: Message) -> dict[str, Any]:
    """A message in a webhook: the fields every serialisation has, with WhatsApp's id and
    the failure time."""
    return {
        **message_fields(message),
        "provider_message_id": message.provider_message_id,
        "failed_at": iso(message.failed_at),
    }


def endpoints_wanting(event_type: str) -> list[int]:
    """Ids of the enabled endpoints that receive `event_type` (few rows: filtered here, as
    SQLite cannot search inside a JSON list)."""
    return _wanting(_enabled_endpoints(), event_type)


def _enabled_endpoints() -> list[tuple[int, list[str]]]:
    """Read once per batch of webhooks (config.batch_scope)."""
    return batch_cached("enabled_webhook_endpoints",
                        lambda: list(WebhookEndpoint.objects.filter(enabled=True).values_list("pk", "events")))


def _wanting(rows: list[tuple[int, list[str]]], event_type: str) -> list[int]:
    return [pk for pk, events in rows if event_type in (events or [])]


def webhook_event_record(*, type: str, data: dict[str, Any], endpoint_ids: list[int] | None = None) -> OutboxEvent | None:
    """Write event `type` with `data` to the outbox, with a delivery for each enabled
    endpoint that wants it (or for `endpoint_ids`), in the caller's transaction (or its
    own); deliveries are posted after commit. Returns the event, or None when no endpoint
    wants it."""
    if type not in EventType.values:
        raise ValueError(f"unknown webhook event type {type}")
    targets = endpoints_wanting(type) if endpoint_ids is None else endpoint_ids
    if not targets:
        return None
    now = timezone.now()
    event_id = f"evt_{uuid.uuid4().hex}"
    payload = {"id": event_id, "type": type, "created": now.isoformat(), "data": data}
    # Inside the caller's transaction no savepoint of its own (two statements saved on every
    # inbound message an endpoint wants): a failure here fails the caller's change with it.
    with transaction.atomic(savepoint=False):
        event = OutboxEvent.objects.create(event_id=event_id, type=type, payload=payload, created_at=now)
        deliveries = WebhookDelivery.objects.bulk_create(
            [WebhookDelivery(endpoint_id=pk, event=event, next_attempt_at=now, created_at=now) for pk in targets]
        )
        ids = [delivery.pk for delivery in deliveries]
        if None in ids:  # backends that do not return ids: read them back
            ids = list(WebhookDelivery.objects.filter(event=event).values_list("pk", flat=True))
        _deliveries_enqueue(ids)
    return event


class _Pending:
    """The deliveries written in one transaction: one task for all of them after commit
    (and, in a web process, merged with other such tasks by the publisher)."""

    def __init__(self, ids: list[int]) -> None:
        self.ids = list(ids)

    def send(self) -> None:
        dispatch(task_names.WEBHOOK_DELIVER, {"delivery_ids": sorted(set(self.ids))}, coalesce="delivery_ids")


def _deliveries_enqueue(ids: list[int]) -> None:
    """Add `ids` to this transaction's delivery task (registered on its first event). A
    rolled-back savepoint may leave ids of rows that are gone: the task's claim skips them."""
    connection = transaction.get_connection()
    pending = getattr(connection, _PENDING, None)
    if pending is not None and hook_pending(pending.send):
        pending.ids.extend(ids)
        return
    pending = _Pending(ids)
    setattr(connection, _PENDING, pending)
    transaction.on_commit(pending.send)


def webhook_conversation_event(*, type: str, conversation: Conversation, **extra: Any) -> OutboxEvent | None:
    """`conversation.*` and `csat.received`: the conversation, plus `extra` fields."""
    targets = endpoints_wanting(type)
    if not targets:
        return None
    return webhook_event_record(type=type, data={"conversation": conversation_data(conversation), **extra},
                                endpoint_ids=targets)


def webhook_conversation_events(*, type: str, events: list[tuple[Conversation, dict[str, Any]]]) -> None:
    """`webhook_conversation_event` for several conversations (an assignment batch), with the
    endpoints read once: nothing more is written when none wants `type`."""
    targets = endpoints_wanting(type)
    if not targets:
        return
    for conversation, extra in events:
        webhook_event_record(type=type, data={"conversation": conversation_data(conversation), **extra},
                             endpoint_ids=targets)


def webhook_message_event(*, type: str, message: Message) -> OutboxEvent | None:
    """`message.created` and `message.status`: the message (internal notes are not sent)."""
    targets = [] if message.internal else endpoints_wanting(type)
    if not targets:
        return None
    return webhook_event_record(type=type, data={"message": message_data(message)}, endpoint_ids=targets)


def webhook_message_events(*, types: list[str], message: Message) -> None:
    """Several of the message's events at once (a web chat message is created and sent in
    one step), with the endpoints read once."""
    if message.internal:
        return
    rows = _enabled_endpoints()
    for type in types:
        targets = _wanting(rows, type)
        if targets:
            webhook_event_record(type=type, data={"message": message_data(message)}, endpoint_ids=targets)


def webhook_consent_event(record: ConsentRecord) -> OutboxEvent | None:
    """`consent.changed`: a new row of the consent ledger."""
    targets = endpoints_wanting(EventType.CONSENT_CHANGED)
    if not targets:
        return None
    return webhook_event_record(type=EventType.CONSENT_CHANGED, endpoint_ids=targets, data={
        "contact": contact_data(record.contact),
        "consent": {
            "id": record.pk,
            "category": record.category,
            "opted_in": record.opted_in,
            "source": record.source,
            "actor": record.actor_id,
            "at": iso(record.created_at),
        },
    })


def webhook_campaign_event(campaign: Campaign) -> OutboxEvent | None:
    """`campaign.finished`: completed or cancelled, with its recipients counted by state."""
    targets = endpoints_wanting(EventType.CAMPAIGN_FINISHED)
    if not targets:
        return None
    counts = dict(
        CampaignRecipient.objects.filter(campaign=campaign).values("state").annotate(n=Count("id"))
        .values_list("state", "n")
    )
    return webhook_event_record(type=EventType.CAMPAIGN_FINISHED, endpoint_ids=targets, data={
        "campaign": {
            "id": campaign.pk,
            "name": campaign.name,
            "state": campaign.state,
            "number": campaign.number_id,
            "template": campaign.template_id,
            "started_at": iso(campaign.started_at),
            "finished_at": iso(campaign.completed_at),
            "recipients": {state: int(counts.get(state, 0)) for state in CampaignRecipient.State.values},
        },
    })
