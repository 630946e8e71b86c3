"""Campaigns API (admins): list, create, start, pause, resume, cancel, statistics, recipients."""

from __future__ import annotations

from typing import Any

from django.shortcuts import get_object_or_404
from django.utils.translation import gettext
from drf_spectacular.utils import (
    OpenApiResponse,
    extend_schema,
    extend_schema_field,
    extend_schema_view,
    inline_serializer,
)
from rest_framework import serializers, status
from rest_framework.pagination import PageNumberPagination
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from config.api_actions import ActionView
from config.refusals import Refused
from notifications.api import number_or_default, request_user, require_admin, valid
from notifications.models import Campaign, MessageTemplate
from notifications.selectors import campaign_recipients, campaign_stats, recipient_delivery, recipient_failure
from notifications.serializers import CampaignCreateSerializer, CampaignPauseSerializer, CampaignSerializer
from notifications.services import campaigns as services


def _campaign(request: Request, campaign_id: int) -> Campaign:
    require_admin(request)
    return get_object_or_404(Campaign.objects.select_related("template", "number"), pk=campaign_id)


class CampaignListApi(APIView):
    pagination_class = PageNumberPagination

    @extend_schema(responses={200: CampaignSerializer(many=True)}, summary="Campaigns, newest first (admins)")
    def get(self, request: Request) -> Response:
        require_admin(request)
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(Campaign.objects.select_related("template"), request, view=self)
        return paginator.get_paginated_response(CampaignSerializer(page, many=True).data)

    @extend_schema(request=CampaignCreateSerializer, responses={201: CampaignSerializer},
                   summary="Create a draft campaign (admins); start it with POST …/start/")
    def post(self, request: Request) -> Response:
        require_admin(request)
        data = valid(CampaignCreateSerializer, request.data)
        number = number_or_default(data.get("number"))
        template = MessageTemplate.objects.filter(pk=data["template"]).first()
        if template is None:
            raise Refused("invalid", gettext("No such template."), field="template")
        campaign = services.campaign_create(  # CampaignRefused propagates to the API's error handler
            name=data["name"], number=number, template=template, audience=data["audience"],
            audience_filter=data["audience_filter"], audience_csv=data["audience_csv"],
            parameter_mapping=data["parameter_mapping"], scheduled_at=data["scheduled_at"], created_by=request_user(request),
        )
        return Response(CampaignSerializer(campaign).data, status=status.HTTP_201_CREATED)


class CampaignDetailApi(APIView):
    @extend_schema(responses={200: CampaignSerializer}, summary="One campaign (admins)")
    def get(self, request: Request, campaign_id: int) -> Response:
        return Response(CampaignSerializer(_campaign(request, campaign_id)).data)


REFUSED = OpenApiResponse(description="`invalid_state`: the campaign's state does not allow this (starting "
                                      "one that ran, pausing a draft); `template_not_approved`, `quality_red` or "
                                      "`account_restricted`: the template or number does not allow sending now.")


@extend_schema_view(post=extend_schema(request=None, responses={200: CampaignSerializer, 409: REFUSED},
                                       summary="Start, resume or cancel a campaign (admins)"))
class CampaignActionApi(ActionView):
    """POST …/campaigns/<id>/<action>/: start, pause, resume or cancel. Only pause reads a
    body (its reason)."""

    # Lifecycle refusals propagate to the API's error handler (409).

    def target(self, request: Request, **kwargs: Any) -> Campaign:
        return _campaign(request, kwargs["campaign_id"])

    def respond(self, request: Request, target: Campaign, result: Campaign) -> Response:
        return Response(CampaignSerializer(result).data)


class CampaignStartApi(CampaignActionApi):
    def perform(self, request: Request, target: Campaign, values: dict[str, Any]) -> Campaign:
        return services.campaign_start(campaign=target, actor=request_user(request))


@extend_schema_view(post=extend_schema(request=CampaignPauseSerializer,
                                       summary="Pause a running campaign, with a reason (admins)"))
class CampaignPauseApi(CampaignActionApi):
    input_serializer = CampaignPauseSerializer

    def perform(self, request: Request, target: Campaign, values: dict[str, Any]) -> Campaign:
        return services.campaign_pause(campaign=target, reason=values["reason"], actor=request_user(request))


class CampaignResumeApi(CampaignActionApi):
    def perform(self, request: Request, target: Campaign, values: dict[str, Any]) -> Campaign:
        return services.campaign_resume(campaign=target, actor=request_user(request))


class CampaignCancelApi(CampaignActionApi):
    def perform(self, request: Request, target: Campaign, values: dict[str, Any]) -> Campaign:
        return services.campaign_cancel(campaign=target, actor=request_user(request))


class CampaignStatsApi(APIView):
    @extend_schema(responses={200: dict}, summary="Progress and delivery statistics (admins)")
    def get(self, request: Request, campaign_id: int) -> Response:
        return Response(campaign_stats(campaign=_campaign(request, campaign_id)))


class CampaignRecipientSerializer(serializers.Serializer):
    contact = serializers.IntegerField(source="contact_id")
    wa_id = serializers.CharField(source="contact.wa_id", help_text="Empty for a customer known only by user id.")
    user_id = serializers.CharField(source="contact.user_id", help_text="The business-scoped user id, if known.")
    state = serializers.CharField(help_text="The row's state: queued, sending, sent, skipped or failed.")
    delivery = serializers.SerializerMethodField(
        help_text="queued, sending, skipped, failed, or the message's status (pending, sent, delivered, read)."
    )
    replied = serializers.BooleanField(help_text="The customer wrote after it.")
    message = serializers.IntegerField(source="message_id", allow_null=True)
    sent_at = serializers.DateTimeField(allow_null=True)
    error = serializers.SerializerMethodField()

    def get_delivery(self, row) -> str:
        return recipient_delivery(row)

    @extend_schema_field(inline_serializer("RecipientError", {
        "code": serializers.CharField(),
        "label": serializers.CharField(help_text='The failure as reports name it: "frequency cap" for 131049, …'),
        "reason": serializers.CharField()}))
    def get_error(self, row) -> dict[str, str]:
        return recipient_failure(row)


class CampaignRecipientsApi(APIView):
    pagination_class = PageNumberPagination

    @extend_schema(responses={200: CampaignRecipientSerializer(many=True)},
                   summary="Per-recipient delivery: sent, delivered, read, failed, replied (admins)")
    def get(self, request: Request, campaign_id: int) -> Response:
        campaign = _campaign(request, campaign_id)
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(campaign_recipients(campaign=campaign), request, view=self) or []
        return paginator.get_paginated_response(CampaignRecipientSerializer(page, many=True).data)
