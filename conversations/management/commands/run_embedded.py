"""The single-process demo server: daphne plus an in-process scheduler for PERIODIC_TASKS.

Tasks run in this process (TASKS_MODE=thread) on a small pool, after commit, so a request
never waits on work that calls back into this same server (the sandbox's webhooks).
"""

from __future__ import annotations

import logging
import threading
import time

from django.conf import settings
from django.core.management.base import BaseCommand

from config.tasking import dispatch

log = logging.getLogger(__name__)


class PeriodicScheduler(threading.Thread):
    """Dispatches each task of `schedule` (name -> seconds) every so many seconds."""

    def __init__(self, schedule: dict[str, float]) -> None:
        super().__init__(name="handoff-scheduler", daemon=True)
        self.schedule = dict(schedule)
        self.stopping = threading.Event()

    def run(self) -> None:
        start = time.monotonic()
        due = {name: start + seconds for name, seconds in self.schedule.items()}
        while not self.stopping.is_set():
            now = time.monotonic()
            for name, at in due.items():
                if at <= now:
                    due[name] = now + self.schedule[name]
                    try:
                        dispatch(name, {})
                    except Exception:  # one broken task must not stop the others
                        log.exception("could not dispatch periodic task %s", name)
            wait = min(due.values(), default=now + 60) - time.monotonic()
            self.stopping.wait(max(0.05, min(wait, 1.0)))

    def stop(self) -> None:
        self.stopping.set()


class Command(BaseCommand):
    help = "Serve Handoff in one process: daphne on 127.0.0.1:PORT and the periodic tasks in-process."

    def add_arguments(self, parser):
        parser.add_argument("--port", type=int, default=settings.PORT)
        parser.add_argument("--host", default="127.0.0.1")

    def handle(self, *args, **options):
        from daphne.endpoints import build_endpoint_description_strings

        from config.asgi import application
        from config.server import HandoffServer

        host, port = options["host"], options["port"]
        if logging.getLogger().getEffectiveLevel() > logging.DEBUG:
            # One line per task run (periodic sweeps included) drowns the demo's console;
            # task failures are still logged as errors.
            logging.getLogger("celery.app.trace").setLevel(logging.WARNING)
        base = f"http://{host}:{port}"
        scheduler = PeriodicScheduler(settings.PERIODIC_TASKS)
        scheduler.start()
        self.stdout.write(f"Handoff is running at {base}/ (tasks: {settings.TASKS_MODE}). Open:")
        if settings.SANDBOX_ENABLED:
            self.stdout.write(f"  {base}/sandbox/    the customer's simulated WhatsApp phone")
        self.stdout.write(f"  {base}/desk/       the agent desk")
        self.stdout.write(f"  {base}/admin/      the admin")
        self.stdout.write(f"  {base}/api/docs/   the API")
        self.stdout.write("Stop with Ctrl+C.")
        self.stdout.flush()
        try:
            HandoffServer(
                application=application,
                endpoints=build_endpoint_description_strings(host=host, port=port),
                signal_handlers=True,
                verbosity=0,
            ).run()
        finally:
            scheduler.stop()
