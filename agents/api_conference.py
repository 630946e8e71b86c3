"""Conference and desk actions on a conversation, under /api/v1/conversations/<id>/:
`join/`, `leave/`, `whisper/`, `takeover/`, `watch/` (silent) and `seen/`."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from agents.conference import (
    ConferenceRefused,
    conversation_join,
    conversation_leave,
    conversation_mark_seen,
    conversation_takeover,
    conversation_watch,
    conversation_whisper,
)
from agents.desk_selectors import desk_row
from conversations.access import conversation_for_user


class ConferenceResultSerializer(serializers.Serializer):
    conversation = serializers.DictField(required=False, help_text="The conversation's desk row, while still visible.")
    role = serializers.CharField(required=False, help_text="The caller's part in the conversation afterwards.")
    message = serializers.IntegerField(required=False, help_text="The whisper's message id.")
    marked = serializers.IntegerField(required=False, help_text="Customer messages marked read.")


class _ConversationAction(APIView):
    """Find the conversation with the shared access check (404 when not visible), run the
    action, and answer with the conversation's desk row. Refusals (`PermissionDenied`,
    `Refused`) propagate to the API's error handler, which answers each code's status."""

    def act(self, request, conversation):
        raise ValueError("subclasses define the action")

    @extend_schema(request=None, responses={200: ConferenceResultSerializer, 400: OpenApiTypes.OBJECT,
                                            403: OpenApiTypes.OBJECT, 404: OpenApiTypes.OBJECT, 409: OpenApiTypes.OBJECT})
    def post(self, request, conversation_id: int):
        conversation = conversation_for_user(request.user, conversation_id)
        extra = self.act(request, conversation)
        row = desk_row(user=request.user, conversation=conversation)  # None once out of sight
        body = {"conversation": row} if row is not None else {}
        body.update(extra or {})
        return Response(body, status=status.HTTP_200_OK)


class JoinApi(_ConversationAction):
    def act(self, request, conversation):
        participant = conversation_join(conversation=conversation, actor=request.user)
        return {"role": participant.role}


class LeaveApi(_ConversationAction):
    def act(self, request, conversation):
        conversation_leave(conversation=conversation, actor=request.user)
        return {"role": ""}


class WatchApi(_ConversationAction):
    def act(self, request, conversation):
        participant = conversation_watch(conversation=conversation, actor=request.user)
        return {"role": participant.role}


class TakeoverInputSerializer(serializers.Serializer):
    reason = serializers.CharField(required=False, allow_blank=True, max_length=500)


class TakeoverApi(_ConversationAction):
    InputSerializer = TakeoverInputSerializer

    def act(self, request, conversation):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        conversation_takeover(conversation=conversation, actor=request.user, reason=data.validated_data.get("reason", ""))
        return {"role": "owner"}


class WhisperInputSerializer(serializers.Serializer):
    text = serializers.CharField(max_length=4096)
    to = serializers.IntegerField(required=False, allow_null=True, help_text="A user to address; all agents when left out.")


class WhisperApi(_ConversationAction):
    InputSerializer = WhisperInputSerializer

    def act(self, request, conversation):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        to_user = None
        if data.validated_data.get("to"):
            to_user = get_user_model().objects.filter(pk=data.validated_data["to"], is_active=True).first()
            if to_user is None:
                raise ConferenceRefused("invalid", "to: no such user.", field="to")
        note = conversation_whisper(
            conversation=conversation, actor=request.user, text=data.validated_data["text"], to_user=to_user
        )
        return {"message": note.pk}


class SeenApi(_ConversationAction):
    def act(self, request, conversation):
        return {"marked": conversation_mark_seen(conversation=conversation, actor=request.user)}


# The request bodies of the actions that take one (the others take none).
extend_schema_view(post=extend_schema(request=TakeoverApi.InputSerializer))(TakeoverApi)
extend_schema_view(post=extend_schema(request=WhisperApi.InputSerializer))(WhisperApi)
