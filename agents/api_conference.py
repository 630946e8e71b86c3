"""Conference and desk actions on a conversation, under /api/v1/conversations/<id>/:
`join/`, `leave/`, `whisper/`, `takeover/`, `watch/` (silent) and `seen/`."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import User
from django.utils.translation import gettext
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response

from agents.desk_selectors import desk_row
from agents.services.conference import (
    ConferenceRefused,
    conversation_join,
    conversation_leave,
    conversation_mark_seen,
    conversation_takeover,
    conversation_watch,
    conversation_whisper,
)
from config.api_actions import ActionView, acting_user
from conversations.access import conversation_for_user
from conversations.models import Conversation


class ConferenceResultSerializer(serializers.Serializer):
    conversation = serializers.DictField(required=False, help_text="The conversation's desk row, while still visible.")
    role = serializers.CharField(required=False, help_text="The caller's part in the conversation afterwards.")
    message = serializers.IntegerField(required=False, help_text="The whisper's message id.")
    marked = serializers.IntegerField(required=False, help_text="Customer messages marked read.")


@extend_schema_view(post=extend_schema(request=None, responses={
    200: ConferenceResultSerializer, 400: OpenApiTypes.OBJECT, 403: OpenApiTypes.OBJECT, 404: OpenApiTypes.OBJECT,
    409: OpenApiTypes.OBJECT}))
class _ConversationAction(ActionView):
    """Find the conversation with the shared access check (404 when not visible), run the
    action, and answer with the conversation's desk row. Refusals (`PermissionDenied`,
    `Refused`) propagate to the API's error handler, which answers each code's status."""

    def target(self, request: Request, **kwargs: Any) -> Conversation:
        return conversation_for_user(request.user, kwargs["conversation_id"])

    def respond(self, request: Request, target: Conversation, result: dict[str, Any]) -> Response:
        row = desk_row(user=acting_user(request), conversation=target)  # None once out of sight
        body: dict[str, Any] = {"conversation": row} if row is not None else {}
        body.update(result)
        return Response(body, status=status.HTTP_200_OK)


class JoinApi(_ConversationAction):
    def perform(self, request: Request, target: Conversation, values: dict[str, Any]) -> dict[str, Any]:
        participant = conversation_join(conversation=target, actor=acting_user(request))
        return {"role": participant.role}


class LeaveApi(_ConversationAction):
    def perform(self, request: Request, target: Conversation, values: dict[str, Any]) -> dict[str, Any]:
        conversation_leave(conversation=target, actor=acting_user(request))
        return {"role": ""}


class WatchApi(_ConversationAction):
    def perform(self, request: Request, target: Conversation, values: dict[str, Any]) -> dict[str, Any]:
        participant = conversation_watch(conversation=target, actor=acting_user(request))
        return {"role": participant.role}


class TakeoverInputSerializer(serializers.Serializer):
    reason = serializers.CharField(required=False, allow_blank=True, max_length=500)


@extend_schema_view(post=extend_schema(request=TakeoverInputSerializer))
class TakeoverApi(_ConversationAction):
    input_serializer = TakeoverInputSerializer

    def perform(self, request: Request, target: Conversation, values: dict[str, Any]) -> dict[str, Any]:
        conversation_takeover(conversation=target, actor=acting_user(request), reason=values.get("reason", ""))
        return {"role": "owner"}


class WhisperInputSerializer(serializers.Serializer):
    text = serializers.CharField(max_length=4096)
    to = serializers.IntegerField(required=False, allow_null=True, help_text="A user to address; all agents when left out.")


@extend_schema_view(post=extend_schema(request=WhisperInputSerializer))
class WhisperApi(_ConversationAction):
    input_serializer = WhisperInputSerializer

    def perform(self, request: Request, target: Conversation, values: dict[str, Any]) -> dict[str, Any]:
        to_user = None
        if values.get("to"):
            to_user = User.objects.filter(pk=values["to"], is_active=True).first()
            if to_user is None:
                raise ConferenceRefused("invalid", gettext("to: no such user."), field="to")
        note = conversation_whisper(conversation=target, actor=acting_user(request), text=values["text"], to_user=to_user)
        return {"message": note.pk}


class SeenApi(_ConversationAction):
    def perform(self, request: Request, target: Conversation, values: dict[str, Any]) -> dict[str, Any]:
        return {"marked": conversation_mark_seen(conversation=target, actor=acting_user(request))}
