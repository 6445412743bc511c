"""Read and validate the supplier file behind ``outreach supplier import FILE``.

This module is pure: it touches no database and no network, so the CLI (and its tests) can
show a person every problem in their file before anything is written. The import is
unattended afterwards, so the reader is strict where silence would lose data (unknown
columns, values without a header, unbalanced quotes) and lenient where the meaning is
unambiguous (header spelling, stray whitespace, ``senior officer`` for ``senior_officer``).

The one documented layout is described in ``docs/supplier-file.md``.
"""

from __future__ import annotations

import csv
import datetime as dt
import difflib
import io
import re
import unicodedata
import warnings
import zipfile
import zlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import TypeVar
from xml.etree.ElementTree import ParseError
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

import pycountry
from email_validator import EmailNotValidError, validate_email
from openpyxl import load_workbook
from openpyxl.utils import get_column_letter
from openpyxl.utils.exceptions import InvalidFileException
from openpyxl.workbook.workbook import Workbook
from openpyxl.worksheet._read_only import ReadOnlyWorksheet

from outreach.core.enums import ContactRole

__all__ = [
    "COLUMNS",
    "CSV_SUFFIXES",
    "DEFAULT_LANGUAGE",
    "OPTIONAL_COLUMNS",
    "REQUIRED_COLUMNS",
    "SUPPLIERS_SHEET",
    "XLSX_SUFFIXES",
    "ContactRow",
    "ProgressCallback",
    "RowProblem",
    "SupplierFile",
    "SupplierFileError",
    "SupplierRow",
    "read_supplier_file",
]

#: Every column of the layout, in the documented (and generated) order.
COLUMNS: tuple[str, ...] = (
    "code",
    "name",
    "contacts",
    "country",
    "time_zone",
    "language",
    "email_domains",
    "buyer",
    "scope_tags",
)
REQUIRED_COLUMNS: tuple[str, ...] = ("code", "name", "contacts")
OPTIONAL_COLUMNS: tuple[str, ...] = tuple(c for c in COLUMNS if c not in REQUIRED_COLUMNS)
DEFAULT_LANGUAGE = "en"
CSV_SUFFIXES = frozenset({".csv"})
XLSX_SUFFIXES = frozenset({".xlsx", ".xlsm"})
SUPPLIERS_SHEET = "Suppliers"
CODE_MAX_LENGTH = 64

#: ``on_progress(done, total)``: data rows read so far, and the expected number (None if unknown).
ProgressCallback = Callable[[int, int | None], None]

T = TypeVar("T")


# --------------------------------------------------------------------------------------------
# Public result types
# --------------------------------------------------------------------------------------------


class SupplierFileError(Exception):
    """The whole file is unusable (wrong type, encoding, header...); nothing can be imported.

    ``str(error)`` is a complete message for a person; it does not repeat the file name, so
    the caller can prefix it. ``line`` is the line the problem was found on, when there is one.
    """

    def __init__(self, message: str, *, line: int | None = None) -> None:
        super().__init__(message)
        self.line = line


@dataclass(frozen=True)
class ContactRow:
    """One supplier contact; ``email`` is normalised (domain lower-cased, Unicode NFC)."""

    role: ContactRole
    email: str
    name: str | None


@dataclass(frozen=True)
class SupplierRow:
    """One valid supplier row, normalised and ready to upsert by ``code``.

    ``email_domains`` and ``scope_tags`` are sorted and unique so that re-importing an
    unchanged file compares equal; ``contacts`` keep the file's order. The same address may
    appear under several roles (a small supplier's primary contact is often also the senior
    officer), but never twice under one role.
    """

    line: int
    code: str
    name: str
    country: str | None
    time_zone: str | None
    language: str
    email_domains: tuple[str, ...]
    buyer: str | None
    scope_tags: tuple[str, ...]
    contacts: tuple[ContactRow, ...]


@dataclass(frozen=True)
class RowProblem:
    """Why one row cannot be imported.

    ``column`` is the layout's column name (None when the problem is not about one column);
    ``code`` is the row's code as written (None when empty), to help a person find the row;
    ``message`` names the offending value and says what is expected.
    """

    line: int
    column: str | None
    code: str | None
    message: str

    def __str__(self) -> str:
        where = f"line {self.line}" + (f", {self.column}" if self.column else "")
        return f"{where}: {self.message}"


@dataclass(frozen=True)
class SupplierFile:
    """The result of reading a file: the valid rows, and the problems of the others.

    A row with any problem is left out of ``rows``; ``problems`` holds all of its problems,
    ordered by line.
    """

    path: Path
    rows: tuple[SupplierRow, ...]
    problems: tuple[RowProblem, ...]

    @property
    def ok(self) -> bool:
        """True when every row is valid, i.e. the import may proceed without --skip-invalid."""
        return not self.problems

    @property
    def invalid_lines(self) -> tuple[int, ...]:
        """The lines that were left out, for a summary such as "3 rows skipped"."""
        return tuple(sorted({p.line for p in self.problems}))


# --------------------------------------------------------------------------------------------
# Entry point
# --------------------------------------------------------------------------------------------


def read_supplier_file(path: Path, *, on_progress: ProgressCallback | None = None) -> SupplierFile:
    """Read ``path`` (CSV or XLSX) and validate every row.

    Raises :class:`SupplierFileError` when the file as a whole is unusable; otherwise returns
    every valid row and one :class:`RowProblem` per problem of every invalid row, so a person
    can fix the whole file in one go.
    """
    path = Path(path)
    with _open_records(path) as source:
        return _read_records(path, source, on_progress)


@dataclass
class _Source:
    """Raw records of a file: ``(line, cell values)``, and how many there are when known."""

    records: Iterator[tuple[int, Sequence[object]]]
    total_records: int | None  # header and blank records included
    is_csv: bool


def _read_records(
    path: Path, source: _Source, on_progress: ProgressCallback | None
) -> SupplierFile:
    """Validate the header, then each data record, reporting progress as it goes."""
    consumed, header_line, header_cells = _first_non_blank(source.records)
    columns = _map_header(header_cells, header_line)
    total = None if source.total_records is None else max(source.total_records - consumed, 0)
    progress = _Progress(on_progress, total)
    checker = _FileChecker(columns, is_csv=source.is_csv)
    for line, cells in source.records:
        checker.check(line, cells)
        progress.step()
    progress.finish()
    if not checker.rows and not checker.problems:
        raise SupplierFileError(
            f"no supplier rows: the file has a header (line {header_line}) but no rows below it"
        )
    return SupplierFile(path=path, rows=tuple(checker.rows), problems=tuple(checker.problems))


def _first_non_blank(
    records: Iterator[tuple[int, Sequence[object]]],
) -> tuple[int, int, list[str]]:
    """The header is the first row with any text (leading blank lines are tolerated).

    Returns how many records were consumed, the header's line and its cell texts.
    """
    for consumed, (line, cells) in enumerate(records, start=1):
        texts = [_header_text(cell) for cell in cells]
        if any(texts):
            return consumed, line, texts
    raise SupplierFileError("no supplier rows: the file is empty (not even a header row)")


class _Progress:
    """Calls ``on_progress`` for every row; drops a declared total that proved wrong."""

    def __init__(self, callback: ProgressCallback | None, total: int | None) -> None:
        self._callback = callback
        self._total = total
        self._done = 0
        if callback is not None:
            callback(0, total)

    def step(self) -> None:
        self._done += 1
        if self._callback is None:
            return
        if self._total is not None and self._done > self._total:
            self._total = None  # an XLSX may declare too small a size; better unknown than wrong
        self._callback(self._done, self._total)

    def finish(self) -> None:
        """A last call with ``done == total`` lets a progress bar reach 100 %."""
        if self._callback is not None:
            self._callback(self._done, self._done)


# --------------------------------------------------------------------------------------------
# Opening files
# --------------------------------------------------------------------------------------------


@contextmanager
def _open_records(path: Path) -> Iterator[_Source]:
    """Pick the reader by suffix; the suffix is what a person sees and controls."""
    suffix = path.suffix.lower()
    if suffix in CSV_SUFFIXES:
        yield _csv_source(path)
    elif suffix in XLSX_SUFFIXES:
        with _xlsx_source(path) as source:
            yield source
    else:
        raise SupplierFileError(_unsupported_suffix_message(suffix))


def _unsupported_suffix_message(suffix: str) -> str:
    expected = "expected a .csv (CSV UTF-8) or .xlsx/.xlsm (Excel workbook) file"
    if suffix == ".xls":
        return (
            "old Excel 97-2003 .xls files are not supported; in Excel use "
            "File > Save As > 'Excel Workbook (*.xlsx)' or 'CSV UTF-8 (*.csv)'"
        )
    if not suffix:
        return f"the file name has no suffix, so its type is unknown; {expected}"
    return f"unsupported file type {suffix!r}; {expected}"


def _read_bytes(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as error:
        raise SupplierFileError(f"cannot read the file: {error.strerror or error}") from error


def _csv_source(path: Path) -> _Source:
    """Decode strictly as UTF-8 and parse the whole file up front (CSV parsing is cheap)."""
    text = _decode_csv(_read_bytes(path))
    lines = io.StringIO(text, newline="")
    delimiter = _sniff_delimiter(text)
    if _SEP_DIRECTIVE.match(text):
        lines.readline()  # Excel's "sep=;" hint line; line numbers stay physical
    records = _parse_csv(lines, delimiter, first_line=1 if lines.tell() == 0 else 2)
    return _Source(records=iter(records), total_records=len(records), is_csv=True)


_SEP_DIRECTIVE = re.compile(r"\Asep=([,;])\s*(?:\r\n|\r|\n|\Z)", re.IGNORECASE)


def _decode_csv(data: bytes) -> str:
    """UTF-8 only: guessing a legacy code page would silently garble names like Müller."""
    if data.startswith(b"PK\x03\x04"):
        raise SupplierFileError(
            "this looks like an Excel workbook, not a CSV file; rename it to .xlsx, "
            "or in Excel use File > Save As > 'CSV UTF-8 (Comma delimited) (*.csv)'"
        )
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise SupplierFileError(
            "the file is UTF-16 ('Unicode Text'), not UTF-8; in Excel use "
            "File > Save As > 'CSV UTF-8 (Comma delimited) (*.csv)'"
        )
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = data.count(b"\n", 0, error.start) + 1
        raise SupplierFileError(
            f"the file is not valid UTF-8 (first invalid byte on line {line}); it was probably "
            "saved as plain 'CSV' in a legacy encoding. In Excel use File > Save As > "
            "'CSV UTF-8 (Comma delimited) (*.csv)'",
            line=line,
        ) from error


def _sniff_delimiter(text: str) -> str:
    """Decide between ',' and ';' from the header line, where neither belongs in a name.

    Data lines are no guide: contacts legitimately contain ';' and names contain ','.
    """
    directive = _SEP_DIRECTIVE.match(text)
    if directive:
        return directive.group(1)
    header = next((line for line in text.splitlines() if line.strip()), "")
    return ";" if header.count(";") > header.count(",") else ","


def _parse_csv(
    lines: io.StringIO, delimiter: str, *, first_line: int
) -> list[tuple[int, Sequence[object]]]:
    """Each record gets the physical line it starts on; quoted fields may span lines."""
    reader = csv.reader(lines, delimiter=delimiter, strict=True)
    records: list[tuple[int, Sequence[object]]] = []
    start = first_line
    try:
        for fields in reader:
            records.append((start, fields))
            start = reader.line_num + first_line
    except csv.Error as error:
        raise SupplierFileError(_csv_error_message(error, start, delimiter), line=start) from error
    return records


def _csv_error_message(error: csv.Error, line: int, delimiter: str) -> str:
    reason = str(error)
    if "unexpected end of data" in reason:
        return (
            f"line {line}: a quoted value opened on this line is never closed (a '\"' is "
            "missing), so the rest of the file would be read as one value"
        )
    if "expected after" in reason:
        return (
            f"line {line}: a quoted value is followed by more text before the next "
            f'{delimiter!r}; write a quote inside a quoted value as two quotes ("")'
        )
    return f"line {line}: the file is not valid CSV: {reason}"


@contextmanager
def _xlsx_source(path: Path) -> Iterator[_Source]:
    """Stream rows with openpyxl's read-only mode (fast, low memory), always closing the file."""
    workbook = _load_workbook(path)
    try:
        sheet = _pick_sheet(workbook)
        declared_rows = sheet.max_row
        # Some exporters write a wrong <dimension>; trusting it would silently cut columns off.
        sheet.reset_dimensions()
        yield _Source(
            records=_xlsx_rows(sheet.iter_rows(values_only=True)),
            total_records=declared_rows,  # spreadsheet rows are records one to one
            is_csv=False,
        )
    finally:
        workbook.close()


_XLSX_LOAD_ERRORS = (
    zipfile.BadZipFile,
    InvalidFileException,
    KeyError,
    ParseError,
    zlib.error,
    EOFError,
    ValueError,
    TypeError,
)


def _load_workbook(path: Path) -> Workbook:
    if not path.is_file():
        _read_bytes(path)  # raises the OS's own reason (missing, a directory, no permission)
    try:
        with warnings.catch_warnings():
            # openpyxl warns about unsupported extensions (data validation, styles); the
            # values are still read correctly, and the warnings would only confuse the CLI.
            warnings.simplefilter("ignore", UserWarning)
            return load_workbook(path, read_only=True, data_only=True)
    except OSError as error:
        raise SupplierFileError(f"cannot read the file: {error.strerror or error}") from error
    except _XLSX_LOAD_ERRORS as error:
        raise SupplierFileError(_not_xlsx_message(path)) from error


def _not_xlsx_message(path: Path) -> str:
    head = _read_bytes(path)[:8]
    if head.startswith(b"\xd0\xcf\x11\xe0"):
        hint = "it looks like an old .xls file or a password-protected workbook"
    elif not head.startswith(b"PK"):
        hint = "it does not even look like a zip archive (is it a CSV renamed to .xlsx?)"
    else:
        hint = "it is damaged or not an Excel workbook"
    return (
        f"the file is not a valid Excel workbook: {hint}; open it in Excel and save it as "
        "'Excel Workbook (*.xlsx)' or 'CSV UTF-8 (*.csv)'"
    )


def _pick_sheet(workbook: Workbook) -> ReadOnlyWorksheet:
    """The sheet named Suppliers if present (any case), else the first worksheet."""
    sheets = workbook.worksheets
    if not sheets:
        raise SupplierFileError("the workbook has no worksheet")
    by_name = {sheet.title.strip().casefold(): sheet for sheet in sheets}
    return by_name.get(SUPPLIERS_SHEET.casefold(), sheets[0])


def _xlsx_rows(rows: Iterable[tuple[object, ...]]) -> Iterator[tuple[int, Sequence[object]]]:
    """Number rows as the spreadsheet does; openpyxl fills gaps, so the count is the row."""
    try:
        yield from enumerate(rows, start=1)
    except _XLSX_LOAD_ERRORS as error:
        raise SupplierFileError(
            f"the workbook is damaged and cannot be read to the end ({error})"
        ) from error


# --------------------------------------------------------------------------------------------
# Cells and header
# --------------------------------------------------------------------------------------------

_INVISIBLE = dict.fromkeys(map(ord, "\u200b\u2060\ufeff"))  # zero-width space, word joiner, BOM
_EXCEL_ERRORS = frozenset(
    {"#NULL!", "#DIV/0!", "#VALUE!", "#REF!", "#NAME?", "#NUM!", "#N/A", "#SPILL!", "#CALC!"}
)


def _clean(text: str) -> str:
    """Collapse every run of whitespace (tabs, newlines, NBSP...) to one space, NFC-normalised.

    Copy-paste from web pages and ERPs brings non-breaking and zero-width spaces that a
    person cannot see but that would make codes and addresses differ.
    """
    if not text.isascii():  # ASCII needs neither (and is most cells: keep it fast)
        text = unicodedata.normalize("NFC", text.translate(_INVISIBLE))
    return " ".join(text.split())


class _CellError(Exception):
    """A cell whose value cannot be read as text (a date, an Excel error)."""


def _cell_text(value: object) -> str:
    """Turn one cell into clean text; Excel numbers keep their integer form (10023, not 10023.0)."""
    if value is None:
        return ""
    if isinstance(value, str):
        text = _clean(value)
        if text in _EXCEL_ERRORS:
            raise _CellError(f"the cell shows the Excel error {text}; enter the value itself")
        return text
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    if isinstance(value, dt.date | dt.time | dt.timedelta):
        raise _CellError(
            f"the cell holds a date/time ({value}); Excel may have converted the text - format "
            "the column as Text and type the value again"
        )
    return _clean(str(value))


def _header_text(value: object) -> str:
    try:
        return _cell_text(value)
    except _CellError:
        return str(value)


def _header_key(text: str) -> str:
    """Case-insensitive, spaces and hyphens as underscores: 'Time Zone' -> 'time_zone'."""
    return re.sub(r"[\s_-]+", "_", _clean(text).lower()).strip("_")


def _map_header(cells: Sequence[str], line: int) -> dict[str, int]:
    """Map each known column to its index; anything unexpected is a file-level error.

    An unknown column is an error rather than ignored, because a typo such as 'contacs'
    would otherwise silently drop every supplier's contacts.
    """
    columns: dict[str, int] = {}
    found: list[str] = []
    issues: list[str] = []
    for index, text in enumerate(cells):
        if not text:
            continue  # unnamed columns are checked per row: a value there is a row problem
        found.append(text)
        key = _header_key(text)
        if key not in COLUMNS:
            issues.append(f"unknown column {text!r}{_did_you_mean(key)}")
        elif key in columns:
            issues.append(
                f"column {key!r} appears twice (columns {get_column_letter(columns[key] + 1)} "
                f"and {get_column_letter(index + 1)})"
            )
        else:
            columns[key] = index
    issues.extend(f"missing required column {c!r}" for c in REQUIRED_COLUMNS if c not in columns)
    if issues:
        raise SupplierFileError(_header_message(issues, found, line), line=line)
    return columns


def _did_you_mean(key: str) -> str:
    close = difflib.get_close_matches(key, COLUMNS, n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _header_message(issues: list[str], found: list[str], line: int) -> str:
    bullet = "\n  - "
    return (
        f"the header row (line {line}) does not match the supplier file layout:"
        f"{bullet}{bullet.join(issues)}\n"
        f"Expected columns: {', '.join(REQUIRED_COLUMNS)} (required); "
        f"{', '.join(OPTIONAL_COLUMNS)} (optional).\n"
        f"Columns found: {', '.join(found) if found else '(none)'}."
    )


# --------------------------------------------------------------------------------------------
# Rows
# --------------------------------------------------------------------------------------------


class _FieldError(Exception):
    """One or more problems with one column's value; each message becomes a RowProblem."""

    def __init__(self, *messages: str) -> None:
        super().__init__("; ".join(messages))
        self.messages = messages


class _FileChecker:
    """Validates records one by one and remembers codes to catch duplicates."""

    def __init__(self, columns: dict[str, int], *, is_csv: bool) -> None:
        self._column_at = {index: column for column, index in columns.items()}
        self._is_csv = is_csv
        self._first_line_of_code: dict[str, int] = {}
        self.rows: list[SupplierRow] = []
        self.problems: list[RowProblem] = []

    def check(self, line: int, cells: Sequence[object]) -> None:
        """Add the record to ``rows`` or its problems to ``problems``; skip it when blank."""
        texts, problems = self._texts(line, cells)
        if texts is None:
            return
        row = _RowParser(line, texts, problems).parse()
        problems[:0] = self._duplicate(
            line, texts["code"]
        )  # listed first: it is about the row as a whole
        if problems:
            self.problems.extend(problems)
        elif row is not None:
            self.rows.append(row)

    def _texts(
        self, line: int, cells: Sequence[object]
    ) -> tuple[dict[str, str | None] | None, list[RowProblem]]:
        """Cell texts by column (None for an unreadable cell), or None for a blank row.

        A value in a column without a header is a problem, not ignored: in a CSV it is
        usually a name with an unquoted delimiter, which shifted every later value.
        """
        texts: dict[str, str | None] = dict.fromkeys(COLUMNS, "")
        errors: list[tuple[str | None, str]] = []
        for index, value in enumerate(cells):
            column = self._column_at.get(index)
            try:
                text = _cell_text(value)
            except _CellError as error:
                errors.append((column, str(error)))
                if column is not None:
                    texts[column] = None
                continue
            if column is not None:
                texts[column] = text
            elif text:
                errors.append((None, self._stray_message(index, text)))
        if not errors and not any(texts.values()):
            return None, []
        code = texts["code"] or None
        return texts, [RowProblem(line, column, code, message) for column, message in errors]

    def _stray_message(self, index: int, text: str) -> str:
        message = (
            f"value {_quote(text)} is in column {get_column_letter(index + 1)}, which has no header"
        )
        if self._is_csv:
            message += (
                "; a value that contains the delimiter (',' or ';') must be enclosed in "
                'double quotes, e.g. "Acme, Inc."'
            )
        return message

    def _duplicate(self, line: int, code: str | None) -> list[RowProblem]:
        """Codes identify suppliers case-insensitively; the later line gets the problem."""
        if not code or not _valid_code(code):
            return []
        first = self._first_line_of_code.setdefault(code.casefold(), line)
        if first == line:
            return []
        message = (
            f"code {_quote(code)} is already used on line {first} (codes are compared "
            "ignoring case); each supplier must appear once"
        )
        return [RowProblem(line, "code", code, message)]


class _RowParser:
    """Parses one non-blank row, collecting every problem instead of stopping at the first."""

    def __init__(self, line: int, texts: dict[str, str | None], problems: list[RowProblem]) -> None:
        self._line = line
        self._texts = texts
        self._code = texts.get("code") or None
        self._problems = problems

    def _field(self, column: str, parse: Callable[[str], T]) -> T | None:
        text = self._texts[column]
        if text is None:
            return None  # the cell itself was unreadable and is already reported
        try:
            return parse(text)
        except _FieldError as error:
            self._problems.extend(
                RowProblem(self._line, column, self._code, m) for m in error.messages
            )
            return None

    def parse(self) -> SupplierRow | None:
        code = self._field("code", _parse_code)
        name = self._field("name", _parse_name)
        contacts = self._field("contacts", _parse_contacts)
        country = self._field("country", _parse_country)
        time_zone = self._field("time_zone", lambda text: _parse_time_zone(text, country))
        language = self._field("language", _parse_language)
        domains = self._field("email_domains", _parse_domains)
        buyer = self._field("buyer", _parse_buyer)
        tags = self._field("scope_tags", _parse_tags)
        if self._problems:
            return None
        assert code is not None and name is not None and contacts is not None
        assert language is not None and domains is not None and tags is not None
        return SupplierRow(
            line=self._line,
            code=code,
            name=name,
            country=country,
            time_zone=time_zone,
            language=language,
            email_domains=domains or _domains_of(contacts),
            buyer=buyer,
            scope_tags=tags,
            contacts=contacts,
        )


def _quote(text: str, limit: int = 80) -> str:
    """Quote a value for a message, shortened so one bad cell cannot flood the report."""
    if len(text) > limit:
        text = text[: limit - 1] + "…"
    return f"'{text}'"


# --------------------------------------------------------------------------------------------
# Column parsers: text -> value, or _FieldError naming the value and what is expected
# --------------------------------------------------------------------------------------------

_CODE_CHARS = re.compile(r"[A-Za-z0-9._-]+")


def _valid_code(code: str) -> bool:
    return len(code) <= CODE_MAX_LENGTH and _CODE_CHARS.fullmatch(code) is not None


def _parse_code(text: str) -> str:
    if not text:
        raise _FieldError("code is empty; every supplier needs its code from the ERP")
    messages = []
    if len(text) > CODE_MAX_LENGTH:
        messages.append(
            f"code {_quote(text)} is {len(text)} characters long; at most {CODE_MAX_LENGTH} "
            "are allowed"
        )
    bad = sorted({ch for ch in text if not _CODE_CHARS.fullmatch(ch)})
    if bad:
        shown = ", ".join("a space" if ch == " " else repr(ch) for ch in bad)
        messages.append(
            f"code {_quote(text)} contains {shown}; a code may contain only letters A-Z, "
            "digits, '.', '_' and '-'"
        )
    if messages:
        raise _FieldError(*messages)
    return text


def _parse_name(text: str) -> str:
    if not text:
        raise _FieldError("name is empty; every supplier needs a name")
    return text


# ---- contacts ------------------------------------------------------------------------------

_ROLES = {role.value: role for role in ContactRole}
_ROLE_LIST = ", ".join(role.value for role in ContactRole)
_ROLE_PREFIX = re.compile(r"([^:<>@\"]+?)\s*:\s*(.*)", re.DOTALL)
_MAILBOX = re.compile(r"(.*?)\s*<([^<>]*)>")
_CONTACT_EXAMPLE = "'primary: Li Wei <li.wei@acme.example>'"


def _parse_contacts(text: str) -> tuple[ContactRow, ...]:
    """``role: Name <email>`` items separated by ';'; all bad items are reported together."""
    if not text:
        raise _FieldError(
            f"contacts is empty; at least one primary contact is required, e.g. {_CONTACT_EXAMPLE}"
        )
    contacts: dict[tuple[ContactRole, str], ContactRow] = {}
    messages: list[str] = []
    saw_primary = False
    for item in _split_contacts(text):
        try:
            contact = _parse_contact(item)
        except _FieldError as error:
            messages.extend(error.messages)
            saw_primary = saw_primary or _role_of(item) is ContactRole.PRIMARY
            continue
        saw_primary = saw_primary or contact.role is ContactRole.PRIMARY
        _add_contact(contacts, contact, messages)
    if not saw_primary:
        messages.append(
            f"no primary contact in {_quote(text)}; at least one is required, e.g. "
            f"{_CONTACT_EXAMPLE}"
        )
    if messages:
        raise _FieldError(*messages)
    return tuple(contacts.values())


def _add_contact(
    contacts: dict[tuple[ContactRole, str], ContactRow], contact: ContactRow, messages: list[str]
) -> None:
    """Collapse an exact repeat silently; the same address twice in one role otherwise is an
    error, since the import could not tell which name is right."""
    key = (contact.role, contact.email.casefold())
    earlier = contacts.get(key)
    if earlier is None:
        contacts[key] = contact
    elif earlier != contact:
        messages.append(
            f"{contact.email} is listed twice as {contact.role.value} with different details "
            f"({_format_contact(earlier)} and {_format_contact(contact)}); keep one"
        )


def _format_contact(contact: ContactRow) -> str:
    mailbox = f"{contact.name} <{contact.email}>" if contact.name else contact.email
    return f"'{contact.role.value}: {mailbox}'"


_CONTACT_ITEM = re.compile(r'(?:"[^"]*"?|<[^>]*>?|[^;"<])+')


def _split_contacts(text: str) -> list[str]:
    """Split on ';' outside "quoted names" and <addresses>, e.g. '"Li; Wei" <li@x.example>'."""
    return [item.strip() for item in _CONTACT_ITEM.findall(text) if item.strip()]


def _role_of(item: str) -> ContactRole | None:
    match = _ROLE_PREFIX.fullmatch(item)
    return _ROLES.get(_header_key(match.group(1))) if match else None


def _parse_contact(item: str) -> ContactRow:
    match = _ROLE_PREFIX.fullmatch(item)
    if match is None:
        raise _FieldError(
            f"contact {_quote(item)} has no role; write it as 'role: Name <email>' with role "
            f"one of {_ROLE_LIST}, e.g. 'primary: {item}'"
        )
    role_text, mailbox = match.groups()
    role = _ROLES.get(_header_key(role_text))
    messages = []
    if role is None:
        messages.append(
            f"unknown contact role {_quote(role_text)} in {_quote(item)}; expected one of "
            f"{_ROLE_LIST}"
        )
    try:
        name, email = _parse_mailbox(mailbox, what=f"contact {_quote(item)}")
    except _FieldError as error:
        messages.extend(error.messages)
    if messages:
        raise _FieldError(*messages)
    assert role is not None
    return ContactRow(role=role, email=email, name=name)


def _parse_mailbox(text: str, *, what: str) -> tuple[str | None, str]:
    """``Name <email>`` or a bare ``email``; returns (name or None, normalised email)."""
    match = _MAILBOX.fullmatch(text)
    if match:
        name = match.group(1).strip().strip('"').strip() or None
        address = match.group(2).strip()
    elif "<" in text or ">" in text:
        raise _FieldError(f"{what} is not 'Name <email>' or 'email'")
    else:
        name, address = None, text
    if not address:
        raise _FieldError(f"{what} has no email address")
    return name, _normalise_email(address, what=what)


def _normalise_email(address: str, *, what: str) -> str:
    try:
        return _validated_email(address)
    except EmailNotValidError as error:
        hint = ""
        if " " in address and "@" in address:
            hint = "; write a name with the address as 'Name <email>'"
        if re.search(r",\s*[A-Za-z _-]+:", address):
            hint = "; separate contacts with ';', not ','"
        raise _FieldError(
            f"{what}: email address {_quote(address)} is not valid ({error}){hint}"
        ) from error


@lru_cache(maxsize=8192)
def _validated_email(address: str) -> str:
    """Syntax only: the import runs offline, and deliverability is proven by the survey mail."""
    return validate_email(address, check_deliverability=False).normalized


def _domains_of(contacts: Iterable[ContactRow]) -> tuple[str, ...]:
    return tuple(sorted({contact.email.rpartition("@")[2] for contact in contacts}))


# ---- country, time zone, language ----------------------------------------------------------

#: Common ways of writing a country that ISO and pycountry's names do not cover.
_COUNTRY_ALIASES = {
    "uk": "GB",
    "u.k.": "GB",
    "england": "GB",
    "scotland": "GB",
    "wales": "GB",
    "great britain": "GB",
    "britain": "GB",
    "korea": "KR",
    "russia": "RU",
    "turkey": "TR",
    "holland": "NL",
    "the netherlands": "NL",
    "u.s.": "US",
    "u.s.a.": "US",
    "america": "US",
    "prc": "CN",
    "mainland china": "CN",
    "hongkong": "HK",
    "czech": "CZ",
    "deutschland": "DE",
    "méxico": "MX",
    "brasil": "BR",
    "polska": "PL",
    "中国": "CN",
    "日本": "JP",
    "台湾": "TW",
    "한국": "KR",
}


def _parse_country(text: str) -> str | None:
    if not text:
        return None
    code = text.upper()
    if len(code) == 2 and code.isascii() and code.isalpha() and _country_exists(code):
        return code
    suggestion = _country_suggestion(text)
    advice = (
        f"use {suggestion}" if suggestion else "expected a two-letter code such as CN, DE or US"
    )
    raise _FieldError(f"country {_quote(text)} is not an ISO 3166-1 alpha-2 code; {advice}")


@lru_cache(maxsize=512)
def _country_exists(alpha_2: str) -> bool:
    return pycountry.countries.get(alpha_2=alpha_2) is not None


@lru_cache(maxsize=512)
def _country_suggestion(text: str) -> str | None:
    """The alpha-2 code for a country name, alpha-3 or numeric code pycountry recognises."""
    alias = _COUNTRY_ALIASES.get(text.casefold())
    if alias:
        return alias
    try:
        return pycountry.countries.lookup(text).alpha_2
    except LookupError:
        return None


def _parse_time_zone(text: str, country: str | None) -> str | None:
    """An IANA name; the spelling is forgiven ('asia/shanghai', 'America/New York')."""
    if not text:
        return None
    name = _zone_names().get(text.replace(" ", "_").casefold())
    if name is not None and _zone_loads(name):
        return name
    raise _FieldError(
        f"time zone {_quote(text)} is not an IANA time zone name; {_zone_advice(country)}"
    )


def _zone_advice(country: str | None) -> str:
    zones = _zones_by_country().get(country or "", ())
    if len(zones) == 1:
        return f"for {country} use {zones[0]}"
    if zones:
        shown = ", ".join(zones[:4]) + (", ..." if len(zones) > 4 else "")
        return f"for {country} use one of {shown}"
    return "expected a name such as Asia/Shanghai, Europe/Berlin or America/Chicago"


@lru_cache(maxsize=1)
def _zone_names() -> dict[str, str]:
    return {name.casefold(): name for name in available_timezones()}


@lru_cache(maxsize=1024)
def _zone_loads(name: str) -> bool:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        return False
    return True


@lru_cache(maxsize=1)
def _zones_by_country() -> dict[str, tuple[str, ...]]:
    """Country -> IANA zones, from tzdata's zone.tab (only used to suggest a fix)."""
    try:
        table = resources.files("tzdata").joinpath("zoneinfo", "zone.tab").read_text("utf-8")
    except (ModuleNotFoundError, OSError):
        return {}
    zones: dict[str, list[str]] = {}
    for line in table.splitlines():
        fields = line.split("\t")
        if len(fields) >= 3 and not line.startswith("#"):
            zones.setdefault(fields[0], []).append(fields[2])
    return {country: tuple(names) for country, names in zones.items()}


_LANGUAGE = re.compile(r"([A-Za-z]{2,3})(?:[-_]([A-Za-z]{2}))?")
#: Country codes people write where a language code belongs.
_LANGUAGE_FROM_COUNTRY = {
    "cn": "zh",
    "tw": "zh-TW",
    "jp": "ja",
    "kr": "ko",
    "cz": "cs",
    "dk": "da",
    "gr": "el",
    "vn": "vi",
    "ua": "uk",
    "br": "pt-BR",
    "mx": "es-MX",
}
_LANGUAGE_EXPECTED = (
    "expected a two-letter ISO 639-1 code such as en, de or zh, or one with a region such as pt-BR"
)


def _parse_language(text: str) -> str:
    """ISO 639-1 (``de``), optionally with an ISO 3166-1 region (``pt-BR``)."""
    if not text:
        return DEFAULT_LANGUAGE
    match = _LANGUAGE.fullmatch(text)
    base, region = (match.group(1).lower(), match.group(2)) if match else (text, None)
    if len(base) != 2 or not _language_exists(base):
        advice = _language_suggestion(base if match else text)
        raise _FieldError(
            f"language {_quote(text)} is not an ISO 639-1 code; "
            + (f"use {advice}" if advice else _LANGUAGE_EXPECTED)
        )
    if region is None:
        return base
    region = region.upper()
    if not _country_exists(region):
        raise _FieldError(
            f"language {_quote(text)}: {region!r} is not an ISO 3166-1 alpha-2 region; "
            f"{_LANGUAGE_EXPECTED}"
        )
    return f"{base}-{region}"


@lru_cache(maxsize=512)
def _language_exists(alpha_2: str) -> bool:
    return pycountry.languages.get(alpha_2=alpha_2) is not None


@lru_cache(maxsize=512)
def _language_suggestion(text: str) -> str | None:
    """'German', 'deu' or 'ger' -> 'de'; a country code written as a language -> its language."""
    alias = _LANGUAGE_FROM_COUNTRY.get(text.casefold())
    if alias:
        return alias
    try:
        language = pycountry.languages.lookup(text)
    except LookupError:
        return None
    return getattr(language, "alpha_2", None)


# ---- domains, buyer, tags ------------------------------------------------------------------

_LIST_SEPARATORS = re.compile(r"[,;]")


def _split_list(text: str) -> list[str]:
    return [item.strip() for item in _LIST_SEPARATORS.split(text) if item.strip()]


def _parse_domains(text: str) -> tuple[str, ...]:
    """Explicit domains, sorted and unique; empty means "derive from the contacts"."""
    domains: set[str] = set()
    messages = []
    for item in _split_list(text):
        try:
            domains.add(_parse_domain(item))
        except _FieldError as error:
            messages.extend(error.messages)
    if messages:
        raise _FieldError(*messages)
    return tuple(sorted(domains))


def _parse_domain(item: str) -> str:
    domain = item.lower().removeprefix("@")
    if "@" in domain or "/" in domain:
        bare = domain.rpartition("@")[2].split("//")[-1].split("/")[0]
        raise _FieldError(
            f"email domain {_quote(item)} is not a domain name; write just the domain, "
            f"e.g. {_quote(bare)}"
        )
    try:
        return _validated_domain(domain)
    except EmailNotValidError as error:
        reason = str(error).replace("The part after the @-sign", "The domain")
        raise _FieldError(
            f"email domain {_quote(item)} is not a valid domain name ({reason}); expected "
            "e.g. 'acme.example'"
        ) from error


@lru_cache(maxsize=4096)
def _validated_domain(domain: str) -> str:
    """Reuse the address validator so domains and contacts' domains normalise the same way."""
    return validate_email(f"postmaster@{domain}", check_deliverability=False).domain


def _parse_buyer(text: str) -> str | None:
    """Our buyer as 'Name <email>', 'email' or just a name; an address given must be valid."""
    if not text:
        return None
    if "<" in text or ">" in text:
        name, email = _parse_mailbox(text, what=f"buyer {_quote(text)}")
        return f"{name} <{email}>" if name else email
    if "@" in text:
        return _normalise_email(text, what=f"buyer {_quote(text)}")
    return text


_TAG = re.compile(r"[a-z0-9_-]+")


def _parse_tags(text: str) -> tuple[str, ...]:
    tags = [item.lower() for item in _split_list(text)]
    bad = [tag for tag in tags if not _TAG.fullmatch(tag)]
    if bad:
        raise _FieldError(*(_tag_message(tag) for tag in bad))
    return tuple(sorted(set(tags)))


def _tag_message(tag: str) -> str:
    fixed = re.sub(r"[^a-z0-9_-]+", "_", tag).strip("_")
    example = f" (e.g. {_quote(fixed)})" if fixed else ""
    return (
        f"scope tag {_quote(tag)} may contain only a-z, 0-9, '_' and '-'{example}; "
        "separate tags with ',' or ';'"
    )
