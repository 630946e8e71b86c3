"""Scale-out, tested: the production shape started for real (tests/e2e/scale_out_support.py).

Two daphne processes, a Celery worker and Celery beat on PostgreSQL and a private Redis;
a real local HTTP server plays the Graph API. Customers' signed webhooks go to both
daphne processes; the agent's desk socket on one process receives the frames of messages
that came in through the other; a reply from the API goes out once; the worker is killed
with SIGKILL in the middle of a batch of replies and, once restarted, every reply has gone
out exactly once; Redis is stopped for a few seconds while webhooks keep arriving at both
processes, which answer 200, and every event is stored and processed once Redis is back.

Runs when DATABASE_URL names PostgreSQL and REDIS_URL is set (as in CI); it needs
`redis-server` on PATH (`make test` installs it) and starts one of its own on a free port:
the configured Redis is never touched.
"""

from __future__ import annotations

import os
import shutil
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.e2e.scale_out_support import (
    AGENT,
    AGENT_PASSWORD,
    DeskSocket,
    Shape,
    customer_message,
    post_webhook,
    wait_until,
)

DATABASE_URL = os.environ.get("DATABASE_URL", "")
CONFIGURED = DATABASE_URL.startswith(("postgres://", "postgresql://")) and bool(os.environ.get("REDIS_URL"))

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.postgres,
    pytest.mark.skipif(
        not CONFIGURED,
        reason="the scale-out test runs the production shape: set DATABASE_URL to a PostgreSQL URL and "
        "REDIS_URL (as .ci/run does)",
    ),
]

CUSTOMERS = [(f"1555020{i:04d}", f"Customer {i}") for i in range(10)]
NEWCOMERS = [(f"1555030{i:04d}", f"Newcomer {i}") for i in range(2)]
BATCH_ROUNDS = 3  # replies per conversation in the batch: 30 in all
SETTLED = ("sent", "delivered", "read")


@pytest.fixture
def shape(tmp_path, request):
    if not shutil.which("redis-server"):
        pytest.fail(
            "DATABASE_URL and REDIS_URL are set, so the scale-out test runs, and it needs redis-server on "
            "PATH to start a Redis of its own (`make test` installs it; or apt-get install redis-server)."
        )
    shape = Shape(tmp_path, DATABASE_URL)
    failed_before = request.session.testsfailed
    failed = True
    try:
        shape.start()
        yield shape
        failed = request.session.testsfailed > failed_before
    finally:
        shape.stop(drop_database=not failed)
        if failed:
            print(f"\nThe last lines of each process's log ({tmp_path}):\n{shape.processes.logs()}")


def _outbound(db, texts=None) -> list[tuple[int, str, str, str | None]]:
    """(id, text, status, wamid) of every message sent to customers (or those with `texts`)."""
    sql = (
        "SELECT id, text, status, provider_message_id FROM conversations_message "
        "WHERE direction = 'out' AND internal = false"
    )
    if texts is None:
        return db.rows(sql + " ORDER BY id")
    return db.rows(sql + " AND text = ANY(%s) ORDER BY id", (list(texts),))


def _conversations(db) -> dict[str, tuple[int, str, int | None]]:
    """wa_id -> (conversation id, status, assignee id) of every open conversation."""
    rows = db.rows(
        "SELECT ct.wa_id, c.id, c.status, c.assignee_id FROM conversations_conversation c "
        "JOIN conversations_contact ct ON ct.id = c.contact_id WHERE c.status <> 'resolved'"
    )
    return {wa_id: (cid, status, assignee) for wa_id, cid, status, assignee in rows}


def _stored(db, wamids) -> set[str]:
    rows = db.rows("SELECT provider_message_id FROM conversations_message WHERE provider_message_id = ANY(%s)", (list(wamids),))
    return {r[0] for r in rows}


def _event_states(db) -> dict[str, int]:
    return dict(db.rows("SELECT state, count(*) FROM conversations_webhookevent GROUP BY state"))


def _new_message_frames(socket, texts):
    return lambda: {
        f["message"]["text"]
        for f in socket.matching(lambda f: f.get("type") == "message.created")
        if f["message"]["text"] in texts
    } >= set(texts)


def test_two_daphnes_a_worker_and_beat_lose_nothing_and_send_nothing_twice(shape):
    a, b, graph, db = shape.a, shape.b, shape.graph, shape.db

    # The agent comes online through the API on A and opens the desk on A.
    online = a.api("PATCH", "agents/me/", shape.token, json={"presence": "online"})
    assert online.status_code == 200, online.text
    session = a.sign_in(AGENT, AGENT_PASSWORD)
    desk = DeskSocket(a, session)
    assert desk.hello["user"]["id"] == shape.agent_id

    # --- 1. Customers write in through B; with no bot, each goes to the agent. ---------------
    for wa_id, name in CUSTOMERS:
        _wamid, payload = customer_message(f"Hello from {name}, I need help", wa_id=wa_id, name=name)
        assert post_webhook(b.webhook_url, payload) == 200
    customer_ids = {wa_id for wa_id, _ in CUSTOMERS}
    wait_until(
        lambda: {
            f["conversation"]["contact"]["wa_id"]
            for f in desk.matching(lambda f: f.get("type", "").startswith("conversation."))
            if f["conversation"]["assignee"] == shape.agent_id
        }
        >= customer_ids,
        timeout=60,
        what="the desk socket on A to hear of every conversation assigned to the agent",
        state=lambda: _conversations(db),
    )
    conversations = _conversations(db)
    assert {conversations[w][1:] for w in customer_ids} == {("assigned", shape.agent_id)}

    # Their next messages come in through both processes; all reach the socket on A.
    second = {}
    for i, (wa_id, name) in enumerate(CUSTOMERS):
        text = f"{name} again, via {'A' if i % 2 else 'B'}"
        _wamid, payload = customer_message(text, wa_id=wa_id, name=name)
        assert post_webhook((a if i % 2 else b).webhook_url, payload) == 200
        second[text] = wa_id
    wait_until(_new_message_frames(desk, second), timeout=30, what="message.created frames on A for every message")
    for text, wa_id in second.items():
        frames = desk.matching(lambda f, t=text: f.get("type") == "message.created" and f["message"]["text"] == t)
        assert {(f["conversation"], f["message"]["direction"]) for f in frames} == {(conversations[wa_id][0], "in")}

    # --- 2. A reply through the API on B goes out once; its frames reach the socket on A. ---
    first_conversation = conversations[CUSTOMERS[0][0]][0]
    reply = b.api("POST", f"conversations/{first_conversation}/messages/", shape.token, json={"text": "Happy to help!"})
    assert reply.status_code == 201, reply.text
    reply_id = reply.json()["id"]
    desk.wait_for(
        lambda f: f.get("type") == "message.created" and f["message"]["id"] == reply_id,
        what="the reply's message.created (published by daphne B) on A",
    )
    desk.wait_for(
        lambda f: f.get("type") == "message.updated" and f["message"]["id"] == reply_id
        and f["message"]["status"] == "delivered",
        timeout=30,
        what="the reply's delivered status on A",
    )
    time.sleep(1.0)
    assert graph.texts()["Happy to help!"] == 1
    [(_, _, status, wamid)] = _outbound(db, ["Happy to help!"])
    assert status == "delivered"
    assert wamid in graph.wamids()

    # --- 3. The worker is killed with SIGKILL in the middle of a batch of replies. -------------
    graph.delay = 0.3
    batch = {
        f"Batch reply {r}-{i}": conversations[wa_id][0]
        for r in range(BATCH_ROUNDS)
        for i, (wa_id, _) in enumerate(CUSTOMERS)
    }

    def post_reply(item):
        n, (text, conversation) = item
        site = a if n % 2 else b
        return site.api("POST", f"conversations/{conversation}/messages/", shape.token, json={"text": text}).status_code

    with ThreadPoolExecutor(4) as pool:
        answers = list(pool.map(post_reply, enumerate(batch.items())))
    assert answers == [201] * len(batch)

    def batch_sent() -> int:
        texts = graph.texts()
        return sum(1 for t in batch if texts[t])

    wait_until(lambda: batch_sent() >= 8 and graph.in_flight() >= 1, timeout=60, every=0.01,
               what="the worker to be in the middle of the batch")
    killed_at = time.monotonic()
    killed = shape.processes.crash("worker")
    sent_before_kill = batch_sent()
    assert len(killed) >= 2, f"the worker and its pool processes: {killed}"
    assert sent_before_kill < len(batch), "the batch had gone out before the worker was killed"
    time.sleep(1.0)
    # Graph accepted these, but the worker died before it heard back.
    orphans = [s for s in graph.sends if s.received_at < killed_at and (s.answered_at or 0) > killed_at]
    assert orphans, "no send was in flight when the worker died"
    graph.delay = 0.05
    shape.start_worker()

    def batch_settled() -> bool:
        rows = _outbound(db, batch)
        return len(rows) == len(batch) and all(status in SETTLED for _, _, status, _ in rows)

    wait_until(batch_settled, timeout=120, every=0.5, what="every reply of the batch to be settled after the restart",
               state=lambda: [(text, status) for _, text, status, _ in _outbound(db, batch) if status not in SETTLED])
    time.sleep(2.0)
    texts, wamids = graph.texts(), graph.wamids()
    twice = {t: texts[t] for t in batch if texts[t] > 1}
    missing = [t for t in batch if texts[t] == 0]
    assert not twice, f"sent more than once: {twice}"
    assert not missing, f"never sent: {missing}"
    for _, text, _, wamid in _outbound(db, batch):
        assert wamids[wamid] == 1, f"{text!r} is stored with a wamid Graph never issued ({wamid})"
    for orphan in orphans:
        stored = db.rows("SELECT status FROM conversations_message WHERE provider_message_id = %s", (orphan.wamid,))
        assert stored and stored[0][0] in SETTLED, f"{orphan.text!r}, accepted as the worker died, is {stored}"

    # --- 4. Redis stops for a few seconds; webhooks keep arriving at both processes. ----------
    bystander = DeskSocket(a, session)  # a second desk on A: one process's sockets share a receiver
    redis_went = time.monotonic()
    shape.redis.stop()
    during = {}
    slowest = 0.0
    for i, (wa_id, name) in enumerate(CUSTOMERS + NEWCOMERS):
        wamid, payload = customer_message(f"{name} writes while Redis is down", wa_id=wa_id, name=name)
        started = time.monotonic()
        answer = post_webhook((a if i % 2 else b).webhook_url, payload)
        slowest = max(slowest, time.monotonic() - started)
        assert answer == 200, f"webhook {i} answered {answer} while Redis was down"
        during[wamid] = wa_id
        time.sleep(0.2)
    while time.monotonic() - redis_went < 4:
        time.sleep(0.1)
    assert slowest < 5, f"a webhook took {slowest:.1f} s to answer while Redis was down"
    # Stored while Redis is still down: one event per webhook answered.
    stored_during = [
        db.value("SELECT count(*) FROM conversations_webhookevent WHERE position(%s::bytea in body) > 0", (w.encode(),))
        for w in during
    ]
    assert stored_during == [1] * len(during), "webhooks answered while Redis was down were not all stored"
    shape.redis.start()

    wait_until(lambda: _stored(db, during) == set(during), timeout=120, every=0.5,
               what="every message received during the outage to be processed", state=lambda: _event_states(db))
    # Graph's status callbacks for the replies keep arriving for a while, each stored pending
    # before it is processed: every event must end processed (none left pending, failed or
    # partial), checked in one read so a callback landing between two reads is not mistaken.
    wait_until(
        lambda: set(_event_states(db)) == {"processed"},
        timeout=60,
        what="every webhook event processed",
        state=lambda: _event_states(db),
    )
    newcomers = {wa_id for wa_id, _ in NEWCOMERS}
    wait_until(
        lambda: {w for w, (_, status, assignee) in _conversations(db).items() if w in newcomers
                 and status == "assigned" and assignee == shape.agent_id} == newcomers,
        timeout=60,
        what="the newcomers' conversations to be handed to the agent",
    )

    # A new desk socket on A hears of messages through B. Those opened before the outage
    # were told: closed (the desk reconnects and re-fetches), never left open and deaf
    # (Redis came back empty, without their groups).
    after = DeskSocket(a, session)
    text = "Back to normal, via B"
    _wamid, payload = customer_message(text, wa_id=CUSTOMERS[0][0], name=CUSTOMERS[0][1])
    assert post_webhook(b.webhook_url, payload) == 200
    wait_until(_new_message_frames(after, {text}), timeout=30, what="a frame on the new socket after the outage")
    time.sleep(2.0)
    survivors = {
        name: ("closed" if sock.closed_by_server else "hears" if _new_message_frames(sock, {text})() else "deaf")
        for name, sock in (("desk", desk), ("bystander", bystander))
    }
    assert "deaf" not in survivors.values(), (
        f"a desk socket opened before the Redis outage is still open but no longer receives events: {survivors}"
    )
    final = a.api("POST", f"conversations/{first_conversation}/messages/", shape.token, json={"text": "All sorted."})
    assert final.status_code == 201, final.text
    after.wait_for(
        lambda f: f.get("type") == "message.updated" and f["message"]["id"] == final.json()["id"]
        and f["message"]["status"] == "delivered",
        timeout=30,
        what="the last reply delivered",
    )

    # --- 5. Across the whole run: every message out went to Graph exactly once. ------------------
    def all_delivered() -> bool:
        return all(status == "delivered" for _, _, status, _ in _outbound(db))

    wait_until(all_delivered, timeout=60, every=0.5, what="every outbound message to be delivered",
               state=lambda: [(text, status) for _, text, status, _ in _outbound(db) if status != "delivered"])
    time.sleep(1.0)
    outbound = _outbound(db)
    wamids = graph.wamids()
    stored_wamids = [wamid for _, _, _, wamid in outbound]
    assert len(set(stored_wamids)) == len(stored_wamids) == len(outbound)
    assert set(wamids) == set(stored_wamids), (
        f"Graph sends with no message: {sorted(set(wamids) - set(stored_wamids))}; "
        f"messages Graph never had: {sorted(set(stored_wamids) - set(wamids))}"
    )
    assert len(outbound) == len(graph.sends)
    # Each customer's handoff notice (the one message not written here) went out once.
    ours = {*batch, "Happy to help!", "All sorted."}
    notices = Counter(s.body["to"] for s in graph.sends if s.text not in ours)
    assert notices == Counter(customer_ids | newcomers), notices
    desk.close()
    after.close()
