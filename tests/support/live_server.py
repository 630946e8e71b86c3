"""A real Handoff server process for tests that need the wire: a migrated SQLite file,
served either as `make run` serves it (`manage.py run_embedded`) or as `make serve` runs
daphne (`python -m config.server`), with its log kept for assertions; and a minimal
websocket client (RFC 6455) that reports close codes."""

from __future__ import annotations

import base64
import contextlib
import json
import os
import socket
import struct
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
APP_SECRET = "live-server-app-secret"

MAKE_SESSION = """
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY, get_user_model
from django.contrib.sessions.backends.db import SessionStore
from agents.models import Team
user, _ = get_user_model().objects.get_or_create(username="live-agent")
user.set_password("live-password")
user.save()
team, _ = Team.objects.get_or_create(slug="live", defaults={"name": "Live"})
team.members.add(user)
store = SessionStore()
store[SESSION_KEY] = str(user.pk)
store[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
store[HASH_SESSION_KEY] = user.get_session_auth_hash()
store.create()
print(store.session_key)
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class LiveServer:
    port: int
    log_path: Path
    env: dict[str, str]
    process: subprocess.Popen | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def log_mark(self) -> int:
        return self.log_path.stat().st_size

    def log_since(self, mark: int) -> str:
        with self.log_path.open("rb") as f:
            f.seek(mark)
            return f.read().decode(errors="replace")

    def manage(self, *args: str) -> str:
        done = subprocess.run(
            [sys.executable, str(ROOT / "manage.py"), *args],
            cwd=ROOT, env=self.env, timeout=180, capture_output=True, text=True,
        )
        assert done.returncode == 0, f"manage.py {' '.join(args)} failed:\n{done.stderr}"
        return done.stdout

    def session_cookie(self) -> str:
        """A signed-in desk user (member of a team) and the key of their session."""
        return self.manage("shell", "-c", MAKE_SESSION).strip().splitlines()[-1]

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)


def start_live_server(tmp_path: Path, shape: str, extra_env: dict[str, str] | None = None) -> LiveServer:
    """Migrate a fresh SQLite file and start the server in `shape` ("run_embedded" or
    "serve"); returns once it answers /healthz."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("WHATSAPP_", "REDIS_", "CELERY_", "DATABASE_"))}
    env.pop("TEST_TASKS_MODE", None)
    env.update(
        DJANGO_SETTINGS_MODULE="config.settings",
        DEBUG="1",
        DATABASE_URL=f"sqlite:///{tmp_path / 'live.sqlite3'}",
        TASKS_MODE="thread",
        PORT=str(port),
        WHATSAPP_APP_SECRET=APP_SECRET,
        PYTHONUNBUFFERED="1",
        **(extra_env or {}),
    )
    server = LiveServer(port=port, log_path=tmp_path / f"{shape}.log", env=env)
    server.manage("migrate", "--noinput", "-v", "0")
    if shape == "run_embedded":
        command = [sys.executable, str(ROOT / "manage.py"), "run_embedded", "--port", str(port)]
    else:
        command = [sys.executable, "-m", "config.server", "-b", "127.0.0.1", "-p", str(port), "config.asgi:application"]
    log = server.log_path.open("wb")
    server.process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    log.close()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise AssertionError(f"the server exited:\n{server.log()}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as probe:
                probe.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
                probe.settimeout(5)
                if probe.recv(64).startswith(b"HTTP/1.1 "):
                    return server
        except OSError:
            pass
        time.sleep(0.2)
    server.stop()
    raise AssertionError(f"the server did not start:\n{server.log()}")


class Closed(Exception):
    def __init__(self, code: int | None):
        super().__init__(f"closed with {code}")
        self.code = code


class WebSocket:
    """A blocking websocket client: text frames out, JSON frames and close codes in."""

    def __init__(self, port: int, path: str, cookie: str, origin: str | None = None):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=5)
        key = base64.b64encode(os.urandom(16)).decode()
        self.sock.sendall(
            (
                f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
                f"Origin: {origin or f'http://127.0.0.1:{port}'}\r\nCookie: sessionid={cookie}\r\n\r\n"
            ).encode()
        )
        self.buffer = b""
        head = self._read_until(b"\r\n\r\n")
        if b" 101 " not in head.split(b"\r\n", 1)[0]:
            raise ConnectionError(head.split(b"\r\n", 1)[0].decode())

    def _read_until(self, marker: bytes) -> bytes:
        while marker not in self.buffer:
            self._fill()
        head, self.buffer = self.buffer.split(marker, 1)
        return head

    def _fill(self) -> None:
        chunk = self.sock.recv(65536)
        if not chunk:
            raise Closed(None)
        self.buffer += chunk

    def _read_exactly(self, size: int) -> bytes:
        while len(self.buffer) < size:
            self._fill()
        data, self.buffer = self.buffer[:size], self.buffer[size:]
        return data

    def send_text(self, text: str | bytes) -> None:
        self._send(0x1, text.encode() if isinstance(text, str) else text)

    def send_json(self, frame: dict) -> None:
        self.send_text(json.dumps(frame))

    def _send(self, opcode: int, data: bytes) -> None:
        mask = os.urandom(4)
        if len(data) < 126:
            size = bytes([0x80 | len(data)])
        elif len(data) < 65536:
            size = bytes([0xFE]) + struct.pack("!H", len(data))
        else:
            size = bytes([0xFF]) + struct.pack("!Q", len(data))
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(data))
        self.sock.sendall(bytes([0x80 | opcode]) + size + mask + masked)

    def receive(self, timeout: float = 3.0) -> dict:
        """The next JSON frame; raises Closed (with the close code) when the server closes."""
        self.sock.settimeout(timeout)
        while True:
            first, second = self._read_exactly(2)
            length = second & 0x7F
            if length == 126:
                (length,) = struct.unpack("!H", self._read_exactly(2))
            elif length == 127:
                (length,) = struct.unpack("!Q", self._read_exactly(8))
            payload = self._read_exactly(length)
            opcode = first & 0x0F
            if opcode == 0x1:
                return json.loads(payload)
            if opcode == 0x9:
                self._send(0xA, payload)
            elif opcode == 0x8:
                raise Closed(struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else None)

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self._send(0x8, struct.pack("!H", 1000))
        self.sock.close()
