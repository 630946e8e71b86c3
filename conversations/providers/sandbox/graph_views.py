"""The stand-in Graph API: `POST <phone_number_id>/messages`, `POST <phone_number_id>/media`,
`GET <media_id>` and the media URL it answers, and `GET|POST <business_account_id>/message_templates`,
with Graph's token check and shapes."""

from __future__ import annotations

import base64
import binascii
import hmac
import json
from typing import Any
from urllib.parse import urlencode

from django.http import FileResponse, HttpRequest, JsonResponse
from django.urls import reverse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from conversations.models import WhatsAppNumber
from conversations.providers.sandbox import graph, services
from conversations.providers.sandbox.hooks import webhook_url_for
from conversations.providers.sandbox.media import MediaInvalid, media_info, media_store
from conversations.providers.sandbox.models import SandboxMedia, Template

PAGE_LIMIT_MAX = 100


def _problem(problem: graph.GraphProblem) -> JsonResponse:
    return JsonResponse(problem.body(), status=problem.http_status)


def _token(request: HttpRequest) -> str:
    header = request.headers.get("Authorization", "")
    if header.startswith("Bearer "):
        return header[len("Bearer ") :].strip()
    return request.GET.get("access_token", "")


def _authorised(request: HttpRequest, numbers: list[WhatsAppNumber]) -> bool:
    given = _token(request)
    return bool(given) and any(n.access_token and hmac.compare_digest(given, n.access_token) for n in numbers)


def _json_body(request: HttpRequest) -> dict[str, Any]:
    try:
        body = json.loads(request.body or b"{}")
    except ValueError:
        raise graph.bad_parameter("The request body must be JSON.") from None
    if not isinstance(body, dict):
        raise graph.bad_parameter("The request body must be a JSON object.")
    return body


@csrf_exempt
@require_http_methods(["POST"])
def messages(request: HttpRequest, version: str, phone_number_id: str) -> JsonResponse:
    number = WhatsAppNumber.objects.filter(phone_number_id=phone_number_id).first()
    try:
        if number is None:
            raise graph.unknown_object(phone_number_id)
        if not _authorised(request, [number]):
            raise graph.token_invalid()
        body = _json_body(request)
        if body.get("status") == "read":
            return JsonResponse(services.graph_mark_read(number=number, body=body))
        return JsonResponse(services.graph_message_accept(number=number, body=body, webhook_url=webhook_url_for(request)))
    except graph.GraphProblem as problem:
        return _problem(problem)


def _cursor(pk: int) -> str:
    return base64.urlsafe_b64encode(str(pk).encode()).decode()


def _after(request: HttpRequest) -> int:
    raw = request.GET.get("after", "")
    if not raw:
        return 0
    try:
        return int(base64.urlsafe_b64decode(raw.encode()).decode())
    except (binascii.Error, ValueError, UnicodeDecodeError):
        raise graph.bad_parameter("Param after is not a valid cursor.") from None


def _template_json(template: Template) -> dict[str, Any]:
    return {
        "name": template.name,
        "parameter_format": "POSITIONAL",
        "components": template.components,
        "language": template.language,
        "status": template.status,
        "category": template.category,
        "id": str(template.pk),
    }


def _template_page(request: HttpRequest, business_account_id: str) -> JsonResponse:
    try:
        limit = min(max(int(request.GET.get("limit", 25)), 1), PAGE_LIMIT_MAX)
    except ValueError:
        raise graph.bad_parameter("Param limit must be a number.") from None
    templates = Template.objects.filter(business_account_id=business_account_id, pk__gt=_after(request))
    if request.GET.get("name"):
        templates = templates.filter(name__icontains=request.GET["name"])
    if request.GET.get("status"):
        templates = templates.filter(status=request.GET["status"].upper())
    page = list(templates.order_by("pk")[: limit + 1])
    more, page = len(page) > limit, page[:limit]
    result: dict[str, Any] = {"data": [_template_json(t) for t in page]}
    if page:
        result["paging"] = {"cursors": {"before": _cursor(page[0].pk), "after": _cursor(page[-1].pk)}}
        if more:
            query = request.GET.copy()
            query.pop("access_token", None)
            query["after"] = _cursor(page[-1].pk)
            query["limit"] = str(limit)
            result["paging"]["next"] = request.build_absolute_uri(request.path) + "?" + urlencode(query)
    return JsonResponse(result)


@csrf_exempt
@require_http_methods(["GET", "POST"])
def message_templates(request: HttpRequest, version: str, business_account_id: str) -> JsonResponse:
    numbers = list(WhatsAppNumber.objects.filter(business_account_id=business_account_id))
    try:
        if not numbers:
            raise graph.unknown_object(business_account_id)
        if not _authorised(request, numbers):
            raise graph.token_invalid()
        if request.method == "GET":
            return _template_page(request, business_account_id)
        template = services.template_create(
            business_account_id=business_account_id, body=_json_body(request), webhook_url=webhook_url_for(request)
        )
        return JsonResponse({"id": str(template.pk), "status": template.status, "category": template.category})
    except graph.GraphProblem as problem:
        return _problem(problem)


@csrf_exempt
@require_http_methods(["POST"])
def media_upload(request: HttpRequest, version: str, phone_number_id: str) -> JsonResponse:
    """`POST /{phone-number-id}/media` (multipart: `file`, `type`, `messaging_product`) → `{"id"}`."""
    number = WhatsAppNumber.objects.filter(phone_number_id=phone_number_id).first()
    try:
        if number is None:
            raise graph.unknown_object(phone_number_id)
        if not _authorised(request, [number]):
            raise graph.token_invalid()
        if request.POST.get("messaging_product") != "whatsapp":
            raise graph.bad_parameter("The parameter messaging_product is required and must be 'whatsapp'.")
        upload = request.FILES.get("file")
        if upload is None:
            raise graph.bad_parameter("The parameter file is required.")
        mime = request.POST.get("type") or upload.content_type or ""
        try:
            media = media_store(
                number=number, origin=SandboxMedia.Origin.BUSINESS, data=upload.read(), mime_type=mime,
                file_name=upload.name or "",
            )
        except MediaInvalid as exc:
            raise graph.GraphProblem(131053, "(#131053) Media upload error", str(exc)) from None
        return JsonResponse({"id": media.media_id})
    except graph.GraphProblem as problem:
        return _problem(problem)


def _media_for(request: HttpRequest, media_id: str) -> SandboxMedia:
    media = SandboxMedia.objects.select_related("number").filter(media_id=media_id).first()
    if media is None:
        raise graph.unknown_object(media_id)
    if not _authorised(request, [media.number]):
        raise graph.token_invalid()
    return media


@require_http_methods(["GET"])
def media_object(request: HttpRequest, version: str, media_id: str) -> JsonResponse:
    """`GET /{media-id}`: the file's type, checksum, size and a URL to fetch it with the token."""
    try:
        media = _media_for(request, media_id)
        url = request.build_absolute_uri(reverse("sandbox:graph-media-file", args=[media.media_id]))
        return JsonResponse(media_info(media=media, url=url))
    except graph.GraphProblem as problem:
        return _problem(problem)


@require_http_methods(["GET"])
def media_file(request: HttpRequest, media_id: str) -> FileResponse | JsonResponse:
    """The media URL: the bytes, for the number's token only (as WhatsApp's media URLs)."""
    try:
        media = _media_for(request, media_id)
    except graph.GraphProblem as problem:
        return _problem(problem)
    return FileResponse(media.file.open("rb"), content_type="application/octet-stream")
