"""Cells that cannot become formulas: CSV/formula injection neutralised (OWASP guidance).

A supplier controls its company name, its smelter names, countries, file names and every
finding's text. A spreadsheet program opening an export would run any of them that starts
with ``=``, ``+``, ``-`` or ``@`` (or a tab / carriage return before one) as a formula —
``=HYPERLINK(...)``, ``+cmd|' /C calc'!A0`` (DDE). :func:`safe` prefixes such a string with
an apostrophe, the OWASP "CSV Injection" recommendation, so Excel, LibreOffice and Google
Sheets all show it as text; the same prefixed text goes into the XLSX exports, where it is
also written as a string cell (never a formula: openpyxl only makes formulas of strings
that start with ``=``, which no neutralised string does). Characters XML 1.0 cannot hold
(control characters other than tab, LF, CR) are dropped from XLSX cells.

Every string cell of every export goes through :func:`safe`, not only the supplier's:
our own labels never start with a trigger, so they come out unchanged.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import UTC, date, datetime
from typing import Any

#: a value starting with one of these is treated as a formula (or DDE) by spreadsheets
TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
#: the longest text an Excel cell holds
MAX_CELL = 32_767
_ILLEGAL_XML = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")

Cell = str | int | float | date | datetime | None


def safe(value: str) -> str:
    """``value`` as inert text: an apostrophe before a leading formula trigger."""
    if value.startswith(TRIGGERS):
        return "'" + value
    return value


def safe_value(value: Any) -> Cell:
    """A cell for either format: strings neutralised, numbers and dates as they are."""
    if value is None or isinstance(value, bool):
        return None if value is None else ("Yes" if value else "No")
    if isinstance(value, int | float | date):
        return value
    return safe(str(value))


def csv_row(values: Iterable[Any]) -> list[str]:
    """One CSV row: every value as neutralised text (dates ISO, datetimes to the second)."""
    row: list[str] = []
    for value in values:
        cell = safe_value(value)
        if cell is None:
            row.append("")
        elif isinstance(cell, datetime):
            row.append(cell.replace(microsecond=0).isoformat())
        elif isinstance(cell, date):
            row.append(cell.isoformat())
        else:
            row.append(str(cell))
    return row


def xlsx_row(values: Iterable[Any]) -> list[Cell]:
    """One row for openpyxl: neutralised strings without XML-illegal characters, cut at
    Excel's cell limit; timezone-aware datetimes as naive UTC (Excel has no zones)."""
    row: list[Cell] = []
    for value in values:
        cell = safe_value(value)
        if isinstance(cell, str):
            cell = _ILLEGAL_XML.sub("", cell)[:MAX_CELL]
        elif isinstance(cell, datetime) and cell.tzinfo is not None:
            cell = cell.astimezone(UTC).replace(tzinfo=None, microsecond=0)
        row.append(cell)
    return row
