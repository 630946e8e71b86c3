"""Business hours: whether a team is open, and adding working time to a moment.

A team without any weekly hours is open around the clock. Holidays close a whole local
day. Intervals are read in the team's time zone; `closes` at 00:00 means midnight.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from django.utils import timezone

from agents.models import Team

# How far ahead working time is searched before giving up (a schedule with no open
# time at all falls back to wall-clock time).
_SEARCH_DAYS = 400


def _zone(team: Team) -> ZoneInfo:
    try:
        return ZoneInfo(team.time_zone or "UTC")
    except (KeyError, ValueError):
        return ZoneInfo("UTC")


def _schedule(team: Team) -> tuple[dict[int, list[tuple[time, time | None]]], set[date]]:
    """Weekday -> [(opens, closes or None for midnight)] and the holiday dates."""
    cache = getattr(team, "_hours_cache", None)
    if cache is not None:
        return cache
    weekly: dict[int, list[tuple[time, time | None]]] = {}
    for row in team.business_hours.all().order_by("weekday", "opens"):
        closes = None if row.closes == time(0) else row.closes
        weekly.setdefault(row.weekday, []).append((row.opens, closes))
    holidays = set(team.holidays.values_list("date", flat=True))
    team._hours_cache = (weekly, holidays)  # type: ignore[attr-defined]
    return weekly, holidays


def _intervals_on(team: Team, day: date) -> list[tuple[datetime, datetime]]:
    weekly, holidays = _schedule(team)
    if day in holidays:
        return []
    zone = _zone(team)
    result = []
    for opens, closes in weekly.get(day.weekday(), []):
        start = datetime.combine(day, opens, tzinfo=zone)
        end = datetime.combine(day + timedelta(days=1), time(0), tzinfo=zone) if closes is None else (
            datetime.combine(day, closes, tzinfo=zone)
        )
        if end > start:
            result.append((start, end))
    return result


def team_has_schedule(team: Team) -> bool:
    weekly, _ = _schedule(team)
    return bool(weekly)


def team_is_open(*, team: Team, at: datetime | None = None) -> bool:
    """Whether `team` is within its business hours at `at` (now by default)."""
    at = at or timezone.now()
    if not team_has_schedule(team):
        weekly, holidays = _schedule(team)
        return at.astimezone(_zone(team)).date() not in holidays
    local_day = at.astimezone(_zone(team)).date()
    for day in (local_day - timedelta(days=1), local_day):
        for start, end in _intervals_on(team, day):
            if start <= at < end:
                return True
    return False


def business_time_add(*, team: Team, start: datetime, seconds: float) -> datetime:
    """The moment `seconds` of the team's open time after `start`. Without a schedule this
    is plain wall-clock addition."""
    if not team_has_schedule(team):
        return start + timedelta(seconds=seconds)
    remaining = timedelta(seconds=seconds)
    day = start.astimezone(_zone(team)).date() - timedelta(days=1)
    for _ in range(_SEARCH_DAYS):
        for opens, closes in _intervals_on(team, day):
            begin = max(opens, start)
            if closes <= begin:
                continue
            available = closes - begin
            if remaining <= available:
                return begin + remaining
            remaining -= available
        day += timedelta(days=1)
    return start + timedelta(seconds=seconds)


def business_seconds_between(*, team: Team, start: datetime, end: datetime) -> float:
    """Open time between two moments, in seconds (wall-clock without a schedule)."""
    if end <= start:
        return 0.0
    if not team_has_schedule(team):
        return (end - start).total_seconds()
    total = 0.0
    day = start.astimezone(_zone(team)).date() - timedelta(days=1)
    last = end.astimezone(_zone(team)).date()
    while day <= last:
        for opens, closes in _intervals_on(team, day):
            lo, hi = max(opens, start), min(closes, end)
            if hi > lo:
                total += (hi - lo).total_seconds()
        day += timedelta(days=1)
    return total
