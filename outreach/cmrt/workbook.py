"""A workbook as the validator sees it: named sheets of cell values, addressed like Excel.

Values are what the file stores: ``str``, ``float``/``int``, ``bool``, ``datetime``/``date``,
or ``None`` for an empty cell. Formulas are never evaluated here; their cached results are
just values (and may be missing in files saved by tools other than Excel).

Sheets are parsed on first use, so reading a CMRT touches only the sheets a check needs.
An .xlsx is read by ``xlsx_reader`` (a fast path over the sheet XML that yields exactly
calamine's values); whatever that path cannot vouch for - and every .xls - is read by
calamine, opened only when first needed.
"""

from __future__ import annotations

import hashlib
import io
import posixpath
import re
import threading
import zipfile
from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar, cast

from defusedxml import ElementTree as safe_et
from python_calamine import CalamineWorkbook

from outreach.cmrt.xlsx_reader import SPELLED_OUT, XlsxReader, column_number

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
    """Sheets by name, parsed lazily from an already opened (decrypted, checked) workbook.

    ``_fast`` reads .xlsx sheets; ``_book`` (calamine) is opened from ``_data`` the first
    time a sheet needs it, or given up front for .xls.
    """

    sheet_names: tuple[str, ...]
    _book: CalamineWorkbook | None = field(repr=False)
    _sheets: dict[str, Sheet] = field(default_factory=dict, repr=False)
    _fast: XlsxReader | None = field(default=None, repr=False)
    _data: bytes | None = field(default=None, repr=False)
    _formulas: dict[str, frozenset[str] | None] = field(default_factory=dict, repr=False)
    _digests: dict[str, str | None] = field(default_factory=dict, repr=False)
    _xml: dict[str, bytes] = field(default_factory=dict, repr=False)

    def has(self, name: str) -> bool:
        return name in self.sheet_names

    def sheet(self, name: str) -> Sheet:
        found = self._sheets.get(name)
        if found is not None:
            return found
        if name not in self.sheet_names:
            raise KeyError(name)
        grid = self._fast_grid(name)
        if grid is None:
            self._refuse_huge(name)
            try:
                grid = self._calamine().get_sheet_by_name(name).to_python(skip_empty_area=False)
            except (KeyboardInterrupt, SystemExit):
                raise
            except BaseException as exc:  # calamine reports damage as a Rust panic, too
                raise SheetUnreadable(name, f"{type(exc).__name__}: {exc}") from exc
        sheet = self._sheets[name] = Sheet(name, grid)
        return sheet

    def _fast_grid(self, name: str) -> Sequence[Sequence[CellValue]] | None:
        """The fast reader's grid, or None when calamine must decide (unusual XML, damage)."""
        if self._fast is None:
            return None
        try:
            xml = self._fast.xml(name)
            self._xml[name] = xml  # kept: formulas() and derived() read it again
            return self._fast.parser.grid(xml)
        except (KeyboardInterrupt, SystemExit, MemoryError):
            raise
        except Exception:
            return None

    def derived(self, name: str, what: str, compute: Callable[[Workbook], T]) -> T:
        """``compute(self)``, shared by every workbook whose sheet ``name`` has the same bytes.

        Every supplier's CMRT carries RMI's Smelter Look-up unchanged (1.3 MB of XML, 3,000
        rows): what is read from it is computed once per distinct sheet, keyed by the sha256
        of its XML (so a modified look-up never borrows another file's result).
        """
        digest = self._sheet_digest(name)
        if digest is None:
            return compute(self)
        key = (digest, what)
        with _DERIVED_LOCK:
            if key in _DERIVED:
                _DERIVED.move_to_end(key)
                return cast(T, _DERIVED[key])
        value = compute(self)
        with _DERIVED_LOCK:
            _DERIVED[key] = value
            while len(_DERIVED) > _DERIVED_MAX:
                _DERIVED.popitem(last=False)
        return value

    def _sheet_xml(self, name: str) -> bytes | None:
        if name in self._xml:
            return self._xml[name]
        if self._data is None or self._data[:4] != b"PK\x03\x04":
            return None
        return _sheet_xml(self._data, name, self._fast)

    def _sheet_digest(self, name: str) -> str | None:
        if name not in self._digests:
            xml = self._sheet_xml(name)
            self._digests[name] = hashlib.sha256(xml).hexdigest() if xml is not None else None
        return self._digests[name]

    def formulas(self, name: str) -> frozenset[str] | None:
        """The cells of sheet ``name`` that hold a formula ("B40", …); None when unknown
        (.xls, or cells without references). Read from the sheet XML on first use."""
        if name not in self._formulas:
            xml = self._sheet_xml(name)
            found: frozenset[str] | None = None
            if xml is not None:
                found = _formula_cells(xml)
            self._formulas[name] = found
        return self._formulas[name]

    def _refuse_huge(self, name: str) -> None:
        """calamine spells every sheet out as a dense grid and aborts the whole process when
        that cannot be allocated (a value at XFD1048576 means 17 billion cells): measure an
        .xlsx sheet's extent first. (.xls is bounded by its format: 65,536 rows by 256 columns.)"""
        if self._data is None or self._data[:4] != b"PK\x03\x04":
            return
        xml = self._sheet_xml(name)
        if xml is None:
            return
        rows, cols = value_extent(xml)
        if rows * cols > MAX_DENSE_CELLS:
            raise SheetUnreadable(name, f"it spans {rows:,} rows × {cols:,} columns, more than "
                                        "a reporting template can hold")

    def _calamine(self) -> CalamineWorkbook:
        if self._book is None:
            if self._data is None:
                raise ValueError("no workbook bytes to parse")
            self._book = CalamineWorkbook.from_filelike(io.BytesIO(self._data))
        return self._book


#: the largest grid handed to calamine (a CMRT's biggest sheet has about 120,000 cells)
MAX_DENSE_CELLS = SPELLED_OUT
_TOKEN = re.compile(rb"<row\b([^>]*?)(/?)>|<c\b([^>]*?)(/?)>")
_ROW_NUMBER = re.compile(rb'\br="(\d+)"')
_CELL_REF = re.compile(rb'\br="([A-Z]{1,3})(\d+)"')
T = TypeVar("T")
#: results of ``Workbook.derived``, by (sheet sha256, what): a few templates' look-ups
_DERIVED: OrderedDict[tuple[str, str], object] = OrderedDict()
_DERIVED_MAX = 32
_DERIVED_LOCK = threading.Lock()
_FORMULA_CELL = re.compile(rb'<c\b[^>]*?\br="([A-Z]{1,3}\d+)"[^>]*>\s*<f\b')
#: the same when every cell starts with its reference, as Excel and LibreOffice write them
_FORMULA_CELL_R_FIRST = re.compile(rb'<c r="([A-Z]{1,3}\d+)"[^>]*>\s*<f\b')
_UNREFERENCED_CELL = re.compile(rb'<c(?:\s(?![^>]*\br=)[^>]*)?/?>')


def value_extent(xml: bytes) -> tuple[int, int]:
    """(rows, columns) a sheet's cells with content reach, counting positions the way a
    reader does for rows and cells without ``r=``; empty (self-closing) cells do not count."""
    row = col = max_row = max_col = 0
    for match in _TOKEN.finditer(xml):
        if match.group(0).startswith(b"<row"):
            found = _ROW_NUMBER.search(match.group(1))
            row = int(found.group(1)) if found else row + 1
            col = 0
            continue
        found = _CELL_REF.search(match.group(3))
        cell_row = row
        if found:
            col = column_number(found.group(1))
            cell_row = int(found.group(2))
        else:
            col += 1
        if match.group(4) != b"/":
            max_row, max_col = max(max_row, cell_row), max(max_col, col)
    return max_row, max_col


def _sheet_xml(data: bytes, name: str, fast: XlsxReader | None) -> bytes | None:
    """The worksheet part of sheet ``name`` (through workbook.xml and its relationships)."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            path = fast.paths.get(name) if fast is not None else None
            if path is None:
                path = _sheet_path(archive, name)
            return archive.read(path) if path else None
    except (KeyError, zipfile.BadZipFile, ValueError, OSError):
        return None


def _sheet_path(archive: zipfile.ZipFile, name: str) -> str | None:
    main = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}"
    rel = "{http://schemas.openxmlformats.org/officeDocument/2006/relationships}"
    package = "{http://schemas.openxmlformats.org/package/2006/relationships}"
    try:
        book = safe_et.fromstring(archive.read("xl/workbook.xml"))
        rels = safe_et.fromstring(archive.read("xl/_rels/workbook.xml.rels"))
    except Exception:
        return None
    rid = next((s.get(f"{rel}id") for s in book.iter(f"{main}sheet") if s.get("name") == name),
               None)
    target = next((r.get("Target") for r in rels.iter(f"{package}Relationship")
                   if r.get("Id") == rid), None)
    if not target:
        return None
    return target.lstrip("/") if target.startswith("/") else posixpath.normpath(
        posixpath.join("xl", target))


_FAST_PARTS = (
    "xl/workbook.xml",
    "xl/_rels/workbook.xml.rels",
    "xl/sharedStrings.xml",
    "xl/styles.xml",
)


def keeps_part(name: str) -> bool:
    """Parts ``load_workbook_bytes`` reads from ``parts`` when given (the rest from the zip)."""
    return name in _FAST_PARTS or (name.startswith("xl/worksheets/") and name.endswith(".xml"))


def load_workbook_bytes(data: bytes, parts: Mapping[str, bytes] | None = None) -> Workbook:
    """Parse workbook bytes that are known to be a plain (unencrypted) .xlsx/.xlsm/.xls.

    This is the bare parser; ``outreach.cmrt.opening.open_workbook`` is the guarded entry
    point for bytes from outside (type sniffing, size and zip-bomb caps, decryption).
    ``parts`` may hold already decompressed (and checked) zip members, to save a second
    decompression.
    """
    if data[:4] == b"PK\x03\x04":
        fast = _fast_reader(data, parts or {})
        if fast is not None:
            return Workbook(fast.sheet_names, None, {}, fast, data)
    book = CalamineWorkbook.from_filelike(io.BytesIO(data))
    return Workbook(tuple(book.sheet_names), book, _data=data)


def _fast_reader(data: bytes, parts: Mapping[str, bytes]) -> XlsxReader | None:
    archive: list[zipfile.ZipFile] = []
    pending = dict(parts)  # each part is read once; let go of it once parsed

    def read(name: str) -> bytes | None:
        found = pending.pop(name, None)
        if found is not None:
            return found
        if not archive:
            archive.append(zipfile.ZipFile(io.BytesIO(data)))
        try:
            return archive[0].read(name)
        except KeyError:
            return None

    try:
        reader = XlsxReader.open(read)
    except (KeyboardInterrupt, SystemExit, MemoryError):
        raise
    except Exception:
        return None
    return reader if reader.sheet_names else None


def _formula_cells(xml: bytes) -> frozenset[str] | None:
    """The references of the cells holding a formula; None when some cell has no reference.

    A Smelter List holds 35,000 formula cells: the usual markup (``<c r=`` first) is read
    with the cheaper pattern, and the references are joined and split in C.
    """
    if xml.count(b"<c ") == xml.count(b'<c r="') and b"<c>" not in xml and b"<c/>" not in xml:
        found = _FORMULA_CELL_R_FIRST.findall(xml)
    elif _UNREFERENCED_CELL.search(xml):
        return None
    else:
        found = _FORMULA_CELL.findall(xml)
    return frozenset(b" ".join(found).decode().split())
