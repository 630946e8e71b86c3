"""Where a message's time goes in the worker: SQL statements and CPU per webhook item.

In a child process with production settings (DEBUG off), on a database of its own (the
PostgreSQL server of DATABASE_URL, else a temporary SQLite file), with the realtime
section's scenario: CONTACTS customers whose conversations an agent holds, each having
written before. Three paths, each BENCH_BUDGET_COUNT items, run as the worker runs them
(`process_webhook_events` on batches of BATCH events, as intake's coalescing hands them
over), on-commit work included (desk events built and published to the channel layer,
tasks queued to a broker no worker reads):
- intake: the signed body stored (`webhook_event_store`, the web process's database work);
- inbound: a customer's text message processed (claim, contact, conversation, message,
  window, desk events, outbox check, consent keywords; language detection on a
  contact's first messages);
- status: a `delivered` status for an outbound message.
Figures per item: statements (savepoints and their releases counted apart; BEGIN and
COMMIT not counted), CPU milliseconds of this process
(PostgreSQL's own time is not in it) and wall milliseconds. The baseline is a bare
statement (`SELECT 1`) through the same connection: its CPU and wall time per call, so a
path's cost reads as so many bare round trips. `tests/test_statement_budget.py` holds the
statement budgets these paths may not exceed.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from pathlib import Path

from bench.common import Row, child_result, ensure_postgres_database, production_env, reachable_postgres

ROOT = Path(__file__).resolve().parents[1]
SECTION = "budget"
COUNT = int(os.environ.get("BENCH_BUDGET_COUNT", "400"))
BATCH = 4
CONTACTS = 40
PHONE_NUMBER_ID = "100000000000099"


def _envelope(value: dict) -> bytes:
    value = {"messaging_product": "whatsapp",
             "metadata": {"display_phone_number": "15550100099", "phone_number_id": PHONE_NUMBER_ID}, **value}
    return json.dumps({"object": "whatsapp_business_account",
                       "entry": [{"id": "200000000000099", "changes": [{"field": "messages", "value": value}]}]}).encode()


def _text(i: int) -> bytes:
    wa_id = f"155600{i % CONTACTS:05d}"
    return _envelope({"contacts": [{"profile": {"name": "Budget"}, "wa_id": wa_id}],
                      "messages": [{"from": wa_id, "id": f"wamid.BUDGET{os.urandom(8).hex()}",
                                    "timestamp": str(int(time.time())), "type": "text", "text": {"body": f"hello {i}"}}]})


def _status(wamid: str, i: int) -> bytes:
    return _envelope({"statuses": [{"id": wamid, "status": "delivered", "timestamp": str(int(time.time())),
                                    "recipient_id": f"155600{i % CONTACTS:05d}"}]})


def child() -> None:
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    django.setup()
    from django.contrib.auth.models import User
    from django.core.management import call_command
    from django.db import connection, transaction
    from django.utils import timezone

    from agents.models import AgentProfile
    from conversations.models import Contact, Conversation, Message, WhatsAppNumber
    from conversations.services import conversations as lifecycle
    from conversations.services.webhook_intake import webhook_event_store
    from conversations.tasks import process_webhook_events

    call_command("migrate", verbosity=0, interactive=False)
    number = WhatsAppNumber.objects.create(name="Budget", phone_number_id=PHONE_NUMBER_ID, is_default=True)
    agent = User.objects.create_user(username="budget-agent")
    AgentProfile.objects.create(user=agent, capacity=100, presence=AgentProfile.Presence.ONLINE)
    conversations = []
    for i in range(CONTACTS):  # each customer's conversation, started and assigned as the desk does
        contact = Contact.objects.create(number=number, wa_id=f"155600{i:05d}", profile_name="Budget")
        with transaction.atomic():
            conversation = lifecycle.conversation_start(contact=contact, reason="bench")
            lifecycle.conversation_assign(conversation=conversation, user=agent, reason="bench")
        conversations.append(conversation)
    now = timezone.now()
    Conversation.objects.filter(pk__in=[c.pk for c in conversations]).update(last_customer_message_at=now)
    outbound = Message.objects.bulk_create([
        Message(conversation=conversations[i % CONTACTS], direction="out", type="text", text=f"reply {i}",
                status="sent", provider_message_id=f"wamid.BUDGETOUT{i:07d}", sent_at=now)
        for i in range(COUNT)
    ])

    counter = _Statements()

    def measure(bodies: list[bytes]) -> dict[str, float]:
        ids = [webhook_event_store(body=body, signature="bench").pk for body in bodies]
        with connection.execute_wrapper(counter.reset()):
            cpu, wall = time.process_time(), time.perf_counter()
            for start in range(0, len(ids), BATCH):
                process_webhook_events(ids[start:start + BATCH])
            cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
        return counter.figures(cpu, wall, len(ids))

    # Warm-up: every contact writes once (the first queries, the language detector's models).
    measure([_text(i) for i in range(CONTACTS)])

    bodies = [_text(CONTACTS + i) for i in range(COUNT)]
    with connection.execute_wrapper(counter.reset()):
        cpu, wall = time.process_time(), time.perf_counter()
        for body in bodies[: COUNT // 4]:
            webhook_event_store(body=body, signature="bench")
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    intake = counter.figures(cpu, wall, COUNT // 4)
    inbound = measure(bodies)
    status = measure([_status(message.provider_message_id, i) for i, message in enumerate(outbound)])
    delivered = Message.objects.filter(pk__in=[m.pk for m in outbound], status="delivered").count()

    def bare() -> None:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()

    cpu, wall = time.process_time(), time.perf_counter()
    for _ in range(COUNT):
        bare()
    base = {"cpu_ms": (time.process_time() - cpu) / COUNT * 1000, "wall_ms": (time.perf_counter() - wall) / COUNT * 1000}
    print(json.dumps({"intake": intake, "inbound": inbound, "status": status, "bare": base,
                      "delivered": delivered, "vendor": connection.vendor}))


class _Statements:
    """A cheap statement counter (a `connection.execute_wrapper`; Django's query capture
    would log every statement's text and time and add its own CPU to the figures).
    Transactions' BEGIN and COMMIT are not statements here."""

    def __init__(self) -> None:
        self.statements = 0
        self.savepoints = 0

    def reset(self) -> _Statements:
        self.statements = self.savepoints = 0
        return self

    def __call__(self, execute, sql, params, many, context):
        if sql.startswith(("SAVEPOINT", "RELEASE")):
            self.savepoints += 1
        else:
            self.statements += 1
        return execute(sql, params, many, context)

    def figures(self, cpu: float, wall: float, count: int) -> dict[str, float]:
        return {
            "statements": self.statements / count,
            "savepoints": self.savepoints / count,
            "cpu_ms": cpu / count * 1000,
            "wall_ms": wall / count * 1000,
        }


def run() -> list[Row]:
    with tempfile.TemporaryDirectory() as tmp:
        env = production_env(TASKS_MODE="celery", CELERY_BROKER_URL="memory://", CELERY_QUEUE="bench-budget")
        postgres = reachable_postgres()
        if postgres:
            env["DATABASE_URL"] = f"{postgres}/handoff_bench_budget"
            ensure_postgres_database(env["DATABASE_URL"])
        else:
            env["DATABASE_URL"] = f"sqlite:///{tmp}/budget.sqlite3"
        r = child_result("bench.budget", env, timeout=600)
    if r is None:
        return [Row(SECTION, "budget run", "error", ok=False)]
    bare = r["bare"]
    rows = [Row(SECTION, f"bare statement (SELECT 1, {r['vendor']}): CPU / wall", round(bare["cpu_ms"], 3), "ms",
                None, f"wall {bare['wall_ms']:.3f} ms")]
    for path, label in (("intake", "intake: body stored"), ("inbound", "inbound text processed"),
                        ("status", "status `delivered` processed")):
        f = r[path]
        rows.append(Row(SECTION, f"{label}: statements (+ savepoints)", round(f["statements"], 1), "",
                        None, f"+ {f['savepoints']:.1f}"))
        rows.append(Row(SECTION, f"{label}: CPU ms (base: bare statement)", round(f["cpu_ms"], 2), "ms",
                        round(bare["cpu_ms"], 3)))
        rows.append(Row(SECTION, f"{label}: wall ms (base: bare statement)", round(f["wall_ms"], 2), "ms",
                        round(bare["wall_ms"], 3)))
    rows.append(Row(SECTION, "statuses applied / sent", f"{r['delivered']}/{COUNT}", "", None, "equal",
                    r["delivered"] == COUNT))
    return rows


if __name__ == "__main__":
    if "--child" in sys.argv:
        child()
