"""Webhook intake throughput and latency against a real daphne server on loopback.

One server, two endpoints: the webhook (`POST /webhooks/whatsapp/`: body-size guard,
signature check, one insert, a task published) and a bare async Django view
(`POST /bench/ping/`, the same middleware stack) as the baseline. Both get the same
concurrent load of signed POSTs, each webhook a unique message; figures: requests/s,
p50, p99 and the ratio, then rows stored == messages sent, then p99 at a fixed 200 req/s
(open loop: latency counts from each request's scheduled time).

Database: a database of its own on the PostgreSQL server of DATABASE_URL (created and
dropped here), else a temporary SQLite file; migrated first.
Tasks: processing must not run inside the measured server, so TASKS_MODE=celery with the
broker on Redis db 13 when REDIS_URL is set (a real publish per request; the queue is
deleted afterwards), else an in-memory broker (the publish call, nothing consumed).
Targets (PostgreSQL): throughput ratio >= 0.6, p99 at 200 req/s < 250 ms.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import os
import secrets
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from bench.common import Row, free_port, manage, percentile

ROOT = Path(__file__).resolve().parents[1]
SECTION = "intake"
DATABASE = "handoff_bench_intake"
APP_SECRET = "bench-intake-secret"
PHONE_NUMBER_ID = "100000000000009"
CONCURRENCY = int(os.environ.get("BENCH_INTAKE_CONCURRENCY", "32"))
MAX_REQUESTS = int(os.environ.get("BENCH_INTAKE_REQUESTS", "6000"))
MAX_SECONDS = float(os.environ.get("BENCH_INTAKE_SECONDS", "6"))
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
        self.port = free_port()
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
        self.process: subprocess.Popen | None = None

    def manage(self, *args: str) -> str:
        return manage(self.env, *args)

    def start(self) -> None:
        if self.postgres:
            _admin(f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)')
            _admin(f'CREATE DATABASE "{DATABASE}"')
        self.manage("migrate", "--noinput")
        self.log = open(self.tmp / "server.log", "wb")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(self.port), "config.asgi:application"],
            cwd=ROOT,
            env=self.env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if httpx.post(f"{self.url}/bench/ping/", content=b"{}", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                time.sleep(0.2)
        raise RuntimeError(f"the bench server did not start: {(self.tmp / 'server.log').read_text()[-2000:]}")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stored(self, marker: str) -> int:
        code = (
            "from conversations.models import WebhookEvent;"
            f"print(sum(1 for b in WebhookEvent.objects.values_list('body', flat=True) if b'{marker}' in bytes(b)))"
        )
        return int(self.manage("shell", "-c", code).split()[-1])

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
            self.log.close()
        if self.postgres:
            _admin(f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)')
        redis = os.environ.get("REDIS_URL", "")
        if redis:
            import redis as redis_client

            redis_client.Redis.from_url(_broker_url()).delete("celery")


async def _load(client: httpx.AsyncClient, path: str, bodies: list[bytes], signed: bool) -> tuple[float, list[float], int]:
    """Closed loop: CONCURRENCY workers post the bodies in turn until all are sent or
    MAX_SECONDS pass. Returns (requests/s, latencies in ms, non-200 answers)."""
    latencies: list[float] = []
    failures = 0
    cursor = iter(range(len(bodies)))
    deadline = time.perf_counter() + MAX_SECONDS

    async def worker() -> None:
        nonlocal failures
        for i in cursor:
            if time.perf_counter() > deadline:
                return
            body = bodies[i]
            headers = {"Content-Type": "application/json"}
            if signed:
                headers["X-Hub-Signature-256"] = _sign(body)
            started = time.perf_counter()
            response = await client.post(path, content=body, headers=headers)
            latencies.append((time.perf_counter() - started) * 1000)
            if response.status_code != 200:
                failures += 1

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
    elapsed = time.perf_counter() - started
    return len(latencies) / elapsed, latencies, failures


async def _fixed_rate(client: httpx.AsyncClient, bodies: list[bytes]) -> tuple[list[float], int]:
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
        body = bodies[i]
        response = await client.post(
            "/webhooks/whatsapp/",
            content=body,
            headers={"Content-Type": "application/json", "X-Hub-Signature-256": _sign(body)},
        )
        latencies.append((time.perf_counter() - scheduled) * 1000)
        if response.status_code != 200:
            failures += 1

    tasks = [asyncio.ensure_future(one(i)) for i in range(len(bodies))]
    _done, pending = await asyncio.wait(tasks, timeout=FIXED_SECONDS + FIXED_GRACE)
    for task in pending:
        task.cancel()
    waited = (time.perf_counter() - start) * 1000
    latencies.extend(waited for _ in pending)
    return latencies, failures + len(pending)


async def _measure(server: Server) -> list[Row]:
    run = secrets.token_hex(4).upper()
    warm = [_body(i, f"W{run}") for i in range(100)]
    load = [_body(i, f"L{run}") for i in range(MAX_REQUESTS)]
    fixed = [_body(i, f"F{run}") for i in range(int(FIXED_RATE * FIXED_SECONDS))]
    limits = httpx.Limits(max_connections=CONCURRENCY * 2, max_keepalive_connections=CONCURRENCY * 2)
    async with httpx.AsyncClient(base_url=server.url, limits=limits, timeout=30) as client:
        await _load(client, "/bench/ping/", warm, signed=False)
        await _load(client, "/webhooks/whatsapp/", warm, signed=True)
        base_rps, base_lat, base_fail = await _load(client, "/bench/ping/", load, signed=False)
        rps, lat, fail = await _load(client, "/webhooks/whatsapp/", load, signed=True)
        fixed_lat, fixed_fail = await _fixed_rate(client, fixed)
    sent = len(lat) - fail
    stored = server.stored(f"wamid.BENCHL{run}")
    db = "PostgreSQL" if server.postgres else "SQLite"
    ratio = rps / base_rps if base_rps else 0.0
    fixed_p99 = percentile(fixed_lat, 99)
    return [
        Row(SECTION, f"bare async view requests/s ({CONCURRENCY} concurrent)", base_rps, "req/s"),
        Row(SECTION, "bare async view p50", percentile(base_lat, 50), "ms"),
        Row(SECTION, "bare async view p99", percentile(base_lat, 99), "ms"),
        Row(SECTION, f"webhook intake requests/s ({db})", rps, "req/s", baseline=base_rps, target=">= 0.6 x bare", ok=ratio >= 0.6),
        Row(SECTION, "webhook intake p50", percentile(lat, 50), "ms", baseline=percentile(base_lat, 50)),
        Row(SECTION, "webhook intake p99", percentile(lat, 99), "ms", baseline=percentile(base_lat, 99)),
        Row(SECTION, "rows stored / unique messages accepted", f"{stored}/{sent}", target="equal", ok=stored == sent and fail == 0 and base_fail == 0),
        Row(SECTION, f"webhook p99 at {FIXED_RATE} req/s ({db})", fixed_p99, "ms", target="< 250 ms", ok=fixed_p99 < 250 and fixed_fail == 0),
    ]


def run() -> list[Row]:
    server = Server()
    try:
        server.start()
        return asyncio.run(_measure(server))
    finally:
        server.stop()
