"""Pacing shared by every process and worker: per-number throughput and per-recipient spacing.

The algorithm is GCRA (the generic cell rate algorithm, a token bucket kept as one
timestamp per key): each key stores the "theoretical arrival time" of its next slot.
A slot is granted when that time is no further ahead than the burst tolerance; every
grant pushes it forward by one emission interval (1 / rate). With `burst=1` grants are
evenly spaced, so any one-second window holds at most `rate + 1` of them.

Where the state lives:
- with ``settings.REDIS_URL``: in Redis, one key per limit, updated atomically by a Lua
  script using Redis's own clock, so every web process, Celery worker and host shares
  the same pace;
- otherwise: in this process (a lock-protected dict), which is all the embedded
  single-process mode needs.

Use it for anything that must hold a rate across workers:

- ``throughput_acquire(key=..., rate_per_second=..., timeout=...)`` blocks until a slot
  is free (or returns False once `timeout` cannot be met), e.g. a number's 80 messages/s;
- ``rate_try(key=..., rate_per_second=..., burst=...)`` never blocks: it takes a slot or
  says how long until one frees, for work that should be rescheduled instead of waiting
  (a campaign's batch, one customer's next message);
- ``number_throughput_acquire(number=..., timeout=...)`` and
  ``recipient_pace(number=..., recipient=...)`` apply WhatsApp's two send limits;
- ``number_send_window(number=...)`` counts a number's sends again as they leave (a
  sliding window log), so sends that left later than their slots cannot bunch.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol

from django.conf import settings

if TYPE_CHECKING:
    from conversations.models import WhatsAppNumber

DEFAULT_THROUGHPUT_MPS = 80
# The number's pacer: (rate - 3)/s with a burst of 2 keeps any one-second window at or
# under rate - 2 grants (see number_throughput_acquire).
NUMBER_RATE_MARGIN = 3
NUMBER_BURST = 2
# WhatsApp's pair rate: about one message every 6 seconds to one user, sustained, with
# short bursts tolerated; beyond it Graph answers 131056.
RECIPIENT_INTERVAL_SECONDS = 6.0
# Sends as they leave: at most the number's rate less one in any SEND_WINDOW_SECONDS (a
# little over WhatsApp's one second, for the network's jitter between here and Graph).
SEND_WINDOW_SECONDS = 1.02
SEND_WINDOW_MARGIN = 1
SEND_WINDOW_MAX_WAIT = 5.0

log = logging.getLogger(__name__)


class RateBackend(Protocol):
    def try_acquire(self, key: str, rate_per_second: float, burst: int) -> float:
        """Take a slot: 0.0 when granted, else the seconds until one frees (nothing taken)."""
        ...

    def window_try(self, key: str, limit: int, period: float) -> float:
        """Record one event now if fewer than `limit` were recorded in the last `period`
        seconds: 0.0; else the seconds until the oldest leaves the window (nothing recorded)."""
        ...


class LocalRateBackend:
    """GCRA state in this process, shared by its threads."""

    _PRUNE_ABOVE = 10_000

    def __init__(self) -> None:
        self._tat: dict[str, float] = {}
        self._windows: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def try_acquire(self, key: str, rate_per_second: float, burst: int) -> float:
        interval = 1.0 / rate_per_second
        tolerance = interval * (max(burst, 1) - 1)
        with self._lock:
            now = time.monotonic()
            tat = max(self._tat.get(key, now), now)
            if tat - now > tolerance:
                return tat - now - tolerance
            self._tat[key] = tat + interval
            if len(self._tat) > self._PRUNE_ABOVE:
                # Keys in the past hold no state worth keeping (they equal a fresh key).
                self._tat = {k: v for k, v in self._tat.items() if v > now}
            return 0.0

    def window_try(self, key: str, limit: int, period: float) -> float:
        with self._lock:
            now = time.monotonic()
            events = self._windows.get(key)
            if events is None:
                if len(self._windows) > self._PRUNE_ABOVE:
                    self._windows = {k: v for k, v in self._windows.items() if v and v[-1] > now - period}
                events = self._windows[key] = deque()
            while events and events[0] <= now - period:
                events.popleft()
            if len(events) < limit:
                events.append(now)
                return 0.0
            return events[0] + period - now


# KEYS[1]: the limit's key. ARGV: emission interval and burst tolerance, in microseconds.
# Returns 0 when a slot is granted, else microseconds until one frees.
_GCRA_LUA = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local interval = tonumber(ARGV[1])
local tolerance = tonumber(ARGV[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
if tat < now then tat = now end
if tat - now > tolerance then
  return math.ceil(tat - now - tolerance)
end
local new_tat = tat + interval
redis.call('SET', KEYS[1], string.format('%.0f', new_tat), 'PX', math.ceil((new_tat - now) / 1000) + 1000)
return 0
"""


# KEYS[1]: the window's sorted set. ARGV: period (microseconds), limit, a unique member.
# Returns 0 when the event is recorded, else microseconds until the oldest leaves.
_WINDOW_LUA = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local period = tonumber(ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - period)
if redis.call('ZCARD', KEYS[1]) < tonumber(ARGV[2]) then
  redis.call('ZADD', KEYS[1], now, ARGV[3])
  redis.call('PEXPIRE', KEYS[1], math.ceil(period / 1000) + 1000)
  return 0
end
local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
return math.max(1, math.ceil(tonumber(oldest[2]) + period - now))
"""


class RedisRateBackend:
    """GCRA state in Redis: one atomic script call per attempt, on Redis's clock."""

    def __init__(self, url: str, prefix: str = "handoff:rate:") -> None:
        import redis

        self._redis = redis.Redis.from_url(url, socket_timeout=5, socket_connect_timeout=5)
        self._script = self._redis.register_script(_GCRA_LUA)
        self._window = self._redis.register_script(_WINDOW_LUA)
        self._prefix = prefix

    def try_acquire(self, key: str, rate_per_second: float, burst: int) -> float:
        interval_us = 1_000_000.0 / rate_per_second
        tolerance_us = interval_us * (max(burst, 1) - 1)
        wait_us = self._script(keys=[self._prefix + key], args=[f"{interval_us:.0f}", f"{tolerance_us:.0f}"])
        return int(wait_us) / 1_000_000.0

    def window_try(self, key: str, limit: int, period: float) -> float:
        wait_us = self._window(keys=[self._prefix + key], args=[f"{period * 1_000_000:.0f}", limit, uuid.uuid4().hex])
        return int(wait_us) / 1_000_000.0


_backend: RateBackend | None = None
_backend_url: str | None = None
_backend_lock = threading.Lock()


def backend() -> RateBackend:
    """The process's backend for the configured REDIS_URL (Redis when set, else local)."""
    global _backend, _backend_url
    url = settings.REDIS_URL
    with _backend_lock:
        if _backend is None or _backend_url != url:
            _backend = RedisRateBackend(url) if url else LocalRateBackend()
            _backend_url = url
        return _backend


def rate_try(*, key: str, rate_per_second: float, burst: int = 1) -> float:
    """Take one slot of limit `key` now if one is free, without waiting.

    Returns 0.0 when the slot was taken, else the seconds until one frees (nothing is
    taken then: call again later). `burst` slots may be taken back to back after a
    quiet period; the long-run rate stays `rate_per_second`."""
    if rate_per_second <= 0:
        raise ValueError("rate_per_second must be positive")
    return backend().try_acquire(key, rate_per_second, burst)


def throughput_acquire(*, key: str, rate_per_second: float, timeout: float, burst: int = 1) -> bool:
    """Wait for a slot of limit `key`, shared by every process using the same REDIS_URL.

    Returns True once a slot is taken, or False as soon as it is clear that none can be
    had within `timeout` seconds (then nothing is taken). Waiting sleeps this thread,
    so keep timeouts short in tasks and reschedule the work when it returns False."""
    return _waited(lambda: rate_try(key=key, rate_per_second=rate_per_second, burst=burst), timeout)


def _waited(attempt: Callable[[], float], timeout: float) -> bool:
    """Call `attempt` (0.0: done; else the seconds until it may succeed) until it succeeds,
    sleeping in between: True; False as soon as success cannot come within `timeout`."""
    deadline = time.monotonic() + max(timeout, 0.0)
    while True:
        wait = attempt()
        if wait <= 0:
            return True
        if wait > deadline - time.monotonic():
            return False
        time.sleep(wait)


def number_throughput_acquire(*, number: WhatsAppNumber, timeout: float) -> bool:
    """A send slot of the number's throughput (`number.throughput_mps`, 80/s by default).

    Grants come at the number's rate less three, with one slot of tolerance (burst 2): a
    caller late by up to one interval (a sleep's overshoot, a thread waiting for the
    GIL, a database write before the send) keeps its place in the schedule instead of
    pushing every later slot back, and any one-second window still holds at most the
    rate less two grants, so the sends' own latency jitter (they reach Graph a little
    earlier or later than granted) has two slots of margin before WhatsApp's limit. With
    one slot of margin (rate less two) the campaign bench met a 130429 in most runs: two
    sends granted a few milliseconds apart in adjacent windows arrived in the same one.
    (Spacing grants one interval apart, burst 1, loses each late caller's delay for good:
    at 79/s with a few milliseconds of lateness per send, about 76/s came out.)"""
    rate = number.throughput_mps or DEFAULT_THROUGHPUT_MPS
    return throughput_acquire(
        key=f"wa:mps:{number.phone_number_id}", rate_per_second=max(rate - NUMBER_RATE_MARGIN, 1), timeout=timeout,
        burst=NUMBER_BURST if rate > NUMBER_RATE_MARGIN else 1,
    )


def number_send_window(*, number: WhatsAppNumber) -> bool:
    """Wait, right before a send leaves for Graph, until it keeps the number's sends within
    its rate less one in any SEND_WINDOW_SECONDS, counted as they leave (shared like the
    pacer: Redis when configured).

    The pacer spaces the slots, but what a sender does between its slot and the send (the
    claim's write, which may wait for a database lock) can make several sends leave
    together, later than their slots and close to the next ones; WhatsApp counts them
    as they arrive. Waits at most SEND_WINDOW_MAX_WAIT (the window frees within its
    period unless far more is being sent than the pacer grants); returns False when it
    gave up waiting or could not reach the store (the send goes on: the message is
    claimed, and a 130429 answer is retried like any throttle)."""
    rate = number.throughput_mps or DEFAULT_THROUGHPUT_MPS
    limit = max(rate - SEND_WINDOW_MARGIN, 1)
    key = f"wa:sent:{number.phone_number_id}"
    try:
        if _waited(lambda: backend().window_try(key, limit, SEND_WINDOW_SECONDS), SEND_WINDOW_MAX_WAIT):
            return True
    except Exception:  # the store is unreachable: the pacer's slot was granted; send
        log.exception("number %s: the send window could not be read; sending", number.pk)
        return False
    log.warning("number %s: sends kept its window full for %.0f s; sending anyway", number.pk, SEND_WINDOW_MAX_WAIT)
    return False


def recipient_pace(*, number: WhatsAppNumber, recipient: str) -> float:
    """A send slot to one customer under WhatsApp's pair rate (about 1 per 6 s sustained,
    `WHATSAPP_RECIPIENT_BURST` back to back). Returns 0.0 when taken, else the seconds
    to wait before sending to this customer; other recipients are not affected."""
    return rate_try(
        key=f"wa:pair:{number.phone_number_id}:{recipient}",
        rate_per_second=1.0 / RECIPIENT_INTERVAL_SECONDS,
        burst=settings.WHATSAPP_RECIPIENT_BURST,
    )
