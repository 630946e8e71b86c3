"""Outgoing webhooks over the API (admins only). Thin: check access, validate, call one
service, shape the answer.

- `GET, POST /api/v1/webhooks/endpoints/`: the endpoints; POST registers one (its secret
  is in the answer);
- `GET, PATCH /api/v1/webhooks/endpoints/<id>/`: one endpoint; PATCH changes url, events,
  description or enabled (enabling a disabled endpoint restarts it);
- `GET /api/v1/webhooks/endpoints/<id>/deliveries/`: its latest deliveries with their attempts;
- `POST /api/v1/webhooks/deliveries/<id>/resend/`: send a delivery again now;
- `GET /api/v1/webhooks/events/`: the latest events of the outbox, as posted (the
  `WebhookEvent` component documents every payload).
"""

from __future__ import annotations

from django.shortcuts import get_object_or_404
from django.utils.translation import gettext
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from config.api_errors import ApiError
from config.outbound_http import OutboundRefused, url_check
from conversations.access import user_is_admin
from notifications.models import OutboxEvent, WebhookDelivery, WebhookEndpoint, WebhookEventType
from notifications.services.webhook_delivery import webhook_delivery_resend, webhook_endpoint_enable
from notifications.webhook_schemas import webhook_event_schema

LIST_LIMIT = 50


def require_admin(request: Request) -> None:
    if not user_is_admin(request.user):
        raise ApiError("forbidden", gettext("Only admins manage webhooks."), status.HTTP_403_FORBIDDEN)


class EndpointSerializer(serializers.Serializer):
    id = serializers.IntegerField(read_only=True)
    url = serializers.URLField(max_length=500)
    description = serializers.CharField(max_length=200, required=False, allow_blank=True)
    events = serializers.ListField(child=serializers.ChoiceField(choices=WebhookEventType.choices), allow_empty=True)
    enabled = serializers.BooleanField(required=False)
    failing_since = serializers.DateTimeField(read_only=True, allow_null=True)
    disabled_at = serializers.DateTimeField(read_only=True, allow_null=True)
    disabled_reason = serializers.CharField(read_only=True)
    created_at = serializers.DateTimeField(read_only=True)

    def validate_url(self, value: str) -> str:
        try:
            url_check(value)
        except OutboundRefused as exc:
            raise serializers.ValidationError(exc.detail) from exc
        return value

    def validate_events(self, value: list[str]) -> list[str]:
        return sorted(set(value))


class EndpointCreatedSerializer(EndpointSerializer):
    secret = serializers.CharField(read_only=True, help_text="Verify the Handoff-Signature header with it.")


class AttemptSerializer(serializers.Serializer):
    attempted_at = serializers.DateTimeField()
    status_code = serializers.IntegerField(allow_null=True)
    latency_ms = serializers.IntegerField()
    succeeded = serializers.BooleanField()
    error = serializers.CharField()
    response_excerpt = serializers.CharField()


class DeliverySerializer(serializers.Serializer):
    id = serializers.IntegerField()
    endpoint = serializers.IntegerField(source="endpoint_id")
    event_id = serializers.CharField(source="event.event_id")
    type = serializers.CharField(source="event.type")
    state = serializers.ChoiceField(choices=WebhookDelivery.State.choices)
    attempts = serializers.IntegerField()
    next_attempt_at = serializers.DateTimeField(allow_null=True)
    last_status_code = serializers.IntegerField(allow_null=True)
    last_error = serializers.CharField()
    delivered_at = serializers.DateTimeField(allow_null=True)
    created_at = serializers.DateTimeField()
    attempt_log = AttemptSerializer(many=True, help_text="Newest first.")


def _endpoint(endpoint_id: int) -> WebhookEndpoint:
    return get_object_or_404(WebhookEndpoint, pk=endpoint_id)


class WebhookEndpointListApi(APIView):
    @extend_schema(responses={200: EndpointSerializer(many=True)}, summary="Webhook endpoints (admins)")
    def get(self, request: Request) -> Response:
        require_admin(request)
        return Response(EndpointSerializer(WebhookEndpoint.objects.order_by("id")[:200], many=True).data)

    @extend_schema(request=EndpointSerializer, responses={201: EndpointCreatedSerializer},
                   summary="Register a webhook endpoint (admins); the answer carries its secret")
    def post(self, request: Request) -> Response:
        require_admin(request)
        given = EndpointSerializer(data=request.data)
        given.is_valid(raise_exception=True)
        endpoint = WebhookEndpoint.objects.create(**given.validated_data)
        return Response(EndpointCreatedSerializer(endpoint).data, status=status.HTTP_201_CREATED)


class WebhookEndpointApi(APIView):
    @extend_schema(responses={200: EndpointSerializer}, summary="One webhook endpoint (admins)")
    def get(self, request: Request, endpoint_id: int) -> Response:
        require_admin(request)
        return Response(EndpointSerializer(_endpoint(endpoint_id)).data)

    @extend_schema(request=EndpointSerializer(partial=True), responses={200: EndpointSerializer},
                   summary="Change a webhook endpoint (admins); enabling a disabled one sends what it missed")
    def patch(self, request: Request, endpoint_id: int) -> Response:
        require_admin(request)
        endpoint = _endpoint(endpoint_id)
        given = EndpointSerializer(data=request.data, partial=True)
        given.is_valid(raise_exception=True)
        values = dict(given.validated_data)
        enable = values.pop("enabled", None)
        for name, value in values.items():
            setattr(endpoint, name, value)
        if values:
            endpoint.save(update_fields=list(values))
        if enable is True and not endpoint.enabled:
            endpoint = webhook_endpoint_enable(endpoint=endpoint, actor=request.user)
        elif enable is False and endpoint.enabled:
            endpoint.enabled = False
            endpoint.save(update_fields=["enabled"])
        return Response(EndpointSerializer(endpoint).data)


class WebhookDeliveryListApi(APIView):
    @extend_schema(responses={200: DeliverySerializer(many=True)},
                   summary="An endpoint's latest deliveries with their attempts (admins)")
    def get(self, request: Request, endpoint_id: int) -> Response:
        require_admin(request)
        endpoint = _endpoint(endpoint_id)
        rows = (WebhookDelivery.objects.filter(endpoint=endpoint).select_related("event")
                .prefetch_related("attempt_log").order_by("-created_at", "-id")[:LIST_LIMIT])
        return Response(DeliverySerializer(rows, many=True).data)


class WebhookDeliveryResendApi(APIView):
    @extend_schema(request=None, responses={200: DeliverySerializer},
                   summary="Send a delivery again now (admins); refused (409) while its endpoint is disabled")
    def post(self, request: Request, delivery_id: int) -> Response:
        require_admin(request)
        delivery = get_object_or_404(WebhookDelivery, pk=delivery_id)
        webhook_delivery_resend(delivery=delivery)
        delivery = WebhookDelivery.objects.select_related("event").prefetch_related("attempt_log").get(pk=delivery.pk)
        return Response(DeliverySerializer(delivery).data)


class WebhookEventListApi(APIView):
    @extend_schema(responses={200: webhook_event_schema(many=True)}, summary="The latest outgoing events, as posted (admins)")
    def get(self, request: Request) -> Response:
        require_admin(request)
        return Response([event.payload for event in OutboxEvent.objects.order_by("-created_at", "-id")[:LIST_LIMIT]])
