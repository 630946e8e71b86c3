"""The per-process publisher thread of Celery mode, and the coalescing of small tasks.

Under daphne each request runs its sync code in a thread of its own, where Celery's
per-thread state (producer, result backend, thread id) is cold and a publish costs
several times what it costs on a thread that lives on. So requests hand their tasks to
one long-lived thread per process, which publishes them; the broker's round trip stays
out of the request too.

A task dispatched with `coalesce="<kwarg>"` names a list-valued keyword argument: such
tasks with the same name, countdown and other arguments that wait in the publisher
together go out as one message with the lists joined (webhook intake: one processing
task for the events stored in those milliseconds). Like Nagle's algorithm, the first
after a quiet spell goes out at once, and under a steady stream coalescing messages go
out at most once every `settings.TASKS_COALESCE_SECONDS`, so a busy process sends a few
large messages rather than many small ones. Other tasks go out one message each, in the
order dispatched.

A task dispatched with `unique=True` (a sweep-like task that does all there is to do when
it runs, such as draining a queue) goes out once however many identical copies wait here
together: the one that goes out does the work of all.

A task still queued here when the process dies is found again by the sweeps, as when
the broker is down; at a normal exit the queue is drained first. While MAX_PENDING tasks
wait (the broker is down or slow), new ones are dropped with an error logged: the sweeps
find their work in the database too.
"""

from __future__ import annotations

import logging
import os
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

log = logging.getLogger(__name__)

MAX_BATCH = 200  # tasks taken from the queue per message round


@dataclass
class Task:
    name: str
    kwargs: dict[str, Any]
    countdown: float = 0
    coalesce: str = ""
    unique: bool = False
    key: tuple = field(init=False)

    def __post_init__(self) -> None:
        if self.coalesce:
            rest = sorted((k, repr(v)) for k, v in self.kwargs.items() if k != self.coalesce)
            self.key = (self.name, self.countdown, self.coalesce, tuple(rest))
        elif self.unique:
            self.key = unique_key(self.name, self.kwargs, self.countdown)
        else:
            self.key = (id(self),)


def unique_key(name: str, kwargs: dict[str, Any], countdown: float = 0) -> tuple:
    """What makes two copies of a `unique` task the same task."""
    return (name, countdown, "unique", tuple(sorted((k, repr(v)) for k, v in kwargs.items())))


def coalesced(tasks: list[Task]) -> list[Task]:
    """`tasks` with coalescing ones merged into the first of their kind and copies of a
    unique one dropped, order kept."""
    out: dict[tuple, Task] = {}
    for task in tasks:
        merged = out.get(task.key)
        if merged is None:
            kwargs = dict(task.kwargs)
            if task.coalesce:
                kwargs[task.coalesce] = list(kwargs[task.coalesce])
            out[task.key] = Task(task.name, kwargs, task.countdown, task.coalesce, task.unique)
        elif task.coalesce:
            merged.kwargs[task.coalesce].extend(task.kwargs[task.coalesce])
    return list(out.values())


class Publisher:
    """One publishing thread per process (started on first use, again after a fork)."""

    MAX_PENDING = 10_000

    def __init__(self, publish: Callable[[Task], None], linger: Callable[[], float]) -> None:
        self._publish = publish
        self._linger = linger
        self._lock = threading.Lock()
        self._queue: queue.SimpleQueue | None = None
        self._pid = 0
        self._last_coalesced = 0.0  # when a coalescing message last went out

    def submit(self, task: Task) -> None:
        with self._lock:
            if self._pid != os.getpid():
                self._queue = queue.SimpleQueue()
                self._pid = os.getpid()
                threading.Thread(target=self._run, args=(self._queue,), name="handoff-publisher", daemon=True).start()
            work = self._queue
        assert work is not None
        if work.qsize() >= self.MAX_PENDING:
            log.error("tasks are not going out (%d waiting); %s is dropped for the sweeps", work.qsize(), task.name)
            return
        work.put(task)

    def flush(self, timeout: float = 5.0) -> bool:
        """Wait until everything submitted so far is published (or has failed)."""
        with self._lock:
            work = self._queue if self._pid == os.getpid() else None
        if work is None:
            return True
        done = threading.Event()
        work.put(done)
        return done.wait(timeout)

    def _run(self, work: queue.SimpleQueue) -> None:
        while True:
            items = self._take(work)
            pending: list[Task] = []
            for item in items:
                if isinstance(item, threading.Event):  # a flush: all before it goes out first
                    self._send(pending)
                    pending = []
                    item.set()
                else:
                    pending.append(item)
            self._send(pending)

    def _take(self, work: queue.SimpleQueue) -> list[Task | threading.Event]:
        """The next item and what is queued behind it; if it may coalesce and the last
        coalescing message went out less than the linger ago, what arrives until then."""
        items = [work.get()]
        first = items[0]
        deadline = self._last_coalesced + self._linger() if isinstance(first, Task) and first.coalesce else 0.0
        while len(items) < MAX_BATCH:
            try:
                remaining = deadline - time.monotonic()
                item = work.get(timeout=remaining) if remaining > 0 else work.get_nowait()
            except queue.Empty:
                break
            items.append(item)
            if isinstance(item, threading.Event):
                break
        return items

    def _send(self, tasks: list[Task]) -> None:
        for task in coalesced(tasks):
            try:
                self._publish(task)
            except Exception:  # never let one task stop the thread
                log.exception("could not publish task %s", task.name)
            if task.coalesce:
                self._last_coalesced = time.monotonic()
