"""The audit log: one place that records who did what to what.

`audit_record` writes one `AuditEntry` in the caller's transaction: a change that is
rolled back leaves no entry, and a change is never committed without its entry (a failing
audit write fails the change). Only the sign-in signal receivers, which run outside any
change, swallow (and log) a failed write, so that the audit log can never lock people out.

What is never stored as a value:
- secrets: fields named like a password, token, secret, key or auth header, and encrypted
  fields, are recorded as "••• changed";
- customers' personal data (a contact's name, phone number / WhatsApp id, attributes, tags,
  consent proof, uploaded audience lists, message text): recorded as "••• changed" too, and
  objects whose name shows such data are named by type and id ("contact #12"). Erasing a
  customer therefore never needs to touch this table.

Who and where: `actor` (a user, or None for the system) and, from the request or from the
request being served (`audit_context_middleware`), the client's IP address and user agent.
"""

from __future__ import annotations

import contextvars
import datetime
import ipaddress
import logging
import re
import uuid
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from asgiref.sync import iscoroutinefunction
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AnonymousUser, User
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import FieldDoesNotExist
from django.db import DatabaseError, models, transaction
from django.db.models.fields.files import FieldFile
from django.utils import timezone
from django.utils.decorators import sync_and_async_middleware
from django.utils.functional import LazyObject, empty
from encrypted_model_fields.fields import EncryptedMixin

from agents.models import AuditEntry

log = logging.getLogger(__name__)

MASKED = "••• changed"
MAX_TEXT = 300
MAX_ITEMS = 50
PRUNE_BATCH = 5000

# A field is secret when its name contains one of these, or one of its underscore-separated
# parts is one of the short words (so `auth_header` and `api_key` are secret, `keywords` is not).
_SECRET_SUBSTRINGS = ("password", "secret", "token", "credential", "passphrase", "private")
_SECRET_PARTS = {"key", "auth", "authorization", "hmac", "signature", "pin", "otp"}

# Customers' personal data. Every field of these models may hold some (raw webhooks,
# messages, timelines, bot state, handoff context), so none is stored as a value:
_PERSONAL_MODELS = {
    "conversations.contact", "conversations.message", "conversations.messagestatusevent",
    "conversations.conversationevent", "conversations.webhookevent", "conversations.platformevent",
    "conversations.contacterasure", "bots.botsession", "bots.services.handoff", "notifications.campaignrecipient",
    "notifications.idempotencykey", "sandbox.phone", "sandbox.phonemessage",
}
# ...and these fields wherever they appear:
_PERSONAL_NAMES = {"wa_id", "user_id", "profile_name", "phone", "phone_number", "proof", "attributes", "tags",
                   "recipient_id", "customer_wa_id", "audience_csv", "audience_rejected", "transcript",
                   "collected_values", "last_message_preview"}
# Objects whose str() shows a customer's name or number are named by type and id instead.
_NAMED_BY_ID = {"conversations.contact", "conversations.conversation", "conversations.message",
                "notifications.consentrecord", "notifications.campaignrecipient", "sandbox.phone"}

_request_meta: contextvars.ContextVar[tuple[str | None, str] | None] = contextvars.ContextVar(
    "audit_request_meta", default=None
)


# --- masking and values ---------------------------------------------------------------------


def _label(model: Any) -> str:
    return model._meta.label_lower if model is not None else ""


def field_is_secret(model: Any, name: str) -> bool:
    """Whether the field `name` (of `model`, when known) holds a secret."""
    lowered = name.lower()
    if any(word in lowered for word in _SECRET_SUBSTRINGS):
        return True
    if _SECRET_PARTS & set(re.split(r"[^a-z0-9]+", lowered)):
        return True
    if model is not None:
        try:
            field = model._meta.get_field(name)
        except FieldDoesNotExist:  # a form-only field
            return False
        return isinstance(field, EncryptedMixin)
    return False


def field_is_personal(model: Any, name: str) -> bool:
    """Whether the field `name` (of `model`, when known) holds a customer's personal data."""
    return _label(model) in _PERSONAL_MODELS or name.lower() in _PERSONAL_NAMES


def _masked(model: Any, name: str) -> bool:
    return field_is_secret(model, name) or field_is_personal(model, name)


def _secret_values(obj: models.Model) -> list[str]:
    values = []
    for field in obj._meta.concrete_fields:
        if field_is_secret(type(obj), field.name):
            value = getattr(obj, field.attname, None)
            if isinstance(value, str) and value:
                values.append(value)
    return values


def audit_repr(obj: Any) -> str:
    """How an object is named in the log: its str(), unless that could show a customer's
    personal data or a secret (then its type and id)."""
    if obj is None:
        return ""
    if not isinstance(obj, models.Model):
        return str(obj)[:200]
    named = f"{obj._meta.verbose_name} #{obj.pk}"
    if _label(type(obj)) in _NAMED_BY_ID:
        return named
    text = str(obj)
    secrets = _secret_values(obj)
    if any(secret in text for secret in secrets):
        return str(obj._meta.verbose_name) if str(obj.pk) in secrets else named
    return text[:200]


def audit_value(value: Any) -> Any:
    """A JSON-safe, bounded form of a value for the log."""
    if value is None or isinstance(value, bool | int | float):
        return value
    if isinstance(value, str):
        return value if len(value) <= MAX_TEXT else value[: MAX_TEXT - 1] + "…"
    if isinstance(value, models.Model):
        return audit_repr(value)
    if isinstance(value, datetime.datetime | datetime.date | datetime.time):
        return value.isoformat()
    if isinstance(value, datetime.timedelta):
        return value.total_seconds()
    if isinstance(value, Decimal | uuid.UUID):
        return str(value)
    if isinstance(value, FieldFile):
        return value.name or ""
    if isinstance(value, bytes | bytearray | memoryview):
        return f"<{len(value)} bytes>"
    if isinstance(value, Mapping):
        return {str(k): audit_value(v) for k, v in list(value.items())[:MAX_ITEMS]}
    if isinstance(value, list | tuple | set | frozenset | models.QuerySet):
        items = [audit_value(item) for item in list(value)[:MAX_ITEMS]]
        return sorted(items, key=str) if isinstance(value, set | frozenset | models.QuerySet) else items
    return audit_value(str(value))


def audit_changes(model: Any, changes: Mapping[str, Any] | None) -> dict[str, Any]:
    """`{field: [before, after]}` made safe for the log: secrets and personal data masked
    (by the last dotted part of the key, against `model`), values JSON-safe, and fields
    whose before and after are the same left out."""
    safe: dict[str, Any] = {}
    for key, pair in (changes or {}).items():
        name = str(key).rsplit(".", 1)[-1]
        if pair == MASKED or _masked(model, name):
            safe[str(key)] = MASKED
            continue
        before, after = pair if isinstance(pair, list | tuple) and len(pair) == 2 else (None, pair)
        before, after = audit_value(before), audit_value(after)
        if before != after:
            safe[str(key)] = [before, after]
    return safe


# --- where a request came from ---------------------------------------------------------------


def _meta_of(request: Any) -> tuple[str | None, str]:
    meta = getattr(request, "META", None) or {}
    ip: str | None = meta.get("REMOTE_ADDR") or None
    if ip is not None:
        try:
            ip = str(ipaddress.ip_address(ip))
        except ValueError:
            ip = None
    return ip, str(meta.get("HTTP_USER_AGENT", ""))[:200]


@sync_and_async_middleware
def audit_context_middleware(get_response):
    """Remembers the client's IP address and user agent while a request is served, so that
    services writing audit entries without the request still record where it came from."""
    if iscoroutinefunction(get_response):

        async def middleware(request):
            token = _request_meta.set(_meta_of(request))
            try:
                return await get_response(request)
            finally:
                _request_meta.reset(token)

    else:

        def middleware(request):  # type: ignore[misc]
            token = _request_meta.set(_meta_of(request))
            try:
                return get_response(request)
            finally:
                _request_meta.reset(token)

    return middleware


# --- writing --------------------------------------------------------------------------------


def _unwrap(obj: Any) -> Any:
    """`request.user` is a lazy proxy: its `type()` is the proxy's, not the model's."""
    if isinstance(obj, LazyObject):
        if obj._wrapped is empty:
            obj._setup()
        return obj._wrapped
    return obj


def audit_record(
    *,
    actor: User | AnonymousUser | None,
    action: str,
    target: Any = None,
    changes: Mapping[str, Any] | None = None,
    request: Any = None,
    actor_username: str = "",
    **extra: Any,
) -> AuditEntry:
    """Record that `actor` (a user; None or anonymous for the system) did `action` (a short
    dotted code) to `target` (a model instance, or a model class for a bulk action), with
    `changes` as `{field: [before, after]}` and `extra` details. Runs in the caller's
    transaction; masks secrets and personal data (see the module docstring)."""
    actor, target = _unwrap(actor), _unwrap(target)
    user = actor if isinstance(actor, User) and actor.is_authenticated and actor.pk else None
    username = user.get_username() if user is not None else actor_username
    target_type = target_id = None
    target_repr = ""
    model: Any = None
    if isinstance(target, type) and issubclass(target, models.Model):
        model = target
        target_type = ContentType.objects.get_for_model(target, for_concrete_model=False)
        target_repr = str(target._meta.verbose_name_plural)
    elif isinstance(target, models.Model):
        model = type(target)
        target_type = ContentType.objects.get_for_model(target, for_concrete_model=False)
        pk = target.pk
        target_id = "" if pk is None or str(pk) in _secret_values(target) else str(pk)
        target_repr = audit_repr(target)
    ip, user_agent = _meta_of(request) if request is not None else (_request_meta.get() or (None, ""))
    return AuditEntry.objects.create(
        at=timezone.now(),
        actor=user,
        actor_username=(username or "")[:150],
        action=action[:64],
        target_type=target_type,
        target_id=(target_id or "")[:64],
        target_repr=target_repr[:200],
        changes=audit_changes(model, changes),
        ip=ip,
        user_agent=user_agent,
        extra={key: audit_value(value) for key, value in extra.items()},
    )


def _record_quietly(**kwargs: Any) -> None:
    try:
        with transaction.atomic():
            audit_record(**kwargs)
    except DatabaseError:
        log.exception("could not write the audit entry for %s", kwargs.get("action"))


# --- sign-ins -------------------------------------------------------------------------------


def _path(request: Any) -> str:
    return str(getattr(request, "path", "") or "")[:200]


def audit_logged_in(sender: Any, request: Any = None, user: User | None = None, **kwargs: Any) -> None:
    _record_quietly(actor=user, action="auth.login", target=user, request=request, path=_path(request))


def audit_logged_out(sender: Any, request: Any = None, user: User | None = None, **kwargs: Any) -> None:
    if user is not None:
        _record_quietly(actor=user, action="auth.logout", target=user, request=request, path=_path(request))


def audit_login_failed(sender: Any, credentials: Any = None, request: Any = None, **kwargs: Any) -> None:
    """The username tried (truncated) and where from; the account, when one has that name.
    Django has already replaced the password in `credentials`; it is never read here."""
    user_model = get_user_model()
    credentials = credentials or {}
    username = str(credentials.get(user_model.USERNAME_FIELD) or credentials.get("username") or "")[:150]
    account = user_model._default_manager.filter(**{user_model.USERNAME_FIELD: username}).first() if username else None
    _record_quietly(
        actor=None, actor_username=username, action="auth.login_failed", target=account, request=request,
        path=_path(request),
    )


def audit_signals_connect() -> None:
    """Called from AgentsConfig.ready(): desk, admin and API sign-ins all go through
    Django's authentication and send these signals."""
    from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed

    user_logged_in.connect(audit_logged_in, dispatch_uid="agents.services.audit.logged_in")
    user_logged_out.connect(audit_logged_out, dispatch_uid="agents.services.audit.logged_out")
    user_login_failed.connect(audit_login_failed, dispatch_uid="agents.services.audit.login_failed")


# --- retention ------------------------------------------------------------------------------


def audit_prune(*, now: datetime.datetime | None = None) -> int:
    """Delete entries older than `AUDIT_RETENTION_DAYS` (0 keeps them forever), in batches
    so no single statement holds the table long. Safe to run twice; a run that deletes
    anything is itself recorded (`audit.prune`)."""
    days = int(settings.AUDIT_RETENTION_DAYS)
    if days <= 0:
        return 0
    cutoff = (now or timezone.now()) - datetime.timedelta(days=days)
    deleted = 0
    while True:
        ids = list(AuditEntry.objects.filter(at__lt=cutoff).order_by("at").values_list("id", flat=True)[:PRUNE_BATCH])
        if not ids:
            break
        deleted += AuditEntry.objects.filter(id__in=ids).delete()[0]
    if deleted:
        audit_record(actor=None, action="audit.prune", deleted=deleted, older_than=cutoff, retention_days=days)
    return deleted


def erasure_audit_record(
    *, actor: User | None, contact: Any, via: str, erasure: Any, counts: dict[str, int]
) -> AuditEntry:
    """A contact's erasure in the audit log, registered as an erasure recorder
    (`conversations.erasure_parts`). Named by id only ("contact #12"): the audit log holds
    no personal data to erase."""
    return audit_record(actor=actor, action="contact.erase", target=contact, via=via, erasure=erasure.pk, counts=counts)


def merge_audit_record(*, survivor: Any, merged_id: int, reason: str, counts: dict[str, int]) -> AuditEntry:
    """Two contacts merged into one, registered as a merge recorder
    (`conversations.merge_parts`). Named by id only, like an erasure."""
    return audit_record(actor=None, action="contact.merge", target=survivor, via="webhook", merged_contact=merged_id,
                        reason=reason, counts=counts)
