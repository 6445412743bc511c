"""The smelter reference: who each CID is, and (from a separate RMI list) its RMAP status.

Every RMI template embeds the Smelter Reference List of its release on the ``Smelter
Look-up`` sheet (FORMAT.md §3.7): one row per alias, ``A`` metal, ``B`` alias, ``C`` standard
name, ``D`` country, ``E`` CID. The templates carry no conformance status; that comes from an
RMAP status file the compliance team imports (``read_rmap_status``, layout in
docs/smelter-reference.md).
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum
from pathlib import Path

from outreach.cmrt.workbook import Workbook

LOOKUP_SHEET = "Smelter Look-up"
FIRST_LOOKUP_ROW = 5
CID_PATTERN = re.compile(r"^CID\d{6}$")
#: the two pseudo-entries each metal has in the look-up list; not smelters
PSEUDO_NAMES = frozenset({"smelter not listed", "smelter not yet identified"})


def clean(value: object) -> str:
    """A cell as text: stripped, inner whitespace collapsed, cached formula ``0`` as blank."""
    if value is None or value == 0 or value == "0":
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return " ".join(str(value).split())


@dataclass(frozen=True)
class Smelter:
    cid: str
    metal: str
    standard_name: str
    country: str
    aliases: tuple[str, ...]


@dataclass(frozen=True)
class SmelterReference:
    """CID → smelter, and (metal, alias) → CID, case-insensitive on names and metals."""

    smelters: dict[str, Smelter]
    by_alias: dict[tuple[str, str], str] = field(repr=False)
    source: str = ""

    def get(self, cid: str) -> Smelter | None:
        return self.smelters.get(cid.strip().upper())

    def find(self, metal: str, name: str) -> Smelter | None:
        """The smelter a Look-up name (alias or standard name) stands for, for one metal."""
        cid = self.by_alias.get((metal.casefold(), clean(name).casefold()))
        return self.smelters.get(cid) if cid else None

    def __len__(self) -> int:
        return len(self.smelters)


def reference_from_rows(rows: Iterable[tuple[str, str, str, str, str]], source: str = ""
                        ) -> SmelterReference:
    """Build the reference from (metal, alias, standard name, country, CID) rows."""
    aliases: dict[str, list[str]] = {}
    first: dict[str, tuple[str, str, str]] = {}
    by_alias: dict[tuple[str, str], str] = {}
    for metal, alias, standard, country, cid in rows:
        cid = cid.upper()
        if not CID_PATTERN.match(cid) or alias.casefold() in PSEUDO_NAMES:
            continue
        first.setdefault(cid, (metal, standard or alias, country))
        if alias and alias not in aliases.setdefault(cid, []):
            aliases[cid].append(alias)
        for name in (alias, standard):
            if name:
                by_alias.setdefault((metal.casefold(), name.casefold()), cid)
    smelters = {cid: Smelter(cid, metal, standard, country, tuple(aliases.get(cid, ())))
                for cid, (metal, standard, country) in first.items()}
    return SmelterReference(smelters, by_alias, source)


def reference_from_workbook(wb: Workbook, source: str = "") -> SmelterReference:
    """The reference list embedded in a template's ``Smelter Look-up`` sheet (read once per
    distinct sheet: ``Workbook.derived``)."""
    if not wb.has(LOOKUP_SHEET):
        return SmelterReference({}, {}, source)
    return wb.derived(LOOKUP_SHEET, f"reference:{source}",
                      lambda book: _reference_of_sheet(book, source))


def _reference_of_sheet(wb: Workbook, source: str) -> SmelterReference:
    sheet = wb.sheet(LOOKUP_SHEET)
    rows = (
        tuple(clean(row[i]) if i < len(row) else "" for i in (0, 1, 2, 3, 4))
        for _, row in sheet.rows(FIRST_LOOKUP_ROW)
    )
    return reference_from_rows(rows, source)  # type: ignore[arg-type]


# -- RMAP status ---------------------------------------------------------------------------


class RmapStatus(StrEnum):
    CONFORMANT = "conformant"
    ACTIVE = "active"
    NOT_PARTICIPATING = "not_participating"


_STATUS_WORDS = {
    "conformant": RmapStatus.CONFORMANT,
    "active": RmapStatus.ACTIVE,
    "not participating": RmapStatus.NOT_PARTICIPATING,
    "not_participating": RmapStatus.NOT_PARTICIPATING,
    "non-participating": RmapStatus.NOT_PARTICIPATING,
}


@dataclass(frozen=True)
class StatusRow:
    cid: str
    status: RmapStatus
    as_of: date


@dataclass(frozen=True)
class StatusProblem:
    line: int
    message: str


@dataclass(frozen=True)
class RmapStatusFile:
    rows: tuple[StatusRow, ...]
    problems: tuple[StatusProblem, ...]

    def by_cid(self) -> dict[str, StatusRow]:
        return {row.cid: row for row in self.rows}


class StatusFileError(Exception):
    """The whole status file is unusable; ``str()`` says why."""


REQUIRED_STATUS_COLUMNS = ("cid", "status", "as_of")


def read_rmap_status(path: Path) -> RmapStatusFile:
    """Read an RMAP status CSV (columns ``cid``, ``status``, ``as_of``; see the docs)."""
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise StatusFileError(f"{path.name} is not UTF-8 text: save it as CSV UTF-8") from exc
    return parse_rmap_status(text)


def parse_rmap_status(text: str) -> RmapStatusFile:
    reader = csv.reader(io.StringIO(text))
    header = next(reader, None)
    if header is None:
        raise StatusFileError("the file is empty: expected a header cid,status,as_of")
    columns = [h.strip().casefold().replace(" ", "_").replace("-", "_") for h in header]
    missing = [c for c in REQUIRED_STATUS_COLUMNS if c not in columns]
    if missing:
        raise StatusFileError(f"missing column(s) {', '.join(missing)}; found "
                              f"{', '.join(h.strip() for h in header) or 'none'}")
    at = {name: columns.index(name) for name in REQUIRED_STATUS_COLUMNS}
    rows: list[StatusRow] = []
    problems: list[StatusProblem] = []
    seen: dict[str, int] = {}
    for record in reader:
        line = reader.line_num
        if not any(cell.strip() for cell in record):
            continue
        cells = {k: (record[i].strip() if i < len(record) else "") for k, i in at.items()}
        row, errors = _status_row(cells)
        if row and row.cid in seen:
            errors.append(f"{row.cid} is listed twice (first on line {seen[row.cid]})")
        if errors:
            problems.extend(StatusProblem(line, e) for e in errors)
            continue
        assert row is not None
        seen[row.cid] = line
        rows.append(row)
    return RmapStatusFile(tuple(rows), tuple(problems))


def _status_row(cells: dict[str, str]) -> tuple[StatusRow | None, list[str]]:
    errors: list[str] = []
    cid = cells["cid"].upper()
    if not CID_PATTERN.match(cid):
        errors.append(f"cid {cells['cid']!r} is not a smelter ID like CID001234")
    status = _STATUS_WORDS.get(" ".join(cells["status"].casefold().split()))
    if status is None:
        errors.append(f"status {cells['status']!r} is not one of conformant, active, "
                      "not participating")
    try:
        as_of = date.fromisoformat(cells["as_of"])
    except ValueError:
        as_of = None
        errors.append(f"as_of {cells['as_of']!r} is not a date like 2026-11-30")
    if errors or status is None or as_of is None:
        return None, errors
    return StatusRow(cid, status, as_of), errors
