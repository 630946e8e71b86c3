"""Agents' REST API: the signed-in agent's profile and presence, the supervisor's list of
agents with load against capacity, and the desk actions on a conversation.

Thin views: access through conversations.access (an invisible conversation is 404),
rules in agents.services.desk_actions (who may act: 403 `forbidden`; state: 409 with the refusal code).
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.db.models import Q
from django.utils.translation import gettext
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from agents.models import AgentProfile, Team
from agents.services import desk_actions as services
from agents.services.preferences import agent_preferences_set
from agents.services.presence import presence_set, profile_for, profiles_with_load
from config.api_actions import ActionView, acting_user
from config.api_errors import ApiError
from config.refusals import Refused
from conversations.access import conversation_for_user, roles_for
from conversations.models import Conversation, Participant
from conversations.serializers import ConversationSerializer, ErrorSerializer

User = get_user_model()

ERRORS = OpenApiResponse(
    response=ErrorSerializer,
    description="`forbidden`, `not_found` (the conversation, or the agent or team named), `invalid`, or a "
    "refusal: `invalid_status`, `over_capacity`, `not_in_team`, `conflict`.",
)


class AgentSerializer(serializers.Serializer):
    id = serializers.IntegerField(source="user.id")
    username = serializers.CharField(source="user.username")
    name = serializers.SerializerMethodField()
    presence = serializers.ChoiceField(choices=AgentProfile.Presence.choices)
    presence_changed_at = serializers.DateTimeField()
    last_seen_at = serializers.DateTimeField(allow_null=True)
    load = serializers.IntegerField()
    capacity = serializers.IntegerField()
    skills = serializers.ListField(child=serializers.CharField())
    languages = serializers.ListField(child=serializers.CharField())
    ui_language = serializers.CharField(help_text="The desk's language (en, es, pt); empty: the browser's.")
    timezone = serializers.CharField(help_text="Dates and times in the desk use this zone; empty: the server's.")
    teams = serializers.SerializerMethodField()

    class Meta:
        ref_name = "Agent"

    def get_name(self, profile) -> str:
        return profile.user.get_full_name() or profile.user.get_username()

    def get_teams(self, profile) -> list[int]:
        return [team.pk for team in profile.user.teams.all()]


def _user_id(request: Request) -> int:
    return int(acting_user(request).pk)


class PresenceInputSerializer(serializers.Serializer):
    presence = serializers.ChoiceField(choices=AgentProfile.Presence.choices, required=False)
    ui_language = serializers.CharField(
        required=False, allow_blank=True, max_length=8, help_text="en, es or pt; empty: the browser's."
    )
    timezone = serializers.CharField(
        required=False, allow_blank=True, max_length=64, help_text="An IANA zone such as Europe/Madrid; empty: the server's."
    )

    def validate(self, attrs):
        if not attrs:
            raise serializers.ValidationError(gettext("Give presence, ui_language or timezone."))
        return attrs


class AgentMeApi(APIView):
    @extend_schema(operation_id="agents_me", summary="My agent profile", responses={200: AgentSerializer})
    def get(self, request: Request) -> Response:
        profile_for(acting_user(request))
        profile = profiles_with_load(AgentProfile.objects.filter(user_id=_user_id(request))).get()
        return Response(AgentSerializer(profile).data)

    @extend_schema(
        operation_id="agents_me_presence",
        summary="Set my presence (online, away, offline), desk language or time zone",
        request=PresenceInputSerializer,
        responses={200: AgentSerializer, 400: ERRORS},
    )
    def patch(self, request: Request) -> Response:
        serializer = PresenceInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        values = serializer.validated_data
        if "ui_language" in values or "timezone" in values:
            agent_preferences_set(
                user=acting_user(request), language=values.get("ui_language"), time_zone=values.get("timezone")
            )
        if "presence" in values:
            presence_set(user=acting_user(request), presence=values["presence"])
        profile = profiles_with_load(AgentProfile.objects.filter(user_id=_user_id(request))).get()
        return Response(AgentSerializer(profile).data)


class AgentListApi(APIView):
    @extend_schema(
        operation_id="agents_list",
        summary="Agents of the teams I supervise (all for admins), with load against capacity",
        responses={200: AgentSerializer(many=True), 403: ERRORS},
    )
    def get(self, request: Request) -> Response:
        user = acting_user(request)
        roles = roles_for(user)
        if not roles.supervisor:
            raise ApiError("forbidden", gettext("Only supervisors and admins see the agents list."), status.HTTP_403_FORBIDDEN)
        if roles.admin:
            member_ids = set(
                User.objects.filter(Q(teams__isnull=False) | Q(agent_profile__isnull=False)).values_list("pk", flat=True)
            )
        else:
            member_ids = set(
                Team.members.through.objects.filter(team__supervisors__pk=user.pk).values_list("user_id", flat=True)
            )
        for member in User.objects.filter(pk__in=member_ids, agent_profile__isnull=True):
            profile_for(member)
        profiles = profiles_with_load(
            AgentProfile.objects.filter(user_id__in=member_ids, user__is_active=True).prefetch_related("user__teams")
        ).order_by("user__username")
        return Response(AgentSerializer(profiles, many=True).data)


class ActionInputSerializer(serializers.Serializer):
    agent = serializers.IntegerField(required=False, allow_null=True)
    team = serializers.IntegerField(required=False, allow_null=True)
    note = serializers.CharField(required=False, allow_blank=True, max_length=2000, default="")


def _conversation_response(conversation: Conversation) -> Response:
    fresh = Conversation.objects.select_related("contact", "number", "team", "assignee").get(pk=conversation.pk)
    fresh.active_participants = list(  # type: ignore[attr-defined]
        Participant.objects.filter(conversation=fresh, left_at__isnull=True).select_related("user")
        .order_by("joined_at", "id")
    )
    return Response(ConversationSerializer(fresh).data)


@extend_schema_view(post=extend_schema(request=ActionInputSerializer, responses={
    200: ConversationSerializer, 403: ERRORS, 404: ERRORS, 409: ERRORS}))
class ConversationActionApi(ActionView):
    """POST runs one desk action; the body depends on the action."""

    input_serializer = ActionInputSerializer

    def target(self, request: Request, **kwargs: Any) -> Conversation:
        return conversation_for_user(request.user, kwargs["conversation_id"])

    def respond(self, request: Request, target: Conversation, result: Conversation) -> Response:
        return _conversation_response(result)


def _desk_action(name: str):
    return extend_schema_view(post=extend_schema(operation_id=f"conversations_{name}", summary=f"Desk action: {name}"))


@_desk_action("assign")
class ConversationAssignApi(ConversationActionApi):
    """Desk action `assign` on a conversation."""

    def perform(self, request: Request, target: Conversation, values: dict[str, Any]) -> Conversation:
        agent = _user(values["agent"]) if values.get("agent") else None
        return services.conversation_assign(conversation=target, actor=acting_user(request), agent=agent)


@_desk_action("transfer")
class ConversationTransferApi(ConversationActionApi):
    """Desk action `transfer` on a conversation."""

    def perform(self, request: Request, target: Conversation, values: dict[str, Any]) -> Conversation:
        agent = _user(values["agent"]) if values.get("agent") else None
        team = _team(values["team"]) if values.get("team") else None
        return services.conversation_transfer(
            conversation=target, actor=acting_user(request), agent=agent, team=team, note=values.get("note", "")
        )


@_desk_action("resolve")
class ConversationResolveApi(ConversationActionApi):
    """Desk action `resolve` on a conversation."""

    def perform(self, request: Request, target: Conversation, values: dict[str, Any]) -> Conversation:
        return services.conversation_resolve(conversation=target, actor=acting_user(request), note=values.get("note", ""))


@_desk_action("reopen")
class ConversationReopenApi(ConversationActionApi):
    """Desk action `reopen` on a conversation."""

    def perform(self, request: Request, target: Conversation, values: dict[str, Any]) -> Conversation:
        return services.conversation_reopen(conversation=target, actor=acting_user(request))


@_desk_action("hold")
class ConversationHoldApi(ConversationActionApi):
    """Desk action `hold` on a conversation."""

    def perform(self, request: Request, target: Conversation, values: dict[str, Any]) -> Conversation:
        return services.conversation_hold(conversation=target, actor=acting_user(request))


@_desk_action("unhold")
class ConversationUnholdApi(ConversationActionApi):
    """Desk action `unhold` on a conversation."""

    def perform(self, request: Request, target: Conversation, values: dict[str, Any]) -> Conversation:
        return services.conversation_unhold(conversation=target, actor=acting_user(request))


@_desk_action("handback")
class ConversationHandbackApi(ConversationActionApi):
    """Desk action `handback` on a conversation."""

    def perform(self, request: Request, target: Conversation, values: dict[str, Any]) -> Conversation:
        return services.conversation_handback(conversation=target, actor=acting_user(request), note=values.get("note", ""))


def _user(user_id: int):
    user = User.objects.filter(pk=user_id, is_active=True).first()
    if user is None:
        raise Refused("not_found", gettext("No such agent."), field="agent")
    return user


def _team(team_id: int) -> Team:
    team = Team.objects.filter(pk=team_id).first()
    if team is None:
        raise Refused("not_found", gettext("No such team."), field="team")
    return team
