"""Campaign pacing against a stand-in Graph API that enforces 80 messages/s.

A campaign of 2,000 opted-in recipients (plus 100 opted-out contacts inside the same
audience) runs through the real code path: campaign tasks claim rows and prepare them in
batches, one delivery task per batch calls Graph over HTTP. The stand-in Graph server (a
local HTTP server) accepts at most 80 sends in any rolling one-second window and answers
error 130429 above it, like WhatsApp. Figures: achieved send rate (baseline: the
stand-in's own limit of 80/s, ratio = achieved / 80; target >= 76/s), the busiest
one-second window (<= 80), 130429 answers (0), duplicates (0) and sends to opted-out
contacts (0).

The stand-in Graph runs in a process of its own. The campaign runs in a child process
with its own (production, DEBUG off) settings: by default the embedded shape
(a fresh SQLite database, tasks on the in-process thread pool, the pacer in-process);
with BENCH_CAMPAIGN_SHAPE=celery (and PostgreSQL and Redis reachable) Celery worker
processes on a queue of their own, a database of its own and the pacer in Redis. A
second figure runs the number's pacer and the Graph client alone (no database work),
which shows what the pacing itself allows: 77/s, at most 78 sends in any second.

Budget per recipient (`python -m bench.campaign_profile`: 200 recipients, one phase at a
time, statements by CaptureQueriesContext, CPU of the calling thread; SQLite, this
2-core machine with other work on it):

| phase | before: statements | CPU ms | now: statements | CPU ms |
| --- | --- | --- | --- | --- |
| claim (a batch of 50, per row) | 0.2 | 0.14 | 0.2 | 0.15 |
| prepare: consent, spacing, conversation, message, row | 24 | 14.9 | 0.46 | 2.3 |
| deliver: claim, pacer, Graph call, `sent`, events | 8 | 10.7 | 6.0 | 5.7 |
| total | 32.2 | 25.7 | 6.7 | 8.2 |

Before, each row was prepared in a transaction of its own (its consent, its
conversation opened and announced, its message, its row) and delivered by a task of its
own; now a batch's reads come first (rows with their contacts and last outbound
message, consent for all), then one transaction opens the conversations and writes the
messages and rows together, the desk's conversation events are built from one read after
commit, and one task delivers the batch (the messages read in one query with their
participants). What stays per message is the delivery's claim and `sent` record, the
desk and webhook events, and the Graph call. On SQLite a batch's write transaction
still holds back the delivery's writes for its length, and the number's pacer (77/s,
one slot of tolerance) cannot make up more than one slot after such a stall: that, not
CPU, is what keeps the embedded shape under 76/s. A sliding-window pacer (79 in any
1.025 s) that makes up stalls reached 72.6-73.0/s embedded but let a burst through now
and then (one or two 130429 answers per run, also in the Celery shape), so it was not
kept; nor was claiming a message before its slot (no database wait between slot and
send), which made racing workers' claims collide on the test suite's shared-cache SQLite.
At 78/s with that tolerance the campaign met a 130429 in most runs (sends granted a few
milliseconds apart on either side of a window's edge reached Graph inside one window), so
the pacer runs at the number's rate less three: 63-64/s embedded, no 130429, in two runs.
Later, with less CPU on the machine's other work, the embedded shape reached 76.1 and 76.3/s
but met one 130429 in each run: sends whose claims waited on SQLite's lock left after their
slots, together with the next ones. Each send now also passes a window as it leaves (at most
the rate less one in any 1.02 s, `number_send_window`): 76.1/s in two runs, no 130429, the
busiest second 79 and 80. In the Celery shape, Celery's prefork processes are one per core
by default (BENCH_CAMPAIGN_CONCURRENCY): on two cores, 8 processes made 72.7 and 74.2/s
(one 130429), 4 made 70.9 and 67.8/s (two 130429 each), 2 made 77.1/s twice, busiest second
79, no 130429.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter, deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from bench.common import Row, reachable_postgres

ROOT = Path(__file__).resolve().parents[1]
SECTION = "campaign"
RECIPIENTS = 2000
OPTED_OUT = 100
LIMIT_PER_SECOND = 80
TARGET_RATE = 76.0
DEADLINE = 150.0
WORKER_PROCESSES = 1
# One prefork process per core: on this 2-core machine 4 and 8 processes lost slots (a
# process descheduled between its slot and its send by the others' preparing) and met
# 130429 answers; 2 held the pacer's rate.
WORKER_CONCURRENCY = int(os.environ.get("BENCH_CAMPAIGN_CONCURRENCY", str(os.cpu_count() or 2)))
PARALLEL_SLICES = int(os.environ.get("BENCH_CAMPAIGN_SLICES", "4"))


class StandInGraph:
    """Accepts sends at most LIMIT_PER_SECOND per rolling second; 130429 above that."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.window: deque[float] = deque()
        self.accepted: list[tuple[float, str]] = []
        self.throttled = 0
        self.counter = 0

    def send(self, to: str) -> tuple[int, dict]:
        with self.lock:
            now = time.monotonic()
            while self.window and self.window[0] <= now - 1.0:
                self.window.popleft()
            if len(self.window) >= LIMIT_PER_SECOND:
                self.throttled += 1
                return 400, {"error": {"message": "(#130429) Rate limit hit", "type": "OAuthException",
                                       "code": 130429, "error_data": {"details": "Cloud API message throughput "
                                                                                 "has been reached."}}}
            self.window.append(now)
            self.accepted.append((now, to))
            self.counter += 1
            return 200, {"messaging_product": "whatsapp", "contacts": [{"input": to, "wa_id": to}],
                         "messages": [{"id": f"wamid.BENCH{self.counter:08d}"}]}

    def serve(self) -> tuple[ThreadingHTTPServer, str]:
        graph = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True

            def log_message(self, *args):
                pass

            def do_POST(self):
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if self.path == "/_stats":  # what it accepted, for the bench; then forget it
                    with graph.lock:
                        answer = {"accepted": graph.accepted, "throttled": graph.throttled}
                        graph.accepted, graph.throttled = [], 0
                    self._answer(200, answer)
                    return
                body = json.loads(raw or b"{}")
                if self.path.endswith("/messages") and "to" in body:
                    status, answer = graph.send(str(body["to"]))
                else:
                    status, answer = 200, {"success": True}
                self._answer(status, answer)

            def _answer(self, status: int, answer: dict) -> None:
                payload = json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        server.daemon_threads = True
        threading.Thread(target=server.serve_forever, daemon=True).start()
        return server, f"http://127.0.0.1:{server.server_address[1]}/v23.0"


class GraphProcess:
    """The stand-in Graph in a process of its own, so that serving it takes nothing from
    the interpreter under test (in the embedded shape the campaign runs in one process)."""

    def __enter__(self) -> GraphProcess:
        self.process = subprocess.Popen(  # noqa: S603
            [sys.executable, "-m", "bench.campaign", "--graph"], cwd=ROOT, stdout=subprocess.PIPE, text=True
        )
        assert self.process.stdout is not None
        self.base = self.process.stdout.readline().strip()
        return self

    def stats(self) -> tuple[list[tuple[float, str]], int]:
        """(accepted sends as (monotonic time, to), 130429 answers) since the last call."""
        import httpx

        answer = httpx.post(self.base.rsplit("/", 1)[0] + "/_stats", timeout=30).json()
        return [tuple(item) for item in answer["accepted"]], answer["throttled"]

    def __exit__(self, *exc) -> None:
        self.process.terminate()
        self.process.wait(timeout=10)


def graph_serve() -> None:
    _server, base = StandInGraph().serve()
    print(base, flush=True)
    threading.Event().wait()


def busiest_window(times: list[float]) -> int:
    best, start = 0, 0
    for end, t in enumerate(times):
        while times[start] <= t - 1.0:
            start += 1
        best = max(best, end - start + 1)
    return best


def _setup(graph_base: str, tag: str):
    from django.core.management import call_command
    from django.utils import timezone

    from conversations.models import Contact, WhatsAppNumber
    from notifications.models import Campaign, ConsentRecord, MessageTemplate

    call_command("migrate", verbosity=0, interactive=False)
    number = WhatsAppNumber.objects.create(
        name="Bench", phone_number_id=f"bench{tag}", business_account_id=f"benchwaba{tag}",
        display_phone_number="15550009000", access_token="bench", api_base=graph_base,
        messaging_limit="TIER_10K", throughput_mps=LIMIT_PER_SECOND,
    )
    template = MessageTemplate.objects.create(
        number=number, business_account_id=number.business_account_id, name="promo", language="en",
        category="MARKETING", status="APPROVED", parameter_format="named",
        components=[{"type": "BODY", "text": "Hello {{first_name}}, {{discount}} off!"}],
    )
    Contact.objects.bulk_create([
        Contact(number=number, wa_id=f"4477009{i:05d}", profile_name=f"Person {i}", tags=["bench"])
        for i in range(RECIPIENTS + OPTED_OUT)
    ])
    now = timezone.now()
    records = []
    for contact in Contact.objects.filter(number=number).order_by("pk"):
        index = int(contact.wa_id[-5:])
        records.append(ConsentRecord(contact=contact, number=number, category="marketing", opted_in=True,
                                     source="import", proof="bench", created_at=now))
        if index >= RECIPIENTS:
            records.append(ConsentRecord(contact=contact, number=number, category="marketing", opted_in=False,
                                         source="keyword", proof="bench", created_at=now))
    ConsentRecord.objects.bulk_create(records, batch_size=1000)
    opted_out = {f"4477009{i:05d}" for i in range(RECIPIENTS, RECIPIENTS + OPTED_OUT)}
    campaign = Campaign.objects.create(
        name="Bench", number=number, template=template, audience="filter", audience_filter={"tags": ["bench"]},
        parameter_mapping={"first_name": "contact.first_name", "discount": "=10%"},
    )
    return campaign, opted_out


def child() -> None:
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    django.setup()
    from conversations.models import Message
    from notifications.models import Campaign
    from notifications.services.campaigns import campaign_start

    with GraphProcess() as graph:
        campaign, opted_out = _setup(graph.base, str(os.getpid()))
        workers = []
        if os.environ.get("TASKS_MODE") == "celery":
            from django.db import connections

            connections.close_all()
            for index in range(WORKER_PROCESSES):
                workers.append(subprocess.Popen(  # noqa: S603
                    [sys.executable, "-m", "celery", "-A", "config", "worker", "-P", "prefork", "--concurrency",
                     str(WORKER_CONCURRENCY), "-l", "warning", "-n", f"bench{index}-{os.getpid()}@%h",
                     "--without-gossip", "--without-mingle", "--without-heartbeat"],
                    cwd=ROOT, env=os.environ.copy(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                ))
        started = time.monotonic()
        campaign_start(campaign=campaign)
        done = False
        try:
            while time.monotonic() - started < DEADLINE:
                time.sleep(0.5)
                finished = Campaign.objects.filter(pk=campaign.pk, state="completed").exists()
                open_messages = Message.objects.filter(status__in=["pending", "sending"]).exists()
                if finished and not open_messages:
                    done = True
                    break
        finally:
            for worker in workers:
                worker.terminate()
            for worker in workers:
                try:
                    worker.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    worker.kill()
        elapsed = time.monotonic() - started
        accepted, throttled = graph.stats()
        pacer = _pacer_only(campaign.number, graph)
    times = [t for t, _ in accepted]
    recipients = [to for _, to in accepted]
    rate = (len(times) - 1) / (times[-1] - times[0]) if len(times) > 1 else 0.0
    print(json.dumps({
        "pacer": pacer,
        "done": done,
        "sent": len(times),
        "rate": rate,
        "busiest_window": busiest_window(times),
        "throttled": throttled,
        "duplicates": sum(n - 1 for n in Counter(recipients).values() if n > 1),
        "to_opted_out": sum(1 for to in recipients if to in opted_out),
        "elapsed": elapsed,
    }))


def _pacer_only(number, graph: GraphProcess) -> dict:
    """The number's pacer and the Graph client alone (no database work per message):
    2,000 sends, each after `number_throughput_acquire`, as every delivery takes it."""
    from conversations.providers.whatsapp import GraphClient
    from conversations.throttle import number_throughput_acquire

    number.api_base = graph.base
    client = GraphClient(number)
    time.sleep(1.1)  # the campaign's last second out of the stand-in's window
    for index in range(RECIPIENTS):
        number_throughput_acquire(number=number, timeout=5.0)
        body = {"messaging_product": "whatsapp", "to": f"4477009{index:05d}", "type": "template",
                "template": {"name": "promo", "language": {"code": "en", "policy": "deterministic"}}}
        client.send_message(body)
    accepted, throttled = graph.stats()
    times = [t for t, _ in accepted]
    return {"rate": (len(times) - 1) / (times[-1] - times[0]), "busiest_window": busiest_window(times),
            "throttled": throttled}


def _reachable_redis() -> str:
    """The Redis for the bench: BENCH_REDIS_URL, else db 12 of a local Redis, else REDIS_URL, else ""."""
    candidates = [os.environ.get("BENCH_REDIS_URL", ""), "redis://127.0.0.1:6379/12", os.environ.get("REDIS_URL", "")]
    for url in candidates:
        if not url:
            continue
        try:
            import redis

            redis.Redis.from_url(url, socket_connect_timeout=1, socket_timeout=1).ping()
            return url
        except Exception:  # noqa: S112 (try the next candidate)
            continue
    return ""


def run() -> list[Row]:
    """The embedded shape (SQLite, tasks on the in-process thread pool) by default; with
    BENCH_CAMPAIGN_SHAPE=celery and PostgreSQL and Redis reachable, Celery worker processes
    sharing the Redis pacer."""
    with tempfile.TemporaryDirectory() as tmp:
        from cryptography.fernet import Fernet

        # Production settings: DEBUG would log every query.
        env = dict(os.environ, DEBUG="0", LOG_LEVEL="WARNING", SECRET_KEY=secrets.token_urlsafe(50),
                   FIELD_ENCRYPTION_KEY=Fernet.generate_key().decode(), ALLOWED_HOSTS="127.0.0.1",
                   SECURE_SSL_REDIRECT="0")
        want_celery = os.environ.get("BENCH_CAMPAIGN_SHAPE", "embedded") == "celery"
        redis_url, postgres = (_reachable_redis(), reachable_postgres()) if want_celery else ("", "")
        queue = f"bench-campaign-{os.getpid()}"
        if redis_url and postgres:
            shape = "celery, PostgreSQL, Redis"
            env.update(TASKS_MODE="celery", REDIS_URL=redis_url, CELERY_BROKER_URL=redis_url,
                       DATABASE_URL=f"{postgres}/handoff_bench_campaign", CELERY_QUEUE=queue,
                       CAMPAIGN_PARALLEL_SLICES=str(PARALLEL_SLICES))
            _ensure_postgres_database(env["DATABASE_URL"])
        else:
            shape = "threads, SQLite"
            env.update(TASKS_MODE="thread", REDIS_URL="", CELERY_BROKER_URL="",
                       DATABASE_URL=f"sqlite:///{tmp}/campaign.sqlite3")
        try:
            proc = subprocess.run(  # noqa: S603
                [sys.executable, "-m", "bench.campaign", "--child"], cwd=ROOT, env=env, capture_output=True,
                text=True, timeout=DEADLINE + 120,
            )
        finally:
            if env["TASKS_MODE"] == "celery":
                import redis

                redis.Redis.from_url(redis_url).delete(queue)
    lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
    if proc.returncode != 0 or not lines:
        sys.stderr.write(proc.stderr[-4000:])
        return [Row(SECTION, "campaign run", "error", ok=False)]
    result = json.loads(lines[-1])
    return [
        Row(SECTION, f"send rate, {RECIPIENTS} recipients ({shape})", round(result["rate"], 1), "msg/s",
            LIMIT_PER_SECOND, f">= {TARGET_RATE:.0f}", result["rate"] >= TARGET_RATE and result["done"]),
        Row(SECTION, "busiest 1-second window", result["busiest_window"], "msgs", LIMIT_PER_SECOND,
            f"<= {LIMIT_PER_SECOND}", result["busiest_window"] <= LIMIT_PER_SECOND),
        Row(SECTION, "130429 answers", result["throttled"], "", None, "0", result["throttled"] == 0),
        Row(SECTION, "messages accepted", result["sent"], "", RECIPIENTS, f"{RECIPIENTS}",
            result["sent"] == RECIPIENTS),
        Row(SECTION, "duplicate sends", result["duplicates"], "", None, "0", result["duplicates"] == 0),
        Row(SECTION, f"sends to the {OPTED_OUT} opted-out", result["to_opted_out"], "", None, "0",
            result["to_opted_out"] == 0),
        Row(SECTION, "campaign wall time", round(result["elapsed"], 1), "s"),
        Row(SECTION, "pacer alone: send rate", round(result["pacer"]["rate"], 1), "msg/s", LIMIT_PER_SECOND,
            f">= {TARGET_RATE:.0f}", result["pacer"]["rate"] >= TARGET_RATE),
        Row(SECTION, "pacer alone: busiest 1-second window", result["pacer"]["busiest_window"], "msgs",
            LIMIT_PER_SECOND, f"<= {LIMIT_PER_SECOND}", result["pacer"]["busiest_window"] <= LIMIT_PER_SECOND),
        Row(SECTION, "pacer alone: 130429 answers", result["pacer"]["throttled"], "", None, "0",
            result["pacer"]["throttled"] == 0),
    ]


def _ensure_postgres_database(url: str) -> None:
    import psycopg

    admin_url, name = url.rsplit("/", 1)
    with psycopg.connect(admin_url + "/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


if __name__ == "__main__":
    if "--child" in sys.argv:
        child()
    elif "--graph" in sys.argv:
        graph_serve()
    else:
        from bench.common import print_table

        print_table(run())
