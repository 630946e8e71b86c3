"""Publishing tasks in Celery mode: outside a worker, on the process's publisher thread,
with small tasks dispatched together merged into one message."""

from __future__ import annotations

import os
import socket
import threading

import pytest
from celery import shared_task
from django.db import connection, connections

from config import tasking
from config.publisher import Task, coalesced
from config.tasking import _run_in_thread, dispatch, publisher
from conversations.models import Message, WebhookEvent
from conversations.tasks import process_webhook_events
from tests.support import intake as intake_support
from tests.support import webhooks

broker_at = intake_support.broker_at
broker_queue = intake_support.broker_queue


def test_published_tasks_reach_the_broker_in_the_order_dispatched(broker_queue):
    for i in range(3):
        dispatch("conversations.tasks.process_webhook_event", {"event_id": i})

    assert broker_queue.published() == [("conversations.tasks.process_webhook_event", {"event_id": i}) for i in range(3)]


@pytest.fixture
def stalled_broker():
    """A TCP server that accepts connections and never answers, until released."""
    server = socket.create_server(("127.0.0.1", 0))
    accepted: list[socket.socket] = []
    release = threading.Event()

    def serve() -> None:
        server.settimeout(10)
        try:
            conn, _ = server.accept()
        except OSError:
            return
        accepted.append(conn)
        release.wait(10)
        conn.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield server.getsockname()[1], release, accepted
    release.set()
    thread.join(5)
    server.close()


def test_dispatch_returns_while_the_broker_has_not_answered(broker_at, stalled_broker, caplog):
    port, release, accepted = stalled_broker
    broker_at(f"redis://127.0.0.1:{port}/0")

    dispatch("conversations.tasks.process_webhook_event", {"event_id": 1})

    # The caller is back; the publish is still waiting on the broker.
    assert publisher.flush(timeout=0.5) is False
    release.set()
    assert publisher.flush(timeout=15) is True
    assert accepted, "the publisher never reached the broker"
    assert "could not publish task conversations.tasks.process_webhook_event" in caplog.text


def test_a_forked_process_publishes_from_a_thread_of_its_own(broker_queue):
    dispatch("conversations.tasks.process_webhook_event", {"event_id": 1})
    assert broker_queue.published()  # the parent's publisher thread is running

    pid = os.fork()
    if pid == 0:  # the child: the parent's thread did not survive the fork
        ok = False
        try:
            dispatch("conversations.tasks.process_webhook_event", {"event_id": 2})
            ok = publisher.flush(timeout=5)
        finally:
            os._exit(0 if ok else 1)
    _, status = os.waitpid(pid, 0)

    assert os.waitstatus_to_exitcode(status) == 0


def test_coalescing_tasks_go_out_at_once_after_a_quiet_spell_then_together(broker_queue, settings):
    settings.TASKS_COALESCE_SECONDS = 5.0
    dispatch("conversations.tasks.process_webhook_events", {"event_ids": [1]}, coalesce="event_ids")
    assert broker_queue.published() == [("conversations.tasks.process_webhook_events", {"event_ids": [1]})]

    # Within the linger of that message: held, and merged with what follows.
    dispatch("conversations.tasks.process_webhook_events", {"event_ids": [2]}, coalesce="event_ids")
    dispatch("agents.tasks.route", {"conversation_id": 7})
    dispatch("conversations.tasks.process_webhook_events", {"event_ids": [3, 4]}, coalesce="event_ids")

    assert broker_queue.published() == [
        ("conversations.tasks.process_webhook_events", {"event_ids": [2, 3, 4]}),
        ("agents.tasks.route", {"conversation_id": 7}),
    ]


def test_tasks_merge_only_with_the_same_name_countdown_and_other_arguments():
    tasks = [
        Task("a", {"ids": [1], "team": 1}, coalesce="ids"),
        Task("a", {"ids": [2], "team": 2}, coalesce="ids"),
        Task("a", {"ids": [3], "team": 1}, coalesce="ids"),
        Task("a", {"ids": [4], "team": 1}, countdown=5, coalesce="ids"),
        Task("b", {"ids": [5], "team": 1}, coalesce="ids"),
        Task("a", {"ids": [6], "team": 1}),
        Task("a", {"ids": [7], "team": 1}),
    ]

    merged = [(t.name, t.kwargs, t.countdown) for t in coalesced(tasks)]

    assert merged == [
        ("a", {"ids": [1, 3], "team": 1}, 0),
        ("a", {"ids": [2], "team": 2}, 0),
        ("a", {"ids": [4], "team": 1}, 5),
        ("b", {"ids": [5], "team": 1}, 0),
        ("a", {"ids": [6], "team": 1}, 0),
        ("a", {"ids": [7], "team": 1}, 0),
    ]
    assert tasks[0].kwargs == {"ids": [1], "team": 1}  # what was dispatched is not changed


def test_copies_of_a_unique_task_waiting_together_go_out_once():
    tasks = [
        Task("drain", {"team_id": 1}, unique=True),
        Task("drain", {"team_id": 2}, unique=True),
        Task("other", {"team_id": 1}),
        Task("drain", {"team_id": 1}, unique=True),
        Task("drain", {"team_id": 1}, countdown=5, unique=True),
        Task("other", {"team_id": 1}),
    ]

    out = [(t.name, t.kwargs, t.countdown) for t in coalesced(tasks)]

    assert out == [
        ("drain", {"team_id": 1}, 0),
        ("drain", {"team_id": 2}, 0),
        ("other", {"team_id": 1}, 0),
        ("drain", {"team_id": 1}, 5),
        ("other", {"team_id": 1}, 0),
    ]


def test_a_unique_task_in_thread_mode_is_queued_once_until_it_starts(settings, monkeypatch):
    """A burst of handoffs asks for the same queue drain hundreds of times: one waiting drain
    serves them all; once it has started, the next ask queues a new one (the running drain
    may have read the queue before that handoff committed)."""
    settings.TASKS_MODE = "thread"
    submitted: list[tuple] = []

    class Pool:
        def submit(self, fn, *args):
            submitted.append((fn, args))

    ran: list[tuple[str, dict]] = []
    monkeypatch.setattr(tasking, "_thread_pool", lambda name="": Pool())
    monkeypatch.setattr(tasking, "run_now", lambda name, kwargs: ran.append((name, kwargs)))
    monkeypatch.setattr(tasking, "_release_connections", lambda: None)

    for _ in range(3):
        dispatch("agents.tasks.queue_drain", {"team_id": 1}, unique=True)
    dispatch("agents.tasks.queue_drain", {"team_id": 2}, unique=True)
    dispatch("agents.tasks.queue_drain", {"team_id": 1})  # not unique: always queued
    assert [args[1] for _fn, args in submitted] == [{"team_id": 1}, {"team_id": 2}, {"team_id": 1}]

    first, args = submitted[0]
    first(*args)  # the waiting drain starts
    dispatch("agents.tasks.queue_drain", {"team_id": 1}, unique=True)

    assert ran == [("agents.tasks.queue_drain", {"team_id": 1})]
    assert [args[1] for _fn, args in submitted] == [{"team_id": 1}, {"team_id": 2}, {"team_id": 1}, {"team_id": 1}]
    submitted[1][0](*submitted[1][1])  # the others leave nothing waiting behind
    submitted[3][0](*submitted[3][1])
    assert tasking._waiting == set()


@pytest.mark.django_db(transaction=True)
def test_webhooks_stored_together_are_processed_by_one_published_task(client, number, broker_queue, settings):
    settings.TASKS_COALESCE_SECONDS = 5.0
    assert webhooks.post(client, webhooks.text_payload("message 0")).status_code == 200
    first = broker_queue.published()
    for i in range(1, 4):
        assert webhooks.post(client, webhooks.text_payload(f"message {i}")).status_code == 200

    published = broker_queue.published()

    ids = list(WebhookEvent.objects.order_by("pk").values_list("pk", flat=True))
    assert first == [("conversations.tasks.process_webhook_events", {"event_ids": ids[:1]})]
    assert published == [("conversations.tasks.process_webhook_events", {"event_ids": ids[1:]})]
    assert process_webhook_events(ids) == ["processed"] * 4
    assert sorted(Message.objects.values_list("text", flat=True)) == [f"message {i}" for i in range(4)]
    assert process_webhook_events(ids + [10**9]) == ["skipped"] * 5


@shared_task(name="tests.test_tasking.probe")
def probe(fail: bool = False) -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT no_such_column FROM no_such_table" if fail else "SELECT 1")


def _connection_after_pool_tasks(*failing: bool) -> list[object | None]:
    """Run `probe` tasks one after another on one thread as the pool does; after each,
    the raw connection the thread still holds (None when closed)."""
    held: list[object | None] = []

    def body() -> None:
        for fail in failing:
            _run_in_thread("tests.test_tasking.probe", {"fail": fail}, 0)
            held.append(connections["default"].connection)
        connections.close_all()

    thread = threading.Thread(target=body)
    thread.start()
    thread.join(30)
    return held


@pytest.mark.django_db(transaction=True)
def test_a_pool_thread_keeps_a_healthy_sqlite_connection_and_returns_server_ones():
    first, second = _connection_after_pool_tasks(False, False)

    if connection.vendor == "sqlite":
        assert first is not None and second is first  # reused by the thread's next task
    else:
        assert first is None and second is None  # back in the pool after every task


@pytest.mark.django_db(transaction=True)
def test_the_task_after_a_failed_one_runs_on_a_working_connection(caplog):
    held = _connection_after_pool_tasks(True, False)

    assert "no_such_table" in caplog.text
    assert caplog.text.count("task tests.test_tasking.probe") == 1  # the second one ran
    if connection.vendor != "sqlite":
        assert held == [None, None]


def test_a_stalled_broker_keeps_a_bounded_queue_and_says_what_it_drops(caplog):
    from config.publisher import Publisher

    release = threading.Event()
    publishing = threading.Event()
    sent: list[str] = []

    def publish(task: Task) -> None:
        publishing.set()
        release.wait(5)
        sent.append(task.name)

    stalled = Publisher(publish, linger=lambda: 0.0)
    stalled.MAX_PENDING = 2
    stalled.submit(Task("first", {}))
    # The first is being published and the broker has "stalled": the publisher thread is
    # inside publish(), past taking from the queue (an empty queue alone could mean it is
    # still gathering what arrives next).
    assert publishing.wait(5)
    for name in ("second", "third", "fourth"):
        stalled.submit(Task(name, {}))
    release.set()

    assert stalled.flush(timeout=5)
    assert sent == ["first", "second", "third"]
    assert "fourth is dropped for the sweeps" in caplog.text
