"""One pattern for the API's action endpoints (`POST …/<id>/<action>/`).

An action view finds its object with `target()` (which applies the access check: an object
the caller may not see is 404), validates the body with `input_serializer` (no serializer: the
body is ignored), runs the action in `perform()` and answers with `respond()`, the one
response builder a family of actions shares. Refusals raised on the way (`PermissionDenied`,
`Refused`, `ApiError`) propagate to the API's error handler, which answers each code's status.

A family of actions (the desk actions, the conference actions, the campaign actions) is one
subclass defining `target()` and `respond()`, with the family's schema; each action is a
subclass of that defining `perform()` (and `input_serializer` when it reads a body).
"""

from __future__ import annotations

from typing import Any, ClassVar, cast

from django.contrib.auth.models import User
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView


def acting_user(request: Request) -> User:
    """The signed-in user acting (every API view requires authentication)."""
    return cast(User, request.user)


class ActionView(APIView):
    input_serializer: ClassVar[type[serializers.Serializer] | None] = None

    def target(self, request: Request, **kwargs: Any) -> Any:
        raise NotImplementedError("an action family defines how its object is found")

    def perform(self, request: Request, target: Any, values: dict[str, Any]) -> Any:
        raise NotImplementedError("each action defines what it does")

    def respond(self, request: Request, target: Any, result: Any) -> Response:
        raise NotImplementedError("an action family defines its response")

    def values(self, request: Request) -> dict[str, Any]:
        if self.input_serializer is None:
            return {}
        serializer = self.input_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        return dict(serializer.validated_data)

    def post(self, request: Request, **kwargs: Any) -> Response:
        target = self.target(request, **kwargs)
        values = self.values(request)
        result = self.perform(request, target, values)
        return self.respond(request, target, result)
