"""Business hours: open or closed in the team's time zone, holidays, and working time."""

from datetime import date, datetime, time
from zoneinfo import ZoneInfo

from agents.models import BusinessHours, Holiday
from conversations.business_hours import business_seconds_between, business_time_add, team_is_open

UTC = ZoneInfo("UTC")


def weekdays_nine_to_five(team, zone="Europe/Madrid"):
    team.time_zone = zone
    team.save()
    for weekday in range(5):
        BusinessHours.objects.create(team=team, weekday=weekday, opens=time(9), closes=time(17))


def test_team_without_hours_is_always_open(db, team):
    assert team_is_open(team=team, at=datetime(2026, 1, 4, 3, 0, tzinfo=UTC))


def test_open_and_closed_in_the_team_time_zone(db, team):
    weekdays_nine_to_five(team)
    # Monday 2026-01-05: Madrid is UTC+1 in winter.
    assert not team_is_open(team=team, at=datetime(2026, 1, 5, 7, 30, tzinfo=UTC))  # 08:30 local
    assert team_is_open(team=team, at=datetime(2026, 1, 5, 8, 0, tzinfo=UTC))  # 09:00 local
    assert not team_is_open(team=team, at=datetime(2026, 1, 5, 16, 0, tzinfo=UTC))  # 17:00 local
    assert not team_is_open(team=team, at=datetime(2026, 1, 10, 11, 0, tzinfo=UTC))  # Saturday


def test_holiday_closes_the_whole_day(db, team):
    weekdays_nine_to_five(team)
    Holiday.objects.create(team=team, date=date(2026, 1, 6), name="Epiphany")
    assert not team_is_open(team=team, at=datetime(2026, 1, 6, 11, 0, tzinfo=UTC))


def test_midnight_close_means_end_of_day(db, team):
    BusinessHours.objects.create(team=team, weekday=0, opens=time(20), closes=time(0))
    assert team_is_open(team=team, at=datetime(2026, 1, 5, 23, 30, tzinfo=UTC))
    assert not team_is_open(team=team, at=datetime(2026, 1, 6, 0, 30, tzinfo=UTC))


def test_working_time_skips_nights_weekends_and_holidays(db, team):
    weekdays_nine_to_five(team, zone="UTC")
    Holiday.objects.create(team=team, date=date(2026, 1, 12))
    friday_late = datetime(2026, 1, 9, 16, 30, tzinfo=UTC)
    # 30 minutes left on Friday, Monday is a holiday: the rest lands on Tuesday.
    due = business_time_add(team=team, start=friday_late, seconds=3600)
    assert due == datetime(2026, 1, 13, 9, 30, tzinfo=UTC)
    assert business_seconds_between(team=team, start=friday_late, end=due) == 3600


def test_working_time_without_schedule_is_wall_clock(db, team):
    start = datetime(2026, 1, 10, 23, 0, tzinfo=UTC)
    assert business_time_add(team=team, start=start, seconds=7200) == datetime(2026, 1, 11, 1, 0, tzinfo=UTC)
