"""Desk websocket events for messages and conversations: one place that builds their
payloads and decides who receives them.

Every service that changes a message or a conversation publishes through
`publish_message` / `publish_conversation`, which send only after the write commits
(config.realtime.broadcast_on_commit). Payloads carry ids and the fields the desk
renders; the desk places them by id, so a repeated event replaces rather than duplicates.

A conversation is published once per transaction however many writes in it touched the
conversation (a handoff, a transfer, a takeover): its event is built at commit time from
the committed row and goes to the union of everyone told along the way.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from typing import Any

from django.db import DatabaseError, transaction
from django.db.models import Aggregate, CharField, OuterRef, QuerySet, Subquery

from config.commit_hooks import hook_pending
from config.realtime import (
    SUPERVISORS_GROUP,
    agent_group,
    broadcast_on_commit,
    conversation_group,
    publish,
    team_group,
)
from conversations.models import Conversation, Message, Participant
from conversations.payloads import (
    ACTIVE_PARTICIPANTS,
    conversation_for_event,
    conversation_payload,
    conversations_for_event,
    media_payload,
    message_fields,
    message_pricing,
    payload_json,
)

log = logging.getLogger(__name__)



def _sender_name(message: Message) -> str:
    if message.sender_kind == Message.SenderKind.CONTACT:
        contact = message.conversation.contact
        return contact.profile_name or contact.wa_id or contact.user_id
    if message.sender_user_id is not None and message.sender_user is not None:
        user = message.sender_user
        return user.get_full_name() or user.get_username()
    return message.get_sender_kind_display()


def message_data(message: Message) -> dict[str, Any]:
    """The message as the desk renders it."""
    return {
        **message_fields(message),
        "sender_name": _sender_name(message),
        "internal": message.internal,
        "whisper": message.whisper,
        "reply_to": message.reply_to_id,
        "pricing": message_pricing(message),
        "media": media_payload(message),
    }


def message_event(message: Message, type: str = "message.created") -> dict[str, Any]:
    """`message.created` or `message.updated` (status changes) for the desk."""
    return {"type": type, "conversation": message.conversation_id, "message": message_data(message)}


def conversation_data(conversation: Conversation) -> dict[str, Any]:
    """The conversation as the desk's lists and header render it: the one payload
    (conversations.payloads) the desk's rows and the API are built from too."""
    return payload_json(conversation_payload(conversation))


def conversation_event(conversation: Conversation, type: str = "conversation.updated") -> dict[str, Any]:
    """`conversation.created` or `conversation.updated` (status, assignee, participants, window)."""
    return {"type": type, "conversation": conversation_data(conversation)}


FOLLOWER_IDS = "active_participant_ids"


class _IdList(Aggregate):
    """Integer ids joined by commas in one text value (`GROUP_CONCAT` on SQLite,
    `STRING_AGG` on PostgreSQL); NULL when there are none."""

    function = "GROUP_CONCAT"
    output_field = CharField()

    def as_postgresql(self, compiler: Any, connection: Any, **extra: Any) -> Any:
        return self.as_sql(compiler, connection, function="STRING_AGG",
                           template="%(function)s((%(expressions)s)::text, ',')", **extra)


def with_follower_ids(queryset: QuerySet[Conversation]) -> QuerySet[Conversation]:
    """`queryset` with each conversation's active participants' user ids read in the same
    statement: the receive path, which locks the conversation and then publishes the
    customer's message, saves a round trip per message. Taken with `follower_ids`."""
    ids = (
        Participant.objects.filter(conversation=OuterRef("pk"), left_at__isnull=True)
        .values("conversation")
        .annotate(ids=_IdList("user_id"))
        .values("ids")
    )
    return queryset.annotate(**{FOLLOWER_IDS: Subquery(ids)})


def follower_ids(row: Any) -> list[int] | None:
    """The participant ids `with_follower_ids` read with `row`, taken off it (they describe
    the moment of that read: one publish right after may use them); None when not read."""
    if FOLLOWER_IDS not in row.__dict__:
        return None
    joined = row.__dict__.pop(FOLLOWER_IDS)
    return [int(user_id) for user_id in joined.split(",")] if joined else []


def conversation_groups(conversation: Conversation, participant_ids: Iterable[int] | None = None) -> list[str]:
    """Who hears about a conversation: its own group, the assignee, active participants,
    the team's queue and the supervisors. `participant_ids`: the active participants when
    the caller has just read them under the row's lock (else loaded ones, else a query)."""
    groups = [conversation_group(conversation.pk)]
    if conversation.assignee_id is not None:
        groups.append(agent_group(conversation.assignee_id))
    if participant_ids is None:
        loaded = getattr(conversation, ACTIVE_PARTICIPANTS, None)
        participant_ids = (
            [p.user_id for p in loaded]
            if loaded is not None
            else Participant.objects.filter(conversation=conversation, left_at__isnull=True).values_list(
                "user_id", flat=True
            )
        )
    groups.extend(agent_group(user_id) for user_id in participant_ids)
    if conversation.team_id is not None:
        groups.append(team_group(conversation.team_id))
    groups.append(SUPERVISORS_GROUP)
    return list(dict.fromkeys(groups))


def publish_message(message: Message, type: str = "message.created", *,
                    participant_ids: Iterable[int] | None = None) -> None:
    """Send the message's event to everyone following its conversation, after commit.
    Internal notes and whispers go to the same desk groups: customers never receive events.
    `participant_ids`: see `conversation_groups`."""
    broadcast_on_commit(conversation_groups(message.conversation, participant_ids), message_event(message, type))


CREATED = "conversation.created"
UPDATED = "conversation.updated"
_PENDING = "_handoff_conversation_publishes"
_PRUNE_AT = 256


class _Rows:
    """The committed rows of conversations published together (an assignment batch): read
    for all of them, with what their payloads need, at the first one's send (two queries)."""

    def __init__(self, conversation_ids: Iterable[int]) -> None:
        self.conversation_ids = list(conversation_ids)
        self.rows: dict[int, Conversation] | None = None

    def get(self, conversation_id: int) -> Conversation | None:
        if self.rows is None:
            self.rows = conversations_for_event(self.conversation_ids)
        return self.rows.get(conversation_id)


class _Batch:
    """One conversation's event in one transaction: built once on commit, sent once to
    each group."""

    def __init__(self, conversation_id: int, rows: _Rows | None = None) -> None:
        self.conversation_id = conversation_id
        self.rows = rows
        self.entries: dict[frozenset[str], _Entry] = {}
        self.started = False
        self.event: dict[str, Any] | None = None
        self.told: set[str] = set()

    def live(self) -> bool:
        return not self.started and any(entry.registered() for entry in self.entries.values())


class _Entry:
    """What the publishes made inside one set of open savepoints asked for. Each entry has
    its own commit hook, so a rolled-back savepoint drops its entry (and the groups it
    added) and nothing else."""

    def __init__(self, batch: _Batch, context: frozenset[str]) -> None:
        self.batch = batch
        self.context = context
        self.type = UPDATED
        self.also: set[str] = set()
        self.callback = self.send  # one identity to find among the connection's commit hooks

    def merge(self, type: str, also: Iterable[str]) -> None:
        if type == CREATED:  # a conversation created in this transaction is announced as created
            self.type = type
        self.also.update(also)

    def registered(self) -> bool:
        return hook_pending(self.callback)

    def send(self) -> None:
        batch = self.batch
        if not batch.started:
            batch.started = True
            pending = _pending_map()
            if pending.get(batch.conversation_id) is batch:
                del pending[batch.conversation_id]
            if batch.rows is None:
                _rows_share(batch, pending)
            try:
                if batch.rows is not None:
                    conversation = batch.rows.get(batch.conversation_id)
                else:
                    conversation = conversation_for_event(batch.conversation_id)
                groups = conversation_groups(conversation) if conversation is not None else []
            except DatabaseError:  # the websocket is a notification; the desk re-reads on reconnect
                log.warning("conversation event for %s not sent: database busy", batch.conversation_id)
                return
            if conversation is None:
                return
            batch.event = conversation_event(conversation, self.type)
        elif batch.event is None:
            return
        else:
            groups = []
        targets = [group for group in dict.fromkeys([*groups, *sorted(self.also)]) if group not in batch.told]
        batch.told.update(targets)
        if targets:
            publish(targets, batch.event)


def _rows_share(batch: _Batch, pending: dict[int, _Batch]) -> None:
    """The first event sent at a commit reads the rows of every conversation whose event
    waits to be sent (the other events of that commit: a batch of webhooks touches many
    conversations), in two queries for all of them."""
    waiting = [other for other in pending.values() if not other.started and other.rows is None]
    if not waiting:
        return
    rows = _Rows([batch.conversation_id, *(other.conversation_id for other in waiting)])
    for each in (batch, *waiting):
        each.rows = rows


def _pending_map() -> dict[int, _Batch]:
    connection = transaction.get_connection()
    pending = getattr(connection, _PENDING, None)
    if pending is None:
        pending = {}
        setattr(connection, _PENDING, pending)
    return pending


def publish_conversation(
    conversation: Conversation, type: str = UPDATED, *, also: Iterable[str] = ()
) -> None:
    """Send the conversation's event after commit to everyone following it then, and to the
    groups in `also` (people a transition took it from). However often it is called in
    one transaction, each group gets one event, built at commit time from the committed
    row; `conversation.created` if the call that created it said so. Nothing is sent for
    a rolled-back write, and groups added in a rolled-back savepoint are not told."""
    _register(conversation.pk, type, also, None)


def publish_conversations(published: Sequence[tuple[Conversation, Iterable[str]]], type: str = UPDATED) -> None:
    """`publish_conversation` for several conversations at once (with each one's `also`):
    the same events, merged the same way, but the committed rows of those not published
    yet in this transaction are read together, in two queries for all of them."""
    connection = transaction.get_connection()
    pending = _pending_map()
    fresh = [conversation.pk for conversation, _also in published
             if (batch := pending.get(conversation.pk)) is None or not batch.live()]
    rows = _Rows(fresh) if len(fresh) > 1 else None
    for conversation, also in published:
        _register(conversation.pk, type, also, rows, connection=connection, pending=pending)


def _register(conversation_id: int, type: str, also: Iterable[str], rows: _Rows | None, *,
              connection: Any = None, pending: dict[int, _Batch] | None = None) -> None:
    connection = connection or transaction.get_connection()
    pending = _pending_map() if pending is None else pending
    batch = pending.get(conversation_id)
    if batch is None or not batch.live():
        if batch is not None and not batch.started:
            # Its event, if still to be sent at this commit, must not use rows read before
            # this newer change: it reads its own.
            batch.rows = None
        if len(pending) >= _PRUNE_AT:
            for key in [key for key, old in pending.items() if not old.live()]:
                del pending[key]
        batch = pending[conversation_id] = _Batch(conversation_id, rows)
    context = frozenset(connection.savepoint_ids) if connection.in_atomic_block else frozenset()
    entry = batch.entries.get(context)
    if entry is not None and entry.registered():
        entry.merge(type, also)
        return
    entry = batch.entries[context] = _Entry(batch, context)
    entry.merge(type, also)
    transaction.on_commit(entry.callback)
