"""Serving media files: only to users who may see the message's conversation, checked on
every request (conversations.access, the same rule as pages, API and socket).

Images, audio and video are served inline with `X-Content-Type-Options: nosniff`;
everything else (documents, and SVG, HTML, XML or any type not known to be harmless) as
a download (`Content-Disposition: attachment`, `application/octet-stream` unless it is a
document type WhatsApp sends). Every answer carries `Content-Security-Policy: sandbox`,
so a file opened directly can run nothing in the site's origin.
"""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import FileResponse, Http404, HttpRequest
from django.views.decorators.http import require_GET

from conversations.access import conversation_for_user
from conversations.media_types import SEND_TYPES, base_type, served_inline
from conversations.models import Message, MessageMedia

_DOWNLOAD_TYPES = frozenset(SEND_TYPES["document"]) - {"text/html", "image/svg+xml"}


def media_for_user(user, message_id: int, conversation_id: int | None = None) -> MessageMedia:
    """The stored media of message `message_id` if the user may see its conversation (and it
    is in `conversation_id` when given); `Http404` otherwise, whether it exists or not."""
    message = Message.objects.filter(pk=message_id).only("pk", "conversation_id").first()
    if message is None or (conversation_id is not None and message.conversation_id != conversation_id):
        raise Http404("No such file.")
    conversation_for_user(user, message.conversation_id)
    media = MessageMedia.objects.filter(message_id=message.pk, state=MessageMedia.State.STORED).first()
    if media is None or not media.file:
        raise Http404("No such file.")
    return media


def media_response(media: MessageMedia, *, thumbnail: bool = False) -> FileResponse:
    """The file (or its thumbnail) with the headers of the module's rules."""
    field = media.thumbnail if thumbnail else media.file
    stored_name = field.name or ""
    if not stored_name:
        raise Http404("No such file.")
    try:
        handle = field.storage.open(stored_name, "rb")
    except (FileNotFoundError, OSError):
        raise Http404("No such file.") from None
    mime = base_type(media.mime_type)
    if thumbnail:
        mime = "image/png" if stored_name.endswith(".png") else "image/jpeg"
    name = media.file_name or f"{media.kind}-{media.message_id}"
    if thumbnail or served_inline(mime):
        response = FileResponse(handle, content_type=mime, as_attachment=False, filename=name)
    else:
        content_type = mime if mime in _DOWNLOAD_TYPES else "application/octet-stream"
        response = FileResponse(handle, content_type=content_type, as_attachment=True, filename=name)
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = "sandbox"
    response["Cache-Control"] = "private, max-age=300"
    return response


@login_required
@require_GET
def message_media(request: HttpRequest, message_id: int) -> FileResponse:
    return media_response(media_for_user(request.user, message_id))


@login_required
@require_GET
def message_media_thumbnail(request: HttpRequest, message_id: int) -> FileResponse:
    return media_response(media_for_user(request.user, message_id), thumbnail=True)
