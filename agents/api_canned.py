"""`/api/v1/canned-responses/`: list the responses a user may insert (rendered for a
conversation when `?conversation=<id>` is given), create, change and delete own ones."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied, ValidationError
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from agents.models import CannedResponse, Team
from agents.services.canned import (
    canned_render,
    canned_response_create,
    canned_response_delete,
    canned_response_may_manage,
    canned_response_update,
    canned_responses_for,
)
from config.api_errors import ApiError
from conversations.access import conversation_for_user, roles_for


class CannedOutput(serializers.ModelSerializer):
    team = serializers.IntegerField(source="team_id", allow_null=True)
    owner = serializers.IntegerField(source="owner_id", allow_null=True)

    class Meta:
        model = CannedResponse
        fields = ["id", "scope", "team", "owner", "shortcut", "title", "body", "updated_at"]


def _refusal(exc: Exception) -> ApiError:
    if isinstance(exc, PermissionDenied):
        return ApiError("forbidden", str(exc) or "Not allowed.", status.HTTP_403_FORBIDDEN)
    assert isinstance(exc, ValidationError)
    detail = "; ".join(f"{k}: {' '.join(v)}" for k, v in exc.message_dict.items()) if hasattr(exc, "error_dict") else " ".join(exc.messages)
    return ApiError("invalid", detail, status.HTTP_400_BAD_REQUEST)


class CannedCreateInputSerializer(serializers.Serializer):
    shortcut = serializers.SlugField(max_length=40)
    title = serializers.CharField(max_length=120)
    body = serializers.CharField(max_length=4096)
    scope = serializers.ChoiceField(choices=CannedResponse.Scope.choices, default=CannedResponse.Scope.PERSONAL)
    team = serializers.PrimaryKeyRelatedField(queryset=Team.objects.all(), required=False, allow_null=True)


class CannedFilterSerializer(serializers.Serializer):
    q = serializers.CharField(required=False, allow_blank=True,
                              help_text="The start of a shortcut or part of a title.")
    conversation = serializers.IntegerField(required=False, help_text="Render each response for this conversation.")


class CannedListApi(APIView):
    InputSerializer = CannedCreateInputSerializer

    @extend_schema(
        operation_id="canned_responses_list",
        parameters=[CannedFilterSerializer],
        responses={
            200: inline_serializer("CannedResponseList", {"results": CannedOutput(many=True)}),
            404: OpenApiResponse(description="`not_found`: no such conversation, or not one this user may see."),
        },
    )
    def get(self, request):
        filters = CannedFilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        responses = list(canned_responses_for(request.user, query=filters.validated_data.get("q", "")))
        data = []
        conversation = None
        roles = roles_for(request.user)
        if filters.validated_data.get("conversation") is not None:
            conversation = conversation_for_user(roles, filters.validated_data["conversation"])
        for response in responses:
            item = dict(CannedOutput(response).data)
            item["editable"] = canned_response_may_manage(request.user, response, roles=roles)
            if conversation is not None:
                item["rendered"] = canned_render(body=response.body, conversation=conversation, agent=request.user)
            data.append(item)
        return Response({"results": data})

    @extend_schema(operation_id="canned_responses_create", request=InputSerializer, responses={201: CannedOutput})
    def post(self, request):
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            response = canned_response_create(actor=request.user, **serializer.validated_data)
        except (PermissionDenied, ValidationError) as exc:
            raise _refusal(exc) from None
        return Response(CannedOutput(response).data, status=status.HTTP_201_CREATED)


class CannedChangeInputSerializer(serializers.Serializer):
    shortcut = serializers.SlugField(max_length=40, required=False)
    title = serializers.CharField(max_length=120, required=False)
    body = serializers.CharField(max_length=4096, required=False)


class CannedDetailApi(APIView):
    InputSerializer = CannedChangeInputSerializer

    def _get(self, request, pk: int) -> CannedResponse:
        # Only responses the user can see are found at all; others answer 404.
        return get_object_or_404(canned_responses_for(request.user), pk=pk)

    @extend_schema(operation_id="canned_responses_retrieve", responses=CannedOutput)
    def get(self, request, pk: int):
        return Response(CannedOutput(self._get(request, pk)).data)

    @extend_schema(operation_id="canned_responses_update", request=InputSerializer, responses=CannedOutput)
    def patch(self, request, pk: int):
        response = self._get(request, pk)
        serializer = self.InputSerializer(data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        try:
            response = canned_response_update(actor=request.user, response=response, **serializer.validated_data)
        except (PermissionDenied, ValidationError) as exc:
            raise _refusal(exc) from None
        return Response(CannedOutput(response).data)

    @extend_schema(operation_id="canned_responses_delete", responses={204: None})
    def delete(self, request, pk: int):
        response = self._get(request, pk)
        try:
            canned_response_delete(actor=request.user, response=response)
        except PermissionDenied as exc:
            raise _refusal(exc) from None
        return Response(status=status.HTTP_204_NO_CONTENT)
