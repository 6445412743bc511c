"""Business days per supplier country and local send hours (outreach/core/calendar.py)."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from outreach.core import calendar
from outreach.core.calendar import (
    add_business_days,
    add_days,
    holidays_of,
    is_business_day,
    local_day,
    next_send_slot,
    send_instant,
)


def utc(y: int, m: int, d: int, h: int = 0, mi: int = 0) -> datetime:
    return datetime(y, m, d, h, mi, tzinfo=UTC)


@pytest.mark.parametrize(
    ("day", "country", "open_"),
    [
        # Germany: Christmas Eve is a working day nationally; 25/26 Dec and New Year are not
        (date(2026, 12, 24), "DE", True),
        (date(2026, 12, 25), "DE", False),
        (date(2026, 12, 26), "DE", False),  # a Saturday and a holiday
        (date(2027, 1, 1), "DE", False),
        (date(2026, 1, 6), "DE", True),  # Epiphany is regional only: national calendar counts
        (date(2026, 4, 3), "de", False),  # Good Friday; the code is case-insensitive
        # Japan, Golden Week 2026: Showa Day, then 3-6 May (6 May substitutes Sunday the 3rd)
        (date(2026, 4, 29), "JP", False),
        (date(2026, 4, 30), "JP", True),
        (date(2026, 5, 6), "JP", False),
        (date(2026, 5, 7), "JP", True),
        # United States: Thanksgiving (the Friday after is no federal holiday), July 4 observed
        (date(2026, 11, 26), "US", False),
        (date(2026, 11, 27), "US", True),
        (date(2026, 7, 3), "US", False),
        # Saudi Arabia's weekend is Friday and Saturday
        (date(2026, 3, 6), "SA", False),
        (date(2026, 3, 8), "SA", True),
        # unknown or blank country: weekends only, no holiday guessed
        (date(2026, 12, 25), "XX", True),
        (date(2026, 12, 25), None, True),
        (date(2026, 12, 25), "  ", True),
        (date(2026, 12, 26), None, False),
        (date(2026, 3, 6), "XX", True),  # a Friday is a working day without a known calendar
    ],
)
def test_business_day(day: date, country: str | None, open_: bool) -> None:
    assert is_business_day(day, country) is open_


@pytest.mark.parametrize(
    ("day", "n", "country", "expected"),
    [
        # German supplier around Christmas: 21-24 Dec, 28-31 Dec, 4-5 Jan
        (date(2026, 12, 18), 10, "DE", date(2027, 1, 5)),
        # the same with no known country: only weekends skipped, so New Year's Day counts
        (date(2026, 12, 18), 10, None, date(2027, 1, 1)),
        (date(2026, 12, 18), 10, "XX", date(2027, 1, 1)),
        # Japanese supplier in Golden Week: 30 Apr, 1 May, (3-6 May off), 7 May
        (date(2026, 4, 28), 3, "JP", date(2026, 5, 7)),
        (date(2026, 4, 28), 1, "JP", date(2026, 4, 30)),
        # US supplier over Thanksgiving: 23-25 Nov, (26th off), 27th, 30th
        (date(2026, 11, 20), 5, "US", date(2026, 11, 30)),
        # counting starts after the day: Friday + 1 = Monday, Saturday + 1 = Monday
        (date(2026, 3, 6), 1, None, date(2026, 3, 9)),
        (date(2026, 3, 7), 1, None, date(2026, 3, 9)),
        # zero rolls a closed day forward and leaves a business day alone
        (date(2026, 3, 7), 0, None, date(2026, 3, 9)),
        (date(2026, 12, 25), 0, "DE", date(2026, 12, 28)),
        (date(2026, 3, 4), 0, "DE", date(2026, 3, 4)),
        # backwards: Monday - 1 = Friday; after Christmas back to Christmas Eve
        (date(2026, 3, 9), -1, None, date(2026, 3, 6)),
        (date(2026, 12, 28), -1, "DE", date(2026, 12, 24)),
        (date(2026, 12, 28), -1, "US", date(2026, 12, 24)),
        (date(2026, 12, 28), -2, "US", date(2026, 12, 23)),
    ],
)
def test_add_business_days(day: date, n: int, country: str | None, expected: date) -> None:
    assert add_business_days(day, n, country) == expected


def test_add_days_counts_calendar_days_unless_business() -> None:
    assert add_days(date(2026, 12, 24), 1, "DE", business=False) == date(2026, 12, 25)
    assert add_days(date(2026, 12, 24), 1, "DE", business=True) == date(2026, 12, 28)
    assert add_days(date(2026, 5, 1), -3, "DE", business=False) == date(2026, 4, 28)


@pytest.mark.parametrize(
    ("day", "hour", "tz", "expected"),
    [
        # Berlin: CET (+1) before 29 March 2026, CEST (+2) after, CET again from 25 October
        (date(2026, 3, 27), 9, "Europe/Berlin", utc(2026, 3, 27, 8)),
        (date(2026, 3, 30), 9, "Europe/Berlin", utc(2026, 3, 30, 7)),
        (date(2026, 10, 23), 9, "Europe/Berlin", utc(2026, 10, 23, 7)),
        (date(2026, 10, 26), 9, "Europe/Berlin", utc(2026, 10, 26, 8)),
        # 02:30 on 29 March does not exist in Berlin: read as CET, i.e. 03:30 CEST
        (date(2026, 3, 29), 2, "Europe/Berlin", utc(2026, 3, 29, 1)),
        # 02:00 on 25 October happens twice: the first one, still CEST
        (date(2026, 10, 25), 2, "Europe/Berlin", utc(2026, 10, 25, 0)),
        # New York: EST (-5) until 8 March 2026, EDT (-4) until 1 November
        (date(2026, 3, 6), 9, "America/New_York", utc(2026, 3, 6, 14)),
        (date(2026, 3, 9), 9, "America/New_York", utc(2026, 3, 9, 13)),
        (date(2026, 3, 8), 2, "America/New_York", utc(2026, 3, 8, 7)),  # the gap
        (date(2026, 11, 1), 1, "America/New_York", utc(2026, 11, 1, 5)),  # the overlap
        (date(2026, 11, 2), 9, "America/New_York", utc(2026, 11, 2, 14)),
        (date(2026, 5, 7), 9, "Asia/Tokyo", utc(2026, 5, 7, 0)),
        # no zone, or one the tz database does not know: UTC
        (date(2026, 5, 7), 9, None, utc(2026, 5, 7, 9)),
        (date(2026, 5, 7), 9, "", utc(2026, 5, 7, 9)),
        (date(2026, 5, 7), 9, "Mars/Olympus", utc(2026, 5, 7, 9)),
    ],
)
def test_send_instant(day: date, hour: int, tz: str | None, expected: datetime) -> None:
    got = send_instant(day, hour, tz)
    assert got == expected
    assert got.tzinfo is UTC


def test_send_instant_refuses_an_impossible_hour() -> None:
    with pytest.raises(ValueError, match="between 0 and 23"):
        send_instant(date(2026, 5, 7), 24, "UTC")


def test_local_day_is_the_suppliers_date() -> None:
    late_evening_utc = utc(2026, 4, 15, 18)
    assert local_day(late_evening_utc, "Asia/Tokyo") == date(2026, 4, 16)
    assert local_day(late_evening_utc, "America/New_York") == date(2026, 4, 15)
    with pytest.raises(ValueError, match="naive"):
        local_day(datetime(2026, 4, 15, 18), "UTC")  # noqa: DTZ001 (the point of the test)


@pytest.mark.parametrize(
    ("instant", "tz", "country", "business", "expected"),
    [
        # before the send hour: today's slot; after it: tomorrow's
        (utc(2026, 3, 4, 6), "Europe/Berlin", "DE", False, utc(2026, 3, 4, 8)),
        (utc(2026, 3, 4, 8), "Europe/Berlin", "DE", False, utc(2026, 3, 4, 8)),
        (utc(2026, 3, 4, 9), "Europe/Berlin", "DE", False, utc(2026, 3, 5, 8)),
        # a business-day slot skips Easter (Good Friday 3 April to Easter Monday 6 April)
        (utc(2026, 4, 3, 14), "Europe/Berlin", "DE", True, utc(2026, 4, 7, 7)),
        (utc(2026, 4, 3, 14), "Europe/Berlin", "DE", False, utc(2026, 4, 4, 7)),
    ],
)
def test_next_send_slot(instant: datetime, tz: str, country: str, business: bool,
                        expected: datetime) -> None:
    assert next_send_slot(instant, 9, tz, country, business=business) == expected


def test_holiday_calendars_are_cached_per_country_and_year() -> None:
    calendar._calendar.cache_clear()
    for _ in range(3):
        is_business_day(date(2026, 12, 25), "DE")
        is_business_day(date(2026, 6, 1), "DE")
    info = calendar._calendar.cache_info()
    assert (info.misses, info.hits) == (1, 5)
    is_business_day(date(2027, 1, 1), "DE")
    assert calendar._calendar.cache_info().misses == 2
    assert date(2026, 12, 25) in holidays_of("DE", 2026)
    assert holidays_of(None, 2026) == frozenset()
