"""`/healthz`: can this process reach the database, the channel layer and the broker?"""

from __future__ import annotations

import uuid

from asgiref.sync import async_to_sync
from celery import current_app
from channels.layers import get_channel_layer
from django.conf import settings
from django.db import connection
from django.http import JsonResponse


def _database() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()
    return "ok"


def _channel_layer() -> str:
    layer = get_channel_layer()
    if layer is None:
        return "not configured"
    channel = async_to_sync(layer.new_channel)()
    probe = {"type": "health.probe", "nonce": uuid.uuid4().hex}
    async_to_sync(layer.send)(channel, probe)
    received = async_to_sync(layer.receive)(channel)
    return "ok" if received.get("nonce") == probe["nonce"] else "mismatch"


def _broker() -> str:
    if settings.TASKS_MODE != "celery":
        return f"in-process ({settings.TASKS_MODE})"
    with current_app.connection_for_write() as conn:
        conn.ensure_connection(max_retries=1, timeout=2)
    return "ok"


def healthz(request):
    checks = {}
    healthy = True
    for name, probe in (("database", _database), ("channel_layer", _channel_layer), ("broker", _broker)):
        try:
            checks[name] = probe()
        except Exception as exc:  # a failing dependency is reported, never raised
            checks[name] = f"error: {exc.__class__.__name__}: {exc}"
            healthy = False
    return JsonResponse({"status": "ok" if healthy else "error", "checks": checks}, status=200 if healthy else 503)
