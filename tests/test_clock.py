from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta, timezone

import pytest

from outreach.core.clock import AcceleratedClock, FixedClock, SystemClock, ensure_utc, local_date

T0 = datetime(2027, 1, 11, 23, 30, tzinfo=UTC)


def test_system_clock_is_utc_aware() -> None:
    now = SystemClock().now()
    assert now.tzinfo is UTC
    assert abs((now - datetime.now(UTC)).total_seconds()) < 5


def test_fixed_clock_stands_still_until_moved() -> None:
    clock = FixedClock(T0)
    assert clock.now() == clock.now() == T0
    assert clock.advance(timedelta(days=3)) == T0 + timedelta(days=3)
    clock.set(datetime(2027, 2, 1, 12, tzinfo=timezone(timedelta(hours=8))))
    assert clock.now() == datetime(2027, 2, 1, 4, tzinfo=UTC)
    assert clock.now().tzinfo is UTC


def test_accelerated_clock_runs_faster_and_jumps() -> None:
    clock = AcceleratedClock(T0, speed=3600.0)  # an hour per second
    time.sleep(0.05)
    elapsed = clock.now() - T0
    assert timedelta(minutes=2) < elapsed < timedelta(hours=1)
    jumped = clock.advance(timedelta(days=30))
    assert jumped - T0 >= timedelta(days=30)


@pytest.mark.parametrize("bad", [datetime(2027, 1, 1), datetime(2027, 1, 1, 12, 0)])  # noqa: DTZ001
def test_naive_datetimes_are_refused(bad: datetime) -> None:
    with pytest.raises(ValueError, match="naive"):
        ensure_utc(bad)
    with pytest.raises(ValueError, match="naive"):
        FixedClock(bad)


def test_accelerated_clock_needs_positive_speed() -> None:
    with pytest.raises(ValueError, match="speed"):
        AcceleratedClock(T0, speed=0)


def test_local_date_follows_the_zone() -> None:
    clock = FixedClock(T0)  # 23:30 UTC on the 11th
    assert local_date(clock, None).day == 11
    assert local_date(clock, "Asia/Shanghai").day == 12  # already 07:30 on the 12th
    assert local_date(clock, "America/Mexico_City").day == 11
