"""Reports over the API: `GET /api/v1/reports/summary/` (supervisors for their teams, admins
for all) and `GET /api/v1/reports/campaigns/` (admins). Both take `start`, `end` (dates,
inclusive), `tz` (the viewer's IANA zone); the summary also `team`, `agent` and `bucket`
(`day` or `week`)."""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from agents.reports import BUCKETS, ReportRefused, report_campaigns, report_scope, report_summary
from config.api_errors import ApiError
from config.api_periods import PeriodQuerySerializer, PeriodSerializer, period_of
from conversations.models import Channel, Conversation


class ReportQuerySerializer(PeriodQuerySerializer):
    team = serializers.IntegerField(required=False, min_value=1, help_text="One team (one you supervise).")
    agent = serializers.IntegerField(required=False, min_value=1, help_text="One agent: the conversations they held.")
    bucket = serializers.ChoiceField(choices=BUCKETS, required=False, default="day", help_text="Series per day or week.")


def refused(exc: ReportRefused) -> ApiError:
    body_status = status.HTTP_403_FORBIDDEN if exc.code == "forbidden" else status.HTTP_400_BAD_REQUEST
    return ApiError(exc.code, exc.detail, body_status)


def scope_of(request: Request):
    period, data = period_of(request, ReportQuerySerializer)
    try:
        return report_scope(user=request.user, period=period, team_id=data.get("team"), agent_id=data.get("agent"),
                            bucket=data.get("bucket") or "day")
    except ReportRefused as exc:
        if exc.field and exc.code == "invalid":
            raise serializers.ValidationError({exc.field: [exc.detail]}) from None
        raise refused(exc) from None


class AverageSerializer(serializers.Serializer):
    count = serializers.IntegerField()
    average_seconds = serializers.FloatField(allow_null=True)


class SlaSerializer(serializers.Serializer):
    with_target = serializers.IntegerField(help_text="Conversations with a first-response target.")
    met = serializers.IntegerField(help_text="Of those, never breached.")
    attainment = serializers.FloatField(allow_null=True, help_text="Percent met.")


class CsatSerializer(serializers.Serializer):
    requested = serializers.IntegerField()
    responses = serializers.IntegerField()
    response_rate = serializers.FloatField(allow_null=True)
    average = serializers.FloatField(allow_null=True, help_text="1 (Bad) to 3 (Good).")
    distribution = serializers.DictField(child=serializers.IntegerField(), help_text='Answers per score: {"1", "2", "3"}.')


class TotalsSerializer(serializers.Serializer):
    conversations = serializers.IntegerField()
    bot_conversations = serializers.IntegerField()
    contained = serializers.IntegerField(help_text="Bot conversations that never reached people.")
    containment_rate = serializers.FloatField(allow_null=True)
    handed_off = serializers.IntegerField()
    requested = serializers.IntegerField(help_text="Customers who asked for a person.")
    resolved = serializers.IntegerField()
    first_response = AverageSerializer(help_text="Queueing to the first agent reply.")
    time_to_human = AverageSerializer(help_text="The customer's request to the first reply of a person.")
    handle_time = AverageSerializer(help_text="Assignment to resolution.")
    sla = SlaSerializer()
    csat = CsatSerializer()


class StatusCountSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=Conversation.Status.choices)
    # DRF's metaclass moves declared fields out of the class, so this does not shadow `Field.label`.
    label = serializers.CharField()  # type: ignore[assignment]
    count = serializers.IntegerField()


class ChannelCountSerializer(serializers.Serializer):
    channel = serializers.ChoiceField(choices=Channel.choices)
    # DRF's metaclass moves declared fields out of the class, so this does not shadow `Field.label`.
    label = serializers.CharField()  # type: ignore[assignment]
    count = serializers.IntegerField()


class ReasonCountSerializer(serializers.Serializer):
    reason = serializers.CharField()
    # DRF's metaclass moves declared fields out of the class, so this does not shadow `Field.label`.
    label = serializers.CharField()  # type: ignore[assignment]
    count = serializers.IntegerField()


class TeamReasonCountSerializer(ReasonCountSerializer):
    team = serializers.IntegerField(allow_null=True)
    team_name = serializers.CharField()


class SeriesPointSerializer(serializers.Serializer):
    start = serializers.DateField(help_text="The day, or the Monday of the week, in the viewer's zone.")
    conversations = serializers.IntegerField()
    handed_off = serializers.IntegerField()
    contained = serializers.IntegerField()
    resolved = serializers.IntegerField()
    first_response_avg_seconds = serializers.FloatField(allow_null=True)
    time_to_human_avg_seconds = serializers.FloatField(allow_null=True)
    csat_average = serializers.FloatField(allow_null=True)


class AgentRowSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    conversations = serializers.IntegerField()
    resolved = serializers.IntegerField()
    open = serializers.IntegerField()
    handle_avg_seconds = serializers.FloatField(allow_null=True)
    first_response_avg_seconds = serializers.FloatField(allow_null=True)
    csat_average = serializers.FloatField(allow_null=True)


class TeamRowSerializer(serializers.Serializer):
    id = serializers.IntegerField(allow_null=True)
    name = serializers.CharField()
    conversations = serializers.IntegerField()
    handed_off = serializers.IntegerField()
    resolved = serializers.IntegerField()
    first_response_avg_seconds = serializers.FloatField(allow_null=True)
    sla_attainment = serializers.FloatField(allow_null=True)
    csat_average = serializers.FloatField(allow_null=True)


class ScopeSerializer(serializers.Serializer):
    period = PeriodSerializer()
    team = serializers.IntegerField(allow_null=True)
    agent = serializers.IntegerField(allow_null=True)
    bucket = serializers.ChoiceField(choices=BUCKETS)


class CategoryCostSerializer(serializers.Serializer):
    messages = serializers.IntegerField()
    cost = serializers.DictField(child=serializers.CharField(), help_text='Per currency: {"USD": "1.2500"}.')


class PricingSerializer(serializers.Serializer):
    charged = serializers.IntegerField(help_text="Messages WhatsApp reported as charged (type regular).")
    free = serializers.IntegerField(help_text="Messages reported free (customer-service window, entry point).")
    by_type = serializers.DictField(child=serializers.IntegerField(), help_text="Messages per pricing type.")
    not_reported = serializers.IntegerField(help_text="Messages with no pricing reported (yet).")
    by_category = serializers.DictField(child=CategoryCostSerializer(), help_text="Charged messages per category.")
    cost = serializers.DictField(child=serializers.CharField(), help_text="Total per currency, by the price table.")
    unpriced = serializers.IntegerField(help_text="Charged messages without a rate in the price table.")


class SummarySerializer(serializers.Serializer):
    scope = ScopeSerializer()
    totals = TotalsSerializer()
    by_status = StatusCountSerializer(many=True)
    by_channel = ChannelCountSerializer(many=True)
    escalation_reasons = ReasonCountSerializer(many=True)
    handoffs_by_team = TeamReasonCountSerializer(many=True)
    series = SeriesPointSerializer(many=True)
    agents = AgentRowSerializer(many=True)
    teams = TeamRowSerializer(many=True)
    pricing = PricingSerializer(help_text="What WhatsApp charged for the messages sent in these conversations.")


class CampaignRowSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    state = serializers.CharField()
    recipients = serializers.IntegerField()
    sent = serializers.IntegerField(help_text="Accepted by WhatsApp (sent, delivered or read).")
    delivered = serializers.IntegerField(help_text="Delivered or read.")
    read = serializers.IntegerField()
    failed = serializers.IntegerField()
    skipped = serializers.IntegerField()
    replied = serializers.IntegerField(help_text="The customer wrote after the message.")
    failed_by_reason = serializers.DictField(
        child=serializers.IntegerField(),
        help_text='Failures per reason: WhatsApp\'s error code, or its name ("frequency cap" for 131049).')
    cost = PricingSerializer(help_text="What WhatsApp reported charging for the campaign's messages.")


class ReportSummaryApi(APIView):
    @extend_schema(parameters=[ReportQuerySerializer], responses={200: SummarySerializer},
                   summary="The report for a period: totals, breakdowns, a series per day or week, agents and teams "
                           "(supervisors: their teams and team-less conversations; admins: all)")
    def get(self, request: Request) -> Response:
        scope = scope_of(request)
        data: dict[str, Any] = report_summary(scope)
        return Response(SummarySerializer(data).data)


class ReportCampaignsApi(APIView):
    @extend_schema(parameters=[PeriodQuerySerializer], responses={200: CampaignRowSerializer(many=True)},
                   summary="Campaign delivery in a period: sent, delivered, read, failed by reason, replies (admins)")
    def get(self, request: Request) -> Response:
        scope = scope_of(request)
        rows = report_campaigns(scope)
        if rows is None:
            raise ApiError("forbidden", gettext("Campaign reports are for admins."), status.HTTP_403_FORBIDDEN)
        return Response(CampaignRowSerializer(rows, many=True).data)
