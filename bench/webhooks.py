"""Outgoing webhooks: delivery throughput against a bare HTTP post loop, and what the outbox
adds to the webhook → desk path.

A local receiver (a process of its own, answering 200 at once) takes
- the baseline: a bare loop posting the same bodies with http.client, a new connection
  each (as the deliveries make);
- the deliveries: BENCH_WEBHOOKS_EVENTS events written to the outbox, then each delivery
  made by the real service (claim, sign, the guarded client with its address checks, the
  attempt log and the result), one after another like the baseline.
Figure: deliveries/s, ratio to the bare loop (target >= 0.5).

Outbox overhead: the time of `message_receive` (a webhook's message stored, its
conversation found or opened, the desk's events published on commit) with an endpoint
that wants `message.created` and `conversation.created`, against none; rounds alternate
and the medians are compared (target: under 10 % more). Tasks go to an in-memory broker
(nothing consumed), so delivery work is not in the measured path, as in production where
workers post.

A child process runs with production settings (DEBUG off) and a fresh SQLite database.
"""

from __future__ import annotations

import http.client
import json
import os
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from bench.common import Row, free_port

ROOT = Path(__file__).resolve().parents[1]
SECTION = "webhooks"
EVENTS = int(os.environ.get("BENCH_WEBHOOKS_EVENTS", "500"))
MESSAGES = int(os.environ.get("BENCH_WEBHOOKS_MESSAGES", "300"))
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
    started = time.perf_counter()
    for body in bodies:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        conn.request("POST", "/hooks", body=body, headers={"Content-Type": "application/json"})
        conn.getresponse().read()
        conn.close()
    return len(bodies) / (time.perf_counter() - started)


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
    from notifications.services.webhook_delivery import event_body, webhook_deliver

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
        baseline = _bare_loop(port, [event_body(event) for event in events if event is not None])
        started = time.perf_counter()
        states = [webhook_deliver(delivery_id=pk) for pk in ids]
        rate = len(ids) / (time.perf_counter() - started)
        delivered = sum(1 for state in states if state == "delivered")

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
        print(json.dumps({"baseline": baseline, "rate": rate, "delivered": delivered, "events": len(ids),
                          "without_ms": without * 1000, "with_ms": with_ * 1000}))
    finally:
        receiver.terminate()
        receiver.wait(5)


def run() -> list[Row]:
    with tempfile.TemporaryDirectory() as tmp:
        from cryptography.fernet import Fernet

        env = dict(os.environ, DEBUG="0", LOG_LEVEL="WARNING", SECRET_KEY=secrets.token_urlsafe(50),
                   FIELD_ENCRYPTION_KEY=Fernet.generate_key().decode(), ALLOWED_HOSTS="127.0.0.1",
                   SECURE_SSL_REDIRECT="0", DATABASE_URL=f"sqlite:///{tmp}/webhooks.sqlite3", REDIS_URL="",
                   TASKS_MODE="celery", CELERY_BROKER_URL="memory://", OUTBOUND_ALLOW_PRIVATE_ADDRESSES="1",
                   OUTBOUND_REQUIRE_HTTPS="0")
        proc = subprocess.run(  # noqa: S603
            [sys.executable, "-m", "bench.webhooks", "--child"], cwd=ROOT, env=env, capture_output=True, text=True,
            timeout=600,
        )
    lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
    if proc.returncode != 0 or not lines:
        sys.stderr.write(proc.stderr[-4000:])
        return [Row(SECTION, "webhook deliveries", "error", ok=False)]
    result = json.loads(lines[-1])
    overhead = result["with_ms"] / result["without_ms"] - 1 if result["without_ms"] else float("nan")
    return [
        Row(SECTION, f"deliveries to a local receiver ({result['events']} events)", round(result["rate"], 1), "/s",
            round(result["baseline"], 1), f"ratio >= {TARGET_RATIO}",
            result["rate"] / result["baseline"] >= TARGET_RATIO and result["delivered"] == result["events"]),
        Row(SECTION, "deliveries delivered", result["delivered"], "", result["events"], f"{result['events']}",
            result["delivered"] == result["events"]),
        Row(SECTION, "webhook -> desk (message_receive) median, with outbox", round(result["with_ms"], 2), "ms",
            round(result["without_ms"], 2), f"< +{TARGET_OVERHEAD:.0%}", overhead < TARGET_OVERHEAD),
    ]


if __name__ == "__main__":
    if "--child" in sys.argv:
        child()
    elif "--receiver" in sys.argv:
        receiver_serve(int(sys.argv[sys.argv.index("--receiver") + 1]))
    else:
        from bench.common import print_table

        print_table(run())
