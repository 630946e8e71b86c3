"""`/healthz`: can this process reach the database, the channel layer and the broker?"""

from __future__ import annotations

import asyncio
import logging
import uuid

from asgiref.sync import async_to_sync
from celery import current_app
from channels.layers import get_channel_layer
from django.conf import settings
from django.db import connection
from django.http import JsonResponse
from django.views.decorators.http import require_safe

log = logging.getLogger(__name__)
PROBE_TIMEOUT_SECONDS = 2.0


def _database() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()
    return "ok"


def _channel_layer() -> str:
    layer = get_channel_layer()
    if layer is None:
        return "not configured"
    probe = {"type": "health.probe", "nonce": uuid.uuid4().hex}

    async def round_trip() -> dict:
        channel = await layer.new_channel()
        await layer.send(channel, probe)
        return await asyncio.wait_for(layer.receive(channel), timeout=PROBE_TIMEOUT_SECONDS)

    received = async_to_sync(round_trip)()
    return "ok" if received.get("nonce") == probe["nonce"] else "mismatch"


def _broker() -> str:
    if settings.TASKS_MODE != "celery":
        return f"in-process ({settings.TASKS_MODE})"
    with current_app.connection_for_write() as conn:
        conn.ensure_connection(max_retries=1, timeout=PROBE_TIMEOUT_SECONDS)
    return "ok"


@require_safe
def healthz(request):
    checks = {}
    healthy = True
    for name, probe in (("database", _database), ("channel_layer", _channel_layer), ("broker", _broker)):
        try:
            checks[name] = probe()
        except Exception as exc:  # a failing dependency is reported, never raised
            # The endpoint is public: name the failure, keep its details (hosts, users) in the log.
            log.warning("health check %s failed", name, exc_info=True)
            checks[name] = f"error: {exc.__class__.__name__}"
            healthy = False
    response = JsonResponse({"status": "ok" if healthy else "error", "checks": checks}, status=200 if healthy else 503)
    response["Cache-Control"] = "no-store"
    return response
