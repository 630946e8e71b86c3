"""A Celery worker's database connections between tasks, against a real PostgreSQL pool: a
task gives its connection back to the child's pool and the next task takes one from the
same pool (Celery's Django fixup alone closes the pool around every task, so each task
opened a new server connection)."""

from __future__ import annotations

import os
from types import SimpleNamespace

import pytest
from celery import signals
from celery.fixups.django import DjangoWorkerFixup
from django.db import connection

from config.celery import app

ON_POSTGRES = os.environ.get("DATABASE_URL", "").startswith(("postgres://", "postgresql://"))

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.skipif(not ON_POSTGRES, reason="needs PostgreSQL: DATABASE_URL is not a postgres:// URL"),
    pytest.mark.django_db(transaction=True),
]


class _Task:
    """What the signals' handlers read of a task: its request."""

    def __init__(self, eager: bool) -> None:
        self.request = SimpleNamespace(is_eager=eager)


def _task_ran(fixup: DjangoWorkerFixup) -> None:
    """What a prefork child does around one task: the fixup's and our signal handlers."""
    task = _Task(eager=False)
    fixup.on_task_prerun(task)
    signals.task_prerun.send(sender=task)
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    fixup.on_task_postrun(task)
    signals.task_postrun.send(sender=task)


def test_tasks_in_a_prefork_child_reuse_one_pool_and_return_their_connection():
    fixup = DjangoWorkerFixup(app)
    fixup.worker = SimpleNamespace(pool_cls="celery.concurrency.prefork:TaskPool")
    connection.close()
    connection.close_pool()

    _task_ran(fixup)
    pool = connection.pool
    opened = pool.get_stats().get("connections_num", 0)
    for _ in range(3):
        _task_ran(fixup)

    assert connection.pool is pool  # not closed and reopened around each task
    assert connection.connection is None  # given back after the task
    assert pool.get_stats().get("connections_num", 0) == opened  # no new server connection for later tasks


def test_an_eager_task_leaves_the_callers_connection_alone():
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    held = connection.connection
    task = _Task(eager=True)
    signals.task_postrun.send(sender=task)
    assert connection.connection is held
