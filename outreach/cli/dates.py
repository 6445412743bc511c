"""Dates and instants typed at the command line, with errors a person can act on."""

from __future__ import annotations

from datetime import date, datetime, time
from zoneinfo import ZoneInfo

from outreach.errors import InvalidInput


def parse_date(value: str, option: str) -> date:
    try:
        return date.fromisoformat(value.strip())
    except ValueError:
        raise InvalidInput(f"{option} {value!r} is not a date: use YYYY-MM-DD, "
                           "e.g. 2027-03-31") from None


def parse_instant(value: str, option: str, tz: str) -> datetime:
    """A date (meaning its start, in the company's zone) or an ISO date-time."""
    text = value.strip()
    try:
        if len(text) == 10:
            return datetime.combine(date.fromisoformat(text), time(0), ZoneInfo(tz))
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise InvalidInput(f"{option} {value!r} is not a date or date-time: use YYYY-MM-DD "
                           "or YYYY-MM-DDTHH:MM") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=ZoneInfo(tz))
