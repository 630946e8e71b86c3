"""Outgoing webhooks: delivery throughput against a bare HTTP post loop, and what the outbox
adds to the webhook → desk path.

A local receiver (a process of its own, answering 200 at once) takes
- the baseline: a bare loop posting the same bodies with http.client, a new connection
  each (as the deliveries make);
- the deliveries: BENCH_WEBHOOKS_EVENTS events written to the outbox, then delivered by the
  real service (claim, sign, the guarded client with its address checks, the attempt log
  and the result), posts one after another like the baseline, in alternating slices with
  it: half in batches of BENCH_WEBHOOKS_BATCH (20: what the sweep, a re-enabled endpoint and
  the web process's merged tasks send; the target row), half one per task (a worker's
  task for one transaction's events; reported without a target).
Figure: deliveries/s, ratio to the bare loop (target >= 0.5).

Outbox overhead on the webhook → desk path, end to end: the realtime section's server
(`run_embedded`, daphne with tasks in-process, the Redis channel layer) gets signed webhooks
at BENCH_WEBHOOKS_RATE per second and the bench times each to its `message.created` frame on
an agent's desk socket, in alternating rounds without and with an endpoint that wants
`message.created` (its deliveries posted by the same process to the local receiver). The
p50s are compared (target: the outbox adds under 10 %). Needs Redis (REDIS_URL, else db 13
of a local one), as the realtime section does.

Also reported, without a target: the service alone (`message_receive`, no HTTP, no task hop)
with an endpoint wanting `message.created` and `conversation.created` against none.

The delivery part runs in a child process with production settings (DEBUG off) and a fresh
SQLite database.
"""

from __future__ import annotations

import http.client
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from bench.common import Row, child_result, free_port, production_env

ROOT = Path(__file__).resolve().parents[1]
SECTION = "webhooks"
EVENTS = int(os.environ.get("BENCH_WEBHOOKS_EVENTS", "500"))
MESSAGES = int(os.environ.get("BENCH_WEBHOOKS_MESSAGES", "300"))
# Deliveries per call in the batched half (0: the service's BATCH).
DELIVERY_BATCH = int(os.environ.get("BENCH_WEBHOOKS_BATCH", "20"))
RATE = float(os.environ.get("BENCH_WEBHOOKS_RATE", "10"))
ROUND_SECONDS = float(os.environ.get("BENCH_WEBHOOKS_ROUND_SECONDS", "4"))
ROUNDS = 4
TARGET_RATIO = 0.5
TARGET_OVERHEAD = 0.10


def receiver_serve(port: int) -> None:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.0"

        def log_message(self, *args):
            pass

        def do_POST(self):
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", "11")
            self.end_headers()
            self.wfile.write(b'{"ok":true}')

    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    server.daemon_threads = True
    server.serve_forever()


def _wait_for(port: int) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            http.client.HTTPConnection("127.0.0.1", port, timeout=1).connect()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("the receiver did not start")


def _bare_loop(port: int, bodies: list[bytes]) -> float:
    """Posts per second of a bare loop over `bodies`."""
    started = time.perf_counter()
    for body in bodies:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        conn.request("POST", "/hooks", body=body, headers={"Content-Type": "application/json"})
        conn.getresponse().read()
        conn.close()
    return len(bodies) / (time.perf_counter() - started)


def _measure(port: int, ids: list[int], bodies: list[bytes], batch: int, send) -> tuple[float, float, int]:
    """(deliveries/s, bare posts/s, delivered) in alternating slices (this machine's speed
    drifts): a slice of the bare loop, then the same number of deliveries, `batch` per call."""
    bare_seconds = deliver_seconds = 0.0
    states: list[str] = []
    size = max(1, len(ids) // ROUNDS)
    for start in range(0, len(ids), size):
        bare_seconds += (size / _bare_loop(port, bodies[start:start + size])) if bodies[start:start + size] else 0
        began = time.perf_counter()
        chunk = ids[start:start + size]
        for first in range(0, len(chunk), batch):
            states += send(delivery_ids=chunk[first:first + batch]).values()
        deliver_seconds += time.perf_counter() - began
    delivered = sum(1 for state in states if state == "delivered")
    return len(ids) / deliver_seconds, len(bodies) / bare_seconds, delivered


def child() -> None:
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    django.setup()
    from django.core.management import call_command
    from django.db import transaction

    from conversations.models import WhatsAppNumber
    from conversations.services.message_receive import message_receive
    from conversations.services.webhook_outbox import webhook_event_record
    from notifications.models import WebhookDelivery, WebhookEndpoint
    from notifications.services.webhook_delivery import BATCH, event_body, webhook_deliveries_send

    call_command("migrate", verbosity=0)
    port = free_port()
    receiver = subprocess.Popen(  # noqa: S603
        [sys.executable, "-m", "bench.webhooks", "--receiver", str(port)], cwd=ROOT,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        _wait_for(port)
        endpoint = WebhookEndpoint.objects.create(url=f"http://127.0.0.1:{port}/hooks", events=["alert.created"])
        events = []
        for i in range(EVENTS):
            with transaction.atomic():
                events.append(webhook_event_record(type="alert.created", data={"alert": {"id": i, "title": "x" * 200}}))
        ids = list(WebhookDelivery.objects.filter(endpoint=endpoint).order_by("pk").values_list("pk", flat=True))
        bodies = [event_body(event) for event in events if event is not None]
        half = len(ids) // 2
        figures = {}
        for label, batch, part in (("single", 1, slice(0, half)), ("batched", DELIVERY_BATCH or BATCH,
                                                                    slice(half, None))):
            figures[label] = _measure(port, ids[part], bodies[part], batch, webhook_deliveries_send)
        rate, baseline, delivered = figures["batched"]

        number = WhatsAppNumber.objects.create(name="Bench", phone_number_id="100000000000077",
                                               display_phone_number="15550007777", is_default=True)
        WebhookEndpoint.objects.filter(pk=endpoint.pk).update(enabled=False)
        subscribed = WebhookEndpoint.objects.create(url=endpoint.url, events=["message.created", "conversation.created"],
                                                    enabled=False)
        timings: dict[bool, list[float]] = {False: [], True: []}
        counter = 0
        for round_index in range(ROUNDS * 2):
            with_outbox = round_index % 2 == 1
            WebhookEndpoint.objects.filter(pk=subscribed.pk).update(enabled=with_outbox)
            for _ in range(MESSAGES // ROUNDS):
                counter += 1
                wa_id = f"1555{counter:07d}"
                message = {"from": wa_id, "id": f"wamid.bench{counter}", "timestamp": str(int(time.time())),
                           "type": "text", "text": {"body": "Where is my order?"}}
                began = time.perf_counter()
                message_receive(number=number, profile={"wa_id": wa_id, "profile": {"name": "Bench"}}, message=message)
                timings[with_outbox].append(time.perf_counter() - began)
        without, with_ = statistics.median(timings[False]), statistics.median(timings[True])
        print(json.dumps({"baseline": baseline, "rate": rate, "delivered": delivered, "events": len(ids) - half,
                          "single_rate": figures["single"][0], "single_baseline": figures["single"][1],
                          "single_delivered": figures["single"][2], "single_events": half,
                          "without_ms": without * 1000, "with_ms": with_ * 1000}))
    finally:
        receiver.terminate()
        receiver.wait(5)


ENDPOINT_SETUP = """
from notifications.models import WebhookEndpoint
WebhookEndpoint.objects.update_or_create(description="bench", defaults={{
    "url": "http://127.0.0.1:{port}/hooks", "events": ["message.created"], "enabled": {enabled}}})
"""


async def _desk_latency(server, port: int) -> dict[bool, list[float]]:
    """Webhook → desk frame latencies (ms), in alternating rounds without and with the endpoint."""
    import asyncio
    import hashlib
    import hmac

    import httpx

    from bench import realtime

    cookie = await realtime._session_cookie(f"http://127.0.0.1:{server.port}", server.proxy_headers)
    ws = await realtime.Socket.open(server.port, "/ws/desk/", cookie)
    await ws.recv()
    arrivals: dict[str, float] = {}

    async def listen():
        while True:
            frame = await ws.recv()
            if frame.get("type") == "message.created":
                arrivals[frame["message"]["text"]] = time.monotonic()

    listener = asyncio.ensure_future(listen())
    latencies: dict[bool, list[float]] = {False: [], True: []}
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{server.port}", timeout=10,
                                 headers=server.proxy_headers) as client:
        for round_index in range(ROUNDS * 2):
            with_outbox = round_index % 2 == 1
            await asyncio.to_thread(server.manage, "shell", "-c",
                                    ENDPOINT_SETUP.format(port=port, enabled=with_outbox))
            sent: dict[str, float] = {}

            async def post(i, round_index=round_index, sent=sent):
                text = f"hook-bench-{round_index}-{i}"
                body = realtime._webhook_body(text)
                signature = "sha256=" + hmac.new(realtime.APP_SECRET.encode(), body, hashlib.sha256).hexdigest()
                sent[text] = time.monotonic()
                await client.post("/webhooks/whatsapp/", content=body,
                                  headers={"Content-Type": "application/json", "X-Hub-Signature-256": signature})

            await asyncio.gather(*await realtime._paced(RATE, ROUND_SECONDS, post))
            waited = time.monotonic()
            while time.monotonic() - waited < 10 and any(k not in arrivals for k in sent):
                await asyncio.sleep(0.05)
            latencies[with_outbox] += [(arrivals[k] - t) * 1000 for k, t in sent.items() if k in arrivals]
    listener.cancel()
    ws.close()
    return latencies


def _end_to_end() -> list[Row]:
    import asyncio

    from bench import realtime
    from bench.common import percentile

    port = free_port()
    receiver = subprocess.Popen(  # noqa: S603
        [sys.executable, "-m", "bench.webhooks", "--receiver", str(port)], cwd=ROOT,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    server = realtime.Server()
    # The receiver is on loopback, over plain http.
    server.env.update(OUTBOUND_ALLOW_PRIVATE_ADDRESSES="1", OUTBOUND_REQUIRE_HTTPS="0")
    try:
        _wait_for(port)
        server.start()
        latencies = asyncio.run(_desk_latency(server, port))
    except Exception as exc:  # no Redis, a server that did not start: say so in the table
        sys.stderr.write(f"[bench] webhooks end to end: {exc}\n")
        return [Row(SECTION, "webhook -> desk frame p50, with outbox", "error", ok=False)]
    finally:
        if hasattr(server, "process"):
            server.stop()
        receiver.terminate()
        receiver.wait(5)
    without, with_ = percentile(latencies[False], 50), percentile(latencies[True], 50)
    sent = int(RATE * ROUND_SECONDS) * ROUNDS
    return [
        Row(SECTION, f"webhook -> desk frame p50 @{RATE:g}/s, with outbox", round(with_, 1), "ms", round(without, 1),
            f"< +{TARGET_OVERHEAD:.0%}", with_ / without - 1 < TARGET_OVERHEAD if without else False),
        Row(SECTION, "frames received, without / with outbox", f"{len(latencies[False])}/{len(latencies[True])}",
            "", None, f"{sent}/{sent}", len(latencies[False]) == len(latencies[True]) == sent),
    ]


def run() -> list[Row]:
    rows = _deliveries()
    return rows + _end_to_end()


def _deliveries() -> list[Row]:
    with tempfile.TemporaryDirectory() as tmp:
        env = production_env(DATABASE_URL=f"sqlite:///{tmp}/webhooks.sqlite3", REDIS_URL="", TASKS_MODE="celery",
                             CELERY_BROKER_URL="memory://", OUTBOUND_ALLOW_PRIVATE_ADDRESSES="1",
                             OUTBOUND_REQUIRE_HTTPS="0")
        result = child_result("bench.webhooks", env, timeout=600)
    if result is None:
        return [Row(SECTION, "webhook deliveries", "error", ok=False)]
    overhead = result["with_ms"] / result["without_ms"] - 1 if result["without_ms"] else float("nan")
    return [
        Row(SECTION, f"deliveries to a local receiver, batches of {DELIVERY_BATCH} ({result['events']} events)",
            round(result["rate"], 1), "/s", round(result["baseline"], 1), f"ratio >= {TARGET_RATIO}",
            result["rate"] / result["baseline"] >= TARGET_RATIO and result["delivered"] == result["events"]),
        Row(SECTION, f"deliveries to a local receiver, one per task ({result['single_events']} events)",
            round(result["single_rate"], 1), "/s", round(result["single_baseline"], 1)),
        Row(SECTION, "deliveries delivered", result["delivered"] + result["single_delivered"], "",
            result["events"] + result["single_events"], f"{result['events'] + result['single_events']}",
            result["delivered"] + result["single_delivered"] == result["events"] + result["single_events"]),
        Row(SECTION, f"message_receive alone, median, with outbox ({overhead:+.0%})", round(result["with_ms"], 2),
            "ms", round(result["without_ms"], 2)),
    ]


if __name__ == "__main__":
    if "--child" in sys.argv:
        child()
    elif "--receiver" in sys.argv:
        receiver_serve(int(sys.argv[sys.argv.index("--receiver") + 1]))
    else:
        from bench.common import print_table

        print_table(run())
