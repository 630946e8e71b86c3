"""The compliance monitor, remediation cases and alerts over the API. Thin: check access,
validate, call one selector or service, shape the answer.

- `GET /api/v1/compliance/numbers/`: every number with its quality, limit and open case;
- `GET /api/v1/compliance/numbers/<id>/?start=&end=&tz=`: the verdict, gaps, health
  history, checklist and cases of one number (supervisors: their conversations only);
- `POST /api/v1/compliance/numbers/<id>/cases/`: an admin opens a remediation case;
- `POST /api/v1/compliance/cases/<id>/resolve/`: an admin resolves it;
- `GET /api/v1/alerts/`, `POST /api/v1/alerts/<id>/close/`: open alerts (supervisors and
  admins), and an admin closing one.
"""

from __future__ import annotations

from typing import Any

from django.shortcuts import get_object_or_404
from django.utils.translation import gettext
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_field
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from config.api_errors import ApiError
from config.api_periods import PeriodQuerySerializer, PeriodSerializer, period_of
from conversations.access import user_is_admin
from conversations.models import WhatsAppNumber
from notifications.compliance import GAP_KINDS, compliance_report
from notifications.compliance_cases import open_case
from notifications.compliance_scope import user_may_see_compliance
from notifications.models import Alert, RemediationCase
from notifications.services import alerts as alert_services
from notifications.services import remediation


def require_compliance_access(request: Request) -> None:
    if not user_may_see_compliance(request.user):
        raise ApiError("forbidden", gettext("Compliance and alerts are for supervisors and admins."), status.HTTP_403_FORBIDDEN)


def require_admin(request: Request) -> None:
    if not user_is_admin(request.user):
        raise ApiError("forbidden", gettext("Only admins may do this."), status.HTTP_403_FORBIDDEN)


def refused(exc: remediation.RemediationRefused) -> ApiError:
    code_status = {"invalid": status.HTTP_400_BAD_REQUEST, "invalid_state": status.HTTP_409_CONFLICT}
    return ApiError(exc.code, exc.detail, code_status.get(exc.code, status.HTTP_400_BAD_REQUEST))


# --- output shapes -------------------------------------------------------------------------------


class CaseSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    number = serializers.IntegerField(source="number_id")
    state = serializers.ChoiceField(choices=RemediationCase.State.choices)
    trigger = serializers.ChoiceField(choices=RemediationCase.Trigger.choices)
    trigger_label = serializers.CharField(source="get_trigger_display")
    reason = serializers.CharField()
    opened_at = serializers.DateTimeField()
    opened_by = serializers.CharField(source="opened_by.username", allow_null=True, default=None)
    deadline_at = serializers.DateTimeField()
    days_left = serializers.SerializerMethodField(help_text="Whole days left (0 once closed or past the deadline).")
    seconds_left = serializers.SerializerMethodField(help_text="Seconds left until the deadline (0 once closed).")
    closed_at = serializers.DateTimeField(allow_null=True)
    closed_by = serializers.CharField(source="closed_by.username", allow_null=True, default=None)
    resolution = serializers.CharField()
    evidence = serializers.DictField(help_text="The verdict and checklist from opening to closing (kept at close).")

    def get_days_left(self, case: RemediationCase) -> int:
        if case.state != RemediationCase.State.OPEN:
            return 0
        return -(-int(case.seconds_left()) // 86400)

    def get_seconds_left(self, case: RemediationCase) -> float:
        return round(case.seconds_left(), 1)


class NumberSummarySerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    display_phone_number = serializers.CharField()
    quality_rating = serializers.CharField(help_text="GREEN, YELLOW, RED or UNKNOWN.")
    messaging_limit = serializers.CharField(help_text="TIER_250, TIER_1K, TIER_2K, TIER_10K, TIER_100K or TIER_UNLIMITED.")
    open_case = serializers.SerializerMethodField()

    @extend_schema_field(CaseSerializer(allow_null=True))
    def get_open_case(self, number: WhatsAppNumber) -> dict[str, Any] | None:
        case = open_case(number)
        return dict(CaseSerializer(case).data) if case is not None else None


class GapCountsSerializer(serializers.Serializer):
    unanswered = serializers.IntegerField()
    late = serializers.IntegerField()
    no_offer = serializers.IntegerField()
    no_fallback_contact = serializers.IntegerField()


class VerdictSerializer(serializers.Serializer):
    conversations = serializers.IntegerField(help_text="Conversations created in the period.")
    bot_conversations = serializers.IntegerField(help_text="Of those, served by a bot.")
    human_offered = serializers.IntegerField(help_text="Bot conversations where a person was offered or handed it.")
    human_offered_rate = serializers.FloatField(allow_null=True, help_text="Percent of bot conversations.")
    handed_off = serializers.IntegerField()
    requested = serializers.IntegerField(help_text="Customers who asked for a person.")
    reached = serializers.IntegerField(help_text="Of those, answered by a person or given a valid fallback contact.")
    reached_rate = serializers.FloatField(allow_null=True)
    answered = serializers.IntegerField()
    answered_in_time = serializers.IntegerField()
    valid_fallback = serializers.IntegerField(help_text="Requests given a phone, email or web form when nobody was free.")
    waiting = serializers.IntegerField(help_text="Requests unanswered but still within the target.")
    wait_average_seconds = serializers.FloatField(allow_null=True)
    wait_longest_seconds = serializers.FloatField(allow_null=True)
    target_seconds = serializers.IntegerField()
    gaps = GapCountsSerializer()
    gap_total = serializers.IntegerField()
    status = serializers.ChoiceField(choices=[("clear", "No gaps"), ("gaps", "Gaps found")])


class GapSerializer(serializers.Serializer):
    conversation = serializers.IntegerField()
    link = serializers.SerializerMethodField()
    kind = serializers.ChoiceField(choices=list(GAP_KINDS.items()))
    description = serializers.CharField()
    created_at = serializers.DateTimeField()
    contact_name = serializers.CharField(allow_blank=True)
    team = serializers.CharField(allow_blank=True)
    requested_at = serializers.DateTimeField(allow_null=True)
    answered_at = serializers.DateTimeField(allow_null=True)
    wait_seconds = serializers.FloatField(allow_null=True)

    def get_link(self, gap: dict[str, Any]) -> str:
        return f"/desk/c/{gap['conversation']}/"


class HealthEventSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    created_at = serializers.DateTimeField()
    field = serializers.CharField()
    event = serializers.CharField(allow_blank=True)
    quality_rating = serializers.CharField(allow_blank=True)
    messaging_limit = serializers.CharField(allow_blank=True)
    throughput_mps = serializers.IntegerField(allow_null=True)
    detail = serializers.CharField(allow_blank=True)


class HealthSerializer(serializers.Serializer):
    quality_rating = serializers.CharField(help_text="GREEN, YELLOW, RED or UNKNOWN.")
    messaging_limit = serializers.CharField(
        help_text="The limit that applies (its business portfolio's when it has one): TIER_250, TIER_1K, TIER_2K, "
        "TIER_10K, TIER_100K or TIER_UNLIMITED.")
    messaging_limit_label = serializers.CharField(help_text="The limit in words, e.g. 2,000 users / 24 h.")
    portfolio = serializers.CharField(allow_null=True, help_text="The business portfolio sharing its limit, if any.")
    number_messaging_limit = serializers.CharField(help_text="The number's own (older, per-number) limit.")
    throughput_mps = serializers.IntegerField()
    restricted = serializers.BooleanField()
    restriction = serializers.CharField(allow_blank=True)
    history = HealthEventSerializer(many=True)


class ChecklistItemSerializer(serializers.Serializer):
    key = serializers.CharField()
    # DRF's metaclass moves declared fields out of the class, so this does not shadow `Field.label`.
    label = serializers.CharField()  # type: ignore[assignment]
    ok = serializers.BooleanField()
    detail = serializers.CharField(allow_blank=True)


class ComplianceSerializer(serializers.Serializer):
    number = NumberSummarySerializer()
    period = PeriodSerializer()
    policy = serializers.CharField(allow_null=True, help_text="The escalation policy whose target and fallback apply.")
    target_seconds = serializers.IntegerField()
    verdict = VerdictSerializer()
    gaps = GapSerializer(many=True, help_text="The newest gaps of each kind (up to 50 each), newest first.")
    health = HealthSerializer()
    checklist = ChecklistItemSerializer(many=True)
    cases = CaseSerializer(many=True)


class AlertSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    kind = serializers.ChoiceField(choices=Alert.Kind.choices)
    severity = serializers.ChoiceField(choices=Alert.Severity.choices)
    title = serializers.CharField()
    detail = serializers.CharField(allow_blank=True)
    link = serializers.CharField(allow_blank=True, help_text="Where to act on it (a path on this site).")
    number = serializers.IntegerField(allow_null=True)
    opened_at = serializers.DateTimeField()
    occurrences = serializers.IntegerField()
    closed_at = serializers.DateTimeField(allow_null=True)


class CaseOpenSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=2000, help_text="Why the case is opened (e.g. WhatsApp's message).")


class CaseResolveSerializer(serializers.Serializer):
    resolution = serializers.CharField(max_length=4000, help_text="What was changed to give customers a person.")


def _valid(serializer_class: type[serializers.Serializer], data: Any) -> dict[str, Any]:
    serializer = serializer_class(data=data)
    serializer.is_valid(raise_exception=True)
    return dict(serializer.validated_data)


def _case(case: RemediationCase) -> dict[str, Any]:
    fresh = RemediationCase.objects.select_related("opened_by", "closed_by").get(pk=case.pk)
    return dict(CaseSerializer(fresh).data)


# --- views ---------------------------------------------------------------------------------------


class ComplianceNumbersApi(APIView):
    @extend_schema(responses={200: NumberSummarySerializer(many=True)},
                   summary="Every WhatsApp number with its quality, messaging limit and open remediation case "
                           "(supervisors and admins)")
    def get(self, request: Request) -> Response:
        require_compliance_access(request)
        numbers = WhatsAppNumber.objects.order_by("-is_default", "name", "pk")
        return Response(NumberSummarySerializer(numbers, many=True).data)


class ComplianceNumberApi(APIView):
    @extend_schema(parameters=[PeriodQuerySerializer], responses={200: ComplianceSerializer},
                   summary="The compliance verdict of one number over a period: the human path offered, asked "
                           "for and given, the gaps, its quality and limit history, the checklist and its cases")
    def get(self, request: Request, number_id: int) -> Response:
        require_compliance_access(request)
        number = get_object_or_404(WhatsAppNumber, pk=number_id)
        period, _ = period_of(request)
        report = compliance_report(user=request.user, number=number, period=period)
        report["period"] = period.as_dict()
        report["policy"] = report["policy"].name if report["policy"] is not None else None
        return Response(ComplianceSerializer(report).data)


class RemediationCaseOpenApi(APIView):
    @extend_schema(request=CaseOpenSerializer, responses={
        201: CaseSerializer, 200: OpenApiResponse(CaseSerializer, description="A case was already open: that one.")},
        summary="Open a remediation case with a 7-day countdown (admins)")
    def post(self, request: Request, number_id: int) -> Response:
        require_admin(request)
        number = get_object_or_404(WhatsAppNumber, pk=number_id)
        data = _valid(CaseOpenSerializer, request.data)
        case, created = remediation.remediation_case_open(
            number=number, trigger=RemediationCase.Trigger.ADMIN, reason=data["reason"], actor=request.user)
        return Response(_case(case), status=status.HTTP_201_CREATED if created else status.HTTP_200_OK)


class RemediationCaseResolveApi(APIView):
    @extend_schema(request=CaseResolveSerializer, responses={
        200: CaseSerializer, 409: OpenApiResponse(description="`invalid_state`: the case is no longer open.")},
        summary="Resolve an open remediation case, saying what was changed (admins)")
    def post(self, request: Request, case_id: int) -> Response:
        require_admin(request)
        case = get_object_or_404(RemediationCase, pk=case_id)
        data = _valid(CaseResolveSerializer, request.data)
        try:
            case = remediation.remediation_case_resolve(case=case, resolution=data["resolution"], actor=request.user)
        except remediation.RemediationRefused as exc:
            raise refused(exc) from None
        return Response(_case(case))


class AlertListApi(APIView):
    @extend_schema(responses={200: AlertSerializer(many=True)},
                   summary="Open alerts, newest first (supervisors and admins)")
    def get(self, request: Request) -> Response:
        require_compliance_access(request)
        rows = [alert_services.alert_payload(alert, translated=True) for alert in alert_services.alerts_open()[:50]]
        return Response(AlertSerializer(rows, many=True).data)


class AlertCloseApi(APIView):
    @extend_schema(request=None, responses={200: AlertSerializer},
                   summary="Close an alert once its incident is dealt with (admins); closing it again changes nothing")
    def post(self, request: Request, alert_id: int) -> Response:
        require_admin(request)
        alert = get_object_or_404(Alert, pk=alert_id)
        alert_services.alert_close(alert=alert, actor=request.user, reason="closed by an admin")
        alert.refresh_from_db()
        return Response(AlertSerializer(alert_services.alert_payload(alert, translated=True)).data)
