"""Publishing desk events from synchronous code: every event reaches its groups, in order,
from any thread, on whichever channel layer is configured (Redis in CI)."""

from __future__ import annotations

import threading

from django.db import transaction

from config.realtime import broadcast_on_commit, publish
from tests.support.intake import DeskListener


def test_events_published_from_many_threads_all_arrive_in_order_per_thread(db):
    listener = DeskListener(["team.9001"])
    try:

        def send(worker: int) -> None:
            for n in range(5):
                publish(["team.9001", "team.9001"], {"type": "queue.updated", "worker": worker, "n": n})

        threads = [threading.Thread(target=send, args=(w,)) for w in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        events = listener.events()
    finally:
        listener.close()

    assert len(events) == 20  # a group named twice receives the event once
    for worker in range(4):
        assert [e["n"] for e in events if e["worker"] == worker] == [0, 1, 2, 3, 4]


def test_nothing_is_published_for_a_rolled_back_write(transactional_db):
    listener = DeskListener(["team.9002"])
    try:
        try:
            with transaction.atomic():
                broadcast_on_commit(["team.9002"], {"type": "queue.updated"})
                raise RuntimeError("write failed")
        except RuntimeError:
            pass
        with transaction.atomic():
            broadcast_on_commit(["team.9002"], {"type": "conversation.updated"})
        events = listener.events()
    finally:
        listener.close()

    assert [e["type"] for e in events] == ["conversation.updated"]


def test_a_stalled_layer_keeps_a_bounded_queue_and_says_what_it_drops(caplog):
    import asyncio

    from config.realtime import _PublisherLoop

    loop = _PublisherLoop()
    loop.MAX_PENDING = 2
    release = threading.Event()
    started = threading.Event()
    sent: list[str] = []

    def sender(name: str):
        async def send() -> None:
            started.set()
            while name == "first" and not release.is_set():
                await asyncio.sleep(0.01)
            sent.append(name)

        return send

    loop.submit(sender("first"))
    # The first is being sent (taken off the queue), the layer "stalled"; the drain flag
    # alone is set before the drain has taken it.
    assert started.wait(5)
    for name in ("second", "third", "fourth"):
        loop.submit(sender(name))
    release.set()

    assert loop.flush(timeout=5)
    assert sent == ["first", "second", "third"]
    assert "desk events are not going out" in caplog.text
