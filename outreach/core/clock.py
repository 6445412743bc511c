"""The one place the service reads the time.

Every component takes a :class:`Clock` instead of calling ``datetime.now()``: production uses
:class:`SystemClock`, tests a :class:`FixedClock` they move by hand, and season simulations an
:class:`AcceleratedClock` on which months pass in minutes. All clocks return UTC-aware datetimes.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Protocol
from zoneinfo import ZoneInfo


class Clock(Protocol):
    def now(self) -> datetime:
        """The current instant, UTC-aware."""
        ...


def ensure_utc(value: datetime) -> datetime:
    """Return ``value`` in UTC; a naive datetime is a programming error, not an assumption."""
    if value.tzinfo is None or value.tzinfo.utcoffset(value) is None:
        raise ValueError(f"naive datetime {value!r}: every instant in outreach carries a time zone")
    return value.astimezone(UTC)


class SystemClock:
    """The wall clock."""

    def now(self) -> datetime:
        return datetime.now(UTC)

    def __repr__(self) -> str:
        return "SystemClock()"


@dataclass
class FixedClock:
    """Stands still until moved; for tests and for rehearsing a date (``clock.mode = "fixed"``)."""

    at: datetime
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def __post_init__(self) -> None:
        self.at = ensure_utc(self.at)

    def now(self) -> datetime:
        with self._lock:
            return self.at

    def advance(self, delta: timedelta) -> datetime:
        with self._lock:
            self.at += delta
            return self.at

    def set(self, at: datetime) -> None:
        with self._lock:
            self.at = ensure_utc(at)


@dataclass
class AcceleratedClock:
    """Starts at ``start`` and runs ``speed`` times faster than real time; can also jump.

    A simulation may both let time flow (``speed``) and skip idle stretches (``advance``).
    """

    start: datetime
    speed: float = 1.0
    _offset: timedelta = field(default=timedelta(0), repr=False)
    _t0: float = field(default_factory=time.monotonic, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.speed <= 0:
            raise ValueError("an accelerated clock needs a speed above 0")
        self.start = ensure_utc(self.start)

    def now(self) -> datetime:
        with self._lock:
            elapsed = (time.monotonic() - self._t0) * self.speed
            return self.start + self._offset + timedelta(seconds=elapsed)

    def advance(self, delta: timedelta) -> datetime:
        with self._lock:
            self._offset += delta
        return self.now()


def local_date(clock: Clock, tz: str | None) -> date:
    """Today's date where the supplier (or the company) is; UTC when no zone is known."""
    now = clock.now()
    return now.astimezone(ZoneInfo(tz)).date() if tz else now.date()
