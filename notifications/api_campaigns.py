"""Campaigns API (admins): list, create, start, pause, resume, cancel, statistics, recipients."""

from __future__ import annotations

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.pagination import PageNumberPagination
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from config.api_errors import ApiError

from . import campaigns as services
from .api import number_or_default, request_user, require_admin, valid
from .campaign_audience import MappingError, mapping_check
from .models import Campaign, MessageTemplate
from .selectors import campaign_recipients, campaign_stats, recipient_delivery, recipient_failure
from .serializers import CampaignCreateSerializer, CampaignPauseSerializer, CampaignSerializer


def _campaign(request: Request, campaign_id: int) -> Campaign:
    require_admin(request)
    return get_object_or_404(Campaign.objects.select_related("template", "number"), pk=campaign_id)


def _refused(exc: services.CampaignRefused) -> ApiError:
    return ApiError(exc.code, exc.detail, status.HTTP_409_CONFLICT)


class CampaignListApi(APIView):
    @extend_schema(responses={200: CampaignSerializer(many=True)}, summary="Campaigns, newest first (admins)")
    def get(self, request: Request) -> Response:
        require_admin(request)
        paginator = PageNumberPagination()
        page = paginator.paginate_queryset(Campaign.objects.select_related("template"), request, view=self)
        return paginator.get_paginated_response(CampaignSerializer(page, many=True).data)

    @extend_schema(request=CampaignCreateSerializer, responses={201: CampaignSerializer},
                   summary="Create a draft campaign (admins); start it with POST …/start/")
    def post(self, request: Request) -> Response:
        require_admin(request)
        data = valid(CampaignCreateSerializer, request.data)
        number = number_or_default(data.get("number"))
        template = MessageTemplate.objects.filter(pk=data["template"]).first()
        if template is None or template.business_account_id != number.business_account_id:
            raise ApiError("invalid", "template: no such template for this number.")
        try:
            mapping_check(data["parameter_mapping"])
        except MappingError as exc:
            raise ApiError("invalid", f"parameter_mapping: {exc}") from None
        campaign = Campaign.objects.create(
            name=data["name"], number=number, template=template, audience=data["audience"],
            audience_filter=data["audience_filter"], audience_csv=data["audience_csv"],
            parameter_mapping=data["parameter_mapping"], scheduled_at=data["scheduled_at"], created_by=request_user(request),
        )
        return Response(CampaignSerializer(campaign).data, status=status.HTTP_201_CREATED)


class CampaignDetailApi(APIView):
    @extend_schema(responses={200: CampaignSerializer}, summary="One campaign (admins)")
    def get(self, request: Request, campaign_id: int) -> Response:
        return Response(CampaignSerializer(_campaign(request, campaign_id)).data)


class CampaignActionApi(APIView):
    action_name = "start"

    @extend_schema(request=CampaignPauseSerializer, responses={200: CampaignSerializer},
                   summary="Start, pause, resume or cancel a campaign (admins)")
    def post(self, request: Request, campaign_id: int) -> Response:
        campaign = _campaign(request, campaign_id)
        try:
            if self.action_name == "start":
                campaign = services.campaign_start(campaign=campaign, actor=request_user(request))
            elif self.action_name == "pause":
                reason = valid(CampaignPauseSerializer, request.data)["reason"]
                campaign = services.campaign_pause(campaign=campaign, reason=reason, actor=request_user(request))
            elif self.action_name == "resume":
                campaign = services.campaign_resume(campaign=campaign, actor=request_user(request))
            else:
                campaign = services.campaign_cancel(campaign=campaign, actor=request_user(request))
        except services.CampaignRefused as exc:
            raise _refused(exc) from None
        return Response(CampaignSerializer(campaign).data)


class CampaignStatsApi(APIView):
    @extend_schema(responses={200: dict}, summary="Progress and delivery statistics (admins)")
    def get(self, request: Request, campaign_id: int) -> Response:
        return Response(campaign_stats(campaign=_campaign(request, campaign_id)))


class CampaignRecipientsApi(APIView):
    @extend_schema(responses={200: dict}, summary="Per-recipient delivery: sent, delivered, read, failed, replied")
    def get(self, request: Request, campaign_id: int) -> Response:
        campaign = _campaign(request, campaign_id)
        paginator = PageNumberPagination()
        page = paginator.paginate_queryset(campaign_recipients(campaign=campaign), request, view=self) or []
        rows = [
            {
                "contact": row.contact_id,
                "wa_id": row.contact.wa_id,
                "state": row.state,
                "delivery": recipient_delivery(row),
                "replied": bool(getattr(row, "replied", False)),
                "message": row.message_id,
                "sent_at": row.sent_at,
                "error": recipient_failure(row),
            }
            for row in page
        ]
        return paginator.get_paginated_response(rows)
