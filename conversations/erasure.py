"""Erasing a contact's personal data (GDPR Art. 17) everywhere Handoff keeps it.

`contact_erase` anonymises, in one transaction:
- the contact: WhatsApp id and business-scoped id replaced by a random token, profile
  name, attributes and tags cleared;
- its messages: text, raw payload and provider error text (rows, types, directions,
  statuses and times stay, so reports keep counting them); outbound messages still
  pending are failed (`erased`) rather than sent;
- delivery statuses of those messages: recipient id, error details, raw payload;
- raw webhook bodies (and their error notes) that mention the contact: each item about
  the contact is cut down to its message id, status, type and time, which redelivery
  dedupe needs; platform events (user preferences) likewise;
- per conversation: the last-message preview, timeline free text (reasons, notes, alert
  details), the bot session (collected values, state), handoff context (detail,
  collected values, transcript), routing reasons; the escalation ledger holds only
  times and counts and is kept as it is; a rating is a score without comments;
- consent rows keep category, opt-in/out, source, actor and time; their proof text is
  erased, and any current opt-in is closed by an opt-out, so nothing business-initiated
  goes to the erased contact;
- campaign recipients (error text), the contact's lines in uploaded campaign lists,
  idempotency responses of the notification API, demo order links, the admin's history
  entries about the contact, the sandbox's simulated phone of the contact;
- media: files named by a message payload's `storage_path` (no model keeps media files
  yet; this covers downloads stored later) and any file field on messages are deleted
  from storage once the transaction commits.

Provider message ids stay while WhatsApp may still redeliver a webhook (7 days; we keep
`DEDUPE_HORIZON`, 8), so a redelivered message cannot come back as new. Older ones are
replaced by a keyed hash at once, younger ones by `erasure_follow_up` (run daily with
the retention task), which also anonymises statuses that arrive after the erasure.

The erasure is recorded once (`ContactErasure`: who, when, how, counts); a second run
changes nothing and says so.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import secrets
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth.models import User
from django.core.files.storage import default_storage
from django.db import IntegrityError, connection, models, transaction
from django.db.models import F, Func, Q, TextField, Value
from django.db.models.functions import Cast
from django.utils import timezone

from agents.audit import audit_record
from agents.models import ConversationRouting
from bots.models import BotSession, DemoOrder, Handoff
from conversations.providers.sandbox.models import Phone
from notifications.consent import CATEGORIES, consent_is_current, consent_opt_out
from notifications.models import Campaign, CampaignRecipient, ConsentRecord, ConsentSource, IdempotencyKey

from .models import (
    ERASED_ID_PREFIX,
    Contact,
    ContactErasure,
    Conversation,
    ConversationEvent,
    Message,
    MessageStatusEvent,
    PlatformEvent,
    WebhookEvent,
)
from .statuses import statuses_apply_pending

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


def _chunks(ids: list[Any], size: int = CHUNK) -> Iterable[list[Any]]:
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
    for chunk in _chunks(ids):
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


def _platform_events_scrub(needles: Needles) -> int:
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
    named in payloads and any file field of the message model. Returns how many."""
    file_fields = [f.name for f in Message._meta.concrete_fields if isinstance(f, models.FileField)]
    paths: list[str] = []
    for row in messages.values("payload", *file_fields).iterator(chunk_size=CHUNK):
        paths += _storage_paths(row["payload"])
        paths += [str(row[name]) for name in file_fields if row[name]]
    if file_fields:
        messages.update(**dict.fromkeys(file_fields, ""))
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
    for chunk in _chunks(whispers):
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


def _wamids_replace(messages: models.QuerySet[Message]) -> int:
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
    for chunk in _chunks(conversation_ids):
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


def _digits(value: str) -> str:
    return "".join(ch for ch in value if ch.isdigit())


def _notifications_scrub(contact: Contact, needles: Needles, actor: User | None) -> dict[str, int]:
    counts = {"consent_records": 0, "campaign_recipients": 0, "campaigns": 0, "idempotency_keys": 0}
    counts["consent_records"] = (
        ConsentRecord.objects.filter(contact=contact).exclude(proof="").update(proof=ERASED)
    )
    for category in CATEGORIES:
        if consent_is_current(contact=contact, category=category):
            consent_opt_out(
                contact=contact, category=category, source=ConsentSource.ADMIN, proof="Personal data erased", actor=actor
            )
    counts["campaign_recipients"] = (
        CampaignRecipient.objects.filter(contact=contact).exclude(error_reason="").update(error_reason=ERASED)
    )
    phones = {_digits(i) for i in needles.identifiers if _digits(i) == i}
    for campaign in Campaign.objects.filter(number_id=contact.number_id).exclude(audience_csv="").select_for_update():
        lines = campaign.audience_csv.splitlines()
        kept = [
            ERASED if _digits(line.split(",")[0]) in phones or needles.mentions(line) else line for line in lines
        ]
        rejected = [
            {**r, "value": ERASED} if isinstance(r, dict) and _digits(str(r.get("value", ""))) in phones else r
            for r in campaign.audience_rejected or []
        ]
        if kept != lines or rejected != campaign.audience_rejected:
            campaign.audience_csv = "\n".join(kept)
            campaign.audience_rejected = rejected
            campaign.save(update_fields=["audience_csv", "audience_rejected"])
            counts["campaigns"] += 1
    keys = IdempotencyKey.objects.filter(message__conversation__contact=contact).select_for_update()
    for key in keys:
        # The request fingerprint hashes the phone number: a repeat of the request no
        # longer matches it, and gets `idempotency_key_reused` instead of a second send.
        key.response_body = scrub_json(key.response_body, needles)
        key.request_hash = "erased"
        key.save(update_fields=["response_body", "request_hash"])
        counts["idempotency_keys"] += 1
    return counts


def _sandbox_and_demo_scrub(contact: Contact, needles: Needles) -> dict[str, int]:
    ids = needles.identifiers
    phones = Phone.objects.filter(number_id=contact.number_id).filter(Q(wa_id__in=ids) | Q(user_id__in=ids))
    deleted, _ = phones.delete()
    orders = DemoOrder.objects.filter(customer_wa_id__in=ids).update(customer_wa_id="")
    return {"sandbox_records": deleted, "demo_orders": orders}


def _admin_history_scrub(contact: Contact, conversation_ids: list[int], needles: Needles) -> int:
    """The admin's change history names objects by their text form (a contact's name, a
    conversation's "#12 Name"): entries about the contact, its conversations and any row
    pointing at the contact, and entries naming one of its ids."""
    from django.apps import apps
    from django.contrib.admin.models import LogEntry
    from django.contrib.contenttypes.models import ContentType

    targets: list[tuple[type[models.Model], list[str]]] = [
        (Contact, [str(contact.pk)]),
        (Conversation, [str(pk) for pk in conversation_ids]),
    ]
    for model in apps.get_models():
        for f in model._meta.concrete_fields:
            if isinstance(f, models.ForeignKey) and f.related_model is Contact and model is not ContactErasure:
                ids = [str(pk) for pk in model._default_manager.filter(**{f.name: contact}).values_list("pk", flat=True)]
                if ids:
                    targets.append((model, ids))
    query = Q(pk__in=[])
    for model, ids in targets:
        content_type = ContentType.objects.get_for_model(model)
        for chunk in _chunks(ids):
            query |= Q(content_type=content_type, object_id__in=chunk)
    for identifier in needles.identifiers:
        query |= Q(object_repr__contains=identifier)
    count = 0
    for entry in LogEntry.objects.filter(query).only("pk", "change_message"):
        message = entry.change_message
        if needles.matches(message):
            message = ERASED
        LogEntry.objects.filter(pk=entry.pk).update(object_repr=ERASED, change_message=message)
        count += 1
    return count


# --- the service -----------------------------------------------------------------------------------


@dataclass
class ErasureResult:
    erasure: ContactErasure
    already_erased: bool
    counts: dict[str, int]

    @property
    def summary(self) -> str:
        erasure = self.erasure
        how = "via " + {"command": "the command line", "admin": "the admin", "api": "the API"}.get(erasure.via, erasure.via)
        if erasure.actor_username:
            how = f"by {erasure.actor_username} {how}"
        if self.already_erased:
            return (
                f"Contact {erasure.contact_ref} was already erased on {erasure.erased_at:%Y-%m-%d %H:%M} UTC "
                f"({how}); nothing changed."
            )
        done = ", ".join(f"{count} {kind.replace('_', ' ')}" for kind, count in self.counts.items() if count)
        return f"Erased contact {erasure.contact_ref}: {done or 'nothing else held its data'}."


def _needles_for(contact: Contact, messages: models.QuerySet[Message]) -> Needles:
    identifiers = {contact.wa_id, contact.user_id}
    texts: set[str] = set()
    for direction, text, payload in messages.values_list("direction", "text", "payload").iterator(chunk_size=CHUNK):
        texts.add(text)
        if direction == Message.Direction.INBOUND and isinstance(payload, dict):
            identifiers |= {str(payload.get("from") or ""), str(payload.get("from_user_id") or "")}
            system = payload.get("system")
            if isinstance(system, dict):
                identifiers |= {str(system.get("wa_id") or ""), str(system.get("new_wa_id") or "")}
    wamids = messages.filter(provider_message_id__isnull=False).values("provider_message_id")
    identifiers |= set(
        MessageStatusEvent.objects.filter(provider_message_id__in=wamids).exclude(recipient_id="").values_list(
            "recipient_id", flat=True
        )
    )
    identifiers.discard("")
    names = {contact.profile_name}
    names |= set(
        Phone.objects.filter(number_id=contact.number_id)
        .filter(Q(wa_id__in=identifiers) | Q(user_id__in=identifiers))
        .values_list("name", flat=True)
    )
    number = contact.number
    identifiers -= {number.display_phone_number, number.phone_number_id, number.business_account_id}
    return Needles(identifiers=identifiers, names=names, texts=texts)


def contact_erase(*, contact: Contact, actor: User | None, via: str = ContactErasure.Via.API) -> ErasureResult:
    """Erase `contact`'s personal data everywhere it is kept (see the module docstring),
    in one transaction holding the contact's row lock, and record the erasure.

    Idempotent: a contact already erased is left as it is and the earlier record is
    returned with `already_erased` set."""
    with transaction.atomic():
        locked = Contact.objects.select_for_update().select_related("number").get(pk=contact.pk)
        existing = ContactErasure.objects.filter(contact_ref=locked.pk).first()
        if existing is not None:
            return ErasureResult(erasure=existing, already_erased=True, counts={})

        conversation_ids = list(Conversation.objects.filter(contact=locked).values_list("pk", flat=True))
        messages = Message.objects.filter(conversation_id__in=conversation_ids)
        needles = _needles_for(locked, messages)
        token = TOKEN_PREFIX + secrets.token_hex(8)
        now = timezone.now()
        counts: dict[str, int] = {}

        counts["webhook_events"] = webhook_events_scrub(needles=needles)
        counts["platform_events"] = _platform_events_scrub(needles)
        wamids = messages.filter(provider_message_id__isnull=False).values("provider_message_id")
        counts["statuses"] = statuses_anonymise(
            statuses=MessageStatusEvent.objects.filter(
                Q(provider_message_id__in=wamids) | Q(recipient_id__in=needles.identifiers)
            ),
            recipient_token=token,
        )
        counts["files"] = message_files_delete(messages=messages)
        messages.filter(
            direction=Message.Direction.OUTBOUND, status=Message.Status.PENDING
        ).update(status=Message.Status.FAILED, error_code="erased", failed_at=now, next_attempt_at=None)
        counts["messages"] = messages_anonymise(messages=messages, marker=ERASED, flag="erased")
        counts["message_ids_replaced"] = _wamids_replace(messages.filter(created_at__lt=now - DEDUPE_HORIZON))
        counts.update(conversation_content_anonymise(conversation_ids=conversation_ids, marker=ERASED))
        counts.update(_notifications_scrub(locked, needles, actor))
        counts.update(_sandbox_and_demo_scrub(locked, needles))
        counts["admin_history"] = _admin_history_scrub(locked, conversation_ids, needles)

        Contact.objects.filter(pk=locked.pk).update(
            wa_id=token, user_id="", profile_name=ERASED, attributes={}, tags=[], updated_at=now
        )
        try:
            with transaction.atomic():
                erasure = ContactErasure.objects.create(
                    contact=locked,
                    contact_ref=locked.pk,
                    token=token,
                    actor=actor if actor is not None and actor.is_authenticated else None,
                    actor_username=actor.get_username() if actor is not None and actor.is_authenticated else "",
                    via=via,
                    erased_at=now,
                    counts=counts,
                )
        except IntegrityError:  # erased meanwhile by a connection that did not wait on the lock
            transaction.set_rollback(True)
            return ErasureResult(
                erasure=ContactErasure.objects.get(contact_ref=locked.pk), already_erased=True, counts={}
            )
        # Named by id only ("contact #12"): the audit log holds no personal data to erase.
        audit_record(actor=actor, action="contact.erase", target=locked, via=via, erasure=erasure.pk, counts=counts)
    log.info("contact %s erased by %s via %s", contact.pk, erasure.actor_username or "system", via)
    contact.refresh_from_db()
    return ErasureResult(erasure=erasure, already_erased=False, counts=counts)


def erasure_follow_up(*, now: datetime | None = None) -> dict[str, int]:
    """What an erasure could not finish at once (run daily, with the retention task):
    - statuses of erased contacts' messages that arrived after the erasure, and the raw
      webhook bodies carrying them, are anonymised;
    - a status that arrives for a message whose id was already replaced is recognised by
      the keyed id and anonymised too;
    - once the redelivery window has passed, the remaining provider message ids are
      replaced and the erasure is marked complete.
    Idempotent. Returns counts per kind."""
    now = now or timezone.now()
    counts = {"statuses": 0, "webhook_events": 0, "message_ids_replaced": 0, "completed": 0}
    erasures = ContactErasure.objects.filter(completed_at__isnull=True, contact__isnull=False).select_related("contact")
    for erasure in erasures:
        with transaction.atomic():
            messages = Message.objects.filter(conversation__contact=erasure.contact)
            wamids = messages.filter(provider_message_id__isnull=False).values("provider_message_id")
            late = MessageStatusEvent.objects.filter(provider_message_id__in=wamids).exclude(payload={"erased": True})
            statuses, events = _late_statuses_anonymise(late, erasure.token, since=erasure.erased_at - timedelta(days=1))
            counts["statuses"] += statuses
            counts["webhook_events"] += events
            if erasure.erased_at < now - DEDUPE_HORIZON:
                counts["message_ids_replaced"] += _wamids_replace(messages)
                ContactErasure.objects.filter(pk=erasure.pk).update(completed_at=now)
                counts["completed"] += 1
    # Statuses for messages whose id was replaced wait unapplied under the original id.
    waiting = MessageStatusEvent.objects.filter(
        applied_at__isnull=True, received_at__gte=now - timedelta(days=2)
    ).exclude(provider_message_id__startswith=WAMID_PREFIX)
    for status in waiting.only("pk", "provider_message_id", "received_at"):
        token = wamid_token(status.provider_message_id)
        message = Message.objects.filter(provider_message_id=token).select_related("conversation__contact__erasure").first()
        if message is None or not hasattr(message.conversation.contact, "erasure"):
            continue
        with transaction.atomic():
            erasure = message.conversation.contact.erasure
            statuses, events = _late_statuses_anonymise(
                MessageStatusEvent.objects.filter(pk=status.pk), erasure.token, since=status.received_at - timedelta(days=1)
            )
            counts["statuses"] += statuses
            counts["webhook_events"] += events
            try:
                with transaction.atomic():
                    MessageStatusEvent.objects.filter(pk=status.pk).update(provider_message_id=token)
            except IntegrityError:  # the same status was recorded before the id was replaced
                MessageStatusEvent.objects.filter(pk=status.pk).delete()
        statuses_apply_pending(message=message)  # forward only, as any status
    return counts


def _late_statuses_anonymise(
    statuses: models.QuerySet[MessageStatusEvent], token: str, *, since: datetime
) -> tuple[int, int]:
    """Anonymise statuses that reached an erased contact's messages after its erasure, and
    the raw bodies (received since `since`) that name their recipients. Returns (statuses,
    webhook events) changed."""
    recipients = {r for r in statuses.values_list("recipient_id", flat=True) if r and r != token}
    events = webhook_events_scrub(needles=Needles(identifiers=recipients), since=since) if recipients else 0
    return statuses_anonymise(statuses=statuses, recipient_token=token), events
