"""Whether a callback registered with `transaction.on_commit` will still run.

Services that gather work per transaction (desk events, queue counts, webhook deliveries)
register one hook and add to it; a savepoint rollback discards the hooks registered inside
it, so before adding they ask whether their hook is still among the connection's.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.db import transaction


def hook_pending(callback: Callable[[], Any]) -> bool:
    """`callback` is registered on this thread's connection and has not run or been
    discarded (bound methods compare equal when they are the same object's same method)."""
    return any(registered[1] == callback for registered in transaction.get_connection().run_on_commit)
