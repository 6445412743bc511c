"""Coverage figures, pure: ratios, the daily series, the projected date of 100%, the change.

Definitions (docs/digest.md):

* **in scope**: the campaign's requests minus the exempt ones (an exempt supplier is listed
  apart, with its reason, never counted as covered);
* **coverage**: requests with an accepted CMRT / in scope;
* **responded**: requests with any real reply (``responded_at``: not an auto-reply) / in
  scope — shown beside coverage so neither figure flatters the other;
* **series**: accepted requests at the end of each day, from the ``request.accepted``
  events (first acceptance per request), against today's in-scope count;
* **projection**: at the acceptance rate of the last ``window`` days, the day the last
  in-scope supplier would be accepted; None when that rate is 0.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

#: the acceptance rate the projection extrapolates is measured over this many days
RATE_WINDOW_DAYS = 14


def ratio(part: int, whole: int) -> float | None:
    """``part / whole`` rounded to 4 places; None when there is nothing to divide by."""
    return round(part / whole, 4) if whole else None


@dataclass(frozen=True)
class SeriesPoint:
    day: date
    accepted: int
    coverage: float | None


def daily_series(accepted_days: Iterable[date], *, start: date, end: date,
                 in_scope: int) -> list[SeriesPoint]:
    """Cumulative accepted requests at the end of each day from ``start`` to ``end``
    (acceptances before ``start`` count from the first day)."""
    if end < start:
        start = end
    per_day = Counter(accepted_days)
    running = sum(n for d, n in per_day.items() if d < start)
    points: list[SeriesPoint] = []
    day = start
    while day <= end:
        running += per_day.get(day, 0)
        points.append(SeriesPoint(day, running, ratio(running, in_scope)))
        day += timedelta(days=1)
    return points


@dataclass(frozen=True)
class Projection:
    #: accepted per day over the window
    rate_per_day: float
    #: the day 100% is reached at that rate (today when already there); None: rate 0
    complete_on: date | None


def project(series: list[SeriesPoint], *, in_scope: int,
            window: int = RATE_WINDOW_DAYS) -> Projection:
    """Extrapolate the last ``window`` days' acceptance rate from the series' last day."""
    if not series:
        return Projection(0.0, None)
    last = series[-1]
    if in_scope and last.accepted >= in_scope:
        return Projection(0.0, last.day)
    earlier = next((p for p in reversed(series) if p.day <= last.day - timedelta(days=window)),
                   None)
    base = earlier.accepted if earlier is not None else 0
    days = window if earlier is not None else max((last.day - series[0].day).days + 1, 1)
    rate = (last.accepted - base) / days
    if rate <= 0 or not in_scope:
        return Projection(round(rate, 4), None)
    remaining = in_scope - last.accepted
    return Projection(round(rate, 4), last.day + timedelta(days=math.ceil(remaining / rate)))


def is_complete(accepted: int, in_scope: int) -> bool:
    """Every supplier in scope has an accepted CMRT (and there is at least one)."""
    return in_scope > 0 and accepted >= in_scope


def change(previous: Mapping[str, Any] | None, current: Mapping[str, Any]) -> dict[str, Any]:
    """What moved since the figures a previous digest reported (None: the first digest)."""
    if not previous:
        return {"previous_period": None, "accepted": None, "responded": None,
                "coverage_points": None}

    def delta(key: str) -> int | None:
        before, now = previous.get(key), current.get(key)
        return None if before is None or now is None else int(now) - int(before)

    before_cov, now_cov = previous.get("coverage"), current.get("coverage")
    points = (None if before_cov is None or now_cov is None
              else round((float(now_cov) - float(before_cov)) * 100, 1))
    return {"previous_period": previous.get("period"), "accepted": delta("accepted"),
            "responded": delta("responded"), "coverage_points": points}
