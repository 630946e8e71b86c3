"""Web chat inboxes over the API (admins only). Thin: check access, validate, call one
service, shape the answer.

- `GET, POST /api/v1/inboxes/`: the inboxes; POST creates one;
- `GET, PATCH /api/v1/inboxes/<id>/`: one inbox; PATCH changes any field. The identity
  secret is write-only (the answer says only whether one is set); `snippet` is the line to
  paste into the site's pages.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from django.shortcuts import get_object_or_404
from django.utils.translation import gettext
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from agents.models import Team
from config.api_errors import ApiError
from conversations.access import user_is_admin
from conversations.models import WebChatInbox, WhatsAppNumber
from conversations.providers.webchat import webchat_snippet
from conversations.services.webchat_inbox import webchat_inbox_save


def _require_admin(request: Request) -> None:
    if not user_is_admin(request.user):
        raise ApiError("forbidden", gettext("Only admins manage web chat inboxes."), status.HTTP_403_FORBIDDEN)


class InboxSerializer(serializers.Serializer):
    id = serializers.IntegerField(read_only=True)
    key = serializers.CharField(read_only=True, help_text="The public id the snippet carries.")
    name = serializers.CharField(max_length=100)
    number = serializers.PrimaryKeyRelatedField(queryset=WhatsAppNumber.objects.all())
    team = serializers.PrimaryKeyRelatedField(queryset=Team.objects.all(), allow_null=True, required=False)
    allowed_origins = serializers.ListField(
        child=serializers.CharField(max_length=200), allow_empty=False,
        help_text="Sites that may embed the widget, e.g. https://www.example.com",
    )
    title = serializers.CharField(max_length=100, required=False)
    greeting = serializers.CharField(max_length=500, required=False, allow_blank=True)
    color = serializers.RegexField(r"^#[0-9a-fA-F]{6}$", required=False)
    ask_name = serializers.BooleanField(required=False)
    ask_email = serializers.BooleanField(required=False)
    consent_text = serializers.CharField(max_length=300, required=False, allow_blank=True)
    identity_secret = serializers.CharField(max_length=256, write_only=True, required=False, allow_blank=True)
    identity_verification = serializers.SerializerMethodField()
    is_active = serializers.BooleanField(required=False)
    snippet = serializers.SerializerMethodField()
    created_at = serializers.DateTimeField(read_only=True)

    def validate_allowed_origins(self, value: list[str]) -> list[str]:
        origins = []
        for origin in value:
            parts = urlsplit(origin.strip())
            if parts.scheme not in ("http", "https") or not parts.netloc or parts.path not in ("", "/"):
                raise serializers.ValidationError(
                    gettext("%(origin)s is not an origin like https://www.example.com") % {"origin": repr(origin)})
            origins.append(f"{parts.scheme}://{parts.netloc}")
        return origins

    def get_identity_verification(self, inbox: WebChatInbox) -> bool:
        return bool(inbox.identity_secret)

    def get_snippet(self, inbox: WebChatInbox) -> str:
        request = self.context.get("request")
        base = request.build_absolute_uri("/") if request is not None else "/"
        return webchat_snippet(base_url=base, key=inbox.key)

    def to_representation(self, instance: WebChatInbox) -> dict[str, Any]:
        data = super().to_representation(instance)
        data["allowed_origins"] = instance.origins
        return data


class InboxListApi(APIView):
    @extend_schema(responses={200: InboxSerializer(many=True)}, summary="Web chat inboxes (admins)")
    def get(self, request: Request) -> Response:
        _require_admin(request)
        inboxes = WebChatInbox.objects.order_by("id")[:200]
        return Response(InboxSerializer(inboxes, many=True, context={"request": request}).data)

    @extend_schema(request=InboxSerializer, responses={201: InboxSerializer}, summary="Create a web chat inbox (admins)")
    def post(self, request: Request) -> Response:
        _require_admin(request)
        given = InboxSerializer(data=request.data)
        given.is_valid(raise_exception=True)
        inbox = webchat_inbox_save(inbox=None, values=dict(given.validated_data))
        return Response(InboxSerializer(inbox, context={"request": request}).data, status=status.HTTP_201_CREATED)


class InboxApi(APIView):
    @extend_schema(responses={200: InboxSerializer}, summary="One web chat inbox (admins)")
    def get(self, request: Request, inbox_id: int) -> Response:
        _require_admin(request)
        inbox = get_object_or_404(WebChatInbox, pk=inbox_id)
        return Response(InboxSerializer(inbox, context={"request": request}).data)

    @extend_schema(request=InboxSerializer(partial=True), responses={200: InboxSerializer},
                   summary="Change a web chat inbox (admins)")
    def patch(self, request: Request, inbox_id: int) -> Response:
        _require_admin(request)
        inbox = get_object_or_404(WebChatInbox, pk=inbox_id)
        given = InboxSerializer(data=request.data, partial=True)
        given.is_valid(raise_exception=True)
        inbox = webchat_inbox_save(inbox=inbox, values=dict(given.validated_data))
        return Response(InboxSerializer(inbox, context={"request": request}).data)
