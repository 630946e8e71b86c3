"""Where a campaign recipient's time goes: statements and CPU per recipient, by phase.

`python -m bench.campaign_profile` (SQLite in a temporary directory) or with
`DATABASE_URL=postgres://…` (a database it may empty) and `REDIS_URL`: it builds the
campaign section's audience (bench.campaign._setup) against the stand-in Graph, then runs
the sending path one phase at a time, so each phase's statements
(CaptureQueriesContext) and CPU (this thread's) are counted apart:

- claim: `_claim_batch` (a batch, divided by its rows);
- prepare: `recipient_send` / the batch preparation: consent, spacing, the message row,
  the conversation, the recipient's state (delivery tasks are held back, not run);
- deliver: the `message.deliver` task each message enqueued, run here: the Graph call
  and the `sent` bookkeeping (CPU is this thread's: the pacer's sleeps do not count).

`BENCH_PROFILE_RECIPIENTS` (200) sizes it; `BENCH_PROFILE_CPROFILE=1` adds the top of a
cProfile of the whole run.
"""

from __future__ import annotations

import cProfile
import io
import os
import pstats
import secrets
import sys
import tempfile
import time
from typing import Any

RECIPIENTS = int(os.environ.get("BENCH_PROFILE_RECIPIENTS", "200"))


class Phase:
    def __init__(self, name: str) -> None:
        self.name, self.statements, self.cpu, self.wall = name, 0, 0.0, 0.0

    def add(self, statements: int, cpu: float, wall: float) -> None:
        self.statements += statements
        self.cpu += cpu
        self.wall += wall


def _measure(phase: Phase, fn, *args, **kwargs) -> Any:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    profiler = _profilers.get(phase.name)
    with CaptureQueriesContext(connection) as queries:
        cpu, wall = time.thread_time(), time.perf_counter()
        if profiler is not None:
            profiler.enable()
        result = fn(*args, **kwargs)
        if profiler is not None:
            profiler.disable()
        phase.add(len(queries), time.thread_time() - cpu, time.perf_counter() - wall)
    if os.environ.get("BENCH_PROFILE_SQL") and phase.name not in _shown:
        _shown.add(phase.name)
        print(f"--- {phase.name}: {len(queries)} statements")
        for query in queries.captured_queries:
            print("   ", query["sql"][:220])
    return result


_shown: set[str] = set()
# BENCH_PROFILE_CPROFILE=prepare,deliver: a cProfile of those phases.
_profilers = {name: cProfile.Profile() for name in os.environ.get("BENCH_PROFILE_CPROFILE", "").split(",") if name}


def main() -> None:
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    django.setup()
    from django.conf import settings

    from bench.campaign import GraphProcess, _setup
    from config import task_names, tasking
    from notifications.models import CampaignRecipient
    from notifications.services import campaign_sending

    held: list[tuple[str, dict]] = []
    real_dispatch = tasking.dispatch
    tasking.dispatch = lambda name, kwargs=None, *args, **kw: held.append((name, kwargs or {}))  # type: ignore[assignment]
    phases = {name: Phase(name) for name in ("claim", "prepare", "deliver")}
    with GraphProcess() as graph:
        campaign, _opted_out = _setup(graph.base, secrets.token_hex(4))
        CampaignRecipient.objects.filter(campaign__number=campaign.number).delete()
        campaign.state = "running"
        campaign.save(update_fields=["state"])
        from notifications.campaign_audience import campaign_recipients_build

        campaign_recipients_build(campaign=campaign)
        batch = settings.CAMPAIGN_BATCH_SIZE
        rows = 0
        while rows < RECIPIENTS:
            token, ids, _ = _measure(phases["claim"], campaign_sending._claim_batch, campaign, batch)
            if not ids:
                break
            _measure(phases["prepare"], campaign_sending.recipients_send, campaign=campaign, token=token, ids=ids)
            rows += len(ids)
            while held:
                name, kwargs = held.pop(0)
                if name in (task_names.MESSAGE_DELIVER, task_names.MESSAGES_DELIVER):
                    _measure(phases["deliver"], tasking.run_now, name, kwargs)
        tasking.dispatch = real_dispatch  # type: ignore[assignment]
        sent = len(graph.stats()[0])
    print(f"{rows} recipients claimed, {sent} sent, database {settings.DATABASES['default']['ENGINE'].rsplit('.', 1)[-1]}")
    print(f"{'phase':<10}{'statements/recipient':>22}{'CPU ms/recipient':>18}{'wall ms/recipient':>19}")
    total = Phase("total")
    for phase in phases.values():
        total.add(phase.statements, phase.cpu, phase.wall)
    for phase in [*phases.values(), total]:
        print(f"{phase.name:<10}{phase.statements / rows:>22.2f}{phase.cpu * 1000 / rows:>18.2f}"
              f"{phase.wall * 1000 / rows:>19.2f}")
    for name, profiler in _profilers.items():
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).sort_stats("cumulative").print_stats(int(os.environ.get("BENCH_PROFILE_TOP", "40")))
        print(f"--- cProfile of {name}")
        print(out.getvalue())


if __name__ == "__main__":
    if "DATABASE_URL" not in os.environ:
        tmp = tempfile.mkdtemp()
        os.environ["DATABASE_URL"] = f"sqlite:///{tmp}/profile.sqlite3"
    from cryptography.fernet import Fernet

    os.environ.update(DEBUG="0", LOG_LEVEL="WARNING", TASKS_MODE="inline", ALLOWED_HOSTS="127.0.0.1",
                      SECURE_SSL_REDIRECT="0")
    os.environ.setdefault("SECRET_KEY", secrets.token_urlsafe(50))
    os.environ.setdefault("FIELD_ENCRYPTION_KEY", Fernet.generate_key().decode())
    sys.exit(main())
