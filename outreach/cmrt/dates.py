"""Effective dates as suppliers store them: date cells, serial numbers, or text.

FORMAT.md §2.4: real files carry ``datetime`` cells, Excel serials in general-formatted
cells, ``DD-MMM-YYYY`` text (the format the template asks for) and ISO text from old
tools. Anything else (e.g. ``05/06/2024``, which is 5 June or 6 May depending on who typed
it) is not guessed at: the caller reports it so the supplier can fix it.
"""

from __future__ import annotations

import datetime as dt
import re

#: the template's data validation: dates after 31-Dec-2006 (serial 39082)
EARLIEST = dt.date(2006, 12, 31)
_EXCEL_EPOCH = dt.date(1899, 12, 30)
_MONTHS = {name: number for number, name in enumerate(
    ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"), 1)}
_DMY_TEXT = re.compile(r"^(\d{1,2})[-/ .]([A-Za-z]{3,9})\.?[-/ .,]*(\d{4})$")
_ISO = re.compile(r"^(\d{4})[-/.](\d{1,2})[-/.](\d{1,2})(?:[T ][0-9:.]+)?$")
_MAX_SERIAL = 2958465  # 31-Dec-9999


def parse_effective_date(value: object) -> dt.date | None:
    """The date a cell stands for, or None when it is blank or not an unambiguous date."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    if isinstance(value, (int, float)):
        if not 1 <= value <= _MAX_SERIAL:
            return None
        return _EXCEL_EPOCH + dt.timedelta(days=int(value))
    text = " ".join(str(value).split())
    if not text:
        return None
    if match := _DMY_TEXT.match(text):
        day, month_name, year = match.groups()
        month = _MONTHS.get(month_name[:3].lower())
        if month is None or (len(month_name) > 3 and not _is_month_name(month_name)):
            return None
        return _date(int(year), month, int(day))
    if match := _ISO.match(text):
        year, month, day = (int(part) for part in match.groups())
        return _date(year, month, day)
    return None


def _is_month_name(word: str) -> bool:
    full = ("january", "february", "march", "april", "may", "june", "july", "august",
            "september", "october", "november", "december", "sept")
    return word.lower() in full


def _date(year: int, month: int, day: int) -> dt.date | None:
    try:
        return dt.date(year, month, day)
    except ValueError:
        return None
