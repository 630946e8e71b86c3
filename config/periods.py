"""A reporting period: whole days in the viewer's time zone, as the half-open range of
instants [start, end) the database filters on; and the seconds between two timestamps as a
database expression. Shared by the compliance monitor and the reports, which both take
`start`, `end` (dates, inclusive) and `tz` (an IANA name)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.conf import settings
from django.db import connections, transaction
from django.db.models import FloatField, Func
from django.utils import timezone
from django.utils.dateparse import parse_date

DEFAULT_DAYS = 30
MAX_DAYS = 366


class PeriodError(ValueError):
    """A period that cannot be used: says which input and why."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


def zone_named(name: str | None) -> ZoneInfo:
    """The IANA zone `name` (the site's TIME_ZONE when empty); PeriodError when unknown."""
    name = (name or "").strip() or settings.TIME_ZONE
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise PeriodError("tz", f"Unknown time zone: {name[:64]}") from None


@dataclass(frozen=True)
class Period:
    first_day: date
    last_day: date
    zone: ZoneInfo

    @property
    def start(self) -> datetime:
        return datetime.combine(self.first_day, time.min, tzinfo=self.zone)

    @property
    def end(self) -> datetime:
        return datetime.combine(self.last_day + timedelta(days=1), time.min, tzinfo=self.zone)

    @property
    def days(self) -> int:
        return (self.last_day - self.first_day).days + 1

    def as_dict(self) -> dict:
        return {
            "start": self.first_day.isoformat(),
            "end": self.last_day.isoformat(),
            "timezone": self.zone.key,
            "days": self.days,
        }


def period_from(*, start: date | None = None, end: date | None = None, tz: str | None = None,
                default_days: int = DEFAULT_DAYS, now: datetime | None = None) -> Period:
    """The period from `start` to `end` (inclusive days in `tz`); missing ends default to
    the last `default_days` days up to today. PeriodError when start is after end, or the
    period is longer than MAX_DAYS."""
    zone = zone_named(tz)
    today = timezone.localtime(now or timezone.now(), zone).date()
    last = end or today
    first = start or (last - timedelta(days=default_days - 1))
    if first > last:
        raise PeriodError("start", "The period starts after it ends.")
    if (last - first).days + 1 > MAX_DAYS:
        raise PeriodError("start", f"A period is at most {MAX_DAYS} days.")
    return Period(first, last, zone)


def _date(value: str | None) -> date | None:
    if not value:
        return None
    try:
        parsed = parse_date(value)
    except ValueError:
        parsed = None
    if parsed is None:
        raise PeriodError("start", f"Not a date: {value[:20]} (use YYYY-MM-DD).")
    return parsed


def period_from_query(query: Mapping[str, str]) -> tuple[Period, list[str]]:
    """The period a page's query asks for (`start`, `end`, `tz`, or `days`), and what was
    wrong with it (then the last 30 days in the viewer's zone, or the site's)."""
    errors: list[str] = []
    try:
        days = query.get("days", "")
        if days.isdigit() and not (query.get("start") or query.get("end")):
            return period_from(tz=query.get("tz"), default_days=max(1, min(int(days), 366))), errors
        return period_from(start=_date(query.get("start")), end=_date(query.get("end")), tz=query.get("tz")), errors
    except PeriodError as exc:
        errors.append(exc.message)
    try:
        return period_from(tz=query.get("tz")), errors
    except PeriodError:
        return period_from(), errors



class EpochSeconds(Func):
    """Seconds since the Unix epoch of a timestamp, as a float, on PostgreSQL and SQLite."""

    output_field = FloatField()

    def as_postgresql(self, compiler, connection, **extra_context):
        # date_part gives the double directly; EXTRACT computes a numeric first (PostgreSQL 14+),
        # several times slower over a period's rows. The value is the same.
        return self.as_sql(compiler, connection, template="date_part('epoch', %(expressions)s)", **extra_context)

    def as_sqlite(self, compiler, connection, **extra_context):
        return self.as_sql(compiler, connection, template="((julianday(%(expressions)s) - 2440587.5) * 86400.0)",
                           **extra_context)


def seconds_between(start: Any, end: Any) -> Any:
    """`end - start` in seconds (NULL when either is NULL)."""
    return EpochSeconds(end) - EpochSeconds(start)


@contextmanager
def period_aggregates(using: str, *, work_mem: str = "") -> Iterator[None]:
    """A transaction for the big aggregates over a period's conversations. On PostgreSQL:
    no JIT compilation (the planner counts a correlated EXISTS as run for every row, and
    compiling the query would take longer than running it) and, when given, more memory
    to group in (`work_mem`, e.g. "32MB"), for this transaction only."""
    with transaction.atomic(using=using):
        connection = connections[using]
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SET LOCAL jit = off")
                if work_mem:
                    cursor.execute("SELECT set_config('work_mem', %s, true)", [work_mem])
        yield
