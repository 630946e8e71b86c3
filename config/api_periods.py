"""The period query of report-like API operations (`start`, `end`, `tz`) and its answer shape,
shared by the compliance and reports APIs."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers
from rest_framework.request import Request

from config.periods import Period, PeriodError, period_from


class PeriodQuerySerializer(serializers.Serializer):
    start = serializers.DateField(required=False, help_text="First day (inclusive); default: 30 days before `end`.")
    end = serializers.DateField(required=False, help_text="Last day (inclusive); default: today.")
    tz = serializers.CharField(required=False, max_length=64, allow_blank=True,
                               help_text="The viewer's IANA time zone (days start at its midnight); default: the site's.")


class PeriodSerializer(serializers.Serializer):
    start = serializers.DateField()
    end = serializers.DateField()
    timezone = serializers.CharField()
    days = serializers.IntegerField()


def period_of(request: Request, serializer_class: type[serializers.Serializer] = PeriodQuerySerializer,
              ) -> tuple[Period, dict[str, Any]]:
    """The period of the request's query (400 `invalid` naming the parameter when it is
    malformed, starts after it ends or spans more than a year), and the query's other
    validated values."""
    query = serializer_class(data=request.query_params)
    query.is_valid(raise_exception=True)
    data = dict(query.validated_data)
    try:
        period = period_from(start=data.get("start"), end=data.get("end"), tz=data.get("tz"))
    except PeriodError as exc:
        raise serializers.ValidationError({exc.field: [exc.message]}) from None
    return period, data
