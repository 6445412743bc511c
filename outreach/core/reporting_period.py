"""The reporting period of a campaign, and the one definition of a "stale" declaration.

A campaign's reporting year is the calendar year its suppliers declare for (Form SD covers
January 1 to December 31). A supplier declaration is *stale* when its effective date lies
more than 12 months before that period starts: for reporting year 2026, anything dated
before 1 January 2025. Every part of outreach that asks "is this declaration too old?"
(the validator, the digest, the exports) uses ``is_stale``.
"""

from __future__ import annotations

from datetime import date

STALE_MONTHS = 12


def period_start(reporting_year: int) -> date:
    return date(reporting_year, 1, 1)


def period_end(reporting_year: int) -> date:
    return date(reporting_year, 12, 31)


def stale_before(reporting_year: int) -> date:
    """The earliest effective date that is not stale for ``reporting_year``."""
    start = period_start(reporting_year)
    return date(start.year - STALE_MONTHS // 12, start.month, start.day)


def is_stale(effective: date, reporting_year: int) -> bool:
    return effective < stale_before(reporting_year)
