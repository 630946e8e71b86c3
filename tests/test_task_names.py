"""Task names: every name in config/task_names.py is a registered task, the periodic
schedule names only those, and no code enqueues a task by a string literal (a misspelt
literal would only fail in a worker, long after the write that enqueued it)."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

from celery import current_app
from django.conf import settings

from config import task_names
from tests.test_structure import project_sources

ROOT = Path(__file__).resolve().parent.parent
ENQUEUERS = {"enqueue_on_commit", "dispatch", "send_task", "run_now"}
# The enqueueing mechanism itself passes names through.
MECHANISM = {Path("config/tasking.py")}


def _names() -> dict[str, str]:
    return {const: value for const, value in vars(task_names).items() if const.isupper()}


def test_every_task_name_is_a_registered_task_of_its_module():
    for const, name in _names().items():
        module = name.rsplit(".", 1)[0]
        importlib.import_module(module)
        assert name in current_app.tasks, f"{const} = {name!r} names no task"
        assert current_app.tasks[name].run.__module__ == module


def test_task_names_are_unique_and_the_schedule_uses_them():
    names = list(_names().values())
    assert len(names) == len(set(names))
    assert set(settings.PERIODIC_TASKS) <= set(names)
    assert all(entry["task"] in names for entry in settings.CELERY_BEAT_SCHEDULE.values())


def _literal_enqueues(source: str, where: str) -> list[str]:
    found = []
    tree = ast.parse(source, filename=where)
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call) or not node.args:
            continue
        func = node.func
        called = func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else ""
        first = node.args[0]
        literal = (isinstance(first, ast.Constant) and isinstance(first.value, str)) or isinstance(first, ast.JoinedStr)
        if called in ENQUEUERS and literal:
            found.append(f"{where}:{node.lineno}")
    return found


def test_no_code_enqueues_a_task_by_a_string_literal():
    offenders = []
    for path in project_sources():
        if path.relative_to(ROOT) in MECHANISM:
            continue
        offenders += _literal_enqueues(path.read_text(), str(path.relative_to(ROOT)))
    assert offenders == [], "enqueue by config.task_names constants: " + ", ".join(offenders)


def test_the_scan_sees_a_literal_name_and_passes_a_constant():
    source = (
        'enqueue_on_commit("agents.tasks.queue_drain", team_id=None)\n'
        'dispatch(f"{prefix}.post_read_status", {})\n'
        "enqueue_on_commit(task_names.QUEUE_DRAIN, team_id=None)\n"
    )
    assert _literal_enqueues(source, "sample.py") == ["sample.py:1", "sample.py:2"]
