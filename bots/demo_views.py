"""The demo's own order API, which the demo flow's HTTP lookup step calls (mounted under
/demo/ only when settings.SANDBOX_ENABLED, like the sandbox): `GET /demo/orders/<number>/`
answers `{"order": {"number", "status", "detail"}}` from the DemoOrder table, 404 when there
is no such order. It stands for a business's order system, so it asks what such a system
would: a bearer token (the demo lookup service sends it from its encrypted headers)."""

from __future__ import annotations

import hashlib
import hmac
import re

from django.conf import settings
from django.http import HttpRequest, JsonResponse
from django.views.decorators.http import require_GET

from bots.models import DemoOrder


def demo_lookup_token() -> str:
    """The bearer token of the demo order API (derived from SECRET_KEY, never stored in clear)."""
    return hmac.new(settings.SECRET_KEY.encode(), b"handoff-demo-orders", hashlib.sha256).hexdigest()[:40]


@require_GET
def demo_order(request: HttpRequest, reference: str) -> JsonResponse:
    given = request.headers.get("Authorization", "")
    if not hmac.compare_digest(given, f"Bearer {demo_lookup_token()}"):
        return JsonResponse({"error": "unauthorized"}, status=401)
    cleaned = re.sub(r"[\s#]+", "", reference or "").upper()
    order = DemoOrder.objects.filter(order_number__iexact=cleaned).first() if cleaned else None
    if order is None:
        return JsonResponse({"error": "not_found", "order_number": cleaned}, status=404)
    return JsonResponse({"order": {"number": order.order_number, "status": order.status, "detail": order.detail}})
