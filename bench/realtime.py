"""Real-time desk figures against a real daphne process on loopback.

(a) Latency from a signed webhook POST to the `message.created` frame on an agent's desk
    socket, at 1, 10, 40 and 80 messages/s (10 s steady at each but the first), against a
    bare `group_send` echo through the same channel layer (the baseline): p50, p99 and their
    ratio. The messages come from CONTACTS customers whose conversations the agent holds.
    Targets at 80/s (WhatsApp's default per number): p50 <= 50 ms, p99 <= 250 ms, nothing
    missing. A few unmeasured messages warm the server up first (the language detector's
    models load on a process's first inbound messages). Then the rate goes up in steps (SATURATION_RATES) while p99 stays under 500 ms
    and nothing is missing: the highest such rate is the saturation point. At 10/s the CPU
    time each message costs is reported by process (web, worker, PostgreSQL, Redis): the
    budget the rates rest on. In the production shape the tasks the demo data asks for go
    to a queue no worker reads, so nothing but the measured messages is behind them.
(b) Idle authenticated desk connections held by that one process, in steps up to 1,000:
    resident memory per connection (least-squares slope) and the time to broadcast one
    event to all of them (the median of BROADCASTS broadcasts at each step). Targets: at most 50 KB per connection, a broadcast to 1,000 in
    at most 100 ms.

Two shapes (`BENCH_REALTIME_SHAPE`):
- `embedded` (default): `manage.py run_embedded` (daphne, tasks in-process threads) on a
  temporary SQLite database (or a database of its own when DATABASE_URL names PostgreSQL);
- `production`: production settings (DEBUG off), daphne as `make serve` starts it
  (`python -m config.server`) and a Celery worker, on PostgreSQL (DATABASE_URL's server, else
  a local one) and Redis.
Both use the Redis channel layer (REDIS_URL, or db 13 of a local Redis), so the bench process
can reach the same layer for the baseline. The webhooks go out through bench.http's lean client:
httpx cost about 3 ms of CPU per post, taken from the servers measured on the same cores. The whole section is bounded (DEADLINE).
"""

from __future__ import annotations

import asyncio
import contextlib
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
from pathlib import Path

from bench.common import (
    Row,
    cpu_seconds,
    free_port,
    least_squares_slope,
    manage,
    percentile,
    process_tree,
    processes_named,
)
from bench.http import LoadClient
from bench.ws_client import BroadcastWatch, Socket, SocketPool
from config.realtime import desk_message  # events as services publish them: JSON text made once

ROOT = Path(__file__).resolve().parents[1]
SECTION = "realtime"
PHONE_NUMBER_ID = "100000000000001"
APP_SECRET = "sandbox-app-secret"
PASSWORD = "bench-realtime-pass"
RATES = [(1, 3.0), (10, 10.0), (40, 10.0), (80, 10.0)]  # messages per second, seconds
SATURATION_RATES = [120, 160, 200, 250, 300]
SATURATION_P99_MS = 500.0
CONTACTS = 40
CPU_RATE = 10  # the step whose CPU time per message is reported, by process (steady, unsaturated)
STEPS = [200, 500, 1000]
BROADCASTS = 5  # per step; the median is reported (one broadcast is one noisy sample)
DEADLINE = float(os.environ.get("BENCH_REALTIME_SECONDS", "300"))
SHAPE = os.environ.get("BENCH_REALTIME_SHAPE", "embedded")


def _redis_url() -> str:
    return os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379/13"


def _database_url(tmp: Path) -> str:
    configured = os.environ.get("DATABASE_URL", "")
    if not configured.startswith(("postgres://", "postgresql://")):
        return f"sqlite:///{tmp / 'bench.sqlite3'}"
    import psycopg

    base = configured.rpartition("/")[0]
    with psycopg.connect(f"{base}/postgres", autocommit=True) as conn:
        conn.execute('DROP DATABASE IF EXISTS "handoff_bench_realtime" WITH (FORCE)')
        conn.execute('CREATE DATABASE "handoff_bench_realtime"')
    return f"{base}/handoff_bench_realtime"


SETUP = """
from django.utils import timezone
from django.contrib.auth.models import User
from agents.models import AgentProfile, Team
from conversations.models import Contact, Conversation, WhatsAppNumber
agent = User.objects.get(username="agent1")
team = Team.objects.get(slug="support")
number = WhatsAppNumber.objects.get(phone_number_id="{pnid}")
AgentProfile.objects.update_or_create(user=agent, defaults={{"capacity": 100}})
for i in range({contacts}):
    contact, _ = Contact.objects.get_or_create(number=number, wa_id=f"155500{{i:05d}}", defaults={{"profile_name": f"Bench {{i}}"}})
    Conversation.objects.create(number=number, contact=contact, team=team, status="assigned", assignee=agent,
        assigned_at=timezone.now(), queued_at=timezone.now(), last_customer_message_at=timezone.now())
print(agent.pk, team.pk, 0)
"""


class Server:
    def __init__(self) -> None:
        self.tmp = Path(tempfile.mkdtemp(prefix="handoff-bench-rt-"))
        self.port = free_port()
        self.production = SHAPE == "production"
        self.proxy_headers = {"X-Forwarded-Proto": "https"} if self.production else {}
        self.worker: subprocess.Popen | None = None
        self.env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "WHATSAPP_"))}
        self.env.update(
            {
                "DJANGO_SETTINGS_MODULE": "config.settings",
                "DATABASE_URL": _database_url(self.tmp),
                "REDIS_URL": _redis_url(),
                "TASKS_MODE": "thread",
                "SANDBOX_ENABLED": "1",
                "DEMO_PASSWORD": PASSWORD,
                "PORT": str(self.port),
                "LOG_LEVEL": os.environ.get("BENCH_LOG_LEVEL", "WARNING"),
                "DESK_WS_REVALIDATE_SECONDS": "600",
                "DESK_WS_RATE_FRAMES": "1000",
            }
        )
        self.env.pop("CELERY_BROKER_URL", None)
        from cryptography.fernet import Fernet

        # Production settings in both shapes: DEBUG would log every query.
        self.env.update(DEBUG="0", SECRET_KEY=secrets.token_urlsafe(50),
                        FIELD_ENCRYPTION_KEY=Fernet.generate_key().decode(), ALLOWED_HOSTS="127.0.0.1")
        if self.production:
            if not self.env["DATABASE_URL"].startswith("postgres"):
                raise RuntimeError("the production shape needs PostgreSQL (DATABASE_URL or a local server)")
            # Behind a TLS-terminating proxy as `make serve` expects; tasks on a Celery worker
            # through Redis.
            self.env.update(TASKS_MODE="celery", CELERY_BROKER_URL=self.env["REDIS_URL"],
                            CELERY_QUEUE=f"bench-realtime-{os.getpid()}")
        else:
            self.env.update(SECURE_SSL_REDIRECT="0")  # the embedded server is spoken to over plain http

    def manage(self, *args: str) -> str:
        return manage(self.env, *args)

    def _setup(self, *args: str) -> str:
        """A setup command. In the production shape the tasks the demo data asks for (rating
        requests, alert emails, drains) go to a queue no worker reads, dropped after: the
        worker starts with nothing behind the measured messages."""
        if not self.production:
            return self.manage(*args)
        return manage({**self.env, "CELERY_QUEUE": f"{self.env['CELERY_QUEUE']}-setup"}, *args)

    def start(self) -> None:
        self._setup("migrate", "--noinput")
        self._setup("load_demo", "--port", str(self.port))
        ids = self._setup("shell", "-c", SETUP.format(pnid=PHONE_NUMBER_ID, contacts=CONTACTS)).split()
        if self.production:
            import redis

            redis.Redis.from_url(self.env["REDIS_URL"]).delete(f"{self.env['CELERY_QUEUE']}-setup")
        self.agent_id, self.team_id, self.conversation_id = (int(x) for x in ids[-3:])
        self.log = open(self.tmp / "server.log", "wb")  # noqa: SIM115 - closed in stop()
        self.manage("collectstatic", "--noinput", "-v", "0")  # pages name their static files by manifest
        if self.production:
            self.worker = subprocess.Popen(  # noqa: S603
                [sys.executable, "-m", "celery", "-A", "config", "worker", "-l", "warning", "--concurrency",
                 os.environ.get("BENCH_REALTIME_WORKERS", "2"), "-Q", self.env["CELERY_QUEUE"]],
                cwd=ROOT, env=self.env, stdout=self.log, stderr=subprocess.STDOUT,
            )
            argv = [sys.executable, "-m", "config.server", "-b", "127.0.0.1", "-p", str(self.port), "--proxy-headers",
                    "config.asgi:application"]
        else:
            argv = [sys.executable, "manage.py", "run_embedded", "--port", str(self.port)]
        self.process = subprocess.Popen(argv, cwd=ROOT, env=self.env, stdout=self.log, stderr=subprocess.STDOUT)  # noqa: S603
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return
            except OSError:
                time.sleep(0.2)
        raise RuntimeError("the bench server did not start")

    def cpu_groups(self) -> dict[str, list[int]]:
        """Where a message's CPU time goes: the web process, the Celery worker (its pool
        too), PostgreSQL (all of the machine's server processes) and Redis."""
        groups = {"web process (daphne)": process_tree(self.process.pid)}
        if self.worker is not None:
            groups["Celery worker"] = process_tree(self.worker.pid)
        if self.env["DATABASE_URL"].startswith("postgres"):
            groups["PostgreSQL"] = processes_named("postgres")
        groups["Redis"] = processes_named("redis-server")
        return groups

    def rss_kb(self) -> int:
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        return 0

    def stop(self) -> None:
        for process in (self.process, self.worker):
            if process is None:
                continue
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
        self.log.close()


def _set_cookie(response, name: str) -> str:
    """A cookie's value from the response's Set-Cookie headers (also `Secure` ones, which a
    client keeps only for https)."""
    for header in response.headers.get_list("set-cookie"):
        key, _, rest = header.partition("=")
        if key.strip() == name:
            return rest.split(";", 1)[0]
    raise RuntimeError(f"no {name} cookie in the answer ({response.status_code})")


async def _session_cookie(base: str, proxy_headers: dict[str, str]) -> str:
    """Sign in as agent1; the session and CSRF cookies as a Cookie header. Behind the proxy
    header the cookies are `Secure`, so they are sent back by hand."""
    import httpx

    async with httpx.AsyncClient(base_url=base, timeout=10, headers=proxy_headers) as client:
        token = _set_cookie(await client.get("/accounts/login/"), "csrftoken")
        scheme = "https" if proxy_headers else "http"
        response = await client.post(
            "/accounts/login/",
            data={"username": "agent1", "password": PASSWORD, "csrfmiddlewaretoken": token, "next": "/desk/"},
            headers={"Referer": f"{scheme}://{base.split('://', 1)[1]}/accounts/login/", "Cookie": f"csrftoken={token}"},
        )
        if response.status_code != 302:
            raise RuntimeError(f"sign-in failed: {response.status_code}")
        return f"sessionid={_set_cookie(response, 'sessionid')}; csrftoken={token}"


def _webhook_body(text: str, contact: int = 0) -> bytes:
    now = int(time.time())
    wa_id = f"155500{contact % CONTACTS:05d}"
    payload = {
        "object": "whatsapp_business_account",
        "entry": [{"id": "200000000000001", "changes": [{"field": "messages", "value": {
            "messaging_product": "whatsapp",
            "metadata": {"display_phone_number": "15550100001", "phone_number_id": PHONE_NUMBER_ID},
            "contacts": [{"profile": {"name": "Bench"}, "wa_id": wa_id}],
            "messages": [{"from": wa_id, "id": f"wamid.BENCH{os.urandom(8).hex()}", "timestamp": str(now),
                          "type": "text", "text": {"body": text}}],
        }}]}],
    }
    return json.dumps(payload).encode()


async def _paced(rate: float, seconds: float, fire) -> list[asyncio.Task]:
    """Open-loop load: fire(i) every 1/rate s, not waiting for earlier ones."""
    tasks, start = [], time.monotonic()
    for i in range(max(1, int(rate * seconds))):
        delay = start + i / rate - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.ensure_future(fire(i)))
    return tasks


async def _latency(server: Server, cookie: str, layer, started: float) -> list[Row]:
    ws = await Socket.open(server.port, "/ws/desk/", cookie)
    await ws.recv()  # hello
    arrivals: dict[str, float] = {}

    async def listen():
        while True:
            frame = await ws.recv()
            if frame.get("type") == "bench.echo":
                arrivals[frame["key"]] = time.monotonic()
            elif frame.get("type") == "message.created":
                arrivals[frame["message"]["text"]] = time.monotonic()

    listener = asyncio.ensure_future(listen())
    rows: list[Row] = []
    group = f"agent.{server.agent_id}"
    saturation = 0
    # The lean client: httpx cost the bench about 3 ms of CPU per post, taken from the
    # servers it measures on the same cores (a quarter of a core at 80/s).
    client = LoadClient("127.0.0.1", server.port, max_connections=400)
    headers = {"Content-Type": "application/json", **server.proxy_headers}
    try:

        async def step(rate: int, seconds: float) -> tuple[list[float], list[float], int]:
            sent: dict[str, float] = {}

            async def echo(i):
                key = f"echo-{rate}-{i}"
                sent[key] = time.monotonic()
                await layer.group_send(group, desk_message({"type": "bench.echo", "key": key}))

            async def post(i):
                text = f"bench-{rate}-{i}"
                body = _webhook_body(text, i)
                signature = "sha256=" + hmac.new(APP_SECRET.encode(), body, hashlib.sha256).hexdigest()
                sent[text] = time.monotonic()
                # A refused or failed post is a missing frame.
                with contextlib.suppress(OSError, asyncio.IncompleteReadError, ValueError):
                    await asyncio.wait_for(
                        client.post("/webhooks/whatsapp/", body, {**headers, "X-Hub-Signature-256": signature}), 10
                    )

            await asyncio.gather(*await _paced(rate, min(seconds, 2.0), echo))
            await asyncio.gather(*await _paced(rate, seconds, post))
            waited = time.monotonic()
            while time.monotonic() - waited < 10 and any(k not in arrivals for k in sent):
                await asyncio.sleep(0.05)
            base = [(arrivals[k] - t) * 1000 for k, t in sent.items() if k.startswith("echo") and k in arrivals]
            real = [(arrivals[k] - t) * 1000 for k, t in sent.items() if k.startswith("bench") and k in arrivals]
            lost = sum(1 for k in sent if k.startswith("bench") and k not in arrivals)
            return base, real, lost

        # Warm-up, not measured: each worker process loads the language detector's models
        # (about a second) on its first inbound messages.
        await step(2, 3.0)
        for rate, seconds in RATES:
            if time.monotonic() - started > DEADLINE - 60:
                print(f"[bench] {rate}/s skipped: the time bound was reached", file=sys.stderr)
                break
            measured = server.cpu_groups() if rate == CPU_RATE else {}
            before = {name: cpu_seconds(pids) for name, pids in measured.items()}
            base, real, lost = await step(rate, seconds)
            p50, p99 = percentile(real, 50), percentile(real, 99)
            print(f"[bench] {rate}/s: p50 {p50:.0f} ms, p99 {p99:.0f} ms, missing {lost}", file=sys.stderr)
            for name, pids in measured.items():
                per_message = (cpu_seconds(pids) - before[name]) * 1000 / max(len(real) + lost, 1)
                rows.append(Row(SECTION, f"CPU per message @{rate}/s: {name} ({SHAPE})", round(per_message, 2), "ms"))
            at_target = rate == 80
            rows += [
                Row(SECTION, f"webhook->desk frame p50 @{rate}/s ({SHAPE})", p50, "ms", percentile(base, 50),
                    "<= 50 ms" if at_target else "", (p50 <= 50) if at_target else None),
                Row(SECTION, f"webhook->desk frame p99 @{rate}/s ({SHAPE})", p99, "ms", percentile(base, 99),
                    "<= 250 ms" if at_target else "", (p99 <= 250) if at_target else None),
                Row(SECTION, f"frames missing @{rate}/s", lost, "of " + str(len(real) + lost), None, "0", lost == 0),
            ]
            if p99 < SATURATION_P99_MS and lost == 0:
                saturation = rate
        if saturation == RATES[-1][0]:
            for rate in SATURATION_RATES:
                if time.monotonic() - started > DEADLINE - 60:
                    break
                _base, real, lost = await step(rate, 10.0)
                p99 = percentile(real, 99)
                print(f"[bench] saturation {rate}/s: p99 {p99:.0f} ms, missing {lost}", file=sys.stderr)
                if not (p99 < SATURATION_P99_MS and lost == 0):
                    break
                saturation = rate
    finally:
        await client.aclose()
    target = 150 if SHAPE == "production" else None
    rows.append(Row(SECTION, f"saturation: highest rate with p99 < {SATURATION_P99_MS:.0f} ms ({SHAPE})",
                    saturation, "msg/s", None, f">= {target}" if target else "",
                    (saturation >= target) if target else None))
    listener.cancel()
    ws.close()
    return rows


async def _open_desk(port: int, cookie: str) -> Socket:
    ws = await Socket.open(port, "/ws/desk/", cookie)
    await asyncio.wait_for(ws.recv(), timeout=20)  # hello: authenticated and joined
    return ws


async def _idle(server: Server, cookie: str, layer, started: float) -> list[Row]:
    baseline = server.rss_kb()
    points = [(0, baseline)]
    broadcast_ms: dict[int, float] = {}
    pool = SocketPool("desk")
    sockets = pool.sockets
    for step in STEPS:
        if time.monotonic() - started > DEADLINE - 20:
            break
        if len(sockets) < (STEPS[STEPS.index(step) - 1] if STEPS.index(step) else 0):
            break
        if not await pool.fill(step, lambda: _open_desk(server.port, cookie), until=started + DEADLINE - 15):
            print(f"[bench] stopped at {len(sockets)} sockets: the time bound was reached", file=sys.stderr)
            break
        await asyncio.sleep(1.0)
        points.append((len(sockets), server.rss_kb()))
        times: list[float] = []
        for i in range(BROADCASTS):
            n = step * 100 + i
            watch = BroadcastWatch(sockets, "bench.broadcast", n)
            start = time.monotonic()
            await layer.group_send(f"team.{server.team_id}", desk_message({"type": "bench.broadcast", "n": n}))
            try:
                await watch.wait(timeout=15)
            except TimeoutError:
                print(f"[bench] broadcast to {step} sockets incomplete after 15 s", file=sys.stderr)
                break
            times.append((time.monotonic() - start) * 1000)
            await asyncio.sleep(0.3)
        if len(times) < BROADCASTS:
            break
        broadcast_ms[step] = percentile(times, 50)
        print(f"[bench] {step} sockets: {points[-1][1] / 1024:.0f} MB, broadcasts "
              f"{', '.join(f'{t:.0f}' for t in times)} ms", file=sys.stderr)
    slope = least_squares_slope(points)
    for s in sockets:
        s.close()
    top = max(broadcast_ms) if broadcast_ms else 0
    rows = [
        Row(SECTION, "idle desk sockets held (one daphne)", top, "connections", None, "1000", top >= 1000),
        Row(SECTION, "resident memory per desk socket (fit)", round(slope, 1), "KB", None, "<= 50 KB", slope <= 50),
        Row(SECTION, "server resident memory, no sockets", baseline / 1024, "MB"),
    ]
    rows += [
        Row(SECTION, f"broadcast one event to {k} sockets (median of {BROADCASTS})", v, "ms", None, "<= 100 ms" if k == 1000 else "",
            (v <= 100) if k == 1000 else None)
        for k, v in broadcast_ms.items()
    ]
    return rows


def _publisher_layer():
    """A channel layer of the kind the server uses (CHANNEL_LAYER_KIND), to publish from here."""
    if os.environ.get("CHANNEL_LAYER_KIND", "pubsub") == "core":
        from channels_redis.core import RedisChannelLayer

        return RedisChannelLayer(hosts=[{"address": _redis_url(), "socket_timeout": 30}], capacity=1500, expiry=30)
    from channels_redis.pubsub import RedisPubSubChannelLayer

    return RedisPubSubChannelLayer(hosts=[{"address": _redis_url()}])


async def _run(server: Server, started: float) -> list[Row]:
    layer = _publisher_layer()
    cookie = await _session_cookie(f"http://127.0.0.1:{server.port}", server.proxy_headers)
    rows: list[Row] = []
    if not os.environ.get("BENCH_REALTIME_IDLE_ONLY"):
        rows += await _latency(server, cookie, layer, started)
        print("\n".join(f"[bench] {r.figure}: {r.value}" for r in rows), file=sys.stderr)
        await asyncio.sleep(2)  # let the webhook work finish before measuring idle memory
    rows += await _idle(server, cookie, layer, started)
    if not os.environ.get("REDIS_URL"):
        await layer.flush()  # our own db 13; a configured Redis is left alone
    return rows


def run() -> list[Row]:
    started = time.monotonic()
    server = Server()
    server.start()
    try:
        return asyncio.run(_run(server, started))
    finally:
        server.stop()


if __name__ == "__main__":
    from bench.common import print_table

    print_table(run())
