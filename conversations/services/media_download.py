"""Media from WhatsApp: record a customer's image, voice note, video, document or sticker
when its message is stored (or one the business sent from its own WhatsApp Business app,
an `smb_message_echoes` item stored as an outbound message), and download it in a task.

Only WhatsApp's media-id flow is used: `GET /{media-id}` on the number's Graph base
answers a short-lived URL, and that URL (nothing else, and never a `url` a webhook
payload carries) is fetched with the number's token, from an allowed host only
(conversations.providers.whatsapp.media_fetch), within the size cap of its kind, and the
bytes must be what the MIME type says (conversations.media_types). Images and stickers
get a thumbnail here, in the task (conversations.media_thumbnails).

Idempotent: a message is stored once (its wamid is unique), so is its media row (one per
message); `media_download` claims the row with a compare-and-set (`pending` →
`downloading`) before any outside call, so a second run or a redelivered webhook
downloads nothing twice. The claim is a lease the sweep takes back from a crashed
worker. Temporary errors go back to `pending` with a backoff (MEDIA_DOWNLOAD_MAX_ATTEMPTS
at most); the rest mark the media `failed` with the reason, and the message stays. An
agent may retry a failed download. Every outcome publishes `message.updated`.
"""

from __future__ import annotations

import hashlib
import logging
import random
import re
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth.models import User
from django.core.files.base import ContentFile
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext

from config import task_names
from config.refusals import Refused
from config.tasking import enqueue_on_commit
from conversations import access
from conversations.events import publish_message
from conversations.media_thumbnails import media_thumbnail
from conversations.media_types import KINDS, SIZE_CAPS, a_kind, base_type, bytes_match, human_size, sniff
from conversations.models import Message, MessageMedia
from conversations.processing.summaries import as_dict
from conversations.providers.whatsapp import GraphClient, GraphError, MediaFetchError

log = logging.getLogger(__name__)

LEASE = timedelta(minutes=5)
_HEX64 = re.compile(r"^[0-9a-f]{64}$")


@dataclass(frozen=True)
class DownloadResult:
    outcome: str  # stored | failed | retry | skipped
    retry_in: float | None = None


def from_whatsapp(message: Message) -> bool:
    """The message's file is WhatsApp's to download by media id: a customer's (inbound), or
    one the business sent from its WhatsApp Business app (an echo, `message_echo_record`:
    outbound by no desk user, its payload the echo with the business as `from`). A file a
    desk user, the API or a bot sent was uploaded by Handoff and is never downloaded."""
    if message.direction == Message.Direction.INBOUND:
        return True
    return (
        message.sender_kind == Message.SenderKind.AGENT
        and message.sender_user_id is None
        and isinstance(message.payload, dict)
        and bool(message.payload.get("from"))
    )


def media_record_inbound(*, message: Message, upload: bytes | None = None) -> MessageMedia | None:
    """Record the media of a media message from WhatsApp (`from_whatsapp`; in the caller's
    transaction, right after the message was stored). Only the media id is kept to fetch by; a `url` in the
    payload is never used. A media message without an id is recorded `failed`. Returns
    None for other messages. The caller publishes the message, then calls
    `media_download_dispatch`: a download that fails at once must not reach the desk
    before the message it belongs to.

    `upload`: the bytes of a file a web chat visitor sent (already checked by
    `media_send.media_file_check`): stored at once, with its thumbnail, nothing downloaded."""
    if message.type not in KINDS or not isinstance(message.payload, dict) or not from_whatsapp(message):
        return None
    obj = as_dict(message.payload.get(message.type))
    if upload is not None:
        return _record_upload(message, obj, upload)
    media_id = str(obj.get("id") or "").strip()
    media = MessageMedia.objects.create(
        message=message,
        kind=message.type,
        media_id=media_id[:191],
        voice=bool(obj.get("voice")),
        mime_type=str(obj.get("mime_type") or "")[:127],
        file_name=str(obj.get("filename") or "")[:255],
        sha256=str(obj.get("sha256") or "")[:64],
        state=MessageMedia.State.PENDING if media_id else MessageMedia.State.FAILED,
        failure_code="" if media_id else "no_media_id",
        failure_reason="" if media_id else "WhatsApp sent no media id for this file.",
        next_attempt_at=timezone.now() + LEASE,
    )
    message.media = media
    return media


def media_download_dispatch(media: MessageMedia | None) -> None:
    """Enqueue the download of newly recorded media after commit (after the callbacks
    registered before this call, such as the message's own event)."""
    if media is not None and media.state == MessageMedia.State.PENDING:
        enqueue_on_commit(task_names.MEDIA_DOWNLOAD, media_id=media.pk)


def _record_upload(message: Message, obj: dict[str, Any], data: bytes) -> MessageMedia:
    mime = str(obj.get("mime_type") or "")[:127]
    media = MessageMedia(
        message=message,
        kind=message.type,
        mime_type=mime,
        file_name=str(obj.get("filename") or "")[:255],
        size=len(data),
        sha256=hashlib.sha256(data).hexdigest(),
        state=MessageMedia.State.STORED,
        stored_at=timezone.now(),
    )
    media.file.save(media.file_name or f"{media.kind}{_extension(mime)}", ContentFile(data), save=False)
    thumbnail_store(media, data)
    media.save()
    message.media = media
    return media


def _backoff(attempts: int) -> float:
    delay = settings.WHATSAPP_RETRY_BASE_SECONDS * (2 ** max(attempts - 1, 0))
    return min(delay, settings.WHATSAPP_RETRY_MAX_SECONDS) * random.uniform(1.0, 1.2)


class _Refusal(Exception):
    def __init__(self, code: str, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


def media_download(*, media_id: int) -> DownloadResult:
    """Download one recorded media file from WhatsApp; safe to run any number of times (see the
    module). Requires nothing held; calls Graph outside any transaction."""
    try:  # `get`, not `first`: no ORDER BY to build for one row by its key
        media = MessageMedia.objects.select_related(
            "message__conversation__number", "message__conversation__contact"
        ).get(pk=media_id)
    except MessageMedia.DoesNotExist:
        return DownloadResult("skipped")
    if media.state != MessageMedia.State.PENDING or not from_whatsapp(media.message):
        return DownloadResult("skipped")
    now = timezone.now()
    claimed = MessageMedia.objects.filter(pk=media.pk, state=MessageMedia.State.PENDING, attempts=media.attempts).update(
        state=MessageMedia.State.DOWNLOADING, attempts=F("attempts") + 1, next_attempt_at=now + LEASE
    )
    if not claimed:
        return DownloadResult("skipped")
    media.state, media.attempts = MessageMedia.State.DOWNLOADING, media.attempts + 1
    if media.message.conversation.contact.is_erased:
        return _failed(media, "erased", "The contact's data was erased.")
    client = GraphClient(media.message.conversation.number)
    cap = SIZE_CAPS[media.kind]
    try:
        info = client.media_info(media.media_id)
        data = _fetch(client, media, info, cap)
        mime, sha = _check(media, info, data, cap)
    except _Refusal as refusal:
        return _failed(media, refusal.code, refusal.reason)
    except GraphError as exc:
        return _error(media, f"graph_{exc.code_text}"[:32], f"Graph: {exc}", transient=exc.transient)
    except MediaFetchError as exc:
        return _error(media, exc.code, exc.reason, transient=exc.transient)
    return _stored(media, data, mime, sha)


def _fetch(client: GraphClient, media: MessageMedia, info: dict[str, Any], cap: int) -> bytes:
    url = info.get("url")
    if not isinstance(url, str) or not url:
        raise _Refusal("no_url", "Graph answered no download URL for this media id.")
    declared = info.get("file_size")
    if isinstance(declared, int | str) and str(declared).isdigit() and int(declared) > cap:
        raise _Refusal("too_large", _too_large(media.kind, int(declared)))
    try:
        return client.media_fetch(url, cap=cap)
    except MediaFetchError as exc:
        if exc.code == "too_large":
            raise _Refusal("too_large", _too_large(media.kind, None)) from exc
        raise


def _too_large(kind: str, size: int | None) -> str:
    cap = human_size(SIZE_CAPS[kind])
    said = f" ({human_size(size)})" if size else ""
    return f"The {kind} is larger{said} than WhatsApp's {cap} limit for {a_kind(kind)}; not downloaded."


def _check(media: MessageMedia, info: dict[str, Any], data: bytes, cap: int) -> tuple[str, str]:
    if len(data) > cap:
        raise _Refusal("too_large", _too_large(media.kind, len(data)))
    mime = base_type(str(info.get("mime_type") or media.mime_type))
    detected = sniff(data[:8192])
    if not bytes_match(declared=mime, detected=detected, kind=media.kind):
        raise _Refusal(
            "mime_mismatch",
            f"The file says it is {mime or 'of no type'} but its bytes are {detected or 'not a known type'}; not stored.",
        )
    sha = hashlib.sha256(data).hexdigest()
    for expected in (str(info.get("sha256") or "").lower(), media.sha256.lower()):
        if _HEX64.match(expected) and expected != sha:
            raise _Refusal("checksum", "The file's SHA-256 is not the one WhatsApp gave; not stored.")
    return mime, sha


def thumbnail_store(media: MessageMedia, data: bytes) -> None:
    """Put a small copy of an image or sticker in storage as the media's thumbnail (the row
    is saved by the caller; conversations.media_thumbnails); nothing for other kinds or an
    image that cannot be read."""
    thumb = media_thumbnail(data) if media.kind in ("image", "sticker") else None
    if thumb is not None:
        media.thumbnail.save(f"thumb{thumb.extension}", ContentFile(thumb.data), save=False)


def _stored(media: MessageMedia, data: bytes, mime: str, sha: str) -> DownloadResult:
    name = media.file_name or f"{media.kind}{_extension(mime)}"
    media.file.save(name, ContentFile(data), save=False)
    thumbnail_store(media, data)
    now = timezone.now()
    # One statement, so no transaction of its own: the event goes out once it committed.
    done = MessageMedia.objects.filter(pk=media.pk, state=MessageMedia.State.DOWNLOADING).update(
        state=MessageMedia.State.STORED,
        file=media.file.name,
        thumbnail=media.thumbnail.name or "",
        mime_type=mime[:127],
        size=len(data),
        sha256=sha,
        stored_at=now,
        next_attempt_at=None,
        failure_code="",
        failure_reason="",
    )
    if not done:  # the lease ran out and the row moved on: this copy is not referenced
        for stored in (media.file.name, media.thumbnail.name):
            if stored:
                media.file.storage.delete(stored)
        return DownloadResult("skipped")
    media.state, media.mime_type, media.size, media.sha256 = MessageMedia.State.STORED, mime[:127], len(data), sha
    media.stored_at, media.failure_code, media.failure_reason = now, "", ""
    _publish_loaded(media)
    return DownloadResult("stored")


_EXTENSIONS = {
    "image/jpeg": ".jpg", "image/png": ".png", "image/webp": ".webp", "audio/ogg": ".ogg", "audio/mpeg": ".mp3",
    "audio/mp4": ".m4a", "audio/aac": ".aac", "audio/amr": ".amr", "video/mp4": ".mp4", "video/3gpp": ".3gp",
    "application/pdf": ".pdf", "text/plain": ".txt",
}


def _extension(mime: str) -> str:
    return _EXTENSIONS.get(mime, "")


def _error(media: MessageMedia, code: str, reason: str, *, transient: bool) -> DownloadResult:
    if not transient or media.attempts >= settings.MEDIA_DOWNLOAD_MAX_ATTEMPTS:
        if transient:
            reason = f"{reason} (gave up after {media.attempts} attempts)"
        return _failed(media, code, reason)
    delay = _backoff(media.attempts)
    MessageMedia.objects.filter(pk=media.pk, state=MessageMedia.State.DOWNLOADING).update(
        state=MessageMedia.State.PENDING,
        next_attempt_at=timezone.now() + timedelta(seconds=delay) + LEASE,
        failure_code=code[:32],
        failure_reason=reason[:2000],
    )
    log.info("media %s: %s; retry in %.0f s", media.pk, reason, delay)
    return DownloadResult("retry", delay)


def _failed(media: MessageMedia, code: str, reason: str) -> DownloadResult:
    log.warning("media %s of message %s not downloaded: %s (%s)", media.pk, media.message_id, reason, code)
    with transaction.atomic():
        done = MessageMedia.objects.filter(pk=media.pk, state=MessageMedia.State.DOWNLOADING).update(
            state=MessageMedia.State.FAILED, failure_code=code[:32], failure_reason=reason[:2000], next_attempt_at=None
        )
        if done:
            media.state, media.failure_code, media.failure_reason = MessageMedia.State.FAILED, code[:32], reason[:2000]
            _publish_loaded(media)
    return DownloadResult("failed")


def _publish_loaded(media: MessageMedia) -> None:
    """`message.updated` from the rows already loaded (message, conversation, contact)."""
    message = media.message
    message.media = media
    publish_message(message, "message.updated")


def _publish(message_id: int) -> None:
    message = Message.objects.select_related("conversation__contact", "sender_user", "media").get(pk=message_id)
    publish_message(message, "message.updated")


def media_download_retry(*, user: User, message: Message) -> MessageMedia:
    """Try a failed download again (a person asked): back to `pending` with fresh attempts,
    the download enqueued after commit, `message.updated` published. Refused `forbidden`
    to a user who may not see the conversation, `invalid` when there is no failed
    download to retry."""
    if not access.may_see(access.roles_for(user), access.conversation_shape(message.conversation)):
        raise Refused("forbidden", access.NOT_VISIBLE)
    with transaction.atomic():
        media = MessageMedia.objects.select_for_update().filter(message=message).first()
        if media is None or not from_whatsapp(message):
            raise Refused("invalid", gettext("This message has no downloaded file to retry."))
        if media.state != MessageMedia.State.FAILED:
            raise Refused("invalid", gettext("The file is %(state)s; only a failed download is retried.")
                          % {"state": gettext(media.get_state_display()).lower()})
        if not media.media_id:
            raise Refused("invalid", gettext("WhatsApp sent no media id for this file, so it cannot be downloaded."))
        MessageMedia.objects.filter(pk=media.pk).update(
            state=MessageMedia.State.PENDING, attempts=0, next_attempt_at=timezone.now() + LEASE
        )
        media.refresh_from_db()
        _publish(message.pk)
        enqueue_on_commit(task_names.MEDIA_DOWNLOAD, media_id=media.pk)
    return media


def media_downloads_redispatch_due(*, limit: int = 200) -> int:
    """Dispatch downloads nobody ran: `pending` past their time (a lost dispatch, a retry
    after a restart) and `downloading` whose lease ran out (a crashed worker). Each is
    re-leased first, so overlapping sweeps dispatch it once. Returns how many."""
    now = timezone.now()
    due = list(
        MessageMedia.objects.filter(
            Q(state=MessageMedia.State.PENDING) | Q(state=MessageMedia.State.DOWNLOADING),
            next_attempt_at__lte=now,
        ).values_list("pk", "state")[:limit]
    )
    count = 0
    for pk, state in due:
        with transaction.atomic():
            if MessageMedia.objects.filter(pk=pk, state=state, next_attempt_at__lte=now).update(
                state=MessageMedia.State.PENDING, next_attempt_at=now + LEASE
            ):
                enqueue_on_commit(task_names.MEDIA_DOWNLOAD, media_id=pk)
                count += 1
    return count
