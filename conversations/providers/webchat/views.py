"""The web chat widget's HTTP side: `/widget.js`, the chat frame, and the visitor calls
the frame makes (session, pre-chat form, identify, offline form, transcript).

No cookie or session is involved: the frame names its visitor by the signed token in
each body, so these views are CSRF-exempt and a cross-site page cannot act for a visitor
without their token. The frame is served with `Content-Security-Policy: frame-ancestors`
listing the inbox's allowed origins, so a browser shows it only inside those sites; the
session call checks the embedding origin against the same list. Bodies are JSON; errors
are `{"code", "detail", "field"?}` with 400, 403, 404 or 409.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from django.http import FileResponse, Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.utils.translation import gettext
from django.views.decorators.cache import cache_control
from django.views.decorators.clickjacking import xframe_options_exempt
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST

from config.refusals import Refused
from conversations.media_views import media_response
from conversations.models import WebChatInbox
from conversations.providers.webchat.tokens import media_link_valid, token_issue
from conversations.selectors import webchat_inbox_by_key, webchat_visitor_media
from conversations.services import webchat as service

WIDGET_JS = Path(__file__).resolve().parent / "widget.js"
COLOR = re.compile(r"^#[0-9a-fA-F]{6}$")
STATUS = {"invalid": 400, "forbidden": 403, "not_found": 404, "prechat_required": 409}


def _error(code: str, detail: str, field: str = "") -> JsonResponse:
    body = {"code": code, "detail": detail, **({"field": field} if field else {})}
    return JsonResponse(body, status=STATUS.get(code, 400))


@require_GET
@cache_control(public=True, max_age=300)
def widget_js(request: HttpRequest) -> HttpResponse:
    """The embeddable script: plain JavaScript, no build step."""
    return HttpResponse(WIDGET_JS.read_text(), content_type="text/javascript; charset=utf-8")


def _origin(value: Any) -> str:
    """A scheme://host[:port] origin, or "" for anything else."""
    parts = urlsplit(str(value or ""))
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.path not in ("", "/"):
        return ""
    return f"{parts.scheme}://{parts.netloc}"


def _ancestors(inbox: WebChatInbox) -> str:
    sources = [o for o in (_origin(origin) for origin in inbox.origins) if o]
    return " ".join(sources) or "'none'"


@require_GET
@xframe_options_exempt
def chat_frame(request: HttpRequest, key: str) -> HttpResponse:
    """The chat itself, shown in the widget's iframe; only sites the inbox allows may frame it."""
    inbox = webchat_inbox_by_key(key)
    origin = _origin(request.GET.get("origin"))
    if inbox is None or not inbox.origin_allowed(origin):
        response = render(request, "webchat/refused.html", status=403)
        response["Content-Security-Policy"] = "frame-ancestors 'none'"
        return response
    if not COLOR.match(inbox.color):
        inbox.color = "#1f6feb"
    labels = {"file": gettext("File"), "open": gettext("Open the full-size image")}
    config = {"key": inbox.key, "hostOrigin": origin, "color": inbox.color, "labels": labels}
    response = render(request, "webchat/frame.html", {"inbox": inbox, "config": config})
    response["Content-Security-Policy"] = f"frame-ancestors {_ancestors(inbox)}"
    response["Cache-Control"] = "no-store"
    return response


def _body(request: HttpRequest) -> dict[str, Any]:
    try:
        data = json.loads(request.body or b"{}")
    except (ValueError, RecursionError):
        raise Refused("invalid", "The body is not JSON.") from None
    if not isinstance(data, dict):
        raise Refused("invalid", "The body is a JSON object.")
    return data


def _own_or_allowed(request: HttpRequest, inbox: WebChatInbox) -> bool:
    """The call comes from the widget's frame (Handoff's own origin), or from an allowed site."""
    origin = request.headers.get("Origin", "")
    if not origin:
        return True  # not a browser's cross-site call: the token and the body's origin decide
    return urlsplit(origin).netloc == request.get_host() or inbox.origin_allowed(origin)


def _visitor_call(handler):
    """A POST with a JSON body for one inbox: the inbox looked up, the caller's origin
    checked, refusals answered as JSON errors."""

    @csrf_exempt
    @require_POST
    @xframe_options_exempt
    def view(request: HttpRequest, key: str) -> HttpResponse:
        inbox = webchat_inbox_by_key(key)
        if inbox is None:
            return _error("not_found", "No such chat.")
        if not _own_or_allowed(request, inbox):
            return _error("forbidden", "This site may not use this chat.")
        try:
            data = _body(request)
            return JsonResponse(handler(inbox, data))
        except Refused as refused:
            return _error(refused.code, refused.detail, refused.field)

    view.__name__ = handler.__name__
    view.__doc__ = handler.__doc__
    return view


def _state(inbox: WebChatInbox, visitor, token: str) -> dict[str, Any]:
    contact = service.webchat_contact(inbox=inbox, visitor=visitor, create=False)
    return {
        "token": token,
        "verified": visitor.verified,
        "prechat": service.prechat_needed(inbox=inbox, contact=contact),
        "offline": service.webchat_offline(inbox=inbox),
        "email": str(((contact.attributes or {}) if contact else {}).get("email") or ""),
    }


@_visitor_call
def session(inbox: WebChatInbox, data: dict[str, Any]) -> dict[str, Any]:
    """Start or resume a visitor session for the embedding page's origin: a fresh token."""
    started = service.webchat_session_start(
        inbox=inbox, origin=_origin(data.get("origin")), token=str(data.get("token") or "")
    )
    return _state(inbox, started.visitor, started.token)


@_visitor_call
def prechat(inbox: WebChatInbox, data: dict[str, Any]) -> dict[str, Any]:
    """The pre-chat form, checked on the server."""
    visitor = service.webchat_visitor(inbox=inbox, token=str(data.get("token") or ""))
    service.webchat_prechat_submit(
        inbox=inbox, visitor=visitor, name=data.get("name"), email=data.get("email"), consent=data.get("consent")
    )
    return _state(inbox, visitor, token_issue(visitor))


@_visitor_call
def identify(inbox: WebChatInbox, data: dict[str, Any]) -> dict[str, Any]:
    """`Handoff.identify({...})`: verified with a valid user_hash, else kept as unverified claims."""
    visitor = service.webchat_visitor(inbox=inbox, token=str(data.get("token") or ""))
    identified = service.webchat_identify(
        inbox=inbox,
        visitor=visitor,
        user_id=data.get("user_id"),
        user_hash=data.get("user_hash"),
        name=data.get("name"),
        email=data.get("email"),
    )
    return _state(inbox, identified.visitor, identified.token)


@_visitor_call
def offline(inbox: WebChatInbox, data: dict[str, Any]) -> dict[str, Any]:
    """The offline form: a queued conversation and a confirmation email."""
    visitor = service.webchat_visitor(inbox=inbox, token=str(data.get("token") or ""))
    conversation = service.webchat_offline_submit(
        inbox=inbox,
        visitor=visitor,
        name=data.get("name"),
        email=data.get("email"),
        text=data.get("text"),
        client_id=data.get("client_id"),
        consent=data.get("consent") if inbox.consent_text else True,
    )
    return {"conversation": conversation.pk if conversation else None, "queued": True}


@_visitor_call
def transcript(inbox: WebChatInbox, data: dict[str, Any]) -> dict[str, Any]:
    """"Email me the transcript" of the visitor's latest conversation."""
    visitor = service.webchat_visitor(inbox=inbox, token=str(data.get("token") or ""))
    contact = service.webchat_contact(inbox=inbox, visitor=visitor, create=False)
    if contact is None:
        raise Refused("invalid", "There is no conversation to send yet.")
    service.webchat_transcript_request(contact=contact, email=data.get("email"))
    return {"sent": True}


@csrf_exempt
@require_POST
@xframe_options_exempt
def upload(request: HttpRequest, key: str) -> HttpResponse:
    """A file the visitor attaches (multipart: `token`, `client_id`, `file`, `caption`)."""
    inbox = webchat_inbox_by_key(key)
    if inbox is None:
        return _error("not_found", "No such chat.")
    if not _own_or_allowed(request, inbox):
        return _error("forbidden", "This site may not use this chat.")
    upload = request.FILES.get("file")
    try:
        visitor = service.webchat_visitor(inbox=inbox, token=str(request.POST.get("token") or ""))
        if upload is None:
            raise Refused("invalid", "Choose a file to send.", field="file")
        stored = service.webchat_file_receive(
            inbox=inbox, visitor=visitor, client_id=request.POST.get("client_id"), data=upload,
            name=upload.name or "", content_type=upload.content_type or "", caption=request.POST.get("caption"),
        )
    except Refused as refused:
        return _error(refused.code, refused.detail, refused.field)
    return JsonResponse({"message": stored.pk if stored is not None else None})


@require_GET
def media(request: HttpRequest, key: str, message_id: int, thumbnail: bool = False) -> HttpResponse | FileResponse:
    """A file of a visitor's conversation (sent to them by an agent, or their own upload), by
    the link its message frame carried: `?sig=` signed for exactly this inbox key and message
    id and not older than WEBCHAT_MEDIA_LINK_SECONDS, else 403 (the visitor's token is never
    taken from a URL). A note's file, one not yet sent or another inbox's is 404. Served like
    the desk's files (conversations.media_views: nosniff, `CSP: sandbox`, a download unless
    inline-safe), never with a referrer, and only to pages of Handoff's own origin."""
    inbox = webchat_inbox_by_key(key)
    if inbox is None:
        raise Http404("No such file.")
    if not media_link_valid(inbox.key, message_id, str(request.GET.get("sig") or "")):
        return _error("forbidden", "This link is not valid or has expired. Reopen the chat.")
    found = webchat_visitor_media(inbox=inbox, message_id=message_id)
    if found is None or (thumbnail and not found.thumbnail):
        raise Http404("No such file.")
    response: FileResponse = media_response(found, thumbnail=thumbnail)
    response["Referrer-Policy"] = "no-referrer"
    response["Cross-Origin-Resource-Policy"] = "same-origin"
    return response
