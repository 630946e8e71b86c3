"""Shared pieces for benchmark sections: the row type, the table, percentiles."""

from __future__ import annotations

import json
import os
import secrets
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import psycopg

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    """A TCP port on the loopback interface that is free right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def manage(env: dict[str, str], *args: str) -> str:
    """Run `manage.py <args>` with `env`; its output, or an error with the end of stderr."""
    out = subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, check=False
    )
    if out.returncode:
        raise RuntimeError(f"manage.py {args[0]} failed: {out.stderr[-2000:]}")
    return out.stdout


@dataclass
class Row:
    section: str
    figure: str
    value: float | str
    unit: str = ""
    baseline: float | None = None
    target: str = ""
    ok: bool | None = None

    @property
    def ratio(self) -> str:
        if self.baseline in (None, 0) or not isinstance(self.value, int | float):
            return ""
        return f"{self.value / self.baseline:.2f}"


def percentile(values: list[float], pct: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    k = (len(ordered) - 1) * pct / 100
    lo = int(k)
    hi = min(lo + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


def _fmt(value) -> str:
    if isinstance(value, float):
        return f"{value:.2f}" if abs(value) < 1000 else f"{value:.0f}"
    return str(value)


def print_table(rows: list[Row]) -> None:
    header = ["section", "figure", "value", "unit", "baseline", "ratio", "target", "ok"]
    table = [
        [
            r.section,
            r.figure,
            _fmt(r.value),
            r.unit,
            "" if r.baseline is None else _fmt(r.baseline),
            r.ratio,
            r.target,
            {True: "yes", False: "NO", None: ""}[r.ok],
        ]
        for r in rows
    ]
    widths = [max(len(h), *(len(row[i]) for row in table)) if table else len(h) for i, h in enumerate(header)]
    line = "  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True))
    print(line)
    print("  ".join("-" * w for w in widths))
    for row in table:
        print("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)))


def reachable_postgres() -> str:
    """A PostgreSQL server URL without database name: DATABASE_URL's, else a local one, else ""."""
    database = os.environ.get("DATABASE_URL", "")
    candidates = [database.rsplit("/", 1)[0]] if database.startswith("postgres") else []
    candidates.append("postgres://postgres@127.0.0.1:5432")
    for url in candidates:
        try:
            with psycopg.connect(url + "/postgres", connect_timeout=2):
                return url
        except Exception:  # noqa: S112 (try the next candidate)
            continue
    return ""


def production_env(**settings: str) -> dict[str, str]:
    """The environment of a bench child with production settings (DEBUG off: it would keep
    every query in memory and slow each one), fresh secrets, plus `settings`."""
    from cryptography.fernet import Fernet

    env = dict(os.environ, DEBUG="0", LOG_LEVEL="WARNING", SECRET_KEY=secrets.token_urlsafe(50),
               FIELD_ENCRYPTION_KEY=Fernet.generate_key().decode(), ALLOWED_HOSTS="127.0.0.1",
               SECURE_SSL_REDIRECT="0")
    env.update(settings)
    return env


def child_result(module: str, env: dict[str, str], timeout: float) -> dict | None:
    """Run `python -m <module> --child` with `env` and return the JSON object it printed
    last; None (its error output shown) when it failed or printed none."""
    proc = subprocess.run(  # noqa: S603
        [sys.executable, "-m", module, "--child"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout
    )
    lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
    if proc.returncode != 0 or not lines:
        sys.stderr.write(proc.stderr[-4000:])
        return None
    return json.loads(lines[-1])


def ensure_postgres_database(url: str) -> None:
    """A fresh, empty database at `url` (dropped first if it exists)."""
    admin_url, name = url.rsplit("/", 1)
    with psycopg.connect(admin_url + "/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        conn.execute(f'CREATE DATABASE "{name}"')


def run_in_threads(items: list, work, threads: int) -> float:
    """Run `work(item)` over `items` split across `threads` threads that start together;
    returns the wall seconds. The first error in a thread is raised here. Each thread closes
    its database connection when done."""
    from django.db import connection

    chunks = [items[i::threads] for i in range(threads)]
    barrier = threading.Barrier(threads)
    errors: list[BaseException] = []

    def run(chunk):
        try:
            barrier.wait()
            for item in chunk:
                work(item)
        except BaseException as exc:  # reported by the caller
            errors.append(exc)
        finally:
            connection.close()

    workers = [threading.Thread(target=run, args=(chunk,)) for chunk in chunks]
    started = time.perf_counter()
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    if errors:
        raise errors[0]
    return time.perf_counter() - started


def least_squares_slope(points: list[tuple[float, float]]) -> float:
    """The slope of the least-squares line through (x, y) points (e.g. memory per socket)."""
    n = len(points)
    mean_x = sum(x for x, _ in points) / n
    mean_y = sum(y for _, y in points) / n
    return sum((x - mean_x) * (y - mean_y) for x, y in points) / max(1e-9, sum((x - mean_x) ** 2 for x, _ in points))


def process_tree(pid: int) -> list[int]:
    """`pid` and its descendants (Linux /proc)."""
    found = [pid]
    try:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        return found
    for child in children:
        found += process_tree(int(child))
    return found


def processes_named(prefix: str) -> list[int]:
    """Processes whose command name starts with `prefix` (e.g. "postgres")."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                if Path(f"/proc/{entry}/comm").read_text().startswith(prefix):
                    found.append(int(entry))
            except OSError:
                continue
    return found


def cpu_seconds(pids: list[int]) -> float:
    """User plus system CPU time the processes have used so far (gone ones count 0)."""
    ticks = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        ticks += int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK")
