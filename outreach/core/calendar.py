"""Business days per supplier country, and "day D at the supplier's send hour" as an instant.

Pure: no clock, no I/O beyond the ``holidays`` library's built-in tables. The rules:

* **Business day**: neither a weekend day nor a public holiday of the supplier's country, as
  the ``holidays`` library lists them: national holidays only (no subdivision, so no state-only
  holiday such as Bavaria's Epiphany), including the "observed" days it lists (a US holiday on
  a Saturday is observed on the Friday). The weekend is the country's own (Friday and Saturday
  in Saudi Arabia; Saturday and Sunday for most).
* **Unknown or blank country** (``None``, ``""`` or a code the library does not cover): the
  weekend is Saturday and Sunday and there are no holidays; nothing is guessed.
* Holiday calendars are built once per (country, year) and cached for the process.
* ``add_business_days(day, n, country)``: for ``n > 0`` the n-th business day after ``day``
  (``day`` itself is not counted: Friday + 1 = Monday, Saturday + 1 = Monday); for ``n < 0``
  the |n|-th business day before ``day``; for ``n == 0`` ``day`` itself when it is a business
  day, else the next business day (rolled forward).
* **Send instant**: ``send_instant(day, hour, tz)`` is ``day`` at ``hour``:00 on the wall clock
  of the IANA zone ``tz``, returned as an aware UTC datetime, correct across DST. A wall-clock
  time that does not exist (the spring-forward gap, e.g. 02:30 in Berlin on 29 March 2026) is
  read with the offset in force before the change, which lands as far past the gap as it was
  into it (02:30 → 03:30 CEST = 01:30 UTC). A wall-clock time that occurs twice (fall-back)
  is its first occurrence, still in summer time (``fold=0``). A blank zone means UTC, and so
  does a name the tz database does not know (the supplier import refuses those; this only
  covers a zone dropped from tzdata), so a schedule is always computable.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import holidays

#: Saturday and Sunday (``date.weekday()`` numbers), for countries the library does not know
DEFAULT_WEEKEND: frozenset[int] = frozenset({5, 6})

_ONE_DAY = timedelta(days=1)


def _country_code(country: str | None) -> str | None:
    code = (country or "").strip().upper()
    return code or None


@lru_cache(maxsize=4096)
def _calendar(code: str, year: int) -> tuple[frozenset[int], frozenset[date]]:
    """(weekend weekdays, holiday dates) of one country in one year; unknown → weekends only."""
    try:
        table = holidays.country_holidays(code, years=year)
    except NotImplementedError:  # the library's answer for a country it does not cover
        return DEFAULT_WEEKEND, frozenset()
    weekend = frozenset(getattr(table, "weekend", DEFAULT_WEEKEND)) or DEFAULT_WEEKEND
    return weekend, frozenset(d for d in table if d.year == year)


def is_business_day(day: date, country: str | None) -> bool:
    code = _country_code(country)
    if code is None:
        return day.weekday() not in DEFAULT_WEEKEND
    weekend, closed = _calendar(code, day.year)
    return day.weekday() not in weekend and day not in closed


def holidays_of(country: str | None, year: int) -> frozenset[date]:
    """The public holidays (not weekends) counted for ``country`` in ``year``."""
    code = _country_code(country)
    return frozenset() if code is None else _calendar(code, year)[1]


def add_business_days(day: date, n: int, country: str | None) -> date:
    """``n`` business days after (``n < 0``: before) ``day``; ``n == 0`` rolls forward."""
    if n == 0:
        while not is_business_day(day, country):
            day += _ONE_DAY
        return day
    step = _ONE_DAY if n > 0 else -_ONE_DAY
    remaining = abs(n)
    while remaining:
        day += step
        if is_business_day(day, country):
            remaining -= 1
    return day


def add_days(day: date, n: int, country: str | None, *, business: bool) -> date:
    """``n`` calendar days, or business days of ``country`` when ``business``."""
    return add_business_days(day, n, country) if business else day + timedelta(days=n)


@lru_cache(maxsize=1024)
def zone(tz: str | None) -> ZoneInfo:
    """The IANA zone ``tz``; UTC for a blank or unknown name (see the module docstring)."""
    name = (tz or "").strip()
    if not name:
        return ZoneInfo("UTC")
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def local_day(instant: datetime, tz: str | None) -> date:
    """The calendar date at ``instant`` on the wall clock of ``tz``."""
    if instant.tzinfo is None:
        raise ValueError(f"naive datetime {instant!r}: an instant needs a time zone")
    return instant.astimezone(zone(tz)).date()


def send_instant(day: date, hour: int, tz: str | None) -> datetime:
    """``day`` at ``hour``:00 local time in ``tz``, as an aware UTC datetime (DST-correct)."""
    if not 0 <= hour <= 23:
        raise ValueError(f"send hour {hour} is not between 0 and 23")
    local = datetime.combine(day, time(hour), tzinfo=zone(tz))  # fold=0: see the docstring
    return local.astimezone(UTC)


def next_send_slot(instant: datetime, hour: int, tz: str | None, country: str | None, *,
                   business: bool) -> datetime:
    """The first send instant (``hour`` local) at or after ``instant``; on a business day of
    ``country`` when ``business``."""
    day = local_day(instant, tz)
    while True:
        if not business or is_business_day(day, country):
            slot = send_instant(day, hour, tz)
            if slot >= instant:
                return slot
        day += _ONE_DAY
