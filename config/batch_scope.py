"""Configuration read once per batch.

A worker processing a batch of webhook events would read the same few configuration rows
(enabled webhook endpoints, consent keyword rules) for every message in it. Inside
`batch_scope()` a read named by `batch_cached` runs once and its result is shared until the
scope closes; outside a scope it runs every time, as before. Only configuration that the
batch itself never changes is read this way; the result is shared, so callers must not
modify it.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, TypeVar

T = TypeVar("T")

_memo: ContextVar[dict[Hashable, Any] | None] = ContextVar("handoff_batch_scope", default=None)


@contextmanager
def batch_scope() -> Iterator[None]:
    """Share `batch_cached` reads until the block ends (nested scopes share the outer one)."""
    if _memo.get() is not None:
        yield
        return
    token = _memo.set({})
    try:
        yield
    finally:
        _memo.reset(token)


def batch_cached(key: Hashable, load: Callable[[], T]) -> T:
    """`load()`, run once per `key` inside a batch scope and every time outside one."""
    memo = _memo.get()
    if memo is None:
        return load()
    if key not in memo:
        memo[key] = load()
    return memo[key]
