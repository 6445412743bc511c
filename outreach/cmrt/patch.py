"""Write cell values into an existing .xlsx/.xlsm without loading and re-saving it.

Loading a CMRT with openpyxl and saving it again drops RMI's drawings, comments, custom XML
and cell metadata, rewrites every sheet and costs about two seconds per file. ``patch_workbook``
instead edits the package in place: only the ``<c>`` elements (and their ``<row>``) that an
edit touches are rewritten, as text, inside the sheet XML; every other zip member keeps its
exact bytes (members are recompressed, their content is unchanged)::

    patched = patch_workbook(data, {
        "Declaration": {"D8": "Acme GmbH", "D22": date(2025, 1, 31), "D26": "Yes"},
        "Smelter List": {"A5": "CID000211", "B5": None},
    })

Values (``PatchValue``):

* ``str`` → an inline string (``t="inlineStr"``), or with ``shared_strings=True`` an entry of
  the shared-string table (reused when the same plain text is already there, else appended);
* ``int`` / ``float`` → a number; ``bool`` → a boolean;
* ``date`` / ``datetime`` / ``time`` → the Excel serial number (1900 or 1904 date system, as
  the workbook says); the cell keeps its style, so a date-formatted cell shows a date;
* ``Formula("SUM(A1:A3)")`` → a formula without a cached result;
* ``None`` → the value (and any formula) is removed, the cell and its style stay.

Sheets are found by name through ``workbook.xml`` and its relationships, never by guessing
part names. A cell or row that does not exist yet is inserted in order; a new cell takes the
style of its row (``customFormat``) or column, as Excel does. Writing over a formula replaces
it; when that formula is the anchor of a shared formula, the other cells of the group get
their own (shifted) copy of it first, so they keep working.

With ``drop_cached_values=True`` (the default) the result looks like a workbook saved by a
tool that does not compute: every formula cell of every worksheet loses its cached ``<v>``,
``workbook.xml`` gets ``<calcPr fullCalcOnLoad="1"/>`` and the calculation chain
(``xl/calcChain.xml``, its relationship and content-type entry) is deleted, so Excel and
LibreOffice recalculate everything when the file is opened. With ``False`` the cached values
of untouched formulas stay (stale if they depend on edited cells); the calculation chain is
still deleted when an edit removed a formula, because Excel treats a chain entry pointing at
a cell without formula as damage.

Bad input raises ``ValueError`` (unknown sheet, bad cell reference, unsupported value, a
target inside a multi-cell array formula, a package that is not an Office Open XML workbook).
"""

from __future__ import annotations

import copy
import datetime as dt
import html
import io
import math
import posixpath
import re
import zipfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

import defusedxml.ElementTree as safe_et
from defusedxml import DefusedXmlException


@dataclass(frozen=True)
class Formula:
    """A formula to write, without the leading ``=`` (one is stripped if given)."""

    text: str

    def __post_init__(self) -> None:
        if self.text.startswith("="):
            object.__setattr__(self, "text", self.text[1:])
        if not self.text:
            raise ValueError("empty formula")


PatchValue = str | int | float | bool | dt.date | dt.datetime | dt.time | Formula | None
Edits = Mapping[str, Mapping[str, PatchValue]]

MAX_ROW = 1_048_576
MAX_COL = 16_384

_REL_SUFFIX_OFFICE_DOCUMENT = "/officeDocument"
_REL_SUFFIX_WORKSHEET = "/worksheet"
_REL_SUFFIX_CALC_CHAIN = "/calcChain"
_REL_SUFFIX_SHARED_STRINGS = "/sharedStrings"
_REL_TYPE_SHARED_STRINGS = (
    "http://schemas.openxmlformats.org/officeDocument/2006/relationships/sharedStrings"
)
_CT_SHARED_STRINGS = "application/vnd.openxmlformats-officedocument.spreadsheetml.sharedStrings+xml"
_SST_NS = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"

_ATTR = re.compile(r"""([\w:.-]+)\s*=\s*(?:"([^"]*)"|'([^']*)')""")
_REF = re.compile(r"^\$?([A-Za-z]{1,3})\$?([1-9][0-9]*)$")
_XML_DECL_ENCODING = re.compile(rb"""^\s*<\?xml[^>]*encoding\s*=\s*["']([\w.-]+)["']""")
# characters XML 1.0 cannot carry, and ones a parser would normalise away (\r): OOXML writes
# them as _xHHHH_; a literal "_xHHHH_" in the text is protected by escaping its underscore.
_NEEDS_ESCAPE = re.compile(r"[\x00-\x08\x0b\x0c\x0d\x0e-\x1f\ufffe\uffff]|_(?=x[0-9A-Fa-f]{4}_)")
# workbook.xml children that follow <calcPr> (CT_Workbook sequence)
_AFTER_CALC_PR = (
    "oleSize", "customWorkbookViews", "pivotCaches", "smartTagPr", "smartTagTypes",
    "webPublishing", "fileRecoveryPr", "webPublishObjects", "extLst",
)  # fmt: skip


# --------------------------------------------------------------------------- public API


def patch_workbook(
    data: bytes,
    edits: Edits,
    *,
    drop_cached_values: bool = True,
    shared_strings: bool = False,
) -> bytes:
    """Return ``data`` (an .xlsx/.xlsm) with ``edits`` written: {sheet: {"D8": value}}.

    See the module documentation for value types and what ``drop_cached_values`` does.
    An empty ``edits`` with ``drop_cached_values=True`` just strips the cached values.
    """
    package = _Package(data)
    book = _WorkbookPart(package)
    targets = {book.resolve_sheet(name): cells for name, cells in edits.items()}
    strings = _SharedStrings(package, book) if shared_strings else None
    removed_formula = False
    for (name, part), cells in targets.items():
        parsed = {_parse_ref(ref, name): value for ref, value in cells.items()}
        for value in parsed.values():
            _check_value(value, name)
        if not parsed:
            continue
        sheet = _SheetPatch(package.text(part), name, book.date1904, strings)
        package.put(part, sheet.apply(parsed))
        removed_formula = removed_formula or sheet.removed_formula
    if strings is not None:
        strings.save()
    if drop_cached_values:
        for part in book.worksheet_parts():
            stripped = strip_cached_values(package.text(part))
            if stripped is not None:
                package.put(part, stripped)
        book.set_full_calc_on_load()
    if drop_cached_values or removed_formula:
        book.remove_calc_chain()
    return package.save()


def strip_cached_values(sheet_xml: str) -> str | None:
    """Sheet XML without the cached result of any formula cell; None when nothing changed.

    A formula cell loses its ``<v>`` and the ``t`` (result type) and ``vm`` (value metadata)
    attributes that describe it; the formula, style and everything else stay.
    """
    prefix = _prefix(sheet_xml, "sheetData")
    if f"<{prefix}f" not in sheet_xml:
        return None
    p = re.escape(prefix)
    formula_cell = re.compile(
        rf"<{p}c\b(?P<attrs>[^>]*?)(?<!/)>"
        rf"(?P<f><{p}f\b[^>]*?(?:/>|>[^<]*</{p}f>))"
        rf"(?P<v><{p}v\b[^>]*?(?:/>|>[^<]*</{p}v>))?"
    )
    changed = False

    def strip(match: re.Match[str]) -> str:
        nonlocal changed
        attrs = match.group("attrs")
        if match.group("v") is None and " t=" not in attrs and " vm=" not in attrs:
            return match.group(0)
        if re.search(r"""\st\s*=\s*["']inlineStr["']""", attrs):
            kept = attrs
        else:
            kept = _TYPE_ATTR.sub("", attrs)
        kept = _VM_ATTR.sub("", kept)
        changed = True
        return f"<{prefix}c{kept}>{match.group('f')}"

    result = formula_cell.sub(strip, sheet_xml)
    return result if changed else None


_TYPE_ATTR = re.compile(r"""\st\s*=\s*(?:"[^"]*"|'[^']*')""")
_VM_ATTR = re.compile(r"""\svm\s*=\s*(?:"[^"]*"|'[^']*')""")


# --------------------------------------------------------------------------- cell references


def column_letters(col: int) -> str:
    """1 → 'A', 27 → 'AA'."""
    letters = ""
    while col:
        col, rest = divmod(col - 1, 26)
        letters = chr(65 + rest) + letters
    return letters


def column_number(letters: str) -> int:
    """'A' → 1, 'AA' → 27."""
    number = 0
    for char in letters.upper():
        number = number * 26 + ord(char) - 64
    return number


def _parse_ref(ref: str, sheet: str) -> tuple[int, int]:
    """'D8' (also 'd8', '$D$8') → (row 8, column 4), one-based."""
    match = _REF.match(ref.strip()) if isinstance(ref, str) else None
    if match:
        row, col = int(match.group(2)), column_number(match.group(1))
        if row <= MAX_ROW and col <= MAX_COL:
            return row, col
    raise ValueError(f"{sheet!r}: {ref!r} is not a single-cell reference like 'D8'")


def _split_range(ref: str) -> tuple[int, int, int, int] | None:
    """'B5:C10' / 'B5' → (first row, first col, last row, last col); None if unparsable."""
    parts = ref.split(":")
    if not 1 <= len(parts) <= 2:
        return None
    corners = []
    for part in parts:
        match = _REF.match(part)
        if not match:
            return None
        corners.append((int(match.group(2)), column_number(match.group(1))))
    (r1, c1), (r2, c2) = corners[0], corners[-1]
    return min(r1, r2), min(c1, c2), max(r1, r2), max(c1, c2)


# --------------------------------------------------------------------------- values


def excel_serial(value: dt.date | dt.datetime | dt.time, date1904: bool = False) -> float | int:
    """Excel's serial number of a date/datetime/time (1900 system incl. its 1900-02-29)."""
    if isinstance(value, dt.time):
        seconds = value.hour * 3600 + value.minute * 60 + value.second
        return (seconds + value.microsecond / 1e6) / 86400
    day = value.date() if isinstance(value, dt.datetime) else value
    if date1904:
        days = (day - dt.date(1904, 1, 1)).days
    else:
        days = (day - dt.date(1899, 12, 30)).days
        if day < dt.date(1900, 3, 1):  # Excel counts a 29-Feb-1900 that never was
            days -= 1
    if days < (0 if date1904 else 1):
        raise ValueError(f"{value!r} is before the workbook's first date")
    if isinstance(value, dt.datetime):
        return days + excel_serial(value.time())
    return days


def _check_value(value: object, sheet: str) -> None:
    allowed = (str, int, float, dt.date, dt.time, Formula)
    if value is not None and not isinstance(value, allowed):
        raise ValueError(f"{sheet!r}: cannot write a {type(value).__name__} ({value!r})")
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"{sheet!r}: {value!r} is not a number Excel can store")
    if isinstance(value, dt.datetime) and value.tzinfo is not None:
        raise ValueError(f"{sheet!r}: {value!r} has a time zone; Excel dates have none")


def _number(value: int | float) -> str:
    if isinstance(value, int):
        return str(value)
    return str(int(value)) if value.is_integer() and abs(value) < 1e15 else repr(value)


def escape_text(text: str) -> str:
    """Text for an XML element: &, <, > escaped, control characters as OOXML ``_xHHHH_``."""
    return _xml_escape(_NEEDS_ESCAPE.sub(lambda m: f"_x{ord(m.group(0)):04X}_", text))


def _xml_escape(text: str) -> str:
    """Only &, <, > (for text that already carries its OOXML ``_xHHHH_`` escapes)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _t_element(prefix: str, text: str) -> str:
    space = ' xml:space="preserve"' if text != text.strip() or re.search(r"\s\s|[\t\n]", text) \
        else ""
    return f"<{prefix}t{space}>{escape_text(text)}</{prefix}t>"


# --------------------------------------------------------------------------- formula shifting

_FORMULA_TOKEN = re.compile(
    r"""
    (?P<string>"(?:[^"]|"")*")
  | (?P<quoted>'(?:[^']|'')*')
  | (?P<bracket>\[[^\]]*\])
  | (?<![\w.$])(?P<cd>\$?)(?P<col>[A-Za-z]{1,3})(?P<rd>\$?)(?P<row>[0-9]+)(?![\w.(!])
  | (?<![\w.$])(?P<cd1>\$?)(?P<c1>[A-Za-z]{1,3}):(?P<cd2>\$?)(?P<c2>[A-Za-z]{1,3})(?![\w.(!])
  | (?<![\w.$:])(?P<rd1>\$?)(?P<r1>[0-9]+):(?P<rd2>\$?)(?P<r2>[0-9]+)(?![\w.])
  | (?P<number>[0-9]+(?:\.[0-9]*)?(?:[Ee][+-]?[0-9]+)?)
  | (?P<word>[A-Za-z_\\][\w.]*)
    """,
    re.X,
)


def shift_formula(formula: str, rows: int, cols: int) -> str:
    """``formula`` as it reads ``rows`` down and ``cols`` right: relative references move.

    This is how a shared formula's anchor text becomes the formula of another cell of its
    group. References that would leave the sheet become ``#REF!`` (as in Excel).
    """

    def move(match: re.Match[str]) -> str:
        g = match.groupdict()
        if g["col"] is not None:
            col = _shift(column_number(g["col"]), cols, g["cd"], MAX_COL)
            row = _shift(int(g["row"]), rows, g["rd"], MAX_ROW)
            if col is None or row is None:
                return "#REF!"
            return f"{g['cd']}{column_letters(col)}{g['rd']}{row}"
        if g["c1"] is not None:
            first = _shift(column_number(g["c1"]), cols, g["cd1"], MAX_COL)
            last = _shift(column_number(g["c2"]), cols, g["cd2"], MAX_COL)
            if first is None or last is None:
                return "#REF!"
            return f"{g['cd1']}{column_letters(first)}:{g['cd2']}{column_letters(last)}"
        if g["r1"] is not None:
            top = _shift(int(g["r1"]), rows, g["rd1"], MAX_ROW)
            bottom = _shift(int(g["r2"]), rows, g["rd2"], MAX_ROW)
            if top is None or bottom is None:
                return "#REF!"
            return f"{g['rd1']}{top}:{g['rd2']}{bottom}"
        return match.group(0)

    return _FORMULA_TOKEN.sub(move, formula)


def _shift(index: int, delta: int, anchor: str, limit: int) -> int | None:
    if anchor:
        return index
    moved = index + delta
    return moved if 1 <= moved <= limit else None


# --------------------------------------------------------------------------- XML helpers


@dataclass
class _Attrs:
    """An element's attributes in their original order, values kept XML-escaped."""

    items: list[tuple[str, str]] = field(default_factory=list)

    @classmethod
    def parse(cls, raw: str) -> _Attrs:
        return cls([(m.group(1), m.group(2) if m.group(2) is not None else
                     m.group(3).replace('"', "&quot;")) for m in _ATTR.finditer(raw)])

    def get(self, name: str) -> str | None:
        for key, value in self.items:
            if key == name:
                return html.unescape(value)
        return None

    def set(self, name: str, value: str, *, first: bool = False) -> None:
        for index, (key, _) in enumerate(self.items):
            if key == name:
                self.items[index] = (name, value)
                return
        if first:
            self.items.insert(0, (name, value))
        else:
            self.items.append((name, value))

    def remove(self, *names: str) -> None:
        self.items = [(k, v) for k, v in self.items if k not in names]

    def render(self) -> str:
        return "".join(f' {key}="{value}"' for key, value in self.items)


def _prefix(xml: str, local_name: str) -> str:
    """The namespace prefix ("" or "x:") the document uses for ``local_name``."""
    match = re.search(rf"<(\w+:)?{local_name}\b", xml)
    return match.group(1) or "" if match else ""


def _cell_pattern(prefix: str) -> re.Pattern[str]:
    p = re.escape(prefix)
    return re.compile(rf"<{p}c\b([^>]*?)(?:/>|>(.*?)</{p}c>)", re.S)


def _decode(raw: bytes, part: str) -> str:
    if raw.startswith(b"\xef\xbb\xbf"):
        raw = raw[3:]
    declared = _XML_DECL_ENCODING.match(raw)
    encoding = declared.group(1).decode("ascii").lower() if declared else "utf-8"
    if encoding not in ("utf-8", "utf8"):
        raise ValueError(f"{part} is encoded as {encoding}; only UTF-8 parts can be patched")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ValueError(f"{part} is not valid UTF-8: {exc}") from exc


# --------------------------------------------------------------------------- package


class _Package:
    """The zip members of a workbook; changed members are kept as text until saved."""

    def __init__(self, data: bytes) -> None:
        try:
            self._zip = zipfile.ZipFile(io.BytesIO(data))
            infos = self._zip.infolist()
        except (zipfile.BadZipFile, OSError, EOFError) as exc:
            raise ValueError(f"not an .xlsx/.xlsm workbook (not a zip archive: {exc})") from exc
        self._infos = infos
        self._names = {info.filename.lower(): info.filename for info in infos}
        self._changed: dict[str, str] = {}
        self._added: dict[str, str] = {}
        self._removed: set[str] = set()

    def name(self, part: str) -> str | None:
        """The zip member name of a part (part names are case-insensitive in OPC)."""
        return self._names.get(part.lstrip("/").lower())

    def has(self, part: str) -> bool:
        return self.name(part) is not None or part.lstrip("/") in self._added

    def text(self, part: str) -> str:
        part = part.lstrip("/")
        if part in self._added:
            return self._added[part]
        member = self.name(part)
        if member is None:
            raise ValueError(f"the workbook has no part {part!r}")
        if member in self._changed:
            return self._changed[member]
        try:
            raw = self._zip.read(member)
        except (zipfile.BadZipFile, OSError, EOFError, ValueError) as exc:
            raise ValueError(f"the part {part!r} cannot be read: {exc}") from exc
        return _decode(raw, part)

    def put(self, part: str, text: str) -> None:
        part = part.lstrip("/")
        member = self.name(part)
        if member is None:
            self._added[part] = text
        else:
            self._changed[member] = text

    def remove(self, part: str) -> None:
        member = self.name(part)
        if member is not None:
            self._removed.add(member)

    def save(self) -> bytes:
        out = io.BytesIO()
        with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
            for info in self._infos:
                if info.filename in self._removed:
                    continue
                clone = copy.copy(info)  # writestr updates offsets in place
                if info.filename in self._changed:
                    target.writestr(clone, self._changed[info.filename].encode("utf-8"))
                else:
                    target.writestr(clone, self._zip.read(info))
            for part, text in self._added.items():
                target.writestr(part, text.encode("utf-8"))
        return out.getvalue()


def _rels_part(part: str) -> str:
    folder, name = posixpath.split(part.lstrip("/"))
    return posixpath.join(folder, "_rels", f"{name}.rels")


@dataclass(frozen=True)
class _Rel:
    id: str
    type: str
    target: str  # resolved part name without leading "/"; raw target when external
    external: bool


def _read_rels(package: _Package, part: str) -> list[_Rel]:
    rels_part = _rels_part(part)
    if not package.has(rels_part):
        return []
    try:
        root = safe_et.fromstring(package.text(rels_part))
    except (safe_et.ParseError, DefusedXmlException) as exc:
        raise ValueError(f"{rels_part} is not readable XML: {exc}") from exc
    folder = posixpath.dirname(part.lstrip("/"))
    rels = []
    for element in root:
        if not element.tag.endswith("Relationship"):
            continue
        target = element.get("Target", "")
        external = element.get("TargetMode") == "External"
        if not external:
            joined = target.lstrip("/") if target.startswith("/") else \
                posixpath.join(folder, target)
            target = posixpath.normpath(joined).lstrip("/")
        rels.append(_Rel(element.get("Id", ""), element.get("Type", ""), target, external))
    return rels


class _WorkbookPart:
    """workbook.xml: sheet names → parts, the date system, calcPr, the calculation chain."""

    def __init__(self, package: _Package) -> None:
        self.package = package
        root_rels = _read_rels(package, "")
        office = [r for r in root_rels if r.type.endswith(_REL_SUFFIX_OFFICE_DOCUMENT)]
        if not office or not package.has(office[0].target):
            raise ValueError("not an Office Open XML workbook (no officeDocument part)")
        self.part = office[0].target
        if not self.part.lower().endswith(".xml"):
            raise ValueError(f"{self.part} is not an XML workbook part (.xlsb is not supported)")
        self.rels = _read_rels(package, self.part)
        xml = package.text(self.part)
        try:
            root = safe_et.fromstring(xml)
        except (safe_et.ParseError, DefusedXmlException) as exc:
            raise ValueError(f"{self.part} is not readable XML: {exc}") from exc
        by_id = {rel.id: rel for rel in self.rels}
        self.sheets: list[tuple[str, _Rel | None]] = []
        for element in root.iter():
            if element.tag.rsplit("}", 1)[-1] != "sheet":
                continue
            rel_id = next((v for k, v in element.attrib.items() if k.endswith("}id")), None)
            self.sheets.append((element.get("name", ""), by_id.get(rel_id or "")))
        pr = next((e for e in root if e.tag.rsplit("}", 1)[-1] == "workbookPr"), None)
        self.date1904 = pr is not None and pr.get("date1904", "").lower() in ("1", "true")

    def resolve_sheet(self, name: str) -> tuple[str, str]:
        """(sheet name, part) for an edit's sheet name: exact, else case-insensitive."""
        matches = [(n, rel) for n, rel in self.sheets if n == name] or [
            (n, rel) for n, rel in self.sheets if n.casefold() == str(name).casefold()
        ]
        if not matches:
            known = ", ".join(repr(n) for n, _ in self.sheets)
            raise ValueError(f"the workbook has no sheet {name!r} (its sheets: {known})")
        found, rel = matches[0]
        if rel is None or rel.external or not self.package.has(rel.target):
            raise ValueError(f"the sheet {found!r} has no part in the workbook")
        if not rel.type.endswith(_REL_SUFFIX_WORKSHEET):
            raise ValueError(f"the sheet {found!r} is not a worksheet ({rel.type.rsplit('/')[-1]})")
        return found, rel.target

    def worksheet_parts(self) -> list[str]:
        return [rel.target for _, rel in self.sheets
                if rel is not None and not rel.external and rel.type.endswith(_REL_SUFFIX_WORKSHEET)
                and self.package.has(rel.target)]

    def set_full_calc_on_load(self) -> None:
        xml = self.package.text(self.part)
        prefix = _prefix(xml, "workbook")
        p = re.escape(prefix)
        existing = re.search(rf"<{p}calcPr\b([^>]*?)(/?)>", xml)
        if existing:
            attrs = _Attrs.parse(existing.group(1))
            if attrs.get("fullCalcOnLoad") in ("1", "true"):
                return
            attrs.set("fullCalcOnLoad", "1")
            new = f"<{prefix}calcPr{attrs.render()}{existing.group(2)}>"
            xml = xml[: existing.start()] + new + xml[existing.end():]
        else:
            element = f'<{prefix}calcPr fullCalcOnLoad="1"/>'
            follower = re.search(rf"<{p}(?:{'|'.join(_AFTER_CALC_PR)})\b|</{p}workbook>", xml)
            if follower is None:
                raise ValueError(f"{self.part} has no closing </workbook>")
            xml = xml[: follower.start()] + element + xml[follower.start():]
        self.package.put(self.part, xml)

    def remove_calc_chain(self) -> None:
        chains = [r for r in self.rels if r.type.endswith(_REL_SUFFIX_CALC_CHAIN)]
        for rel in chains:
            if not rel.external:
                self.package.remove(rel.target)
                _remove_content_type_override(self.package, rel.target)
        if chains:
            _remove_relationships(self.package, self.part, {r.id for r in chains})
            self.rels = [r for r in self.rels if r not in chains]

    def add_relationship(self, rel_type: str, target: str) -> str:
        rels_part = _rels_part(self.part)
        xml = self.package.text(rels_part)
        used = {r.id for r in self.rels}
        number = len(used) + 1
        while f"rId{number}" in used:
            number += 1
        rel_id = f"rId{number}"
        element = f'<Relationship Id="{rel_id}" Type="{rel_type}" Target="{target}"/>'
        closing = xml.rfind("</")
        self.package.put(rels_part, xml[:closing] + element + xml[closing:])
        folder = posixpath.dirname(self.part)
        resolved = posixpath.normpath(posixpath.join(folder, target))
        self.rels.append(_Rel(rel_id, rel_type, resolved, False))
        return rel_id


def _remove_relationships(package: _Package, part: str, ids: set[str]) -> None:
    rels_part = _rels_part(part)
    xml = package.text(rels_part)

    def drop(match: re.Match[str]) -> str:
        return "" if _Attrs.parse(match.group(1)).get("Id") in ids else match.group(0)

    xml = re.sub(r"<(?:\w+:)?Relationship\b([^>]*?)(?:/>|>.*?</(?:\w+:)?Relationship>)",
                 drop, xml, flags=re.S)
    package.put(rels_part, xml)


def _remove_content_type_override(package: _Package, part: str) -> None:
    name = "[Content_Types].xml"
    if not package.has(name):
        return
    xml = package.text(name)
    wanted = "/" + part.lstrip("/").lower()

    def drop(match: re.Match[str]) -> str:
        part_name = (_Attrs.parse(match.group(1)).get("PartName") or "").lower()
        return "" if part_name == wanted else match.group(0)

    new = re.sub(r"<(?:\w+:)?Override\b([^>]*?)(?:/>|>.*?</(?:\w+:)?Override>)", drop, xml,
                 flags=re.S)
    if new != xml:
        package.put(name, new)


def _add_content_type_override(package: _Package, part: str, content_type: str) -> None:
    name = "[Content_Types].xml"
    xml = package.text(name)
    closing = xml.rfind("</")
    element = f'<Override PartName="/{part.lstrip("/")}" ContentType="{content_type}"/>'
    package.put(name, xml[:closing] + element + xml[closing:])


# --------------------------------------------------------------------------- shared strings


class _SharedStrings:
    """The shared-string table, appended to (created if the workbook has none)."""

    def __init__(self, package: _Package, book: _WorkbookPart) -> None:
        self.package = package
        self.book = book
        rel = next((r for r in book.rels if r.type.endswith(_REL_SUFFIX_SHARED_STRINGS)
                    and not r.external), None)
        self.part = rel.target if rel is not None and package.has(rel.target) else None
        self._xml: str | None = None
        self._index: dict[str, int] | None = None
        self._count = 0
        self._added: list[str] = []
        self._references = 0

    def _load(self) -> dict[str, int]:
        if self._index is not None:
            return self._index
        self._index = {}
        if self.part is None:
            self._xml = f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<sst xmlns="{_SST_NS}" count="0" uniqueCount="0"></sst>'  # noqa: E501
            return self._index
        self._xml = self.package.text(self.part)
        p = re.escape(_prefix(self._xml, "sst"))
        item = re.compile(rf"<{p}si\b[^>]*?(?:/>|>(.*?)</{p}si>)", re.S)
        plain = re.compile(
            rf"^<{p}t(?:\s+xml:space=\"preserve\")?>([^<]*)</{p}t>(?:<{p}phoneticPr\b[^>]*/>)?$"
        )
        for index, match in enumerate(item.finditer(self._xml)):
            simple = plain.match(match.group(1) or "")
            if simple and "_x" not in simple.group(1):
                self._index.setdefault(html.unescape(simple.group(1)), index)
            self._count = index + 1
        return self._index

    def index(self, text: str) -> int:
        table = self._load()
        self._references += 1
        if text not in table:
            table[text] = self._count
            self._count += 1
            self._added.append(text)
        return table[text]

    def save(self) -> None:
        if self._xml is None or (not self._added and self._references == 0):
            return
        xml = self._xml
        prefix = _prefix(xml, "sst")
        closing = xml.rfind(f"</{prefix}sst>")
        items = "".join(f"<{prefix}si>{_t_element(prefix, s)}</{prefix}si>" for s in self._added)
        xml = xml[:closing] + items + xml[closing:]
        head = re.search(rf"<{re.escape(prefix)}sst\b([^>]*?)(/?)>", xml)
        if head is None:
            raise ValueError("the shared-string table has no <sst> element")
        attrs = _Attrs.parse(head.group(1))
        attrs.set("uniqueCount", str(self._count))
        count = attrs.get("count")
        if count is not None and count.isdigit():
            attrs.set("count", str(int(count) + self._references))
        xml = xml[: head.start()] + f"<{prefix}sst{attrs.render()}>" + xml[head.end():]
        if self.part is None:
            self.part = posixpath.join(posixpath.dirname(self.book.part), "sharedStrings.xml")
            self.book.add_relationship(_REL_TYPE_SHARED_STRINGS, "sharedStrings.xml")
            _add_content_type_override(self.package, self.part, _CT_SHARED_STRINGS)
        self.package.put(self.part, xml)


# --------------------------------------------------------------------------- one sheet


@dataclass
class _Cell:
    col: int
    attrs: _Attrs
    body: str | None  # None for a self-closing <c/>
    raw: str  # the original text ("" for a new cell)


@dataclass
class _SharedGroup:
    row: int
    col: int
    formula: str  # unescaped anchor text
    attrs: _Attrs  # the anchor's <f> attributes
    bounds: tuple[int, int, int, int]


class _SheetPatch:
    """Applies {(row, col): value} to one worksheet's XML text."""

    def __init__(
        self, xml: str, name: str, date1904: bool, strings: _SharedStrings | None
    ) -> None:
        self.xml = xml
        self.name = name
        self.date1904 = date1904
        self.strings = strings
        self.p = _prefix(xml, "sheetData")
        ep = re.escape(self.p)
        self.cell_re = _cell_pattern(self.p)
        self.row_re = re.compile(rf"<{ep}row\b([^>]*?)(?:/>|>(.*?)</{ep}row>)", re.S)
        self.f_re = re.compile(rf"<{ep}f\b([^>]*?)(?:/>|>(.*?)</{ep}f>)", re.S)
        self.ext_re = re.compile(rf"<{ep}extLst\b.*?</{ep}extLst>", re.S)
        self.removed_formula = False
        self.groups: dict[str, _SharedGroup] = {}
        self._col_styles: list[tuple[int, int, str]] | None = None

    # ---- sheet level

    def apply(self, edits: Mapping[tuple[int, int], PatchValue]) -> str:
        xml = self.xml
        ep = re.escape(self.p)
        start = re.search(rf"<{ep}sheetData\b[^>]*?(/?)>", xml)
        if start is None:
            raise ValueError(f"{self.name!r}: the sheet XML has no <sheetData>")
        if start.group(1):  # <sheetData/>
            content_start = content_end = start.end()
            head = xml[: start.start()] + f"<{self.p}sheetData>"
            tail = f"</{self.p}sheetData>" + xml[start.end():]
        else:
            content_start = start.end()
            content_end = xml.find(f"</{self.p}sheetData>", content_start)
            if content_end < 0:
                raise ValueError(f"{self.name!r}: the sheet XML has no </sheetData>")
            head, tail = xml[:content_start], xml[content_end:]
        content = xml[content_start:content_end]
        self._check_arrays(content, edits)

        by_row: dict[int, dict[int, PatchValue]] = {}
        for (row, col), value in edits.items():
            by_row.setdefault(row, {})[col] = value
        rows = self._rows(content)
        explicit = all(attrs.get("r") is not None for _, _, attrs, _ in rows)
        self._find_groups(rows, by_row)
        group_rows = {r for g in self.groups.values() for r in range(g.bounds[0], g.bounds[2] + 1)}

        pieces: list[str] = []
        position = 0
        present = {number for number, *_ in rows}
        pending = sorted(r for r in by_row if r not in present)
        for number, match, attrs, _ in rows:
            while pending and pending[0] < number:
                new_row = pending.pop(0)
                pieces.append(content[position : match.start()])
                position = match.start()
                pieces.append(self._new_row(new_row, by_row[new_row]))
            if number in by_row or number in group_rows or not explicit:
                pieces.append(content[position : match.start()])
                pieces.append(self._patch_row(number, match, attrs, by_row.get(number, {})))
                position = match.end()
        pieces.append(content[position:])
        pieces.extend(self._new_row(r, by_row[r]) for r in pending)
        result = head + "".join(pieces) + tail
        return self._update_dimension(result, edits)

    def _rows(self, content: str) -> list[tuple[int, re.Match[str], _Attrs, str]]:
        rows = []
        number = 0
        for match in self.row_re.finditer(content):
            attrs = _Attrs.parse(match.group(1))
            r = attrs.get("r")
            number = int(r) if r is not None and r.isdigit() else number + 1
            rows.append((number, match, attrs, match.group(2) or ""))
        return rows

    def _check_arrays(self, content: str, edits: Iterable[tuple[int, int]]) -> None:
        if 't="array"' not in content and "t='array'" not in content:
            return
        for match in self.f_re.finditer(content):
            attrs = _Attrs.parse(match.group(1))
            bounds = _split_range(attrs.get("ref") or "") if attrs.get("t") == "array" else None
            if bounds is None or (bounds[0] == bounds[2] and bounds[1] == bounds[3]):
                continue
            for row, col in edits:
                if bounds[0] <= row <= bounds[2] and bounds[1] <= col <= bounds[3]:
                    raise ValueError(
                        f"{self.name!r}: {column_letters(col)}{row} is part of the array "
                        f"formula {attrs.get('ref')}; it cannot be written cell by cell"
                    )

    def _find_groups(
        self,
        rows: list[tuple[int, re.Match[str], _Attrs, str]],
        by_row: Mapping[int, Mapping[int, PatchValue]],
    ) -> None:
        """Shared-formula anchors that an edit overwrites: their group must be unshared."""
        for number, _, _, body in rows:
            if number not in by_row or f"<{self.p}f" not in body:
                continue
            for cell in self._cells(body):
                if cell.col not in by_row[number] or not cell.body:
                    continue
                formula = self.f_re.search(cell.body)
                if formula is None:
                    continue
                attrs = _Attrs.parse(formula.group(1))
                bounds = _split_range(attrs.get("ref") or "")
                si = attrs.get("si")
                if attrs.get("t") == "shared" and bounds and si is not None and formula.group(2):
                    self.groups[si] = _SharedGroup(
                        number, cell.col, html.unescape(formula.group(2)), attrs, bounds
                    )

    def _update_dimension(self, xml: str, edits: Iterable[tuple[int, int]]) -> str:
        ep = re.escape(self.p)
        match = re.search(rf"<{ep}dimension\b([^>]*?)/>", xml)
        if match is None:
            return xml
        attrs = _Attrs.parse(match.group(1))
        bounds = _split_range(attrs.get("ref") or "")
        if bounds is None:
            return xml
        top, left, bottom, right = bounds
        for row, col in edits:
            top, left, bottom, right = min(top, row), min(left, col), max(bottom, row), \
                max(right, col)
        if (top, left, bottom, right) == bounds:
            return xml
        ref = f"{column_letters(left)}{top}"
        if (top, left) != (bottom, right):
            ref += f":{column_letters(right)}{bottom}"
        attrs.set("ref", ref)
        return xml[: match.start()] + f"<{self.p}dimension{attrs.render()}/>" + xml[match.end():]

    # ---- row level

    def _cells(self, body: str) -> list[_Cell]:
        cells = []
        col = 0
        for match in self.cell_re.finditer(body):
            attrs = _Attrs.parse(match.group(1))
            ref = attrs.get("r")
            parsed = _REF.match(ref) if ref else None
            col = column_number(parsed.group(1)) if parsed else col + 1
            cells.append(_Cell(col, attrs, match.group(2), match.group(0)))
        return cells

    def _patch_row(
        self, number: int, match: re.Match[str], attrs: _Attrs, edits: Mapping[int, PatchValue]
    ) -> str:
        body = match.group(2)
        row_attrs_changed = attrs.get("r") is None
        attrs.set("r", str(number), first=True)
        cells = self._cells(body or "")
        explicit = all(cell.attrs.get("r") is not None for cell in cells)
        existing = {cell.col for cell in cells}
        style = self._row_style(attrs)
        new_cols = sorted(col for col in edits if col not in existing)
        out: list[str] = []
        for cell in cells:
            while new_cols and new_cols[0] < cell.col:
                col = new_cols.pop(0)
                out.append(self._render(number, col, None, edits[col], style))
            if cell.col in edits:
                out.append(self._render(number, cell.col, cell, edits[cell.col], style))
            elif cell.body and self.groups and f"<{self.p}f" in cell.body:
                out.append(self._unshare(number, cell) if explicit else self._unshare(
                    number, self._with_ref(number, cell)))
            elif not explicit:
                out.append(self._with_ref(number, cell).raw)
            else:
                out.append(cell.raw)
        out.extend(self._render(number, col, None, edits[col], style) for col in new_cols)
        if new_cols:
            row_attrs_changed = self._widen_spans(attrs, new_cols) or row_attrs_changed
        inner = "".join(out)
        if not row_attrs_changed and not edits and inner == (body or ""):
            return match.group(0)
        if not inner:
            return f"<{self.p}row{attrs.render()}/>"
        return f"<{self.p}row{attrs.render()}>{inner}</{self.p}row>"

    def _new_row(self, number: int, edits: Mapping[int, PatchValue]) -> str:
        cells = "".join(self._render(number, col, None, edits[col], None)
                        for col in sorted(edits))
        return f'<{self.p}row r="{number}">{cells}</{self.p}row>'

    @staticmethod
    def _widen_spans(attrs: _Attrs, cols: list[int]) -> bool:
        spans = attrs.get("spans")
        if spans is None:
            return False
        match = re.fullmatch(r"(\d+):(\d+)", spans.strip())
        if match is None:
            attrs.remove("spans")  # an optional hint; a wrong one is worse than none
            return True
        first, last = int(match.group(1)), int(match.group(2))
        new_first, new_last = min(first, *cols), max(last, *cols)
        if (new_first, new_last) == (first, last):
            return False
        attrs.set("spans", f"{new_first}:{new_last}")
        return True

    def _row_style(self, attrs: _Attrs) -> str | None:
        if attrs.get("customFormat") in ("1", "true"):
            return attrs.get("s")
        return None

    def _column_style(self, col: int) -> str | None:
        if self._col_styles is None:
            styles: list[tuple[int, int, str]] = []
            ep = re.escape(self.p)
            cols = re.search(rf"<{ep}cols\b.*?</{ep}cols>", self.xml, re.S)
            for match in re.finditer(rf"<{ep}col\b([^>]*?)/?>", cols.group(0) if cols else ""):
                a = _Attrs.parse(match.group(1))
                low, high, style = a.get("min"), a.get("max"), a.get("style")
                if low and high and style and low.isdigit() and high.isdigit():
                    styles.append((int(low), int(high), style))
            self._col_styles = styles
        return next((s for low, high, s in self._col_styles if low <= col <= high), None)

    # ---- cell level

    def _with_ref(self, row: int, cell: _Cell) -> _Cell:
        attrs = copy.deepcopy(cell.attrs)
        attrs.set("r", f"{column_letters(cell.col)}{row}", first=True)
        raw = f"<{self.p}c{attrs.render()}/>" if cell.body is None else \
            f"<{self.p}c{attrs.render()}>{cell.body}</{self.p}c>"
        return _Cell(cell.col, attrs, cell.body, raw)

    def _unshare(self, row: int, cell: _Cell) -> str:
        """A dependent of an unshared group gets the anchor's formula, shifted, as its own."""
        body = cell.body or ""
        formula = self.f_re.search(body)
        if formula is None:
            return cell.raw
        attrs = _Attrs.parse(formula.group(1))
        group = self.groups.get(attrs.get("si") or "")
        if attrs.get("t") != "shared" or group is None or attrs.get("ref") is not None:
            return cell.raw
        text = shift_formula(group.formula, row - group.row, cell.col - group.col)
        attrs.remove("t", "si", "ref")
        for name in ("ca", "aca"):
            value = group.attrs.get(name)
            if value is not None and attrs.get(name) is None:
                attrs.set(name, value)
        element = f"<{self.p}f{attrs.render()}>{_xml_escape(text)}</{self.p}f>"
        new_body = body[: formula.start()] + element + body[formula.end():]
        return f"<{self.p}c{cell.attrs.render()}>{new_body}</{self.p}c>"

    def _render(
        self, row: int, col: int, cell: _Cell | None, value: PatchValue, row_style: str | None
    ) -> str:
        ref = f"{column_letters(col)}{row}"
        if cell is not None:
            attrs = copy.deepcopy(cell.attrs)
            attrs.set("r", ref, first=True)
            body = cell.body or ""
            if self.f_re.search(body):
                self.removed_formula = True
            extension = self.ext_re.search(body)
            ext = extension.group(0) if extension else ""
        else:
            attrs = _Attrs([("r", ref)])
            style = row_style or self._column_style(col)
            if style and style != "0":
                attrs.set("s", style)
            ext = ""
        attrs.remove("t", "cm", "vm")
        p = self.p
        if value is None:
            inner = ""
        elif isinstance(value, Formula):
            inner = f"<{p}f>{escape_text(value.text)}</{p}f>"
        elif isinstance(value, str):
            if self.strings is not None:
                attrs.set("t", "s")
                inner = f"<{p}v>{self.strings.index(value)}</{p}v>"
            else:
                attrs.set("t", "inlineStr")
                inner = f"<{p}is>{_t_element(p, value)}</{p}is>"
        elif isinstance(value, bool):
            attrs.set("t", "b")
            inner = f"<{p}v>{int(value)}</{p}v>"
        elif isinstance(value, (int, float)):
            inner = f"<{p}v>{_number(value)}</{p}v>"
        else:  # date, datetime, time (checked in patch_workbook)
            inner = f"<{p}v>{_number(excel_serial(value, self.date1904))}</{p}v>"
        inner += ext
        if not inner:
            return f"<{p}c{attrs.render()}/>"
        return f"<{p}c{attrs.render()}>{inner}</{p}c>"
