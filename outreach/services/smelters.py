"""``outreach smelter import`` and the smelter data the validator reads.

Three kinds of list, each replaced whole by its next import (docs/smelter-reference.md):
the smelter reference (a template's ``Smelter Look-up`` sheet), the RMAP status CSV and the
red-flag CSV. An import swaps the kind's rows in the caller's transaction, so readers see the
old list or the new one, never a mix; it writes a ``SmelterImport`` row with the counts and
the changes (so a later step can re-check what changed) and a ``smelters.imported`` event.

``load_smelter_context`` builds what validation needs from the stored lists, falling back to
the Look-up sheet of a blank template shipped with outreach when no reference was imported.
"""

from __future__ import annotations

import csv
import hashlib
import io
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import date
from functools import lru_cache
from pathlib import Path
from typing import Any

import structlog
from sqlalchemy import delete, insert, text
from sqlmodel import Session, SQLModel, select

from outreach.cmrt.identify import identify, version_key
from outreach.cmrt.opening import OpenLimits, Unreadable, open_workbook, sniff
from outreach.cmrt.redflags import (
    HEADER_HINT,
    RedFlag,
    RedFlagFileError,
    RedFlagLists,
    header_columns,
    parse_red_flags,
)
from outreach.cmrt.reference import (
    CID_PATTERN,
    FIRST_LOOKUP_ROW,
    LOOKUP_SHEET,
    PSEUDO_NAMES,
    REQUIRED_STATUS_COLUMNS,
    RmapStatus,
    SmelterReference,
    StatusFileError,
    StatusRow,
    clean,
    parse_rmap_status,
    reference_from_rows,
    reference_from_workbook,
)
from outreach.cmrt.workbook import SheetUnreadable, Workbook
from outreach.core.clock import Clock
from outreach.db.audit import record_event
from outreach.db.models import (
    SmelterImport,
    SmelterListKind,
    SmelterRedFlagRow,
    SmelterReferenceRow,
    SmelterStatusRow,
)
from outreach.errors import InvalidInput
from outreach.resources import resource_dir

log = structlog.get_logger(__name__)

WORKBOOK_SUFFIXES = frozenset({".xlsx", ".xlsm", ".xls"})
RMAP_HINT = ",".join(REQUIRED_STATUS_COLUMNS)
_MODEL: dict[SmelterListKind, type[SQLModel]] = {
    SmelterListKind.LOOKUP: SmelterReferenceRow,
    SmelterListKind.RMAP: SmelterStatusRow,
    SmelterListKind.RED_FLAGS: SmelterRedFlagRow,
}
#: the values compared to tell a changed row from an unchanged one (RMAP: the status only,
#: a newer ``as_of`` with the same status is no change)
_COMPARED: dict[SmelterListKind, tuple[str, ...]] = {
    SmelterListKind.LOOKUP: ("metal", "standard_name", "country", "aliases"),
    SmelterListKind.RMAP: ("status",),
    SmelterListKind.RED_FLAGS: ("list_name", "cid", "name", "country", "reason"),
}


# -- reading a file -------------------------------------------------------------------------


@dataclass(frozen=True)
class Problem:
    """A bad row: ``line`` is the CSV line, or the Look-up sheet's row number."""

    line: int
    message: str


@dataclass(frozen=True)
class SmelterFile:
    """A parsed list: row key → the values stored for it, in file order."""

    kind: SmelterListKind
    name: str
    sha256: str
    rows: dict[str, dict[str, Any]]
    problems: tuple[Problem, ...] = ()
    template: str | None = None


class NotThatKindOfFile(InvalidInput):
    """The file is not the list it is said (or detected) to be; nothing was imported."""


class SmelterFileRejected(InvalidInput):
    """The file has bad rows and the caller did not ask to skip them."""

    def __init__(self, name: str, problems: Sequence[Problem], *, no_valid_row: bool = False
                 ) -> None:
        self.problems = tuple(problems)
        rows = len({p.line for p in problems})
        hint = ("no row is valid" if no_valid_row
                else "fix them, or pass --skip-invalid to import the valid rows only")
        super().__init__(f"{name}: {rows} row(s) with {len(problems)} problem(s); nothing "
                         f"was imported: {hint}")


def detect_kind(name: str, data: bytes) -> SmelterListKind:
    """Which list a file is: a workbook is a Look-up; a CSV is told apart by its header."""
    kind = sniff(data)
    if Path(name).suffix.lower() in WORKBOOK_SUFFIXES or kind in ("zip", "ole2"):
        return SmelterListKind.LOOKUP
    if kind == "empty":
        raise NotThatKindOfFile(f"{name} is empty: import an RMI template (.xlsx) or a CSV "
                                f"with the header {RMAP_HINT} or {HEADER_HINT}")
    if kind != "text":
        raise NotThatKindOfFile(
            f"{name} is neither a workbook nor a CSV file ({kind}): import an RMI template "
            f"(.xlsx) or a CSV with the header {RMAP_HINT} or {HEADER_HINT}")
    header = next(csv.reader(io.StringIO(_text(name, data))), [])
    columns = set(header_columns(header))
    if set(REQUIRED_STATUS_COLUMNS) <= columns:
        return SmelterListKind.RMAP
    if {"list", "reason"} <= columns:
        return SmelterListKind.RED_FLAGS
    raise NotThatKindOfFile(
        f"{name}: the header ({', '.join(h.strip() for h in header) or 'empty'}) is neither an "
        f"RMAP status file ({RMAP_HINT}) nor a red-flag list ({HEADER_HINT}); fix the header "
        "or pass --kind")


def read_smelter_file(name: str, data: bytes, kind: SmelterListKind | None = None,
                      limits: OpenLimits | None = None) -> SmelterFile:
    """Parse ``data`` as ``kind`` (detected when None). Raises ``NotThatKindOfFile``."""
    kind = kind or detect_kind(name, data)
    sha256 = hashlib.sha256(data).hexdigest()
    if kind is SmelterListKind.LOOKUP:
        return _read_lookup(name, data, sha256, limits or OpenLimits())
    if kind is SmelterListKind.RMAP:
        try:
            status = parse_rmap_status(_text(name, data))
        except StatusFileError as exc:
            raise NotThatKindOfFile(f"{name} is not an RMAP status file: {exc}") from exc
        rows = {row.cid: {"cid": row.cid, "status": str(row.status),
                          "as_of": row.as_of.isoformat()} for row in status.rows}
        problems = tuple(Problem(p.line, p.message) for p in status.problems)
        return SmelterFile(kind, name, sha256, rows, problems)
    try:
        flags = parse_red_flags(_text(name, data))
    except RedFlagFileError as exc:
        raise NotThatKindOfFile(f"{name} is not a red-flag list: {exc}") from exc
    rows = {"|".join(e.key): _flag_values(e) for e in flags.entries}
    problems = tuple(Problem(p.line, p.message) for p in flags.problems)
    return SmelterFile(kind, name, sha256, rows, problems)


def _text(name: str, data: bytes) -> str:
    if sniff(data) in ("zip", "ole2"):
        raise NotThatKindOfFile(f"{name} is a workbook, not a CSV file: a template's Smelter "
                                "Look-up is imported with --kind lookup")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise NotThatKindOfFile(f"{name} is not UTF-8 text: save it as CSV UTF-8") from exc


def _flag_values(entry: RedFlag) -> dict[str, Any]:
    return {"list_name": entry.list_name, "cid": entry.cid, "name": entry.name,
            "country": entry.country, "reason": entry.reason}


def _read_lookup(name: str, data: bytes, sha256: str, limits: OpenLimits) -> SmelterFile:
    opened = open_workbook(data, limits)
    if isinstance(opened, Unreadable):
        raise NotThatKindOfFile(
            f"{name} is not a readable Excel workbook ({opened.code}): the smelter reference "
            "comes from an RMI template (.xlsx, .xlsm, .xls)")
    wb = opened.workbook
    if not wb.has(LOOKUP_SHEET):
        raise NotThatKindOfFile(
            f"{name} has no {LOOKUP_SHEET!r} sheet, so it is not an RMI reporting template: "
            "import the blank CMRT or EMRT downloaded from RMI")
    try:
        lines, problems = _lookup_rows(wb)
        template = identify(wb)
    except SheetUnreadable as exc:
        raise NotThatKindOfFile(f"{name}: {exc}; open it in Excel, save it again") from exc
    reference = reference_from_rows((row for _, row in lines), name)
    if not len(reference) and not problems:
        raise NotThatKindOfFile(f"{name}: its {LOOKUP_SHEET!r} sheet lists no smelter")
    rows = {s.cid: {"cid": s.cid, "metal": s.metal, "standard_name": s.standard_name,
                    "country": s.country, "aliases": list(s.aliases)}
            for s in reference.smelters.values()}
    label = f"{template.family} {template.version}" if template else None
    return SmelterFile(SmelterListKind.LOOKUP, name, sha256, rows, tuple(problems), label)


LookupRow = tuple[str, str, str, str, str]


def _lookup_rows(wb: Workbook) -> tuple[list[tuple[int, LookupRow]], list[Problem]]:
    """The Look-up's smelter rows (metal, alias, standard name, country, CID) and its bad
    rows: a name without a valid CID, or a CID given for two different smelters."""
    good: list[tuple[int, LookupRow]] = []
    problems: list[Problem] = []
    first: dict[str, tuple[int, tuple[str, str, str]]] = {}
    for number, raw in wb.sheet(LOOKUP_SHEET).rows(FIRST_LOOKUP_ROW):
        metal, alias, standard, country, cid = (
            clean(raw[i]) if i < len(raw) else "" for i in range(5))
        if not (alias or cid) or alias.casefold() in PSEUDO_NAMES:
            continue
        cid = cid.upper()
        if not CID_PATTERN.match(cid):
            problems.append(Problem(number, f"{alias or 'the row'}: CID {cid!r} is not a "
                                            "smelter ID like CID001234"))
            continue
        who = (metal, standard or alias, country)
        seen = first.setdefault(cid, (number, who))
        if seen[1] != who:
            problems.append(Problem(number, f"{cid} is listed as {' / '.join(who)} but as "
                                            f"{' / '.join(seen[1])} on row {seen[0]}"))
            continue
        good.append((number, (metal, alias, standard, country, cid)))
    return good, problems


# -- importing --------------------------------------------------------------------------------


@dataclass
class SmelterImportReport:
    kind: str
    file: str
    rows: int = 0
    added: int = 0
    removed: int = 0
    changed: int = 0
    unchanged: int = 0
    skipped_invalid: int = 0
    template: str | None = None
    import_id: int | None = None
    dry_run: bool = False
    problems: tuple[Problem, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["problems"] = [asdict(p) for p in self.problems]
        return data


@dataclass
class _Diff:
    added: list[Any] = field(default_factory=list)
    removed: list[dict[str, Any]] = field(default_factory=list)
    changed: list[dict[str, Any]] = field(default_factory=list)
    unchanged: int = 0

    def as_json(self) -> dict[str, Any]:
        return {"added": self.added, "removed": self.removed, "changed": self.changed}


def import_smelter_file(session: Session, clock: Clock, parsed: SmelterFile, *, actor: str,
                        skip_invalid: bool = False, dry_run: bool = False
                        ) -> SmelterImportReport:
    """Replace the stored list of ``parsed.kind`` with ``parsed``, in the caller's
    transaction. A dry run computes the same report and writes nothing."""
    bound = log.bind(kind=str(parsed.kind), file=parsed.name, sha256=parsed.sha256[:12])
    _refuse_unusable(parsed, skip_invalid, bound)
    model = _MODEL[parsed.kind]
    if not dry_run and session.get_bind().dialect.name == "postgresql":
        # one import of a kind at a time; readers are not blocked
        session.execute(text(f"LOCK TABLE {model.__tablename__} IN SHARE ROW EXCLUSIVE MODE"))
    diff = _diff(parsed.kind, _current(session, parsed.kind), parsed.rows)
    report = SmelterImportReport(
        kind=str(parsed.kind), file=parsed.name, rows=len(parsed.rows), added=len(diff.added),
        removed=len(diff.removed), changed=len(diff.changed), unchanged=diff.unchanged,
        skipped_invalid=len({p.line for p in parsed.problems}), template=parsed.template,
        dry_run=dry_run, problems=parsed.problems)
    counts = {k: getattr(report, k) for k in ("rows", "added", "removed", "changed",
                                               "unchanged", "skipped_invalid")}
    if dry_run:
        bound.info("smelters.import_checked", **counts)
        return report
    now, source = clock.now(), parsed.name[:255]
    record = SmelterImport(kind=parsed.kind, source=source, sha256=parsed.sha256,
                           template=parsed.template, changes=diff.as_json(), actor=actor,
                           imported_at=now, **counts)
    session.add(record)
    session.flush()
    session.execute(delete(model))
    if parsed.rows:
        session.execute(insert(model), [
            {**_columns(parsed.kind, values), "import_id": record.id, "source": source,
             "imported_at": now} for values in parsed.rows.values()])
    record_event(session, clock, actor=actor, kind="smelters.imported",
                 reason=f"imported from {parsed.name}", list_kind=str(parsed.kind),
                 import_id=record.id, sha256=parsed.sha256, template=parsed.template, **counts)
    report.import_id = record.id
    bound.info("smelters.imported", import_id=record.id, **counts)
    return report


def _refuse_unusable(parsed: SmelterFile, skip_invalid: bool, bound: Any) -> None:
    if parsed.problems and (not skip_invalid or not parsed.rows):
        bound.warning("smelters.import_rejected", problems=len(parsed.problems),
                      valid_rows=len(parsed.rows))
        raise SmelterFileRejected(parsed.name, parsed.problems,
                                  no_valid_row=skip_invalid and not parsed.rows)
    if not parsed.rows and parsed.kind is not SmelterListKind.RED_FLAGS:
        bound.warning("smelters.import_rejected", problems=0, valid_rows=0)
        raise NotThatKindOfFile(f"{parsed.name} lists no smelter; nothing was imported")


def _columns(kind: SmelterListKind, values: dict[str, Any]) -> dict[str, Any]:
    if kind is SmelterListKind.RMAP:
        return {**values, "as_of": date.fromisoformat(values["as_of"])}
    return values


def _current(session: Session, kind: SmelterListKind) -> dict[str, dict[str, Any]]:
    if kind is SmelterListKind.LOOKUP:
        return {r.cid: {"cid": r.cid, "metal": r.metal, "standard_name": r.standard_name,
                        "country": r.country, "aliases": list(r.aliases)}
                for r in session.exec(select(SmelterReferenceRow))}
    if kind is SmelterListKind.RMAP:
        return {r.cid: {"cid": r.cid, "status": r.status, "as_of": r.as_of.isoformat()}
                for r in session.exec(select(SmelterStatusRow))}
    current: dict[str, dict[str, Any]] = {}
    for row in session.exec(select(SmelterRedFlagRow).order_by(SmelterRedFlagRow.id)):
        entry = _flag(row)
        current["|".join(entry.key)] = _flag_values(entry)
    return current


def _identity(kind: SmelterListKind, values: dict[str, Any]) -> Any:
    if kind is SmelterListKind.RED_FLAGS:
        return {k: values[k] for k in ("list_name", "cid", "name", "country")}
    return values["cid"]


def _diff(kind: SmelterListKind, old: dict[str, dict[str, Any]],
          new: dict[str, dict[str, Any]]) -> _Diff:
    diff = _Diff()
    compared = _COMPARED[kind]
    for key, values in new.items():
        before = old.get(key)
        if before is None:
            diff.added.append(_identity(kind, values))
            continue
        fields = [f for f in compared if before[f] != values[f]]
        if not fields:
            diff.unchanged += 1
            continue
        shown = [*fields, *(("as_of",) if kind is SmelterListKind.RMAP else ())]
        diff.changed.append({"key": _identity(kind, values),
                             "before": {f: before[f] for f in shown},
                             "after": {f: values[f] for f in shown}})
    diff.removed = [{"key": _identity(kind, v), "before": v}
                    for k, v in old.items() if k not in new]
    return diff


# -- what validation reads --------------------------------------------------------------------


@dataclass(frozen=True)
class SmelterData:
    """The smelter lists in effect: who each CID is, its RMAP status, and the red flags."""

    reference: SmelterReference
    status: dict[str, StatusRow]
    red_flags: RedFlagLists
    #: the imports the lists come from (None: never imported)
    reference_import_id: int | None = None
    status_import_id: int | None = None
    red_flags_import_id: int | None = None
    #: the newest ``as_of`` of the status list (None: no status imported)
    status_as_of: date | None = None
    #: "imported", "bundled" (a template shipped with outreach) or "none"
    reference_origin: str = "none"

    def flags(self, cid: str) -> tuple[RedFlag, ...]:
        """The red flags of a smelter: by its CID, its standard name or any alias."""
        smelter = self.reference.get(cid)
        if smelter is None:
            return self.red_flags.flags_for(cid, None)
        found: dict[RedFlag, None] = {}
        for name in (smelter.standard_name, *smelter.aliases):
            found.update(dict.fromkeys(self.red_flags.flags_for(cid, name, smelter.country)))
        return tuple(found)


def load_smelter_context(session: Session, *,
                         blank_templates: Sequence[Path] | None = None) -> SmelterData:
    """The stored lists; without an imported reference, the Look-up of the newest blank
    template in ``blank_templates`` (default: the ``.xlsx`` files shipped in ``templates/``)."""
    stored = session.exec(select(SmelterReferenceRow).order_by(SmelterReferenceRow.id)).all()
    if stored:
        reference, origin = _reference(stored), "imported"
    else:
        reference = _bundled_reference(tuple(blank_templates if blank_templates is not None
                                             else shipped_templates()))
        origin = "bundled" if len(reference) else "none"
        if not len(reference):
            log.warning("smelters.no_reference",
                        hint="run `outreach smelter import` with the blank RMI template")
    statuses = session.exec(select(SmelterStatusRow)).all()
    flags = session.exec(select(SmelterRedFlagRow).order_by(SmelterRedFlagRow.id)).all()
    return SmelterData(
        reference=reference,
        status={r.cid: StatusRow(r.cid, RmapStatus(r.status), r.as_of) for r in statuses},
        red_flags=RedFlagLists(tuple(_flag(r) for r in flags)),
        reference_import_id=_latest_import(session, SmelterListKind.LOOKUP) if stored else None,
        status_import_id=_latest_import(session, SmelterListKind.RMAP) if statuses else None,
        red_flags_import_id=_latest_import(session, SmelterListKind.RED_FLAGS),
        status_as_of=max((r.as_of for r in statuses), default=None),
        reference_origin=origin,
    )


def _latest_import(session: Session, kind: SmelterListKind) -> int | None:
    """The last import of ``kind``: the one its current rows come from."""
    return session.exec(select(SmelterImport.id).where(SmelterImport.kind == kind)
                        .order_by(SmelterImport.id.desc())  # type: ignore[union-attr]
                        ).first()


def _flag(row: SmelterRedFlagRow) -> RedFlag:
    return RedFlag(row.list_name, row.reason, row.cid, row.name, row.country)


def _reference(rows: Iterable[SmelterReferenceRow]) -> SmelterReference:
    rows = list(rows)
    lines = ((r.metal, alias, r.standard_name, r.country, r.cid)
             for r in rows for alias in (r.aliases or [r.standard_name]))
    return reference_from_rows(lines, rows[0].source if rows else "")


def shipped_templates() -> tuple[Path, ...]:
    """The blank workbooks shipped with outreach (``templates/**/*.xlsx``), if any."""
    try:
        folder = resource_dir("templates")
    except FileNotFoundError:
        return ()
    return tuple(sorted(folder.rglob("*.xlsx")))


def _bundled_reference(paths: tuple[Path, ...]) -> SmelterReference:
    """The Look-up of the newest CMRT among ``paths`` (else the newest template of any
    family); an empty reference when there is none."""
    best: tuple[tuple[int, tuple[int, ...]], Path] | None = None
    for path in paths:
        rank = _template_rank(path, path.stat().st_mtime_ns)
        if rank is not None and (best is None or rank > best[0]):
            best = (rank, path)
    if best is None:
        return SmelterReference({}, {}, "")
    return _reference_of(best[1], best[1].stat().st_mtime_ns)


@lru_cache(maxsize=16)
def _template_rank(path: Path, _mtime: int) -> tuple[int, tuple[int, ...]] | None:
    wb = _workbook(path)
    template = identify(wb) if wb is not None else None
    if template is None or not wb or not wb.has(LOOKUP_SHEET):
        return None
    return (1 if template.family == "CMRT" else 0, version_key(template.version))


@lru_cache(maxsize=4)
def _reference_of(path: Path, _mtime: int) -> SmelterReference:
    wb = _workbook(path)
    assert wb is not None, "ranked templates open"
    return reference_from_workbook(wb, path.name)


def _workbook(path: Path) -> Workbook | None:
    opened = open_workbook(path.read_bytes())
    return None if isinstance(opened, Unreadable) else opened.workbook
