"""Enqueue tasks after commit, by name, in the mode the settings choose.

Services call `enqueue_on_commit(task_names.NAME, key=value)` with the task's registered
name from `config.task_names`; nothing is enqueued for a rolled-back write. Tasks take ids as keyword arguments, re-fetch and call one service,
so running one twice is harmless.

Modes (`settings.TASKS_MODE`):
- ``celery``: published to the broker with a single quick attempt. If the broker is down
  the error is logged and the periodic sweeps find the work again from the database.
  Outside a worker the publish happens on one long-lived thread per process, which
  may merge small tasks (config.publisher): a request hands its tasks over and answers.
- ``thread``: run in this process on a small pool (the embedded single-process default;
  it keeps a request from waiting on work that may call back into the same server).
- ``inline``: run in the committing thread right after commit (tests).

`unique=True` marks a task that does all there is to do when it runs (draining a queue):
a copy dispatched while an identical one still waits to start is not queued again, since
the waiting one will see its work (thread mode: until the copy starts; Celery mode: the
copies waiting together in the publisher go out as one).
"""

from __future__ import annotations

import atexit
import importlib
import logging
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from celery import current_app, current_task
from django.conf import settings
from django.db import connections, transaction

from config import task_names
from config.publisher import Publisher, Task, unique_key

log = logging.getLogger(__name__)

_pool: ThreadPoolExecutor | None = None
_outbound_pool: ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()
# Thread mode: tasks that wait on the business's servers (an outgoing webhook may take its
# whole timeout) run on a pool of their own, so a slow endpoint never delays bot replies,
# deliveries to WhatsApp or routing.
OUTBOUND_TASKS = frozenset({task_names.WEBHOOK_DELIVER})


def _thread_pool(name: str = "") -> ThreadPoolExecutor:
    global _pool, _outbound_pool
    with _pool_lock:
        if name in OUTBOUND_TASKS:
            if _outbound_pool is None:
                _outbound_pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="handoff-outbound")
            return _outbound_pool
        if _pool is None:
            _pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="handoff-task")
        return _pool


def run_now(name: str, kwargs: dict[str, Any]) -> None:
    """Run a registered task in this thread, with Celery's retry semantics emulated by `apply`."""
    if name not in current_app.tasks:
        # Task modules are imported on first use in the web process (workers import
        # them at start from CELERY_IMPORTS and autodiscovery).
        importlib.import_module(name.rsplit(".", 1)[0])
    task = current_app.tasks[name]
    result = task.apply(kwargs=kwargs)
    if result.failed():
        log.error("task %s%r failed: %s", name, kwargs, result.result)


def _release_connections() -> None:
    """After a task on a pool thread. The pool's threads live on, like a worker's: an
    SQLite connection back in autocommit is kept for the thread's next task (opening
    one, with its pragmas and functions, costs more than most tasks' queries); any
    other is closed, and server connections go back to their pool."""
    for conn in connections.all(initialized_only=True):
        if conn.vendor == "sqlite" and conn.connection is not None and conn.get_autocommit():
            continue
        conn.close()


_waiting: set[tuple] = set()  # unique tasks submitted to the pool and not started yet


def _run_in_thread(name: str, kwargs: dict[str, Any], countdown: float, unique: tuple | None = None) -> None:
    if countdown:
        threading.Event().wait(countdown)
    if unique is not None:
        with _pool_lock:  # from here a new copy is queued again: this run may have read too early for it
            _waiting.discard(unique)
    try:
        run_now(name, kwargs)
    finally:
        _release_connections()


def _publish(task: Task) -> None:
    try:
        current_app.send_task(task.name, kwargs=task.kwargs, countdown=task.countdown or None, retry=False)
    except Exception:  # the broker is down or slow: the sweeps recover from the database
        log.exception("could not publish task %s; a sweep will pick the work up", task.name)


publisher = Publisher(_publish, linger=lambda: settings.TASKS_COALESCE_SECONDS)
atexit.register(publisher.flush, 2.0)


def dispatch(name: str, kwargs: dict[str, Any] | None = None, countdown: float = 0, coalesce: str = "",
             unique: bool = False) -> None:
    """Send a task now (outside any transaction): used by on-commit hooks and sweeps.
    `coalesce`: see config.publisher (it matters only where tasks are published);
    `unique`: see the module."""
    kwargs = kwargs or {}
    mode = settings.TASKS_MODE
    if mode == "inline":
        run_now(name, kwargs)
    elif mode == "thread":
        key = unique_key(name, kwargs, countdown) if unique else None
        if key is not None:
            with _pool_lock:
                if key in _waiting:
                    return
                _waiting.add(key)
        _thread_pool(name).submit(_run_in_thread, name, kwargs, countdown, key)
    elif current_task:  # a worker's thread lives on: publish from it, in order
        _publish(Task(name, kwargs, countdown))
    else:
        publisher.submit(Task(name, kwargs, countdown, coalesce, unique))


def enqueue_on_commit(name: str, /, countdown: float = 0, coalesce: str = "", unique: bool = False,
                      **kwargs: Any) -> None:
    """Dispatch task `name` with `kwargs` once the current transaction commits."""
    transaction.on_commit(lambda: dispatch(name, kwargs, countdown, coalesce, unique))
