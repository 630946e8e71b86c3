"""The phone simulator: its page and the small JSON API the page's script uses."""

from __future__ import annotations

import json
from collections.abc import Callable
from functools import wraps
from typing import Any

from django.contrib.auth.decorators import login_required
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from conversations.models import WhatsAppNumber
from conversations.providers.sandbox import services
from conversations.providers.sandbox.hooks import webhook_url_for
from conversations.providers.sandbox.media import MediaInvalid, customer_media_send
from conversations.providers.sandbox.models import Phone, PhoneMessage, SandboxMedia

THREAD_LENGTH = 200


def _signed_in(view: Callable[..., JsonResponse]) -> Callable[..., JsonResponse]:
    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> JsonResponse:
        if not request.user.is_authenticated:
            return JsonResponse({"code": "not_authenticated", "detail": "Sign in first."}, status=401)
        return view(request, *args, **kwargs)

    return wrapper


def _body(request: HttpRequest) -> dict[str, Any]:
    try:
        body = json.loads(request.body or b"{}")
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def _invalid(detail: str) -> JsonResponse:
    return JsonResponse({"code": "invalid", "detail": detail}, status=400)


def _sandbox_numbers():
    return WhatsAppNumber.objects.filter(is_sandbox=True).order_by("-is_default", "id")


def _phone(request: HttpRequest, phone_id: int) -> Phone:
    return get_object_or_404(Phone.objects.select_related("number"), pk=phone_id, number__is_sandbox=True)


def _phone_json(phone: Phone) -> dict[str, Any]:
    return {
        "id": phone.pk,
        "name": phone.name,
        "wa_id": phone.wa_id,
        "user_id": phone.user_id,
        "username": phone.username,
        "number": phone.number_id,
        "number_display": phone.number.display_phone_number,
    }


def _message_json(message: PhoneMessage) -> dict[str, Any]:
    return {
        "id": message.pk,
        "wamid": message.wamid,
        "direction": message.direction,
        "type": message.type,
        "text": message.text,
        "rendered": message.rendered,
        "status": message.status,
        "error": message.error,
        "seen": message.seen_at is not None,
        "context": message.context_wamid,
        "created_at": message.created_at.isoformat(),
    }


@login_required
@require_GET
def phone_page(request: HttpRequest) -> HttpResponse:
    return render(request, "sandbox/phone.html", {"numbers": _sandbox_numbers()})


@_signed_in
@require_http_methods(["GET", "POST"])
def phones(request: HttpRequest) -> JsonResponse:
    if request.method == "POST":
        body = _body(request)
        number = _sandbox_numbers().filter(pk=body.get("number") or 0).first() or _sandbox_numbers().first()
        if number is None:
            return _invalid("There is no sandbox number yet: run `manage.py load_demo`.")
        try:
            phone = services.phone_create(
                number=number,
                name=str(body.get("name", "")),
                wa_id=str(body.get("wa_id", "")),
                username=str(body.get("username", "")),
            )
        except services.SandboxInvalid as exc:
            return _invalid(str(exc))
        return JsonResponse({"phone": _phone_json(phone)}, status=201)
    listed = Phone.objects.filter(number__is_sandbox=True).select_related("number")
    numbers = [{"id": n.pk, "display": n.display_phone_number, "name": n.name} for n in _sandbox_numbers()]
    return JsonResponse({"phones": [_phone_json(p) for p in listed], "numbers": numbers})


@_signed_in
@require_GET
def thread(request: HttpRequest, phone_id: int) -> JsonResponse:
    phone = _phone(request, phone_id)
    latest = list(phone.messages.order_by("-created_at", "-id")[:THREAD_LENGTH])
    typing = bool(phone.business_typing_until and phone.business_typing_until > timezone.now())
    return JsonResponse(
        {"phone": _phone_json(phone), "typing": typing, "messages": [_message_json(m) for m in reversed(latest)]}
    )


@_signed_in
@require_POST
def send(request: HttpRequest, phone_id: int) -> JsonResponse:
    phone = _phone(request, phone_id)
    body = _body(request)
    reply_to = None
    if body.get("reply_to"):
        reply_to = PhoneMessage.objects.filter(pk=body["reply_to"], phone=phone).first()
        if reply_to is None:
            return _invalid("That message is not on this phone.")
    location = body.get("location") if isinstance(body.get("location"), dict) else None
    try:
        message = services.customer_message_send(
            phone=phone,
            webhook_url=webhook_url_for(request),
            text=str(body.get("text", "")),
            reply_to=reply_to,
            choice=str(body.get("choice", "")),
            location=location,
        )
    except services.SandboxInvalid as exc:
        return _invalid(str(exc))
    return JsonResponse({"message": _message_json(message)}, status=201)


@_signed_in
@require_POST
def seen(request: HttpRequest, phone_id: int) -> JsonResponse:
    phone = _phone(request, phone_id)
    ids = [i for i in _body(request).get("ids", []) if isinstance(i, int)]
    return JsonResponse({"seen": services.phone_messages_seen(phone=phone, message_ids=ids)})


@_signed_in
@require_POST
def send_media(request: HttpRequest, phone_id: int) -> JsonResponse:
    """The customer sends a file (multipart: `file`, optional `caption`, `voice`)."""
    phone = _phone(request, phone_id)
    upload = request.FILES.get("file")
    if upload is None:
        return _invalid("Choose a file to send.")
    try:
        message = customer_media_send(
            phone=phone,
            webhook_url=webhook_url_for(request),
            data=upload.read(),
            mime_type=upload.content_type or "",
            file_name=upload.name or "",
            caption=request.POST.get("caption", ""),
            voice=request.POST.get("voice") in ("1", "true", "on"),
        )
    except MediaInvalid as exc:
        return _invalid(str(exc))
    return JsonResponse({"message": _message_json(message)}, status=201)


_INLINE = ("image/jpeg", "image/png", "image/webp", "audio/", "video/")


@login_required
@require_GET
def media(request: HttpRequest, media_id: str) -> FileResponse:
    """A file on the simulated phone (what it sent or received), for signed-in demo users."""
    stored = SandboxMedia.objects.filter(media_id=media_id).first()
    if stored is None:
        raise Http404("No such file.")
    inline = stored.mime_type.startswith(_INLINE)
    response = FileResponse(
        stored.file.open("rb"),
        content_type=stored.mime_type if inline else "application/octet-stream",
        as_attachment=not inline,
        filename=stored.file_name or stored.media_id,
    )
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = "sandbox"
    return response
