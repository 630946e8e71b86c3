"""Anonymising stored data: the pieces a contact's erasure and the retention task share.

What to look for in free text and JSON (`Needles`, `scrub_json`), and the anonymisers of
messages, their files and statuses, raw webhook bodies, platform events and a
conversation's context. Each works on a queryset in chunks and returns how many rows it
changed; none opens its own transaction (the caller's erasure or retention run does).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.files.storage import default_storage
from django.db import connection, models, transaction
from django.db.models import F, Func, Q, TextField, Value
from django.db.models.functions import Cast

from agents.models import ConversationRouting
from bots.models import BotSession, Handoff
from conversations.models import (
    ERASED_ID_PREFIX,
    Conversation,
    ConversationEvent,
    Message,
    MessageMedia,
    MessageStatusEvent,
    PlatformEvent,
    WebhookEvent,
)

log = logging.getLogger(__name__)

ERASED = "[erased]"
TOKEN_PREFIX = ERASED_ID_PREFIX
WAMID_PREFIX = "erased:"
# WhatsApp redelivers a webhook for up to 7 days; message ids are kept a day longer.
DEDUPE_HORIZON = timedelta(days=8)
CHUNK = 500

# Timeline data keys whose string values are codes or configuration, never personal.
SAFE_EVENT_KEYS = frozenset({"reason_code", "alert", "code", "sla", "due_at", "policy", "skills"})
# What an erased webhook item keeps: the ids and facts redelivery dedupe and reports need.
KEPT_ITEM_KEYS = ("id", "status", "timestamp", "type")
TRANSCRIPT_SPEAKERS = frozenset({"Customer", "Bot", "Agent", "System"})


# --- what to look for ----------------------------------------------------------------------


@dataclass
class Needles:
    """What identifies a contact (ids, names) and what was said (message texts)."""

    identifiers: set[str] = field(default_factory=set)
    names: set[str] = field(default_factory=set)
    texts: set[str] = field(default_factory=set)

    def __post_init__(self) -> None:
        # Short values would match unrelated text; real ids are 8+ characters.
        self.identifiers = {i for i in self.identifiers if len(i) >= 5}
        self.names = {n for n in self.names if len(n) >= 3 and n not in (ERASED,)}
        self.texts = {t for t in self.texts if len(t) >= 3 and t != ERASED}

    def mentions(self, value: str) -> bool:
        return any(i in value for i in self.identifiers) or any(n in value for n in self.names)

    def matches(self, value: str) -> bool:
        return value in self.texts or self.mentions(value)


def scrub_json(node: Any, needles: Needles, marker: str = ERASED) -> Any:
    """`node` with the contact taken out: an object that names the contact in one of its
    own fields (a `messages[]`, `statuses[]` or `contacts[]` item, a user preference) is
    cut down to `KEPT_ITEM_KEYS`; any other string mentioning the contact or equal to one
    of its texts becomes `marker`."""
    if isinstance(node, dict):
        if any(isinstance(v, str) and v in needles.identifiers for v in node.values()):
            kept = {
                k: node[k]
                for k in KEPT_ITEM_KEYS
                if isinstance(node.get(k), str | int | float) and not needles.matches(str(node[k]))
            }
            return {**kept, "erased": True}
        return {k: scrub_json(v, needles, marker) for k, v in node.items()}
    if isinstance(node, list):
        return [scrub_json(v, needles, marker) for v in node]
    if isinstance(node, str) and needles.matches(node):
        return marker
    return node


def _data_scrub(value: Any, marker: str, key: str | None = None) -> Any:
    """Timeline data: every string becomes `marker` unless its key holds a code."""
    if isinstance(value, dict):
        return {k: _data_scrub(v, marker, k) for k, v in value.items()}
    if isinstance(value, list):
        return [_data_scrub(v, marker, key) for v in value]
    if isinstance(value, str) and key not in SAFE_EVENT_KEYS:
        return marker
    return value


def _transcript_scrub(lines: Any, marker: str) -> list[str]:
    out = []
    for line in lines if isinstance(lines, list) else []:
        speaker = str(line).split(": ", 1)[0]
        out.append(f"{speaker}: {marker}" if speaker in TRANSCRIPT_SPEAKERS else marker)
    return out


def id_chunks(ids: list[Any], size: int = CHUNK) -> Iterable[list[Any]]:
    for start in range(0, len(ids), size):
        yield ids[start : start + size]


# --- raw webhook bodies ---------------------------------------------------------------------


class _BinaryPosition(Func):
    """Where a byte string occurs in a binary column (0 when absent): SQLite and PostgreSQL."""

    output_field = models.IntegerField()

    def __init__(self, column: str, needle: bytes) -> None:
        super().__init__(F(column), Value(needle, output_field=models.BinaryField()))

    def as_sqlite(self, compiler, connection, **extra):
        return self.as_sql(compiler, connection, function="INSTR", **extra)

    def as_postgresql(self, compiler, connection, **extra):
        column, needle = self.get_source_expressions()
        column_sql, column_params = compiler.compile(column)
        needle_sql, needle_params = compiler.compile(needle)
        return f"POSITION({needle_sql} IN {column_sql})", [*needle_params, *column_params]


def _webhook_events_mentioning(identifiers: set[str], since: datetime | None = None) -> list[int]:
    """Ids of stored webhook events whose raw body contains one of `identifiers`, found
    by the database (the raw log can be large)."""
    if not identifiers:
        return []
    events = WebhookEvent.objects.all()
    if since is not None:
        events = events.filter(received_at__gte=since)
    if connection.vendor in ("sqlite", "postgresql"):
        query = Q()
        annotations = {}
        for index, identifier in enumerate(sorted(identifiers)):
            annotations[f"_hit{index}"] = _BinaryPosition("body", identifier.encode())
            query |= Q(**{f"_hit{index}__gt": 0})
        return list(events.annotate(**annotations).filter(query).values_list("pk", flat=True))
    needles = [i.encode() for i in identifiers]
    return [
        pk
        for pk, body in events.values_list("pk", "body").iterator(chunk_size=CHUNK)
        if any(n in bytes(body or b"") for n in needles)
    ]


def _body_scrub(body: Any, needles: Needles) -> bytes:
    raw = bytes(body or b"")
    try:
        data = json.loads(raw)
    except ValueError:
        return ERASED.encode()
    return json.dumps(scrub_json(data, needles), ensure_ascii=False, separators=(",", ":")).encode()


def webhook_events_scrub(*, needles: Needles, since: datetime | None = None) -> int:
    """Take the contact out of every stored raw webhook body (and its error notes) that
    mentions one of its identifiers. The signature no longer matches the body, so it goes
    too. Call inside a transaction. Returns how many events changed."""
    ids = _webhook_events_mentioning(needles.identifiers, since)
    for chunk in id_chunks(ids):
        for event in WebhookEvent.objects.select_for_update().filter(pk__in=chunk):
            event.body = _body_scrub(event.body, needles)
            event.errors = scrub_json(event.errors, needles)
            event.signature = ""
            event.save(update_fields=["body", "errors", "signature"])
    return len(ids)


def _json_mentioning(queryset: models.QuerySet, field_name: str, identifiers: set[str]) -> models.QuerySet:
    query = Q()
    for identifier in identifiers:
        query |= Q(_as_text__contains=identifier)
    if not identifiers:
        return queryset.none()
    return queryset.annotate(_as_text=Cast(field_name, TextField())).filter(query)


def platform_events_scrub(needles: Needles) -> int:
    count = 0
    for event in _json_mentioning(PlatformEvent.objects.select_for_update(), "payload", needles.identifiers):
        # The dedupe key is a hash of the change, kept so a redelivery stays a duplicate.
        event.payload = scrub_json(event.payload, needles)
        event.error = ERASED if event.error and needles.mentions(event.error) else event.error
        event.save(update_fields=["payload", "error"])
        count += 1
    return count


# --- messages, statuses, media --------------------------------------------------------------


def _storage_paths(value: Any) -> list[str]:
    """Storage paths a payload names under `storage_path` (downloaded media)."""
    found: list[str] = []
    if isinstance(value, dict):
        for key, item in value.items():
            if key == "storage_path" and isinstance(item, str) and item:
                found.append(item)
            else:
                found += _storage_paths(item)
    elif isinstance(value, list):
        for item in value:
            found += _storage_paths(item)
    return found


def message_files_delete(*, messages: models.QuerySet[Message]) -> int:
    """Delete, once the current transaction commits, the files `messages` keep: paths
    named in payloads, any file field of the message model, and their media files and
    thumbnails (the media rows stay, marked `removed`, without file name or checksum).
    Returns how many."""
    file_fields = [f.name for f in Message._meta.concrete_fields if isinstance(f, models.FileField)]
    paths: list[str] = []
    for row in messages.values("payload", *file_fields).iterator(chunk_size=CHUNK):
        paths += _storage_paths(row["payload"])
        paths += [str(row[name]) for name in file_fields if row[name]]
    if file_fields:
        messages.update(**dict.fromkeys(file_fields, ""))
    media = MessageMedia.objects.filter(message__in=messages.values("pk"))
    for file, thumbnail in media.values_list("file", "thumbnail").iterator(chunk_size=CHUNK):
        paths += [name for name in (file, thumbnail) if name]
    media.exclude(state=MessageMedia.State.REMOVED).update(
        state=MessageMedia.State.REMOVED, file="", thumbnail="", file_name="", sha256="", media_id="",
        failure_code="", failure_reason="",
    )
    paths = list(dict.fromkeys(paths))

    def delete() -> None:
        for path in paths:
            try:
                default_storage.delete(path)
            except Exception:  # a file already gone or storage trouble must not undo the erasure
                log.exception("could not delete stored media %s", path)

    if paths:
        transaction.on_commit(delete)
    return len(paths)


def messages_anonymise(*, messages: models.QuerySet[Message], marker: str, flag: str) -> int:
    """Replace the text, raw payload and provider error text of `messages` with `marker`
    (payload: `{flag: true}`; whispers stay whispers). Rows, types, statuses and times
    stay. Returns how many messages."""
    count = messages.count()
    messages.exclude(text="").update(text=marker)
    messages.exclude(error_text="").update(error_text=marker)
    whispers = [m.pk for m in messages.filter(internal=True).only("pk", "payload") if m.whisper]
    for chunk in id_chunks(whispers):
        for message in Message.objects.filter(pk__in=chunk).only("pk", "payload"):
            to = message.payload.get("to") if isinstance(message.payload, dict) else None
            Message.objects.filter(pk=message.pk).update(payload={flag: True, "whisper": True, "to": to or []})
    messages.exclude(pk__in=whispers).update(payload={flag: True})
    return count


def _status_errors_scrub(errors: Any) -> list[dict[str, Any]]:
    """Keep the error codes, drop titles, messages and details."""
    return [{"code": e.get("code")} for e in errors if isinstance(e, dict)] if isinstance(errors, list) else []


def statuses_anonymise(*, statuses: models.QuerySet[MessageStatusEvent], recipient_token: str) -> int:
    """Recipient ids, error details and raw payloads of `statuses` go; message id, status
    and times stay. Returns how many."""
    count = 0
    for status in statuses.select_for_update().only("pk", "recipient_id", "errors"):
        MessageStatusEvent.objects.filter(pk=status.pk).update(
            recipient_id=recipient_token if status.recipient_id else "",
            errors=_status_errors_scrub(status.errors),
            payload={"erased": True},
        )
        count += 1
    return count


def wamid_token(wamid: str) -> str:
    """A provider message id replaced once it no longer serves dedupe: keyed, one-way, and
    the same for the same id, so a late status for it can still be recognised."""
    digest = hmac.new(settings.SECRET_KEY.encode(), wamid.encode(), hashlib.sha256).hexdigest()
    return WAMID_PREFIX + digest[:48]


def wamids_replace(messages: models.QuerySet[Message]) -> int:
    """Replace provider message ids of `messages` (and of their statuses) by `wamid_token`."""
    count = 0
    rows = list(
        messages.filter(provider_message_id__isnull=False)
        .exclude(provider_message_id__startswith=WAMID_PREFIX)
        .values_list("pk", "provider_message_id")
    )
    for pk, wamid in rows:
        token = wamid_token(str(wamid))
        Message.objects.filter(pk=pk).update(provider_message_id=token)
        MessageStatusEvent.objects.filter(provider_message_id=wamid).update(provider_message_id=token)
        count += 1
    return count


# --- conversations and what hangs off them ------------------------------------------------------


def conversation_content_anonymise(*, conversation_ids: list[int], marker: str) -> dict[str, int]:
    """The personal content kept per conversation, besides its messages: the preview,
    timeline free text, bot session, handoff context and routing reason. Rows, statuses,
    times, scores and codes stay. Call inside a transaction. Returns counts per kind."""
    counts = {"conversations": 0, "conversation_events": 0, "bot_sessions": 0, "handoffs": 0, "routing": 0}
    for chunk in id_chunks(conversation_ids):
        counts["conversations"] += (
            Conversation.objects.filter(pk__in=chunk).exclude(last_message_preview="").update(last_message_preview=marker)
        )
        for event in ConversationEvent.objects.filter(conversation_id__in=chunk).only("pk", "reason", "data"):
            reason = marker if event.reason else ""
            data = _data_scrub(event.data, marker)
            if reason != event.reason or data != event.data:
                ConversationEvent.objects.filter(pk=event.pk).update(reason=reason, data=data)
                counts["conversation_events"] += 1
        counts["bot_sessions"] += BotSession.objects.filter(conversation_id__in=chunk).update(
            values={}, state={}, last_intent=""
        )
        for handoff in Handoff.objects.filter(conversation_id__in=chunk).only("pk", "detail", "transcript"):
            Handoff.objects.filter(pk=handoff.pk).update(
                detail=marker if handoff.detail else "",
                collected_values={},
                last_intent="",
                transcript=_transcript_scrub(handoff.transcript, marker),
            )
            counts["handoffs"] += 1
        counts["routing"] += (
            ConversationRouting.objects.filter(conversation_id__in=chunk).exclude(reason="").update(reason=marker)
        )
    return counts


# --- notifications, sandbox, admin history ---------------------------------------------------------
