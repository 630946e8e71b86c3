"""Reads on the hot paths whose SQL the ORM writes once.

Building and compiling a queryset costs Django 0.5-2 ms of CPU per read (a row lock with
a subquery costs the most), several times the round trip it sends; a customer's message
pays it for each of its reads. A `CompiledRead` lets the ORM write the read's SQL on its
first use (per database connection alias), with stand-in values for the arguments, and
then runs that SQL with each call's own values through `Model.objects.raw`: the rows
come back as model instances, converted by the model's fields as the ORM converts them,
annotations as attributes.

    _OPEN = CompiledRead(lambda contact_id: Conversation.objects.filter(contact_id=contact_id), int)
    conversation = _OPEN.first(contact.pk)

The queryset is the read's only description, so the SQL cannot drift from it. Its
arguments must reach the SQL as parameters unchanged (integers and strings; a compile
that does not find each stand-in among the parameters raises at once), and it may not use
`select_related` or `prefetch_related` (a raw read loads no related rows): those stay
ordinary querysets.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from contextlib import nullcontext
from typing import Any, Generic, TypeVar

from django.core.exceptions import ImproperlyConfigured
from django.db import DEFAULT_DB_ALIAS, transaction
from django.db.models import Model, QuerySet

M = TypeVar("M", bound=Model)

_STAND_IN_INT = -7_391_004_000  # far from any id or count the reads are given


def _stand_in(position: int, kind: type) -> Any:
    if kind is int:
        return _STAND_IN_INT - position
    if kind is str:
        return f"\x1fcompiled-read-{position}\x1f"
    raise ImproperlyConfigured(f"a compiled read takes int and str arguments, not {kind.__name__}")


class CompiledRead(Generic[M]):
    """`build(*arguments)` is the read as a queryset; `kinds` the arguments' types."""

    def __init__(self, build: Callable[..., QuerySet[M]], *kinds: type) -> None:
        self._build = build
        self._kinds = kinds
        self._compiled: dict[str, tuple[type[M], str, list[Any], list[tuple[int, int]]]] = {}
        self._lock = threading.Lock()

    def _compile(self, using: str) -> tuple[type[M], str, list[Any], list[tuple[int, int]]]:
        stand_ins = [_stand_in(i, kind) for i, kind in enumerate(self._kinds)]
        queryset = self._build(*stand_ins)
        if not queryset.ordered:
            queryset = queryset.order_by("pk")  # as `.first()` reads
        queryset = queryset[:1]
        prefetches: Any = getattr(queryset, "_prefetch_related_lookups", ())
        if queryset.query.select_related or prefetches:
            raise ImproperlyConfigured("a compiled read loads no related rows: drop select_related / prefetch_related")
        locking = transaction.atomic(using=using, savepoint=False) if queryset.query.select_for_update else nullcontext()
        with locking:  # Django compiles FOR UPDATE only inside a transaction; nothing is sent
            sql, params = queryset.query.get_compiler(using).as_sql()
        template = list(params)
        slots = [(at, i) for at, value in enumerate(template) for i, stand_in in enumerate(stand_ins)
                 if type(value) is type(stand_in) and value == stand_in]
        if sorted({i for _at, i in slots}) != list(range(len(stand_ins))):
            raise ImproperlyConfigured(f"a compiled read's arguments did not all reach its SQL as parameters: {sql}")
        return queryset.model, sql, template, slots

    def first(self, *arguments: Any, using: str = DEFAULT_DB_ALIAS) -> M | None:
        """The read's first row (in the queryset's order, else by pk) for `arguments`, or None."""
        compiled = self._compiled.get(using)
        if compiled is None:
            with self._lock:
                compiled = self._compiled.get(using) or self._compile(using)
                self._compiled[using] = compiled
        model, sql, template, slots = compiled
        params = list(template)
        for at, i in slots:
            params[at] = arguments[i]
        rows = list(model._default_manager.using(using).raw(sql, params))
        return rows[0] if rows else None
