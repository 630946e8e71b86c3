"""The compliance verdict and the main report over 90 days of conversations.

100,000 conversations (`BENCH_COMPLIANCE_CONVERSATIONS`) spread over the last 90 days on one
number, each with three messages, a bot session and an escalation ledger, and handoffs for
the 40 % handed to people (some with the fallback contact, some without): the shapes the
compliance monitor and the reports read. The rows are inserted with plain SQL in batches
(fixture data for a read benchmark, not through the conversation lifecycle, whose writes
the routing section measures).

Figures, each the median of five runs after one warm-up, against a baseline measured in
the same run on the same rows: a bare `COUNT(*)` of the number's conversations in the 90
days. Measured: the compliance verdict alone, the whole compliance page (verdict, gaps,
health history, checklist and cases, rendered by the real view) and the reports page
(totals, breakdowns, the daily series, agents and teams, SVG charts, rendered). Target:
each page under 1 s and within 20x the bare count.

Runs in a child process with production settings and a database of its own: PostgreSQL
(DATABASE_URL's server, else a local one) when reachable, else a fresh SQLite file (the
label says which).

`BENCH_COMPLIANCE_REUSE=1` keeps the PostgreSQL bench database of an earlier run (created
when missing) and skips the fixture insert when it is already filled: quicker runs while
tuning the queries. The rows were spread over the 90 days before that earlier run, so the
oldest fall out of the period as time passes (the in-period row says so); leave it unset
for the figures to report.
"""

from __future__ import annotations

import json
import os
import random
import statistics
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

from bench.common import Row, child_result, production_env, reachable_postgres

ROOT = Path(__file__).resolve().parents[1]
SECTION = "compliance"
CONVERSATIONS = int(os.environ.get("BENCH_COMPLIANCE_CONVERSATIONS", "100000"))
DAYS = 90
RUNS = 5
BATCH = 5000
TARGET_SECONDS = 1.0
TARGET_RATIO = 20.0
DEADLINE = 1800
REUSE = os.environ.get("BENCH_COMPLIANCE_REUSE", "") not in ("", "0")


# --- the child ---------------------------------------------------------------------------------


def _insert(model, rows: list[dict], *, connection) -> None:
    """Plain INSERTs of `rows` (attribute name -> value, `contact_id` for a foreign key) with
    explicit ids, in batches; every other column gets its field's default, adapted once."""
    fields = list(model._meta.concrete_fields)
    columns = ", ".join(connection.ops.quote_name(f.column) for f in fields)
    placeholders = ", ".join(["%s"] * len(fields))
    sql = f"INSERT INTO {connection.ops.quote_name(model._meta.db_table)} ({columns}) VALUES ({placeholders})"
    defaults = {f.attname: f.get_db_prep_save(f.get_default(), connection) for f in fields if f.attname != "id"}
    adapt = connection.vendor == "sqlite"
    datetime_fields = {f.attname for f in fields if f.get_internal_type() == "DateTimeField"}
    json_fields = {f.attname: f for f in fields if f.get_internal_type() == "JSONField"}
    with connection.cursor() as cursor:
        for start in range(0, len(rows), BATCH):
            params = []
            for row in rows[start:start + BATCH]:
                values = []
                for f in fields:
                    name = f.attname
                    if name not in row:
                        values.append(defaults[name])
                        continue
                    value = row[name]
                    if name in json_fields:
                        value = json_fields[name].get_db_prep_save(value, connection)
                    elif adapt and name in datetime_fields and value is not None:
                        value = connection.ops.adapt_datetimefield_value(value)
                    values.append(value)
                params.append(values)
            cursor.executemany(sql, params)


def _fixture(now, start):
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.core.management.color import no_style
    from django.db import connection

    from agents.models import Team
    from bots.models import Bot, BotSession, EscalationLedger, EscalationPolicy, Handoff
    from conversations.models import Contact, Conversation, Message, WhatsAppNumber

    call_command("migrate", verbosity=0, interactive=False)
    User = get_user_model()
    if REUSE:
        admin = User.objects.filter(username="bench-admin").first()
        number = WhatsAppNumber.objects.filter(phone_number_id="bench-compliance").first()
        if admin is not None and number is not None:
            return {"admin": admin, "number": number, "rows": {
                "conversations": Conversation.objects.count(), "messages": Message.objects.count(),
                "ledgers": EscalationLedger.objects.count(), "handoffs": Handoff.objects.count()},
                "insert_seconds": 0.0}
    admin = User.objects.create_superuser("bench-admin", "bench@example.com", "unused-password-0")
    number = WhatsAppNumber.objects.create(name="Bench", phone_number_id="bench-compliance", is_default=True)
    teams = [Team.objects.create(name=f"Bench {i}", slug=f"bench-{i}") for i in range(2)]
    agents = [User.objects.create(username=f"bench-agent-{i}") for i in range(10)]
    for i, agent in enumerate(agents):
        teams[i % 2].members.add(agent)
    bot = Bot.objects.create(name="Bench bot", number=number)
    policy = EscalationPolicy.objects.create(name="Bench", number=number, fallback_phone="+442079460000",
                                             human_reply_target_minutes=60)
    no_contact = EscalationPolicy.objects.create(name="Bench, no contact", team=teams[1])

    rng = random.Random(90)
    contacts, conversations, messages, sessions, ledgers, handoffs = [], [], [], [], [], []
    # Spread over the period's days (in UTC), up to an hour ago.
    span = (now - start).total_seconds() - 3600
    for i in range(1, CONVERSATIONS + 1):
        created = start + timedelta(seconds=rng.uniform(0, span))
        contacts.append({"id": i, "number": number.pk, "wa_id": f"1555{i:08d}", "profile_name": f"Customer {i}",
                         "created_at": created, "updated_at": created})
        bot_served = rng.random() < 0.9
        handed = rng.random() < 0.4
        requested = handed and rng.random() < 0.85
        fallback = handed and rng.random() < 0.07
        answered = created + timedelta(minutes=2 + rng.expovariate(1 / 8)) if handed and rng.random() < 0.92 else None
        team = teams[i % 2] if handed else None
        agent = agents[i % 10] if answered else None
        open_with_bot = not handed and rng.random() < 0.1
        ended = (answered or created) + timedelta(minutes=rng.randint(3, 40))
        conversations.append({
            "id": i, "number": number.pk, "contact": i, "channel": "whatsapp",
            "status": "bot" if open_with_bot else "resolved", "team": team.pk if team else None,
            "assignee": agent.pk if agent else None, "created_at": created, "last_activity_at": ended,
            "last_customer_message_at": created, "window_expires_at": created + timedelta(hours=24),
            "queued_at": created + timedelta(minutes=1) if handed else None,
            "assigned_at": created + timedelta(minutes=1, seconds=20) if answered else None,
            "first_response_at": answered, "resolved_at": None if open_with_bot else ended,
            "first_response_due_at": created + timedelta(minutes=6) if handed else None,
            "sla_breached_at": created + timedelta(minutes=6) if handed and (
                answered is None or answered > created + timedelta(minutes=6)) else None,
            "csat_requested_at": ended if answered and rng.random() < 0.6 else None,
            "csat_score": rng.choice([1, 2, 3, 3, 3]) if answered and rng.random() < 0.4 else None,
            "required_skills": [],
        })
        base = 3 * i
        for k, (direction, sender, offset) in enumerate(
                (("in", "contact", 0), ("out", "bot", 3), ("out" if answered else "in", "agent" if answered else "contact", 300))):
            messages.append({"id": base + k, "conversation": i, "direction": direction, "sender_kind": sender,
                             "type": "text", "text": "bench", "status": "read" if direction == "out" else "received",
                             "provider_message_id": f"wamid.bench-{base + k}",
                             "created_at": created + timedelta(seconds=offset), "payload": {}})
        if bot_served:
            sessions.append({"id": i, "conversation": i, "bot": bot.pk, "started_at": created, "updated_at": ended,
                             "values": {}, "state": {}, "last_message_id": base})
        offered = bot_served and rng.random() < 0.95
        if offered or handed:
            ledgers.append({"id": i, "conversation": i,
                            "human_offered_at": created + timedelta(seconds=3) if offered else None,
                            "human_requested_at": created + timedelta(minutes=1) if requested else None,
                            "handed_off_at": created + timedelta(minutes=1) if handed else None,
                            "handoff_count": 1 if handed else 0})
        if handed:
            handoffs.append({"id": len(handoffs) + 1, "conversation": i,
                             "reason_code": "customer_request" if requested else "not_understood",
                             "policy": (no_contact if fallback and i % 3 == 0 else policy).pk,
                             "policy_name": "Bench", "suggested_team": team.pk if team else None,
                             "agents_available": not fallback, "fallback_sent": fallback,
                             "collected_values": {}, "transcript": [], "created_at": created + timedelta(minutes=1)})
    started = time.monotonic()
    for model, rows in ((Contact, contacts), (Conversation, conversations), (Message, messages),
                        (BotSession, sessions), (EscalationLedger, ledgers), (Handoff, handoffs)):
        # FK fields are named as attributes: `contact` holds the id here.
        _insert(model, [{(k + "_id" if k in _fk_names(model) else k): v for k, v in row.items()} for row in rows],
                connection=connection)
    with connection.cursor() as cursor:
        for sql in connection.ops.sequence_reset_sql(no_style(), [Contact, Conversation, Message, BotSession,
                                                                   EscalationLedger, Handoff]):
            cursor.execute(sql)
        cursor.execute("ANALYZE")
    return {"admin": admin, "number": number, "rows": {
        "conversations": len(conversations), "messages": len(messages), "ledgers": len(ledgers),
        "handoffs": len(handoffs)}, "insert_seconds": time.monotonic() - started}


def _fk_names(model) -> set[str]:
    return {f.name for f in model._meta.concrete_fields if f.is_relation}


def _median_seconds(work) -> float:
    work()  # warm-up: plans cached, pages of the tables in memory
    timings = []
    for _ in range(RUNS):
        started = time.perf_counter()
        work()
        timings.append(time.perf_counter() - started)
    return statistics.median(timings)


def child() -> None:
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    django.setup()
    from django.db import connection
    from django.test import Client
    from django.test.utils import override_settings
    from django.utils import timezone

    from config.periods import period_from
    from conversations.models import Conversation
    from notifications.compliance import compliance_verdict
    from notifications.compliance_scope import compliance_conversations, target_seconds

    now = timezone.now()
    period = period_from(default_days=DAYS, tz="UTC", now=now)
    start, end = period.start, period.end
    fixture = _fixture(now, start)
    admin, number = fixture["admin"], fixture["number"]

    def bare_count() -> int:
        return Conversation.objects.filter(number=number, created_at__gte=start, created_at__lt=end).count()

    counted = bare_count()
    target = target_seconds(number)

    def verdict() -> dict:
        qs = compliance_conversations(user=admin, number=number, start=start, end=end)
        return compliance_verdict(qs=qs, target=target)

    client = Client()
    client.force_login(admin)
    query = {"start": period.first_day.isoformat(), "end": period.last_day.isoformat(), "tz": "UTC"}
    storages = {"default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
                "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}}

    def page(path: str, extra: dict):
        def get() -> None:
            response = client.get(path, {**query, **extra}, secure=True)
            assert response.status_code == 200, response.status_code

        return get

    with override_settings(STORAGES=storages):
        result = {
            "backend": connection.vendor,
            "rows": fixture["rows"],
            "in_period": counted,
            "insert_seconds": fixture["insert_seconds"],
            "count_s": _median_seconds(bare_count),
            "verdict_s": _median_seconds(verdict),
            "compliance_page_s": _median_seconds(page("/desk/compliance/", {"number": str(number.pk)})),
            "reports_page_s": _median_seconds(page("/desk/reports/", {})),
            "verdict": {k: v for k, v in verdict().items() if k in ("requested", "reached", "gap_total")},
        }
    print(json.dumps(result))


# --- the parent ----------------------------------------------------------------------------------


def _ensure_postgres_database(url: str) -> None:
    import psycopg

    admin_url, name = url.rsplit("/", 1)
    with psycopg.connect(admin_url + "/postgres", autocommit=True) as conn:
        if REUSE:
            if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
                conn.execute(f'CREATE DATABASE "{name}"')
            return
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


def run() -> list[Row]:
    with tempfile.TemporaryDirectory() as tmp:
        env = production_env(ALLOWED_HOSTS="testserver", TASKS_MODE="inline", REDIS_URL="", CELERY_BROKER_URL="")
        postgres = reachable_postgres()
        if postgres:
            env["DATABASE_URL"] = f"{postgres}/handoff_bench_compliance"
            _ensure_postgres_database(env["DATABASE_URL"])
        else:
            env["DATABASE_URL"] = f"sqlite:///{tmp}/compliance.sqlite3"
        r = child_result("bench.compliance", env, timeout=DEADLINE)
    if r is None:
        return [Row(SECTION, "compliance run", "error", ok=False)]
    backend = {"postgresql": "PostgreSQL", "sqlite": "SQLite"}.get(r["backend"], r["backend"])
    base_ms = r["count_s"] * 1000

    def timed(figure: str, seconds: float) -> Row:
        ms = seconds * 1000
        ok = seconds < TARGET_SECONDS and ms <= TARGET_RATIO * base_ms
        return Row(SECTION, f"{figure} (base: bare COUNT(*))", round(ms, 1), "ms", round(base_ms, 2),
                   f"< {TARGET_SECONDS * 1000:.0f} ms, <= {TARGET_RATIO:.0f}x", ok)

    rows = r["rows"]
    return [
        Row(SECTION, f"conversations in {DAYS} days ({backend}; {rows['messages']:,} messages, "
                     f"{rows['ledgers']:,} ledgers, {rows['handoffs']:,} handoffs)", r["in_period"], "",
            rows["conversations"], f"{rows['conversations']}", r["in_period"] == rows["conversations"]),
        timed("compliance verdict", r["verdict_s"]),
        timed("compliance page", r["compliance_page_s"]),
        timed("reports page", r["reports_page_s"]),
        Row(SECTION, "requests for a person / reached / gaps",
            f"{r['verdict']['requested']} / {r['verdict']['reached']} / {r['verdict']['gap_total']}"),
        Row(SECTION, "fixture insert", round(r["insert_seconds"], 1), "s"),
    ]


if __name__ == "__main__":
    if "--child" in sys.argv:
        child()
    else:
        from bench.common import print_table

        print_table(run())
