"""Webhook intake throughput and latency against a real daphne server on loopback.

One server, two endpoints: the webhook (`POST /webhooks/whatsapp/`: body-size guard,
signature check, a share of one batched insert, a task published; on PostgreSQL answered in
front of Django's request cycle, conversations.webhook_asgi) and a bare async Django view
(`POST /bench/ping/`, the same middleware stack) as the baseline. Both get the same
concurrent load of signed POSTs, each webhook a unique message; figures: requests/s,
p50, p99 and the ratio (in alternating rounds), then rows stored == messages sent, then p99 at a fixed 200 req/s
(open loop: latency counts from each request's scheduled time).

Database: a database of its own on the PostgreSQL server of DATABASE_URL (created and
dropped here), else a temporary SQLite file; migrated first.
Tasks: processing must not run inside the measured server, so TASKS_MODE=celery with the
broker on Redis db 13 when REDIS_URL is set (real publishes, coalesced as in production;
the queue is deleted afterwards), else an in-memory broker (nothing consumed).
Server: the deployed shape, daphne processes each on a port of its own behind a balancer
(as behind nginx): BENCH_INTAKE_PROCESSES of them, by default one per core, since a
daphne process runs Python on one core. The load client balances over them as nginx's
`least_conn` does (bench.http.LoadClient); baseline and webhook are served by the same
processes. (Processes sharing one listening socket are not measured: the kernel hands
a burst of new keep-alive connections to whichever process wakes first, 30 of 32 to one
of two in our runs, so the figures would measure that split, not the server.)
Targets (PostgreSQL): throughput ratio >= 0.8, p99 at 200 req/s < 250 ms.
Measured on two cores (PostgreSQL, Redis): 2.55x, 2.43x and 3.13x (e.g. 3,036 against
1,192 req/s), p99 at 200 req/s 5-6 ms; through Django's view it was 0.69-0.87x with the
processes balanced.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import os
import secrets
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx

from bench.common import Row, free_port, manage, percentile
from bench.http import LoadClient

ROOT = Path(__file__).resolve().parents[1]
SECTION = "intake"
DATABASE = "handoff_bench_intake"
APP_SECRET = "bench-intake-secret"
PHONE_NUMBER_ID = "100000000000009"
PROCESSES = int(os.environ.get("BENCH_INTAKE_PROCESSES", "0")) or os.cpu_count() or 1
CONCURRENCY = int(os.environ.get("BENCH_INTAKE_CONCURRENCY", "32"))
MAX_REQUESTS = int(os.environ.get("BENCH_INTAKE_REQUESTS", "20000"))
MAX_SECONDS = float(os.environ.get("BENCH_INTAKE_SECONDS", "6"))
ROUNDS = 4
FIXED_RATE = 200
FIXED_SECONDS = 5.0
FIXED_GRACE = 3.0


def _postgres_base() -> str:
    configured = os.environ.get("DATABASE_URL", "")
    return configured.rpartition("/")[0] if configured.startswith(("postgres://", "postgresql://")) else ""


def _admin(sql: str) -> None:
    import psycopg

    with psycopg.connect(f"{_postgres_base()}/postgres", autocommit=True) as conn:
        conn.execute(sql)


def _broker_url() -> str:
    redis = os.environ.get("REDIS_URL", "")
    return f"{redis.rpartition('/')[0]}/13" if redis else "memory://"


def _body(i: int, run: str) -> bytes:
    now = str(int(time.time()))
    payload = {
        "object": "whatsapp_business_account",
        "entry": [
            {
                "id": "200000000000009",
                "changes": [
                    {
                        "field": "messages",
                        "value": {
                            "messaging_product": "whatsapp",
                            "metadata": {"display_phone_number": "15550009999", "phone_number_id": PHONE_NUMBER_ID},
                            "contacts": [{"profile": {"name": f"Bench {i % 100}"}, "wa_id": f"1555{i % 100:07d}"}],
                            "messages": [
                                {
                                    "from": f"1555{i % 100:07d}",
                                    "id": f"wamid.BENCH{run}{i:08d}",
                                    "timestamp": now,
                                    "type": "text",
                                    "text": {"body": f"Hello, this is message {i}. Where is my order?"},
                                }
                            ],
                        },
                    }
                ],
            }
        ],
    }
    return json.dumps(payload).encode()


def _sign(body: bytes) -> str:
    return "sha256=" + hmac.new(APP_SECRET.encode(), body, hashlib.sha256).hexdigest()


class Server:
    def __init__(self) -> None:
        self.tmp = Path(tempfile.mkdtemp(prefix="handoff-bench-intake-"))
        self.ports = [free_port() for _ in range(PROCESSES)]
        self.processes: list[subprocess.Popen] = []
        self.postgres = bool(_postgres_base())
        database = f"{_postgres_base()}/{DATABASE}" if self.postgres else f"sqlite:///{self.tmp / 'bench.sqlite3'}"
        self.env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "WHATSAPP_", "CELERY_"))}
        self.env.update(
            {
                "DJANGO_SETTINGS_MODULE": "bench.settings",
                "DEBUG": "0",
                "SECRET_KEY": secrets.token_urlsafe(48),
                "FIELD_ENCRYPTION_KEY": "",
                "SECURE_SSL_REDIRECT": "0",
                "ALLOWED_HOSTS": "127.0.0.1",
                "DATABASE_URL": database,
                "TASKS_MODE": "celery",
                "CELERY_BROKER_URL": _broker_url(),
                "WHATSAPP_APP_SECRET": APP_SECRET,
                "LOG_LEVEL": os.environ.get("BENCH_LOG_LEVEL", "WARNING"),
            }
        )
        from cryptography.fernet import Fernet

        self.env["FIELD_ENCRYPTION_KEY"] = Fernet.generate_key().decode()

    def manage(self, *args: str) -> str:
        return manage(self.env, *args)

    def start(self) -> None:
        if self.postgres:
            _admin(f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)')
            _admin(f'CREATE DATABASE "{DATABASE}"')
        self.manage("migrate", "--noinput")
        self.log = open(self.tmp / "server.log", "wb")  # noqa: SIM115 - closed in stop()
        for port in self.ports:
            listener = socket.create_server(("127.0.0.1", port), backlog=1024)
            try:
                self.processes.append(
                    subprocess.Popen(
                        [sys.executable, "-m", "config.server", "--fd", str(listener.fileno()), "config.asgi:application"],
                        cwd=ROOT,
                        env=self.env,
                        stdout=self.log,
                        stderr=subprocess.STDOUT,
                        pass_fds=(listener.fileno(),),
                    )
                )
            finally:
                listener.close()  # the server holds its own copy
        deadline = time.monotonic() + 30
        waiting = list(self.ports)
        while waiting and time.monotonic() < deadline:
            try:
                if httpx.post(f"http://127.0.0.1:{waiting[0]}/bench/ping/", content=b"{}", timeout=1).status_code == 200:
                    waiting.pop(0)
            except httpx.HTTPError:
                time.sleep(0.2)
        if waiting:
            raise RuntimeError(f"the bench server did not start: {(self.tmp / 'server.log').read_text()[-2000:]}")

    def stored(self, marker: str) -> int:
        code = (
            "from conversations.models import WebhookEvent;"
            f"print(sum(1 for b in WebhookEvent.objects.values_list('body', flat=True) if b'{marker}' in bytes(b)))"
        )
        return int(self.manage("shell", "-c", code).split()[-1])

    def stop(self) -> None:
        for process in self.processes:
            process.terminate()
        for process in self.processes:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
        if self.processes:
            self.log.close()
        if self.postgres:
            _admin(f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)')
        redis = os.environ.get("REDIS_URL", "")
        if redis:
            import redis as redis_client

            redis_client.Redis.from_url(_broker_url()).delete("celery")


Request = tuple[bytes, dict[str, str]]


def _requests(bodies: list[bytes], signed: bool) -> list[Request]:
    """Bodies with their headers, signed in advance so the load loop only sends."""
    out = []
    for body in bodies:
        headers = {"Content-Type": "application/json"}
        if signed:
            headers["X-Hub-Signature-256"] = _sign(body)
        out.append((body, headers))
    return out


class Tally:
    """Requests, their latencies and the non-200 answers of one endpoint, over rounds."""

    def __init__(self) -> None:
        self.latencies: list[float] = []
        self.failures = 0
        self.seconds = 0.0

    @property
    def rate(self) -> float:
        return len(self.latencies) / self.seconds if self.seconds else 0.0


async def _load(client: LoadClient, path: str, requests: Iterator[Request], seconds: float, tally: Tally) -> None:
    """Closed loop: CONCURRENCY workers post the next request until `seconds` pass or the
    requests run out."""
    deadline = time.perf_counter() + seconds

    async def worker() -> None:
        for body, headers in requests:
            started = time.perf_counter()
            status = await client.post(path, body, headers)
            tally.latencies.append((time.perf_counter() - started) * 1000)
            if status != 200:
                tally.failures += 1
            if started > deadline:
                return

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
    tally.seconds += time.perf_counter() - started


async def _fixed_rate(client: LoadClient, requests: list[Request]) -> tuple[list[float], int]:
    """Open loop at FIXED_RATE requests/s; latency from each request's scheduled time.
    Requests still unanswered FIXED_GRACE seconds after the last was due count as
    failures with the time they had waited (a server that cannot keep up shows it)."""
    latencies: list[float] = []
    failures = 0
    start = time.perf_counter() + 0.05

    async def one(i: int) -> None:
        nonlocal failures
        scheduled = start + i / FIXED_RATE
        await asyncio.sleep(max(0.0, scheduled - time.perf_counter()))
        body, headers = requests[i]
        status = await client.post("/webhooks/whatsapp/", body, headers)
        latencies.append((time.perf_counter() - scheduled) * 1000)
        if status != 200:
            failures += 1

    tasks = [asyncio.ensure_future(one(i)) for i in range(len(requests))]
    _done, pending = await asyncio.wait(tasks, timeout=FIXED_SECONDS + FIXED_GRACE)
    for task in pending:
        task.cancel()
    waited = (time.perf_counter() - start) * 1000
    latencies.extend(waited for _ in pending)
    return latencies, failures + len(pending)


async def _measure(server: Server) -> list[Row]:
    """Baseline and webhook alternate in ROUNDS short rounds (bare, webhook, webhook,
    bare, ...) so that a change in the machine's speed during the run weighs on both."""
    run = secrets.token_hex(4).upper()
    ping = [(b"{}", {"Content-Type": "application/json"})]
    webhooks = iter(_requests([_body(i, f"L{run}") for i in range(MAX_REQUESTS)], signed=True))
    fixed = _requests([_body(i, f"F{run}") for i in range(int(FIXED_RATE * FIXED_SECONDS))], signed=True)
    client = LoadClient("127.0.0.1", server.ports, CONCURRENCY * 2)
    warm, base, hook = Tally(), Tally(), Tally()
    try:
        await _load(client, "/bench/ping/", iter(ping * 200), 1.0, warm)
        await _load(client, "/webhooks/whatsapp/", iter(_requests([_body(i, f"W{run}") for i in range(200)], True)), 1.0, warm)
        for i in range(ROUNDS):
            order = [("/bench/ping/", base), ("/webhooks/whatsapp/", hook)]
            for path, tally in order if i % 2 == 0 else reversed(order):
                requests = iter(ping * MAX_REQUESTS) if tally is base else webhooks
                await _load(client, path, requests, MAX_SECONDS / ROUNDS, tally)
        await asyncio.sleep(1.0)  # let the queues drain before the open loop
        fixed_lat, fixed_fail = await _fixed_rate(client, fixed)
    finally:
        await client.aclose()
    sent = len(hook.latencies) - hook.failures
    stored = server.stored(f"wamid.BENCHL{run}")
    db = "PostgreSQL" if server.postgres else "SQLite"
    ratio = hook.rate / base.rate if base.rate else 0.0
    fixed_p99 = percentile(fixed_lat, 99)
    spread = "/".join(str(n) for n in client.served.values())
    return [
        Row(SECTION, "requests answered per daphne process", spread),
        Row(SECTION, f"bare async view requests/s ({CONCURRENCY} concurrent, {PROCESSES} daphne)", base.rate, "req/s"),
        Row(SECTION, "bare async view p50", percentile(base.latencies, 50), "ms"),
        Row(SECTION, "bare async view p99", percentile(base.latencies, 99), "ms"),
        # The target is the deployed shape's: on SQLite (the embedded demo) each body is stored
        # by Django's view in a request thread, one writer at a time.
        Row(SECTION, f"webhook intake requests/s ({db})", hook.rate, "req/s", baseline=base.rate,
            target=">= 0.8 x bare" if server.postgres else "PostgreSQL only", ok=ratio >= 0.8 if server.postgres else None),
        Row(SECTION, "webhook intake p50", percentile(hook.latencies, 50), "ms", baseline=percentile(base.latencies, 50)),
        Row(SECTION, "webhook intake p99", percentile(hook.latencies, 99), "ms", baseline=percentile(base.latencies, 99)),
        Row(SECTION, "rows stored / unique messages accepted", f"{stored}/{sent}", target="equal", ok=stored == sent and hook.failures == 0 and base.failures == 0),
        Row(SECTION, f"webhook p99 at {FIXED_RATE} req/s ({db})", fixed_p99, "ms", target="< 250 ms", ok=fixed_p99 < 250 and fixed_fail == 0),
    ]


def run() -> list[Row]:
    server = Server()
    try:
        server.start()
        return asyncio.run(_measure(server))
    finally:
        server.stop()
