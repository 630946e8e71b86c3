"""The desk's pages (`/desk/`, `/desk/c/<id>/`, `/desk/monitor/`) and the reads their
scripts fetch (`/api/v1/desk/…`). Writes go through the REST API into services."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.shortcuts import render
from django.utils import timezone, translation
from django.utils.translation import gettext
from django.views.decorators.csrf import ensure_csrf_cookie
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from agents.desk_selectors import desk_context, desk_inbox, monitor_overview, new_conversation_options
from config.api_errors import ApiError, ErrorSerializer
from conversations.access import conversation_for_user, desk_team_ids, request_roles, supervised_team_ids


def _desk_config(request, **extra) -> dict:
    user = request.user
    roles = request_roles(request)
    return {
        "user": {"id": user.pk, "name": user.get_full_name() or user.get_username()},
        "teams": desk_team_ids(roles),
        "supervised": supervised_team_ids(roles),
        "supervisor": roles.supervisor,
        "admin": roles.admin,
        "socket": "/ws/desk/",
        # The agent's desk language and time zone (agents.preferences), for the scripts' dates and times.
        "language": translation.get_language(),
        "timezone": timezone.get_current_timezone_name(),
        **extra,
    }


@login_required
@ensure_csrf_cookie
def desk_page(request, conversation_id: int | None = None):
    """The inbox, and a conversation when its id is in the URL (404 without access)."""
    watch = False
    if conversation_id is not None:
        conversation_for_user(request_roles(request), conversation_id)
        watch = request.GET.get("watch") == "1"
    config = _desk_config(request, conversation=conversation_id, watch=watch)
    return render(request, "desk/desk.html", {"desk_config": config})


@login_required
@ensure_csrf_cookie
def monitor_page(request):
    if not request_roles(request).supervisor:
        raise PermissionDenied("The monitor is for supervisors.")
    return render(request, "desk/monitor.html", {"desk_config": _desk_config(request)})


class DeskConversationsApi(APIView):
    """Inbox rows (unread counts, SLA times, preview, window) for every open conversation
    the user may see; with `since`, every visible conversation changed after it."""

    class FilterSerializer(serializers.Serializer):
        since = serializers.DateTimeField(required=False)

    @extend_schema(
        parameters=[FilterSerializer],
        responses=inline_serializer(
            "DeskInbox",
            {"server_time": serializers.DateTimeField(), "results": serializers.ListField(child=serializers.DictField())},
        ),
    )
    def get(self, request):
        filters = self.FilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        now = timezone.now()
        rows = desk_inbox(user=request.user, since=filters.validated_data.get("since"), roles=request_roles(request))
        return Response({"server_time": now.isoformat(), "results": rows})


class DeskConversationContextApi(APIView):
    """The conversation's side panel: customer, earlier conversations, consent, handoff card,
    approved templates, and the user's part in it."""

    @extend_schema(responses=OpenApiTypes.OBJECT)
    def get(self, request, conversation_id: int):
        roles = request_roles(request)
        conversation = conversation_for_user(roles, conversation_id)
        return Response(desk_context(user=request.user, conversation=conversation, roles=roles))


class DeskNewConversationApi(APIView):
    """What the *New conversation* form offers: numbers, the chosen number's approved
    templates with their parameter slots, and whether the user may record an opt-in."""

    class FilterSerializer(serializers.Serializer):
        number = serializers.IntegerField(required=False, min_value=1, max_value=2**63 - 1,
                                          help_text="WhatsApp number id; the default number if left out.")

    @extend_schema(parameters=[FilterSerializer], responses={
        200: OpenApiTypes.OBJECT,
        404: OpenApiResponse(response=ErrorSerializer, description="`not_found`: no such WhatsApp number."),
    })
    def get(self, request):
        filters = self.FilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        options = new_conversation_options(user=request.user, number_id=filters.validated_data.get("number"))
        if filters.validated_data.get("number") is not None and options["number"] is None:
            raise ApiError("not_found", gettext("No such WhatsApp number."), status.HTTP_404_NOT_FOUND)
        return Response(options)


class MonitorApi(APIView):
    """Queues, agents, SLA breaches and open conversations of the supervisor's teams."""

    @extend_schema(responses={200: OpenApiTypes.OBJECT, 403: OpenApiTypes.OBJECT})
    def get(self, request):
        roles = request_roles(request)
        if not roles.supervisor:
            raise ApiError("forbidden", gettext("The monitor is for supervisors."), status.HTTP_403_FORBIDDEN)
        return Response(monitor_overview(user=request.user, roles=roles))
