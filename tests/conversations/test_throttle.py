"""The shared pacer: a rate held across threads and across independent clients of the
same store (Redis when REDIS_URL is set, as separate processes would use it).

No timing assertions: timestamps are recorded as slots are granted and the test counts
how many fall into any one-second window, with a generous margin."""

from __future__ import annotations

import threading
import time
import uuid

import pytest
from django.conf import settings

from conversations import throttle
from conversations.throttle import (
    LocalRateBackend,
    RedisRateBackend,
    number_throughput_acquire,
    rate_try,
    throughput_acquire,
)
from tests.factories import NumberFactory


def _key() -> str:
    return f"test:{uuid.uuid4().hex}"


def _max_in_any_second(stamps: list[float]) -> int:
    stamps = sorted(stamps)
    best = 0
    for i, start in enumerate(stamps):
        inside = sum(1 for t in stamps[i:] if t < start + 1.0)
        best = max(best, inside)
    return best


def _acquire_from_threads(acquire, threads: int, per_thread: int) -> list[float]:
    stamps: list[float] = []
    failures: list[str] = []
    lock = threading.Lock()
    barrier = threading.Barrier(threads)

    def worker() -> None:
        barrier.wait()
        for _ in range(per_thread):
            if not acquire():
                with lock:
                    failures.append("timed out")
                continue
            now = time.monotonic()
            with lock:
                stamps.append(now)

    pool = [threading.Thread(target=worker) for _ in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join(60)
    assert failures == []
    return stamps


def test_a_free_slot_is_taken_at_once_and_the_next_one_waits():
    key = _key()

    assert rate_try(key=key, rate_per_second=2) == 0.0
    wait = rate_try(key=key, rate_per_second=2)

    assert 0.0 < wait <= 0.5


def test_burst_allows_back_to_back_slots_then_paces():
    key = _key()

    granted = [rate_try(key=key, rate_per_second=0.5, burst=3) for _ in range(4)]

    assert granted[:3] == [0.0, 0.0, 0.0]
    assert granted[3] > 0.0


def test_acquire_gives_up_at_once_when_the_timeout_cannot_be_met():
    key = _key()
    assert throughput_acquire(key=key, rate_per_second=0.2, timeout=0) is True

    assert throughput_acquire(key=key, rate_per_second=0.2, timeout=1.0) is False
    # Nothing was taken by the refused call: the next slot is still about 5 s away, not 10.
    assert rate_try(key=key, rate_per_second=0.2) <= 5.0


def test_rate_is_held_across_threads():
    rate = 20
    key = _key()

    stamps = _acquire_from_threads(
        lambda: throughput_acquire(key=key, rate_per_second=rate, timeout=30), threads=6, per_thread=10
    )

    assert len(stamps) == 60
    assert _max_in_any_second(stamps) <= rate * 1.5


def _independent_clients() -> list:
    if settings.REDIS_URL:
        return [("redis", lambda: RedisRateBackend(settings.REDIS_URL))]
    # Without Redis, state lives in the process: one backend shared by its threads.
    shared = LocalRateBackend()
    return [("local", lambda: shared)]


_STORES = _independent_clients()


@pytest.mark.parametrize("make_backend", [make for _, make in _STORES], ids=[name for name, _ in _STORES])
def test_rate_is_held_across_independent_clients_of_the_store(make_backend):
    rate = 20
    key = _key()
    backends = threading.local()

    def acquire() -> bool:
        # Each thread has its own client (for Redis, its own connection pool), as a
        # separate web process or Celery worker would.
        if not hasattr(backends, "backend"):
            backends.backend = make_backend()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            wait = backends.backend.try_acquire(key, rate, 1)
            if wait <= 0:
                return True
            time.sleep(wait)
        return False

    stamps = _acquire_from_threads(acquire, threads=4, per_thread=12)

    assert len(stamps) == 48
    assert _max_in_any_second(stamps) <= rate * 1.5


def test_the_configured_store_is_redis_exactly_when_redis_url_is_set():
    expected = RedisRateBackend if settings.REDIS_URL else LocalRateBackend
    assert isinstance(throttle.backend(), expected)


@pytest.mark.django_db
def test_number_throughput_follows_the_numbers_setting():
    number = NumberFactory(phone_number_id=f"pn-{uuid.uuid4().hex[:12]}", throughput_mps=1, is_default=False)

    assert number_throughput_acquire(number=number, timeout=0) is True
    assert number_throughput_acquire(number=number, timeout=0) is False


class _FakeClock:
    """Time for the pacer alone: `sleep` moves it on, and each sleeper wakes late by the
    next of `lateness` (a caller that overshoots, waits for the GIL, or writes first)."""

    def __init__(self, lateness: list[float]) -> None:
        self.now, self.lateness, self.calls = 1000.0, lateness, 0

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.calls += 1
        self.now += seconds + self.lateness[self.calls % len(self.lateness)]


@pytest.mark.django_db
def test_number_pacer_keeps_its_schedule_for_late_callers_and_every_second_stays_under_the_limit(monkeypatch):
    monkeypatch.setattr(settings, "REDIS_URL", "")
    monkeypatch.setattr(throttle, "_backend", LocalRateBackend())
    monkeypatch.setattr(throttle, "_backend_url", "")
    clock = _FakeClock([0.0, 0.03, 0.09, 0.01, 0.06])  # each under one interval (0.11 s at 9/s)
    monkeypatch.setattr(throttle, "time", clock)
    number = NumberFactory(phone_number_id=f"pn-{uuid.uuid4().hex[:12]}", throughput_mps=12, is_default=False)

    stamps = []
    for _ in range(200):
        assert number_throughput_acquire(number=number, timeout=5) is True
        stamps.append(clock.now)

    assert _max_in_any_second(stamps) <= 10  # the number's 12 less two, whatever the lateness
    # Paced at 12 - 3 = 9/s, and no late caller pushed the schedule back: 199 intervals.
    assert stamps[-1] - stamps[0] <= 199 / 9 + 0.1


@pytest.mark.parametrize("make_backend", [make for _, make in _STORES], ids=[name for name, _ in _STORES])
def test_the_send_window_holds_at_most_its_limit_in_any_period_of_the_store(make_backend):
    key, backend, period = _key(), make_backend(), 0.3
    assert [backend.window_try(key, 3, period) for _ in range(3)] == [0.0, 0.0, 0.0]
    wait = backend.window_try(key, 3, period)
    assert 0 < wait <= period  # full: nothing recorded, the wait says when the oldest leaves
    time.sleep(wait + 0.02)  # the three recorded together have left together
    assert [backend.window_try(key, 3, period) for _ in range(4)] == [0.0, 0.0, 0.0, pytest.approx(period, abs=0.1)]


@pytest.mark.django_db
def test_sends_that_leave_late_and_together_are_spread_over_the_window(monkeypatch):
    """Sends whose slots were spaced but which left together (each delayed by a database
    write after its slot) pass the window one by one: never more than the rate less one in
    any window, counted as they leave."""
    monkeypatch.setattr(settings, "REDIS_URL", "")
    monkeypatch.setattr(throttle, "_backend", LocalRateBackend())
    monkeypatch.setattr(throttle, "_backend_url", "")
    clock = _FakeClock([0.0])
    monkeypatch.setattr(throttle, "time", clock)
    number = NumberFactory(phone_number_id=f"pn-{uuid.uuid4().hex[:12]}", throughput_mps=12, is_default=False)

    left = []
    for _ in range(40):  # all ready at once, as a stalled batch would be
        assert throttle.number_send_window(number=number) is True
        left.append(clock.now)

    assert clock.calls > 0
    windows = [sum(1 for t in left if start <= t < start + throttle.SEND_WINDOW_SECONDS) for start in left]
    assert max(windows) == 11  # the number's 12 less one
    assert left[11] - left[0] == pytest.approx(throttle.SEND_WINDOW_SECONDS)  # the twelfth waited for the first


@pytest.mark.django_db
def test_the_send_window_gives_up_waiting_after_its_bound(monkeypatch):
    monkeypatch.setattr(settings, "REDIS_URL", "")
    full = LocalRateBackend()
    monkeypatch.setattr(throttle, "_backend", full)
    monkeypatch.setattr(throttle, "_backend_url", "")
    monkeypatch.setattr(throttle, "SEND_WINDOW_MAX_WAIT", 0.0)
    number = NumberFactory(phone_number_id=f"pn-{uuid.uuid4().hex[:12]}", throughput_mps=2, is_default=False)

    assert throttle.number_send_window(number=number) is True
    assert throttle.number_send_window(number=number) is False  # full, and no time to wait


@pytest.mark.django_db
def test_an_unreachable_store_does_not_hold_a_claimed_send(monkeypatch):
    monkeypatch.setattr(settings, "REDIS_URL", "redis://127.0.0.1:1/0")  # nothing listens there
    monkeypatch.setattr(throttle, "_backend", None)
    monkeypatch.setattr(throttle, "_backend_url", None)
    number = NumberFactory(phone_number_id=f"pn-{uuid.uuid4().hex[:12]}", is_default=False)

    assert throttle.number_send_window(number=number) is False
