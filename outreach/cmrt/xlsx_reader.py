"""A fast reader for the sheets of Excel-written .xlsx files, value for value like calamine.

calamine parses a whole sheet in Rust; on a CMRT the ``Smelter List`` alone is 5 MB of XML
(2,500 template rows, a formula in most columns), so reading it cost more than everything
else ``validate()`` does. The cell values of that XML sit in few places: a ``<v>`` after each
cell's formula, shared-string indices, the odd inline string. This reader finds exactly
those with C-level searches (regexes led by a rare byte, ``bytes.rfind`` back to the cell's
start tag) and does Python work only per *valued* cell, never per formula or empty cell;
shared strings are split up front and decoded only when a cell uses them. Dense sheets (a
value every few cells, like the Smelter Look-up) are matched forwards in one ``findall``.

The grid's size is calamine's: up to the last non-empty cell, where an Excel error and an
empty formula string (``t="str"`` with ``<v/>``) count as non-empty. Such value-less cells
are only looked for where they could widen the grid: right of the widest valued column
(skipped when the sheet's ``<dimension>`` says no cell lies there) and after the last valued
cell (rows must come in document order, which is checked).

It is a fast path, not a second XML parser: it accepts only the shapes Excel (and
openpyxl) write and raises ``Unsupported`` for anything else - attribute orders it does not
know, cells without ``r=``, namespace prefixes, number formats whose date-ness it cannot
vouch for, a number calamine would parse differently, entities it does not know. The
caller then asks calamine, so every value is what calamine would have returned: the
same type, the same text (line ends, ``xml:space`` trimming, ``_xHHHH_`` escapes), the
same date conversion, the same grid size.

Values: ``str``, ``float``, ``bool``, ``datetime.date``/``datetime``/``time``/``timedelta``,
and ``""`` for empty cells and Excel errors, in a grid from A1 to the last non-empty cell.
"""

from __future__ import annotations

import datetime as dt
import gc
import math
import posixpath
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, overload

from defusedxml import ElementTree as safe_et

Grid = Sequence[Sequence[Any]]

SPELLED_OUT = 4_000_000
"""Grids up to this many cells are lists of lists, like calamine's; larger ones (a stray cell
at XFD1048576 would make calamine's 17 billion cells) are a ``SparseGrid``."""


class SparseGrid(Sequence[Sequence[Any]]):
    """A grid too large to spell out: same length and row width, rows built when indexed.

    Rows without a value are one shared tuple of ``""``; a row holding values is a fresh
    list each time it is indexed, so memory stays proportional to the values.
    """

    def __init__(self, height: int, width: int, rows: dict[int, dict[int, Any]]) -> None:
        self._height = height
        self._width = width
        self._rows = rows
        self._empty: tuple[Any, ...] = ("",) * width

    def __len__(self) -> int:
        return self._height

    @overload
    def __getitem__(self, index: int) -> Sequence[Any]: ...
    @overload
    def __getitem__(self, index: slice) -> Sequence[Sequence[Any]]: ...
    def __getitem__(self, index: int | slice) -> Sequence[Any] | Sequence[Sequence[Any]]:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(self._height))]
        if index < 0:
            index += self._height
        if not 0 <= index < self._height:
            raise IndexError(index)
        values = self._rows.get(index)
        if values is None:
            return self._empty
        line = [""] * self._width
        for col, value in values.items():
            line[col] = value
        return line


class Unsupported(Exception):
    """The fast path cannot vouch for this part; calamine must read it."""


# --------------------------------------------------------------------------- text


_ENTITY = re.compile(r"&(#[0-9]{1,7}|#x[0-9a-fA-F]{1,6}|amp|lt|gt|quot|apos);")
_NAMED = {"amp": "&", "lt": "<", "gt": ">", "quot": '"', "apos": "'"}
_ESCAPE = re.compile(r"_x([0-9a-fA-F]{4})_")
_XML_SPACE = " \t\r\n"


def _entity(match: re.Match[str]) -> str:
    name = match.group(1)
    if name[0] != "#":
        return _NAMED[name]
    code = int(name[2:], 16) if name[1] == "x" else int(name[1:])
    if code == 0 or 0xD800 <= code <= 0xDFFF or code > 0x10FFFF:
        raise Unsupported(f"character reference {name}")
    return chr(code)


def _escape(match: re.Match[str]) -> str:
    code = int(match.group(1), 16)
    if 0xD800 <= code <= 0xDFFF:  # calamine leaves lone surrogates as written
        return match.group(0)
    return chr(code)


def xml_text(raw: bytes, *, trim: bool) -> str:
    """Element text as calamine gives it.

    Raw line ends become ``\\n`` (before references, so ``&#13;`` stays ``\\r``), entity
    and character references are resolved, text of a ``<t>`` without
    ``xml:space="preserve"`` is stripped of XML whitespace, then Excel's ``_xHHHH_``
    escapes are decoded.
    """
    text = raw.decode("utf-8")
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    if "&" in text:
        rest = _ENTITY.sub("", text)
        if "&" in rest:
            raise Unsupported("unknown entity")
        text = _ENTITY.sub(_entity, text)
    if trim:
        text = text.strip(_XML_SPACE)
    if "_x" in text:
        text = _ESCAPE.sub(_escape, text)
    return text


_T_PLAIN = b"<t>"
_T_KEEP = b'<t xml:space="preserve">'
_T_END = b"</t></si>"
_RICH_TOKEN = re.compile(
    rb'<t>([^<]*)</t>|<t xml:space="preserve">([^<]*)</t>|<t/>|<t xml:space="preserve"/>'
    rb"|<rPh\b[^>]*>.*?</rPh>|<rPh\b[^>]*/>|<phoneticPr\b[^>]*/>|<r>|</r>|<rPr>.*?</rPr>|<rPr/>",
    re.S,
)


def rich_text(body: bytes) -> str:
    """The text of an ``<si>`` / ``<is>`` body: every ``<t>`` outside phonetic runs, joined."""
    out: list[str] = []
    pos = 0
    end = len(body)
    match_at = _RICH_TOKEN.match
    while pos < end:
        token = match_at(body, pos)
        if token is None:
            raise Unsupported("unexpected markup in a string")
        plain, kept = token.group(1), token.group(2)
        if plain is not None:
            out.append(xml_text(plain, trim=True))
        elif kept is not None:
            out.append(xml_text(kept, trim=False))
        pos = token.end()
    return "".join(out)


class SharedStrings:
    """The shared-string table, split cheaply up front and decoded only where a cell needs it."""

    def __init__(self, xml: bytes | None) -> None:
        self._parts: list[bytes] = []
        self._cache: dict[int, str] = {}
        self._by_ref: dict[bytes, str] = {}
        if xml is None:
            return
        head, sep, _ = xml.partition(b"<si>")
        if not sep:
            if b"<si" in xml or not re.search(rb"<sst\b[^>]*(?:/>|>\s*</sst>)", xml):
                raise Unsupported("shared strings")
            return
        if not re.search(rb"<sst\b[^>]*>\s*\Z", head):
            raise Unsupported("shared strings")
        parts = xml[len(head) + 4 :].split(b"<si>")
        if xml.count(b"<si") != len(parts):  # an <si/> or <si ...> would shift the indices
            raise Unsupported("shared string items")
        last = parts[-1]
        close = last.rfind(b"</sst>")
        if close == -1 or last[close + 6 :].strip():
            raise Unsupported("shared strings end")
        parts[-1] = last[:close].rstrip()
        for part in (parts[0], parts[-1]):
            if not part.endswith(b"</si>"):
                raise Unsupported("shared string item")
        self._parts = parts

    def __len__(self) -> int:
        return len(self._parts)

    def by_ref(self, raw: bytes) -> str:
        """The string a cell's ``<v>`` (an index, as bytes) points to."""
        found = self._by_ref.get(raw)
        if found is None:
            if not raw.isdigit():
                raise Unsupported("shared string index")
            found = self._by_ref[raw] = self.get(int(raw))
        return found

    def get(self, index: int) -> str:
        found = self._cache.get(index)
        if found is not None:
            return found
        if index >= len(self._parts):
            raise Unsupported("shared string index out of range")
        part = self._parts[index]
        end = len(part) - 9  # where a lone <t>'s "</t></si>" starts
        if part.startswith(_T_PLAIN) and part.find(b"<", 3) == end and part.endswith(_T_END):
            text = xml_text(part[3:end], trim=True)
        elif part.startswith(_T_KEEP) and part.find(b"<", 24) == end and part.endswith(_T_END):
            text = xml_text(part[24:end], trim=False)
        elif part.endswith(b"</si>"):
            text = rich_text(part[:-5])
        else:
            raise Unsupported("shared string item")
        self._cache[index] = text
        return text


# --------------------------------------------------------------------------- styles

NUMBER, DATETIME, DURATION, UNSURE = 0, 1, 2, 3

_BUILTIN_DATES = frozenset([*range(14, 23), *range(27, 37), 45, 47, *range(50, 59)])
_BUILTIN_NUMBERS = frozenset([*range(0, 14), *range(23, 27), *range(37, 45), 48, 49, 59])
_QUOTED = re.compile(r'"[^"]*"|\\.|_.|\*.', re.S)
_BRACKET = re.compile(r"\[([^\]]*)\]")
_HARMLESS_BRACKET = re.compile(
    r"(?i:black|blue|cyan|green|magenta|red|white|yellow|color\s*[0-9]{1,2})"
    r"|\$[^\]]*|[<>=]{1,2}-?[0-9.]+"
)
_NUMBER_FORMAT = re.compile(r"(?:[^A-Za-z]|[Ee][+-])*")
_DATE_FORMAT = re.compile(r"(?:[dmyhsDMYHS]+|AM/PM|am/pm|A/P|a/p|\.0{1,3}|[ \-/.,:])*")


def classify_format(code: str) -> int:
    """NUMBER or DATETIME when calamine surely reads the format so; else UNSURE."""
    if code.strip().lower() == "general":
        return NUMBER
    sections = code.split(";")
    bare = [_QUOTED.sub("", section) for section in sections]
    for section in bare:
        for inner in _BRACKET.findall(section):
            if not _HARMLESS_BRACKET.fullmatch(inner):
                return UNSURE
    bare = [_BRACKET.sub("", section) for section in bare]
    if all(_NUMBER_FORMAT.fullmatch(section) for section in bare):
        return NUMBER
    first = bare[0]
    rest_ok = all(s in ("@", "") for s in bare[1:])
    if rest_ok and _DATE_FORMAT.fullmatch(first) and re.search(r"[dmyhsDMYHS]", first):
        return DATETIME
    return UNSURE


_NUMFMT = re.compile(rb"<numFmt\b([^>]*)/?>")
_XF_FORMAT = re.compile(rb'<xf\b(?:[^>]*?\snumFmtId="([0-9]{1,9})")?[^>]*>')
_ATTR = re.compile(rb'([A-Za-z:]+)="([^"]*)"')


def read_styles(xml: bytes | None) -> list[int]:
    """Kind of each cell format (``s=`` index): NUMBER, DATETIME, DURATION or UNSURE."""
    if xml is None:
        return []
    custom: dict[int, int] = {}
    start = xml.find(b"<numFmts")
    if start != -1:
        stop = xml.find(b"</numFmts>", start)
        if stop == -1:
            raise Unsupported("number formats")
        for match in _NUMFMT.finditer(xml, start, stop):
            attrs = dict(_ATTR.findall(match.group(1)))
            try:
                ident = int(attrs[b"numFmtId"])
                code = xml_text(attrs[b"formatCode"], trim=False)
            except (KeyError, ValueError) as exc:
                raise Unsupported("number format") from exc
            custom[ident] = UNSURE if ident < 164 else classify_format(code)
    start = xml.find(b"<cellXfs")
    if start == -1:
        return []
    stop = xml.find(b"</cellXfs>", start)
    if stop == -1:
        if re.match(rb"<cellXfs\b[^>]*/>", xml[start:]):
            return []
        raise Unsupported("cell formats")
    kinds: list[int] = []
    for found in _XF_FORMAT.findall(xml, start, stop):
        ident = int(found or b"0")
        if ident in custom:
            kinds.append(custom[ident])
        elif ident in _BUILTIN_DATES:
            kinds.append(DATETIME)
        elif ident == 46:
            kinds.append(DURATION)
        elif ident in _BUILTIN_NUMBERS:
            kinds.append(NUMBER)
        else:
            kinds.append(UNSURE)
    return kinds


# --------------------------------------------------------------------------- dates

_EPOCH = dt.datetime(1899, 12, 30)  # noqa: DTZ001 - Excel serials are naive
_LAST = dt.datetime(9999, 12, 31, 23, 59, 59, 999000)  # noqa: DTZ001
_MAX_MS = (_LAST - _EPOCH) // dt.timedelta(milliseconds=1)


def _round(value: float) -> int:
    """Rust's ``f64::round``: half away from zero, exact."""
    if value >= 0:
        floor = math.floor(value)
        return floor + 1 if value - floor >= 0.5 else floor
    ceil = math.ceil(value)
    return ceil - 1 if ceil - value >= 0.5 else ceil


def excel_date(value: float, date1904: bool) -> Any:
    """A date-formatted serial as python-calamine converts it (time / date / datetime)."""
    if value < 0:
        raise Unsupported("negative date serial")
    serial = value + 1462 if date1904 else value
    if not date1904 and serial < 60:
        serial += 1
    millis = _round(serial * 86_400_000)
    if millis > _MAX_MS:
        return value
    moment = _EPOCH + dt.timedelta(milliseconds=millis)
    if value < 1.0:
        return moment.time()
    if value == float(int(value)):
        return moment.date()
    return moment


def excel_duration(value: float) -> dt.timedelta:
    millis = _round(value * 86_400_000)
    if abs(millis) > 86_400_000 * 999_999_999:
        raise Unsupported("duration out of range")
    return dt.timedelta(milliseconds=millis)


# --------------------------------------------------------------------------- sheets

_HEAD = re.compile(
    rb'<c r="([A-Z]{1,3})([1-9][0-9]{0,6})"((?: s="[0-9]{1,9}")?(?: t="[a-zA-Z]{1,9}")?)'
    rb'(?: (?:cm|vm|ph)="[0-9]+")*>'
    rb"(?:<f(?: [^>/]*+)?(?:/>|>[^<]*+</f>))?"
    rb'(?:<v>([^<]*+)</v></c>|<v xml:space="preserve">([^<]*)</v></c>|(<is>))'
)
_CELL = re.compile(
    rb'<c r="([A-Z]{1,3})([1-9][0-9]{0,6})"((?: s="[0-9]{1,9}")?(?: t="[a-zA-Z]{1,9}")?)'
    rb'(?: (?:cm|vm|ph)="[0-9]+")*>'
    rb"(?:<f(?: [^>/]*+)?(?:/>|>[^<]*+</f>))?"
    rb'(?:<v>([^<]++)</v></c>|<v xml:space="preserve">([^<]*+)</v></c>)'
)
"""``_HEAD`` for valued cells only, searched forwards: dense sheets (a value every few cells)."""
_DENSE = 400
"""A sheet with a value per ``_DENSE`` bytes or more is read forwards with ``_CELL``."""
_ATTRS = re.compile(rb'(?: s="([0-9]{1,9})")?(?: t="([a-zA-Z]{1,9})")?')
"""A cell as Excel writes it, from ``<c`` to its value (captured), formula skipped."""
_VALUE = re.compile(rb"v(?: [^<>]*)?>[^<]")
"""A non-empty ``<v>`` (with any attributes: only ``xml:space="preserve"`` is then read, any
other makes the sheet calamine's). Led by 'v', rare in sheet XML: a search led by '<'
(everywhere) is several times slower."""
_INLINE = re.compile(rb"<is[ >/]")
_EMPTY_CONTENT = re.compile(
    rb"(?:<f>[^<]*</f>|<f [^>]*[^/]>[^<]*</f>|<f [^>]*/>|<f/>)?(?:<v/>|<v></v>"
    rb'|<v xml:space="preserve"></v>)?'
)
_VALUED_CONTENT = re.compile(
    rb"(?:<f>[^<]*</f>|<f [^>]*[^/]>[^<]*</f>|<f [^>]*/>|<f/>)?"
    rb'(?:<v>[^<]+</v>|<v xml:space="preserve">[^<]+</v>|<is>.*</is>)',
    re.S,
)
_FLOAT = re.compile(rb"-?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][-+]?[0-9]+)?")
_ERRORS = frozenset((b"#DIV/0!", b"#N/A", b"#NAME?", b"#NULL!", b"#NUM!", b"#REF!", b"#VALUE!"))
_MAX_COL = 16384
_EMPTY = object()
_SKIP = object()
_OPEN_CELL = re.compile(rb'<c r="[^"]*"[^>]*+(?<!/)>')
_TAIL_ODD = re.compile(
    rb"<(?!/?(?:c|f|row)[ />])"  # any tag but rows, cells and formulas (a <v, an <is, ...)
    rb'|<c (?!r="[A-Z]{1,3}[1-9][0-9]{0,6}"(?: s="[0-9]{1,9}")?(?: t="(?:n|s|e|b|str)")?'
    rb'(?: (?:cm|vm|ph)="[0-9]+")*/?>)'  # a cell start _CELL_START would not take
)
"""What, after a sheet's last value, needs ``_widen``'s look at each cell (``_tail_may_widen``)."""
"""A cell with content (formula, value), not the self-closing styled empty kind."""
_CELL_START = re.compile(
    rb'<c r="([A-Z]{1,3}[1-9][0-9]{0,6})"(?: s="[0-9]{1,9}")?(?: t="([a-zA-Z]{1,9})")?'
    rb'(?: (?:cm|vm|ph)="[0-9]+")*(/?)>'
)
_MAX_ROW = 1048576


def column_number(letters: bytes) -> int:
    """b'A' → 1, b'AH' → 34."""
    number = 0
    for char in letters:
        number = number * 26 + char - 64
    return number


def column_letters(number: int) -> str:
    out = ""
    while number:
        number, rest = divmod(number - 1, 26)
        out = chr(65 + rest) + out
    return out


def _greater_letters(limit: int) -> str:
    """Regex for column letters (A..XFD) after column number ``limit``."""
    text = column_letters(limit) if limit else ""
    options = [f"[A-Z]{{{len(text) + 1},3}}"] if len(text) < 3 else []
    for i, char in enumerate(text):
        if char != "Z":
            rest = f"[A-Z]{{{len(text) - i - 1}}}" if len(text) - i - 1 else ""
            options.append(re.escape(text[:i]) + f"[{chr(ord(char) + 1)}-Z]" + rest)
    return "(?:" + "|".join(options) + ")" if options else "(?!)"


@dataclass
class SheetParser:
    """One sheet's XML → the grid calamine returns (``to_python(skip_empty_area=False)``)."""

    strings: SharedStrings
    styles: list[int]
    date1904: bool

    def grid(self, xml: bytes) -> Grid:
        """The sheet's grid; the cyclic GC is paused meanwhile (it would rescan the growing
        grid's lists again and again, for nothing: none of them can form a cycle)."""
        paused = gc.isenabled()
        gc.disable()
        try:
            return self._grid(xml)
        finally:
            if paused:
                gc.enable()

    def _grid(self, body: bytes) -> Grid:
        """``body`` is the whole sheet XML; searches keep within its ``<sheetData>`` (no copy)."""
        begin, end, dimension = _sheet_data(body)
        if begin == end:
            return []
        events = [match.end() - 1 for match in _VALUE.finditer(body, begin, end)]
        inline = body.find(b"inlineStr", begin, end) != -1
        if inline:
            events = [at for at in events if body.startswith(b"<v", body.rfind(b"<", 0, at))]
            events += [match.start() for match in _INLINE.finditer(body, begin, end)]
            events.sort()
        if not inline and len(events) * _DENSE > end - begin:
            groups: list[tuple[bytes, ...]] = _CELL.findall(body, begin, end)
            if len(groups) != len(events):
                raise Unsupported("cell markup")
        else:
            groups = self._heads(body, events)
        rows, cols, values = self._values(body, events, groups, inline)
        max_row = rows[-1] + 1 if rows else 0
        max_col = max(cols, default=-1) + 1
        last = events[-1] if events else begin
        max_row, max_col = self._widen(body, (last, end), max_row, max_col, dimension)
        if max_row == 0:
            return []
        if max_row * max_col > SPELLED_OUT:
            sparse: dict[int, dict[int, Any]] = {}
            for row, col, value in zip(rows, cols, values, strict=True):
                sparse.setdefault(row, {})[col] = value
            return SparseGrid(max_row, max_col, sparse)
        grid = [[""] * max_col for _ in range(max_row)]
        for row, col, value in zip(rows, cols, values, strict=True):
            grid[row][col] = value
        return grid

    @staticmethod
    def _heads(body: bytes, events: list[int]) -> list[tuple[bytes, ...]]:
        """The ``_HEAD`` groups of the cell owning each event (a value or ``<is``).

        Sparse sheets (the Smelter List: 5 MB, a formula in most cells, few values) are
        read from their values backwards: only valued cells cost Python work.
        """
        rfind = body.rfind
        head_at = _HEAD.match
        heads = [head_at(body, rfind(b"<c ", 0, pos)) for pos in events]
        if None in heads or [head.start(head.lastindex) for head in heads] != events:  # type: ignore[union-attr]
            raise Unsupported("cell markup")
        return [head.groups() for head in heads]  # type: ignore[union-attr]

    def _values(
        self, body: bytes, events: list[int], groups: list[tuple[bytes, ...]], inline: bool
    ) -> tuple[list[int], list[int], list[Any]]:
        """Zero-based rows, columns and values of the valued cells, in document order.

        ``events`` are where values start (after ``<v>``) or where ``<is`` starts, and
        ``groups`` the ``_HEAD`` groups of their cells. Written as list comprehensions:
        this runs once per valued cell.
        """
        if not groups:
            return [], [], []
        rows = [int(group[1]) for group in groups]
        if rows != sorted(rows):
            raise Unsupported("rows out of order")
        if rows[-1] > _MAX_ROW:
            raise Unsupported("row")
        numbers = {letters: column_number(letters) - 1 for letters in {g[0] for g in groups}}
        if max(numbers.values()) >= _MAX_COL:
            raise Unsupported("column")
        convert = {attrs: self._converter(attrs) for attrs in {g[2] for g in groups}}
        if inline:
            values = [
                convert[group[2]](group[3] or group[4] or b"")
                if group[5] is None
                else self._inline(body, pos, group[2])
                for group, pos in zip(groups, events, strict=True)
            ]
        else:
            values = [convert[group[2]](group[3] or group[4] or b"") for group in groups]
        cols = [numbers[group[0]] for group in groups]
        if _SKIP in values:
            kept = [i for i, value in enumerate(values) if value is not _SKIP]
            rows, cols, values = ([seq[i] for i in kept] for seq in (rows, cols, values))
        return [row - 1 for row in rows], cols, values

    def _widen(
        self,
        body: bytes,
        tail: tuple[int, int],
        max_row: int,
        max_col: int,
        dimension: tuple[int, int] | None,
    ) -> tuple[int, int]:
        """Cells with no cached value that calamine still counts: ``t="str"`` with ``<v/>``.

        They can only widen the grid if they lie right of the widest valued column or below
        the last valued cell (rows are in document order, checked by ``_values``). Excel's
        ``<dimension>`` bounds every cell: when it says nothing lies further right (or
        below), the search over the whole sheet is skipped.
        """
        candidates: list[int] = []
        if dimension is None or dimension[1] > max_col:
            beyond = re.compile(
                rb'<c r="' + _greater_letters(max_col).encode() + rb'[0-9]+"[^>]*+(?<!/)>'
            )
            candidates.extend(match.start() for match in beyond.finditer(body, 0, tail[1]))
        if (dimension is None or dimension[0] > max_row) and self._tail_may_widen(body, tail):
            candidates.extend(m.start() for m in _OPEN_CELL.finditer(body, tail[0] + 1, tail[1]))
        for start in candidates:
            head = _CELL_START.match(body, start)
            if head is None:
                raise Unsupported("cell markup")
            if head.group(3) == b"/":
                continue
            stop = body.find(b"</c>", head.end())
            content = body[head.end() : stop]
            if stop == -1 or b"<c " in content:
                raise Unsupported("cell markup")
            if not _EMPTY_CONTENT.fullmatch(content):
                if _VALUED_CONTENT.fullmatch(content):
                    continue  # a cached value: the values pass has it
                raise Unsupported("cell content")
            kind = head.group(2)
            if kind == b"str" and b"<v" in content:
                ref = head.group(1)
                split = len(ref.rstrip(b"0123456789"))
                max_row = max(max_row, int(ref[split:]))
                max_col = max(max_col, column_number(ref[:split]))
            elif kind not in (None, b"n", b"s", b"e", b"b", b"str"):
                raise Unsupported("cell type")
        return max_row, max_col

    @staticmethod
    def _tail_may_widen(body: bytes, tail: tuple[int, int]) -> bool:
        """Whether the cells after the last value need the per-cell look of ``_widen``.

        Only a ``<v`` (an empty cached value, ``t="str"``) or markup beyond what the
        per-cell check accepts could widen the grid or need refusing; a sheet saved without
        cached values (30,000 formula cells after the last value, in a filled-in Smelter
        List) has neither, and C-level searches say so without a Python loop per cell.
        """
        close = body.find(b"</c>", tail[0], tail[1])  # the end of the last valued cell
        if close == -1:
            return True
        return _TAIL_ODD.search(body, close + 4, tail[1]) is not None

    def _converter(self, attrs: bytes | None) -> Callable[[bytes], Any]:
        """raw ``<v>`` bytes → value, for cells whose start tag has these ``s=``/``t=``."""
        style, kind = _attributes(attrs)
        if kind == b"s":
            return self.strings.by_ref
        cache: dict[bytes, Any] = {}

        def convert(raw: bytes) -> Any:
            found = cache.get(raw, _EMPTY)
            if found is _EMPTY:
                found = cache[raw] = self._value(raw, style, kind)
            return found

        return convert

    def _value(self, raw: bytes, style: bytes | None, kind: bytes | None) -> Any:
        """The value of ``<v>raw</v>`` in a cell of type ``kind`` and format ``style``."""
        if kind is None or kind == b"n":
            if not raw:
                return _SKIP
            if not _FLOAT.fullmatch(raw):
                raise Unsupported("number")
            number = float(raw)
            if style is None or not self.styles:
                return number
            index = int(style)
            if index >= len(self.styles):
                raise Unsupported("style index")
            fmt = self.styles[index]
            if fmt == NUMBER:
                return number
            if fmt == DATETIME:
                return excel_date(number, self.date1904)
            if fmt == DURATION:
                return excel_duration(number)
            raise Unsupported("number format")
        if kind == b"s":
            if not raw:
                return _SKIP
            if not raw.isdigit():
                raise Unsupported("shared string index")
            return self.strings.get(int(raw))
        if kind == b"str":
            return xml_text(raw, trim=False)
        if kind == b"e":
            if not raw:
                return _SKIP
            if raw not in _ERRORS:
                raise Unsupported("error value")
            return ""
        if kind == b"b":
            if raw == b"1":
                return True
            if raw == b"0":
                return False
            if not raw:
                return _SKIP
            raise Unsupported("boolean")
        raise Unsupported("cell type")

    def _inline(self, body: bytes, pos: int, attrs: bytes | None) -> str:
        _, kind = _attributes(attrs)
        if kind != b"inlineStr" or not body.startswith(b"<is>", pos):
            raise Unsupported("inline string")
        stop = body.find(b"</is>", pos)
        if stop == -1 or not body.startswith(b"</c>", stop + 5):
            raise Unsupported("inline string markup")
        inner = body[pos + 4 : stop]
        if not inner:
            raise Unsupported("empty inline string")
        return rich_text(inner)


def _attributes(attrs: bytes | None) -> tuple[bytes | None, bytes | None]:
    """(style, type) from the ``s=``/``t=`` part of a cell's start tag."""
    fields = _ATTRS.fullmatch(attrs or b"")
    if fields is None:
        raise Unsupported("cell attributes")
    style, kind = fields.groups()
    return style, kind


_DIMENSION = re.compile(rb'<dimension ref="[A-Z]{1,3}[0-9]+(?::([A-Z]{1,3})([0-9]+))?"\s*/>')


def _sheet_data(xml: bytes) -> tuple[int, int, tuple[int, int] | None]:
    """Where ``<sheetData>``'s content starts and ends, and the (last row, last column) that
    ``<dimension>`` gives."""
    start = xml.find(b"<sheetData>")
    if start == -1:
        if re.search(rb"<sheetData\s*/>", xml) and _plain_root(xml):
            return 0, 0, None
        raise Unsupported("sheet data")
    stop = xml.rfind(b"</sheetData>")
    if stop < start or not _plain_root(xml):
        raise Unsupported("sheet data")
    found = _DIMENSION.search(xml, 0, start)
    dimension = None
    if found and found.group(1):
        dimension = (int(found.group(2)), column_number(found.group(1)))
    return start + 11, stop, dimension


def _plain_root(xml: bytes) -> bool:
    """UTF-8, the spreadsheetml namespace as default, no prefixes on the sheet elements."""
    head = xml[:512].lstrip(b"\xef\xbb\xbf \t\r\n")
    if head.startswith(b"<?xml"):
        end = head.find(b"?>")
        decl = head[:end].lower()
        if b"encoding" in decl and not re.search(rb"encoding=[\"']utf-8[\"']", decl):
            return False
        head = head[end + 2 :].lstrip()
    return head.startswith(b"<worksheet ") or head.startswith(b"<worksheet>")


# --------------------------------------------------------------------------- workbook

_MAIN_NS = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}"
_REL_NS = "{http://schemas.openxmlformats.org/officeDocument/2006/relationships}"
_PKG_NS = "{http://schemas.openxmlformats.org/package/2006/relationships}"
_WORKSHEET = "http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet"
_SHARED = "http://schemas.openxmlformats.org/officeDocument/2006/relationships/sharedStrings"
_STYLES = "http://schemas.openxmlformats.org/officeDocument/2006/relationships/styles"


@dataclass
class XlsxReader:
    """Sheet names and lazily parsed grids of an .xlsx whose parts come from ``read``."""

    read: Callable[[str], bytes | None] = field(repr=False)
    sheet_names: tuple[str, ...]
    paths: Mapping[str, str] = field(repr=False)
    parser: SheetParser = field(repr=False)

    @classmethod
    def open(cls, read: Callable[[str], bytes | None]) -> XlsxReader:
        """Workbook, relationships, styles, shared strings; Unsupported if any is unusual."""
        workbook = _xml(read, "xl/workbook.xml")
        if workbook.tag != f"{_MAIN_NS}workbook":
            raise Unsupported("workbook root")
        targets = _relationships(_xml(read, "xl/_rels/workbook.xml.rels"))
        names: list[str] = []
        paths: dict[str, str] = {}
        sheets = workbook.find(f"{_MAIN_NS}sheets")
        if sheets is None:
            raise Unsupported("no sheets")
        for sheet in sheets:
            name, rid = sheet.get("name"), sheet.get(f"{_REL_NS}id")
            if sheet.tag != f"{_MAIN_NS}sheet" or not name or rid not in targets:
                raise Unsupported("sheet entry")
            kind, path = targets[rid]
            if kind != _WORKSHEET or name in paths:
                raise Unsupported("sheet kind")
            names.append(name)
            paths[name] = path
        props = workbook.find(f"{_MAIN_NS}workbookPr")
        flag = (props.get("date1904") if props is not None else None) or "0"
        if flag not in ("0", "1", "true", "false"):
            raise Unsupported("date system")
        date1904 = flag in ("1", "true")
        strings_path = _single(targets, _SHARED)
        styles_path = _single(targets, _STYLES)
        strings = SharedStrings(_part(read, strings_path) if strings_path else None)
        styles = read_styles(_part(read, styles_path) if styles_path else None)
        parser = SheetParser(strings, styles, date1904)
        return cls(read, tuple(names), paths, parser)

    def grid(self, name: str) -> Grid:
        return self.parser.grid(self.xml(name))

    def xml(self, name: str) -> bytes:
        """The worksheet part of sheet ``name``."""
        return _part(self.read, self.paths[name])


def _xml(read: Callable[[str], bytes | None], path: str) -> Any:
    data = _part(read, path)
    try:
        return safe_et.fromstring(data)
    except Exception as exc:
        raise Unsupported(f"{path} is not plain XML") from exc


def _part(read: Callable[[str], bytes | None], path: str) -> bytes:
    data = read(path)
    if data is None:
        raise Unsupported(f"{path} missing")
    return data


def _relationships(root: Any) -> dict[str, tuple[str, str]]:
    targets: dict[str, tuple[str, str]] = {}
    for rel in root.iter(f"{_PKG_NS}Relationship"):
        rid, kind, target = rel.get("Id"), rel.get("Type"), rel.get("Target")
        if not rid or not kind or not target or rel.get("TargetMode") == "External":
            continue
        path = target[1:] if target.startswith("/") else posixpath.join("xl", target)
        targets[rid] = (kind, posixpath.normpath(path))
    return targets


def _single(targets: Mapping[str, tuple[str, str]], kind: str) -> str | None:
    found = [path for rel_kind, path in targets.values() if rel_kind == kind]
    if len(found) > 1:
        raise Unsupported(f"several {kind.rsplit('/', 1)[-1]} parts")
    return found[0] if found else None
