"""Files at the stand-in Graph API: what the business uploads to send, and what a simulated
customer sends (a photo, a voice note, a document), fetched by the real download path
(`GET /{media-id}`, then its URL with the token) like WhatsApp's."""

from __future__ import annotations

import hashlib
import secrets
from typing import Any

from django.core.files.base import ContentFile
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from config import task_names
from config.tasking import enqueue_on_commit
from conversations.models import WhatsAppNumber
from conversations.providers.sandbox import graph
from conversations.providers.sandbox.hooks import unix_now
from conversations.providers.sandbox.models import Phone, PhoneMessage, SandboxMedia

MAX_BYTES = 100 * 1024 * 1024
CUSTOMER_MAX_BYTES = 16 * 1024 * 1024


class MediaInvalid(ValueError):
    """A file the sandbox will not take; the text says why."""


def _base(mime: str) -> str:
    return (mime or "").split(";", 1)[0].strip().lower()


def media_store(*, number: WhatsAppNumber, origin: str, data: bytes, mime_type: str, file_name: str = "") -> SandboxMedia:
    """Keep a file under a fresh media id, as Graph does for an upload."""
    if not data:
        raise MediaInvalid("The file is empty.")
    if len(data) > MAX_BYTES:
        raise MediaInvalid("The file is over 100 MB.")
    media = SandboxMedia(
        media_id=str(10**15 + secrets.randbelow(9 * 10**15)),
        number=number,
        origin=origin,
        mime_type=mime_type or "application/octet-stream",
        file_name=(file_name or "")[:255],
        size=len(data),
        sha256=hashlib.sha256(data).hexdigest(),
    )
    media.file.save(media.media_id, ContentFile(data), save=False)
    media.save()
    return media


def media_info(*, media: SandboxMedia, url: str) -> dict[str, Any]:
    """Graph's answer to `GET /{media-id}`."""
    return {
        "messaging_product": "whatsapp",
        "url": url,
        "mime_type": media.mime_type,
        "sha256": media.sha256,
        "file_size": media.size,
        "id": media.media_id,
    }


def customer_kind(mime: str) -> str:
    """How WhatsApp would send a file of this type from a phone."""
    mime = _base(mime)
    if mime in ("image/jpeg", "image/png"):
        return "image"
    if mime == "image/webp":
        return "sticker"
    if mime.startswith("audio/"):
        return "audio"
    if mime.startswith("video/"):
        return "video"
    return "document"


def media_view_url(media_id: str) -> str:
    return reverse("sandbox:media", args=[media_id])


@transaction.atomic
def customer_media_send(
    *, phone: Phone, webhook_url: str, data: bytes, mime_type: str, file_name: str = "", caption: str = "",
    voice: bool = False,
) -> PhoneMessage:
    """The customer sends a file: kept at the stand-in Graph under a media id, recorded on
    the phone, and posted to the business as a webhook (after commit) carrying the id, type
    and SHA-256 only, as WhatsApp's do."""
    if len(data) > CUSTOMER_MAX_BYTES:
        raise MediaInvalid("The sandbox phone sends files up to 16 MB.")
    mime = _base(mime_type) or "application/octet-stream"
    kind = customer_kind(mime)
    media = media_store(number=phone.number, origin=SandboxMedia.Origin.CUSTOMER, data=data, mime_type=mime,
                        file_name=file_name)
    obj: dict[str, Any] = {"id": media.media_id, "mime_type": mime, "sha256": media.sha256}
    caption = (caption or "").strip()[:1024]
    if kind in ("image", "video", "document") and caption:
        obj["caption"] = caption
    if kind == "document":
        obj["filename"] = media.file_name or "document"
    if kind == "audio":
        obj["voice"] = bool(voice)
    if kind == "sticker":
        obj["animated"] = False
    message: dict[str, Any] = {}
    if phone.wa_id:
        message["from"] = phone.wa_id
    message["from_user_id"] = phone.user_id
    message.update({"id": f"wamid.SANDBOX{secrets.token_hex(12).upper()}", "timestamp": unix_now(), "type": kind, kind: obj})
    label = "voice message" if kind == "audio" and voice else kind
    summary = f"[{label}] {obj.get('filename') or caption}".strip()
    created = PhoneMessage.objects.create(
        phone=phone,
        direction=PhoneMessage.Direction.FROM_CUSTOMER,
        wamid=message["id"],
        type=kind,
        content=message,
        rendered={"body": caption, "media": kind, "media_url": media_view_url(media.media_id),
                  "file_name": media.file_name, "mime_type": mime, "voice": bool(voice)},
        text=summary,
        webhook_url=webhook_url,
    )
    Phone.objects.filter(pk=phone.pk).update(last_sent_at=timezone.now())
    enqueue_on_commit(task_names.SANDBOX_POST_CUSTOMER_MESSAGE, message_id=created.pk)
    return created


def media_rendered(*, number: WhatsAppNumber, kind: str, body: dict[str, Any], rendered: dict[str, Any]) -> dict[str, Any]:
    """What the phone shows of a media message the business sent: the file by its uploaded
    id (refused with Graph's error when the id is not this number's), or the link."""
    obj = body.get(kind) or {}
    media_id = str(obj.get("id") or "")
    if media_id:
        media = SandboxMedia.objects.filter(media_id=media_id, number=number).first()
        if media is None:
            raise graph.GraphProblem(131053, "(#131053) Media upload error", f"Unknown media id {media_id}.")
        rendered.update(
            media_url=media_view_url(media.media_id), file_name=obj.get("filename") or media.file_name,
            mime_type=media.mime_type,
        )
    elif obj.get("link"):
        rendered["media_link"] = str(obj["link"])
    return rendered
