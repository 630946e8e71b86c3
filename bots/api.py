"""Bot data for the desk and outside tools: how a conversation reached people.

`GET /api/v1/conversations/<id>/handoff/`: the latest handoff's context (reason, policy,
collected values, last intent, transcript, suggested team), every earlier handoff, the
escalation ledger and where the bot stands. Access is the conversation's: a
conversation the user may not see answers 404, like one that does not exist.
Handing a conversation back to the bot is the desk action
`POST /api/v1/conversations/<id>/handback/`; the bot starts afresh on the customer's
next message.
"""

from __future__ import annotations

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from bots.selectors import handoff_data
from conversations.access import conversation_for_user


class TeamRefSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    slug = serializers.CharField()


class HandoffContextSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    reason = serializers.CharField(help_text="customer_request, keyword, not_understood, bot_error, vip, "
                                   "negative_sentiment, platform_test, loop, flow, external_bot or no_bot")
    reason_label = serializers.CharField()
    detail = serializers.CharField()
    policy = serializers.CharField(help_text="Name of the escalation policy that applied.")
    policy_id = serializers.IntegerField(allow_null=True)
    bot = serializers.CharField()
    collected_values = serializers.DictField(child=serializers.CharField())
    last_intent = serializers.CharField()
    transcript = serializers.ListField(child=serializers.CharField(), help_text='"Customer: …" / "Bot: …" lines.')
    transcript_summary = serializers.CharField()
    suggested_team = TeamRefSerializer(allow_null=True)
    priority = serializers.IntegerField()
    skills = serializers.ListField(
        child=serializers.CharField(), help_text="Skills the bot asked of the agent (flow step or custom.handoff.skills)."
    )
    agents_available = serializers.BooleanField()
    fallback_sent = serializers.BooleanField(help_text="The customer was given the policy's fallback contact.")
    created_at = serializers.DateTimeField()


class LedgerSerializer(serializers.Serializer):
    human_offered_at = serializers.DateTimeField(allow_null=True)
    human_requested_at = serializers.DateTimeField(allow_null=True)
    handed_off_at = serializers.DateTimeField(allow_null=True)
    first_human_reply_at = serializers.DateTimeField(allow_null=True)
    handoff_count = serializers.IntegerField()


class BotStateSerializer(serializers.Serializer):
    name = serializers.CharField()
    current_step = serializers.CharField()
    values = serializers.DictField(child=serializers.CharField())
    last_intent = serializers.CharField()


class HandoffDataSerializer(serializers.Serializer):
    conversation = serializers.IntegerField()
    status = serializers.CharField()
    handoff = HandoffContextSerializer(allow_null=True, help_text="The latest handoff, or null.")
    history = HandoffContextSerializer(many=True, help_text="Every handoff, newest first.")
    ledger = LedgerSerializer()
    bot = BotStateSerializer(allow_null=True)


class ConversationHandoffApi(APIView):
    @extend_schema(
        operation_id="conversations_handoff_retrieve",
        summary="How the conversation reached people: handoff context, history and escalation ledger",
        responses={
            200: HandoffDataSerializer,
            403: OpenApiResponse(description="`not_authenticated` or `forbidden`."),
            404: OpenApiResponse(description="`not_found`: no such conversation, or not one this user may see."),
        },
    )
    def get(self, request: Request, conversation_id: int) -> Response:
        conversation = conversation_for_user(request.user, conversation_id)
        return Response(handoff_data(conversation))
