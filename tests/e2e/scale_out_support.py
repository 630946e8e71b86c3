"""The production shape on one machine, for the scale-out test (tests/e2e/test_scale_out.py).

What runs, each a process of its own started here and stopped by its pid:
- a private `redis-server` on a free port (no persistence, its own directory), which the
  test stops and starts again on the same port for the outage;
- two daphne processes, started as `make serve` starts them (`python -m config.server`,
  daphne's command line with the webhook body cap at the wire; `--proxy-headers`), and
  spoken to as a TLS-terminating proxy would (`X-Forwarded-Proto: https`), so production
  settings run unchanged (DEBUG off, HTTPS redirect, secure cookies);
- a Celery worker (two pool processes) and Celery beat.

They share a PostgreSQL database of their own and the private Redis (broker, channel
layer, cache). The Graph API is a real local HTTP server in the test process: it records
every send and, as WhatsApp does, posts signed `sent` and `delivered` status webhooks for
each accepted send, echoing its `biz_opaque_callback_data`.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from tests.e2e.conftest import _free_port
from tests.support import webhooks
from tests.support.graph_server import RecordedRequest, start_graph_server

ROOT = Path(__file__).resolve().parents[2]
DATABASE = "handoff_e2e_scale"
PHONE_NUMBER_ID = "100000000000077"
BUSINESS_ACCOUNT_ID = "200000000000077"
DISPLAY_NUMBER = "15550107777"
APP_SECRET = "scale-out-app-secret"
PROXY_HEADERS = {"X-Forwarded-Proto": "https"}


def wait_until(
    check: Callable[[], Any],
    *,
    timeout: float,
    every: float = 0.2,
    what: str = "",
    state: Callable[[], Any] | None = None,
) -> Any:
    """Poll `check()` until it returns something truthy (returned); AssertionError after
    `timeout`, saying what `state()` found then."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            found = f"; found: {state()}" if state is not None else ""
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what or check}{found}")
        time.sleep(every)


def postgres_database(configured: str, name: str = DATABASE) -> str:
    """A fresh, empty database `name` on the server of the `configured` URL; its URL."""
    import psycopg

    base = configured.rpartition("/")[0]
    with psycopg.connect(f"{base}/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    return f"{base}/{name}"


def postgres_drop(url: str) -> None:
    import psycopg

    base, _, name = url.rpartition("/")
    with psycopg.connect(f"{base}/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@dataclass
class Database:
    """Reads of the shared database, straight from the test process."""

    url: str

    def rows(self, sql: str, params: tuple | list = ()) -> list[tuple]:
        import psycopg

        with psycopg.connect(self.url, autocommit=True) as conn:
            return conn.execute(sql, params).fetchall()  # type: ignore[arg-type]

    def value(self, sql: str, params: tuple | list = ()) -> Any:
        return self.rows(sql, params)[0][0]


# --- processes ------------------------------------------------------------------------------


@dataclass
class Process:
    name: str
    argv: list[str]
    log: Path
    popen: subprocess.Popen

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def output(self) -> str:
        try:
            return self.log.read_text(errors="replace")
        except OSError:
            return ""

    def tail(self, lines: int = 60) -> str:
        return "\n".join(self.output().splitlines()[-lines:])


def _children(pid: int) -> list[int]:
    try:
        return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def _gone(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return True
    return state in ("Z", "X")


class Processes:
    """The processes the test starts, by name; each log in a file of its own."""

    def __init__(self, tmp: Path, env: dict[str, str]):
        self.tmp = tmp
        self.env = env
        self.running: dict[str, Process] = {}
        self.ended: list[Process] = []
        self._runs: Counter[str] = Counter()

    def start(self, name: str, argv: list[str], *, cwd: Path = ROOT) -> Process:
        assert name not in self.running, f"{name} is already running"
        self._runs[name] += 1
        log = self.tmp / f"{name}.{self._runs[name]}.log"
        with open(log, "wb") as out:
            popen = subprocess.Popen(argv, cwd=cwd, env=self.env, stdout=out, stderr=subprocess.STDOUT)  # noqa: S603
        process = Process(name, argv, log, popen)
        self.running[name] = process
        return process

    def stop(self, name: str, *, timeout: float = 15) -> None:
        """SIGTERM to the pid, a wait, then SIGKILL to it and to any child it left."""
        process = self.running.pop(name)
        self.ended.append(process)
        children = _children(process.pid)
        if process.alive():
            process.popen.terminate()
            try:
                process.popen.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                process.popen.kill()
                process.popen.wait(timeout=10)
        self._reap(children)

    def crash(self, name: str) -> list[int]:
        """SIGKILL, as when a machine or container dies: the process and its children
        (the worker's pool processes) by their pids, nothing allowed to finish. Returns
        the pids killed."""
        process = self.running.pop(name)
        self.ended.append(process)
        pids = [process.pid, *_children(process.pid)]
        process.popen.send_signal(signal.SIGKILL)
        for pid in pids[1:]:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        process.popen.wait(timeout=10)
        wait_until(lambda: all(_gone(pid) for pid in pids), timeout=10, what=f"{name}'s processes to die")
        return pids

    @staticmethod
    def _reap(pids: list[int]) -> None:
        for pid in pids:
            if not _gone(pid):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)

    def stop_all(self) -> None:
        for name in reversed(list(self.running)):
            try:
                self.stop(name)
            except Exception as exc:  # keep stopping the others
                print(f"could not stop {name}: {exc!r}", file=sys.stderr)

    def logs(self, lines: int = 80) -> str:
        everything = [*self.ended, *self.running.values()]
        return "\n".join(f"----- {p.name} (pid {p.pid}, {p.log.name}) -----\n{p.tail(lines)}" for p in everything)


class PrivateRedis:
    """A redis-server of the test's own on a free port: no persistence, so a stop loses
    whatever it held (queued tasks, channel-layer groups), as a crash of an unpersisted
    Redis does. Started and stopped by its pid; restarted on the same port."""

    def __init__(self, processes: Processes, directory: Path):
        executable = shutil.which("redis-server")
        assert executable, "redis-server is not on PATH"
        self.executable = executable
        self.processes = processes
        self.directory = directory
        self.directory.mkdir(exist_ok=True)
        self.port = _free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        argv = [
            self.executable, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
            "--dir", str(self.directory), "--daemonize", "no",
        ]
        self.processes.start("redis", argv, cwd=self.directory)
        wait_until(self.ping, timeout=15, every=0.1, what="the private redis-server to answer")

    def ping(self) -> bool:
        import redis

        try:
            return bool(redis.Redis.from_url(self.url, socket_timeout=1, socket_connect_timeout=1).ping())
        except redis.RedisError:
            return False

    def stop(self) -> None:
        self.processes.stop("redis")
        assert not self.ping(), "redis still answers after its process stopped"


# --- the Graph API stand-in ---------------------------------------------------------------


@dataclass
class Send:
    wamid: str
    body: dict[str, Any]
    received_at: float
    answered_at: float | None = None

    @property
    def text(self) -> str:
        return str((self.body.get("text") or {}).get("body") or "")


@dataclass
class GraphStandIn:
    """Graph's message endpoint for one number: every send gets a fresh wamid after
    `delay` seconds, and then WhatsApp's `sent` and `delivered` status webhooks, signed
    with the app secret and echoing `biz_opaque_callback_data`, are posted to the
    webhook URLs in turn (retried while a URL does not answer 200)."""

    webhook_urls: list[str] = field(default_factory=list)
    delay: float = 0.0
    sends: list[Send] = field(default_factory=list)
    status_answers: list[int] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self.graph, self.server = start_graph_server()
        self.base_url = self.graph.base_url
        self._wamids = itertools.count(1)
        self._targets = itertools.count()
        self.graph.route("POST", f"/v23.0/{PHONE_NUMBER_ID}/messages", self._message)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def _message(self, request: RecordedRequest) -> tuple[int, Any]:
        body = request.body if isinstance(request.body, dict) else {}
        if "to" not in body:  # read receipts and typing indicators
            return 200, {"success": True}
        send = Send(f"wamid.SCALE{next(self._wamids):06d}{secrets.token_hex(3)}", body, time.monotonic())
        with self.lock:
            self.sends.append(send)
        if self.delay:
            time.sleep(self.delay)
        send.answered_at = time.monotonic()
        # WhatsApp reports the send whether or not its answer reached the caller.
        threading.Thread(target=self._statuses, args=(send,), daemon=True).start()
        return 200, {
            "messaging_product": "whatsapp",
            "contacts": [{"input": body["to"], "wa_id": body["to"]}],
            "messages": [{"id": send.wamid}],
        }

    def in_flight(self) -> int:
        with self.lock:
            return sum(1 for s in self.sends if s.answered_at is None)

    def texts(self) -> Counter[str]:
        with self.lock:
            return Counter(s.text for s in self.sends)

    def wamids(self) -> Counter[str]:
        with self.lock:
            return Counter(s.wamid for s in self.sends)

    def _statuses(self, send: Send) -> None:
        time.sleep(0.05)  # after the answer, as on WhatsApp
        for status in ("sent", "delivered"):
            item: dict[str, Any] = {
                "id": send.wamid,
                "status": status,
                "timestamp": str(int(time.time())),
                "recipient_id": send.body["to"],
            }
            if "biz_opaque_callback_data" in send.body:
                item["biz_opaque_callback_data"] = send.body["biz_opaque_callback_data"]
            payload = webhooks.envelope(
                {
                    "messaging_product": "whatsapp",
                    "metadata": {"display_phone_number": DISPLAY_NUMBER, "phone_number_id": PHONE_NUMBER_ID},
                    "statuses": [item],
                },
                waba_id=BUSINESS_ACCOUNT_ID,
            )
            for _attempt in range(40):
                url = self.webhook_urls[next(self._targets) % len(self.webhook_urls)]
                try:
                    code = post_webhook(url, payload)
                except httpx.HTTPError:
                    code = 0
                with self.lock:
                    self.status_answers.append(code)
                if code == 200:
                    break
                time.sleep(0.5)


# --- HTTP and websocket clients ----------------------------------------------------------------


def post_webhook(url: str, payload: dict[str, Any], *, timeout: float = 10) -> int:
    """POST `payload` to `url`, signed with the app secret, as Meta does through the proxy."""
    body = json.dumps(payload).encode()
    headers = {
        "Content-Type": "application/json",
        "X-Hub-Signature-256": webhooks.sign(body, APP_SECRET),
        **PROXY_HEADERS,
    }
    return httpx.post(url, content=body, headers=headers, timeout=timeout).status_code


def customer_message(text: str, *, wa_id: str, name: str) -> tuple[str, dict[str, Any]]:
    """(wamid, a signed-to-be `messages` webhook carrying `text` from the customer)."""
    wamid = f"wamid.IN{secrets.token_hex(10)}"
    return wamid, webhooks.text_payload(text, wa_id=wa_id, name=name, msg_id=wamid, phone_number_id=PHONE_NUMBER_ID)


@dataclass
class Site:
    """One daphne process, reached as through the proxy."""

    port: int

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def webhook_url(self) -> str:
        return f"{self.base}/webhooks/whatsapp/"

    def healthy(self) -> bool:
        try:
            return httpx.get(f"{self.base}/healthz", timeout=5).status_code == 200
        except httpx.HTTPError:
            return False

    def api(self, method: str, path: str, token: str, **kwargs: Any) -> httpx.Response:
        headers = {"Authorization": f"Token {token}", **PROXY_HEADERS}
        return httpx.request(method, f"{self.base}/api/v1/{path}", headers=headers, timeout=15, **kwargs)

    def sign_in(self, username: str, password: str) -> str:
        """Sign in through the login form as a browser would; the session id."""
        csrf = secrets.token_hex(16)
        origin = f"https://127.0.0.1:{self.port}"
        response = httpx.post(
            f"{self.base}/accounts/login/",
            data={"username": username, "password": password, "csrfmiddlewaretoken": csrf, "next": "/desk/"},
            headers={**PROXY_HEADERS, "Cookie": f"csrftoken={csrf}", "Origin": origin, "Referer": f"{origin}/accounts/login/"},
            timeout=15,
        )
        assert response.status_code == 302, f"sign-in answered {response.status_code}: {response.text[:500]}"
        for header in response.headers.get_list("set-cookie"):
            name, _, rest = header.partition("=")
            if name.strip() == "sessionid":
                return rest.split(";", 1)[0]
        raise AssertionError(f"sign-in set no session cookie: {response.headers}")


class DeskSocket:
    """An agent's desk websocket (/ws/desk/) on one daphne process; frames are collected
    by a reader thread (which also answers the server's pings)."""

    def __init__(self, site: Site, session_id: str):
        import websocket

        self.ws = websocket.create_connection(
            f"ws://127.0.0.1:{site.port}/ws/desk/",
            timeout=10,
            header=[f"{k}: {v}" for k, v in PROXY_HEADERS.items()],
            cookie=f"sessionid={session_id}",
            origin=f"https://127.0.0.1:{site.port}",
        )
        self.frames: list[dict[str, Any]] = []
        self.closed_by_server = False
        self._done = False
        self._cond = threading.Condition()
        self.ws.settimeout(1)
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        self.hello = self.wait_for(lambda f: f.get("type") == "hello", timeout=15, what="the desk's hello")[0]

    def _read(self) -> None:
        import websocket

        while not self._done:
            try:
                data = self.ws.recv()
            except websocket.WebSocketTimeoutException:
                continue
            except (websocket.WebSocketException, OSError):
                with self._cond:
                    self.closed_by_server = not self._done
                    self._cond.notify_all()
                return
            if isinstance(data, str) and data:
                with self._cond:
                    self.frames.append(json.loads(data))
                    self._cond.notify_all()

    def matching(self, predicate: Callable[[dict[str, Any]], bool]) -> list[dict[str, Any]]:
        with self._cond:
            return [f for f in self.frames if predicate(f)]

    def wait_for(
        self, predicate: Callable[[dict[str, Any]], bool], *, count: int = 1, timeout: float = 20, what: str = ""
    ) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                found = [f for f in self.frames if predicate(f)]
                if len(found) >= count:
                    return found
                remaining = deadline - time.monotonic()
                if remaining <= 0 or self.closed_by_server:
                    why = "the server closed the socket" if self.closed_by_server else f"{timeout:.0f} s passed"
                    raise AssertionError(f"{why}: {len(found)} of {count} frames for {what or predicate}")
                self._cond.wait(min(remaining, 0.5))

    def close(self) -> None:
        self._done = True
        self.ws.abort()
        self._reader.join(timeout=5)
        self.ws.close(timeout=0)


# --- the whole shape ----------------------------------------------------------------------------

AGENT = "scale_agent"
AGENT_PASSWORD = "scale-out-agent-pass"

SETUP = f"""
from django.contrib.auth.models import User
from rest_framework.authtoken.models import Token
from agents.models import AgentProfile, Team
agent = User.objects.create_user({AGENT!r}, password={AGENT_PASSWORD!r}, first_name="Sam", last_name="Scale")
AgentProfile.objects.update_or_create(user=agent, defaults={{"capacity": 50}})
team = Team.objects.create(name="Scale support", slug="scale-support")
team.members.add(agent)
print("setup", agent.pk, Token.objects.create(user=agent).key)
"""

# Settings the processes read from the environment; none is inherited from the caller's.
_OWN = ("DJANGO_", "WHATSAPP_", "CELERY_", "PYTEST_", "DB_POOL_", "DESK_WS_", "WEBHOOK_", "DELIVERY_")
_OWN_KEYS = {
    "DEBUG", "SECRET_KEY", "ALLOWED_HOSTS", "CSRF_TRUSTED_ORIGINS", "FIELD_ENCRYPTION_KEY", "DATABASE_URL",
    "REDIS_URL", "TASKS_MODE", "TASKS_COALESCE_SECONDS", "SANDBOX_ENABLED", "SECURE_SSL_REDIRECT", "LOG_LEVEL",
    "PRESENCE_AWAY_AFTER_SECONDS", "PORT",
}


class Shape:
    """Two daphne processes, a Celery worker and Celery beat on PostgreSQL and a private
    Redis, with the Graph stand-in; `start()` brings them up, `stop()` stops each by pid."""

    def __init__(self, tmp: Path, configured_database: str):
        from cryptography.fernet import Fernet

        self.tmp = tmp
        self.database_url = postgres_database(configured_database)
        self.db = Database(self.database_url)
        self.graph = GraphStandIn()
        self.a = Site(_free_port())
        self.b = Site(_free_port())
        self.graph.webhook_urls = [self.a.webhook_url, self.b.webhook_url]
        env = {k: v for k, v in os.environ.items() if not k.startswith(_OWN) and k not in _OWN_KEYS}
        self.processes = Processes(tmp, env)
        self.redis = PrivateRedis(self.processes, tmp / "redis")
        env.update(
            {
                "DJANGO_SETTINGS_MODULE": "config.settings",
                "DEBUG": "0",
                "SECRET_KEY": secrets.token_urlsafe(48),
                "FIELD_ENCRYPTION_KEY": Fernet.generate_key().decode(),
                "ALLOWED_HOSTS": "127.0.0.1,localhost",
                "DATABASE_URL": self.database_url,
                "REDIS_URL": self.redis.url,
                "LOG_LEVEL": "INFO",
                "WHATSAPP_API_BASE": self.graph.base_url,
                "WHATSAPP_PHONE_NUMBER_ID": PHONE_NUMBER_ID,
                "WHATSAPP_BUSINESS_ACCOUNT_ID": BUSINESS_ACCOUNT_ID,
                "WHATSAPP_DISPLAY_PHONE_NUMBER": DISPLAY_NUMBER,
                "WHATSAPP_ACCESS_TOKEN": "scale-out-access-token",
                "WHATSAPP_APP_SECRET": APP_SECRET,
                "WHATSAPP_VERIFY_TOKEN": "scale-out-verify-token",
                # Recovery on a test's time scale: a claimed send is taken back after 15 s
                # (the stand-in answers in well under a second), and both sweeps run often.
                "DELIVERY_LEASE_SECONDS": "15",
                "DELIVERY_SWEEP_EVERY_SECONDS": "2",
                "WEBHOOK_SWEEP_AFTER_SECONDS": "3",
                "WEBHOOK_SWEEP_EVERY_SECONDS": "2",
                "PRESENCE_AWAY_AFTER_SECONDS": "3600",
            }
        )
        self.env = env
        self.agent_id = 0
        self.token = ""

    def manage(self, *args: str, timeout: float = 300) -> str:
        result = subprocess.run(  # noqa: S603
            [sys.executable, "manage.py", *args], cwd=ROOT, env=self.env, capture_output=True, text=True,
            timeout=timeout, check=False,
        )
        if result.returncode != 0:
            raise AssertionError(f"manage.py {args[0]} failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
        return result.stdout

    def start(self) -> None:
        self.redis.start()
        self.manage("migrate", "--noinput")
        self.manage("sync_number")
        words = self.manage("shell", "-c", SETUP).split()
        at = words.index("setup")
        self.agent_id, self.token = int(words[at + 1]), words[at + 2]
        for name, site in (("daphne-a", self.a), ("daphne-b", self.b)):
            # As `make serve` runs daphne (with the webhook body cap at the wire), on a
            # loopback port of its own.
            self.processes.start(
                name,
                [sys.executable, "-m", "config.server", "-b", "127.0.0.1", "-p", str(site.port), "--proxy-headers",
                 "config.asgi:application"],
            )
        self.start_worker()
        self.processes.start(
            "beat",
            [sys.executable, "-m", "celery", "-A", "config", "beat", "-l", "info", "--schedule",
             str(self.tmp / "beat-schedule")],
        )
        for site in (self.a, self.b):
            wait_until(site.healthy, timeout=60, every=0.3, what=f"daphne on port {site.port} to be healthy")
        wait_until(lambda: "beat: Starting" in self.processes.running["beat"].output(), timeout=60, what="beat")

    def start_worker(self) -> None:
        worker = self.processes.start(
            "worker",
            [sys.executable, "-m", "celery", "-A", "config", "worker", "-l", "info", "--concurrency", "2",
             "--hostname", "scale-out@%h"],
        )
        wait_until(
            lambda: " ready." in worker.output() or not worker.alive(), timeout=60, what="the Celery worker"
        )
        assert worker.alive(), f"the Celery worker exited:\n{worker.tail()}"

    def stop(self, *, drop_database: bool) -> None:
        """Stop every process by its pid; the database is kept for a look after a failure."""
        self.processes.stop_all()
        self.graph.close()
        if drop_database:
            postgres_drop(self.database_url)
