"""The Celery app, configured from Django's settings (`CELERY_*`).

Database connections in the worker: Celery's Django fixup, with a connection pool in a
prefork child, closes the whole pool before and after every task, so each task opened a
new PostgreSQL connection (at 20 webhooks/s the worker spent 24 ms of CPU per message with
it, 17.6 ms without). Here the
fixup's per-task closing is off (`CELERY_DB_REUSE_MAX`: it closes everything only after
that many tasks) and each task instead ends, and starts, with Django's own
`close_old_connections`: the connection goes back to the child's pool (CONN_MAX_AGE is 0)
and a broken one is dropped, as after a web request. The fixup still closes what a child
inherits from its parent when it starts (`worker_process_init`), so no pool crosses a fork.
"""

import os
from typing import Any

from celery import Celery, signals
from django.db import close_old_connections

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("handoff")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@signals.task_prerun.connect
@signals.task_postrun.connect
def release_connections(sender: Any = None, **kwargs: Any) -> None:
    """Give the task's database connections back to the pool (or drop broken ones)."""
    if sender is not None and getattr(sender.request, "is_eager", False):
        return  # run in the caller's thread (`apply`): its connections are the caller's
    close_old_connections()
