"""A workbook as the validator sees it: named sheets of cell values, addressed like Excel.

Values are what the file stores: ``str``, ``float``/``int``, ``bool``, ``datetime``/``date``,
or ``None`` for an empty cell. Formulas are never evaluated here; their cached results are
just values (and may be missing in files saved by tools other than Excel).

Sheets are parsed on first use, so reading a CMRT touches only the sheets a check needs.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from python_calamine import CalamineWorkbook

CellValue = str | float | int | bool | Any | None

_REF = re.compile(r"^([A-Z]{1,3})([1-9][0-9]*)$")


def column_index(letters: str) -> int:
    """'A' → 0, 'Z' → 25, 'AA' → 26."""
    index = 0
    for char in letters:
        index = index * 26 + (ord(char) - 64)
    return index - 1


def parse_ref(ref: str) -> tuple[int, int]:
    """'D9' → (row 8, column 3), zero-based."""
    match = _REF.match(ref.upper())
    if not match:
        raise ValueError(f"not a cell reference: {ref!r}")
    return int(match.group(2)) - 1, column_index(match.group(1))


@dataclass(frozen=True)
class Sheet:
    name: str
    grid: Sequence[Sequence[CellValue]]

    def cell(self, ref: str) -> CellValue:
        row, col = parse_ref(ref)
        return self.at(row, col)

    def at(self, row: int, col: int) -> CellValue:
        """Zero-based access; outside the stored area is an empty cell."""
        if row >= len(self.grid):
            return None
        line = self.grid[row]
        if col >= len(line):
            return None
        value = line[col]
        return None if value == "" else value

    def rows(
        self, first: int, last: int | None = None
    ) -> Iterator[tuple[int, Sequence[CellValue]]]:
        """(1-based row number, row values) for rows ``first``..``last`` that are stored."""
        stop = len(self.grid) if last is None else min(last, len(self.grid))
        for index in range(first - 1, stop):
            yield index + 1, self.grid[index]


class SheetUnreadable(Exception):
    """A sheet of an opened workbook cannot be parsed (damage inside the sheet's XML)."""

    def __init__(self, sheet: str, detail: str) -> None:
        super().__init__(f"the sheet {sheet!r} is damaged and cannot be read ({detail})")
        self.sheet = sheet


@dataclass
class Workbook:
    """Sheets by name, parsed lazily from an already opened (decrypted, checked) workbook."""

    sheet_names: tuple[str, ...]
    _book: CalamineWorkbook = field(repr=False)
    _sheets: dict[str, Sheet] = field(default_factory=dict, repr=False)

    def has(self, name: str) -> bool:
        return name in self.sheet_names

    def sheet(self, name: str) -> Sheet:
        if name not in self._sheets:
            if name not in self.sheet_names:
                raise KeyError(name)
            try:
                grid = self._book.get_sheet_by_name(name).to_python(skip_empty_area=False)
            except (KeyboardInterrupt, SystemExit):
                raise
            except BaseException as exc:  # calamine reports damage as a Rust panic, too
                raise SheetUnreadable(name, f"{type(exc).__name__}: {exc}") from exc
            self._sheets[name] = Sheet(name, grid)
        return self._sheets[name]


def load_workbook_bytes(data: bytes) -> Workbook:
    """Parse workbook bytes that are known to be a plain (unencrypted) .xlsx/.xlsm/.xls.

    This is the bare parser; ``outreach.cmrt.opening.open_workbook`` is the guarded entry
    point for bytes from outside (type sniffing, size and zip-bomb caps, decryption).
    """
    book = CalamineWorkbook.from_filelike(io.BytesIO(data))
    return Workbook(tuple(book.sheet_names), book)
