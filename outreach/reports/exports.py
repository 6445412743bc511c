"""The campaign exports compliance files from: one function per export (docs/exports.md).

Each function returns an :class:`Export` (one or more tables of plain rows) built from a
handful of grouped or streamed queries — never one query per supplier — and
:func:`write_export` writes it as XLSX (openpyxl's write-only mode: rows are streamed to
the file, not kept as cell objects) and/or CSV. Every string cell is neutralised against
formula injection (``safe_cells``).

Which submissions count ("accepted submissions"): per request of the campaign, its newest
submission whose verdict is ``accepted`` or ``accepted_with_warnings`` and that is not a
byte-identical duplicate of an earlier one (a later accepted file supersedes an earlier
one; a later rejected file does not undo an accepted one).
"""

from __future__ import annotations

import csv
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.styles import Font
from sqlalchemy import Select, func
from sqlmodel import Session, col, select

from outreach.cmrt.validate import ACCEPTED_OUTCOMES
from outreach.core.enums import RequestState
from outreach.db.models import Campaign, Request, Submission, SubmissionSmelter, Supplier
from outreach.reports.safe_cells import csv_row, xlsx_row
from outreach.services.smelters import SmelterData, load_smelter_context

Format = Literal["xlsx", "csv", "both"]
#: Appendix A order of the metals; any other metal follows, alphabetically
METAL_ORDER = ("Gold", "Tantalum", "Tin", "Tungsten")
#: the status markers of a Conflict Minerals Report's Appendix A (shared/seed): one
#: asterisk for RMAP "conformant", two for RMAP "active", none otherwise
MARKERS = {"conformant": "*", "active": "**"}
LEGEND = (("*", "RMAP \u201cconformant\u201d, based on RMI"),
          ("**", "RMAP \u201cactive\u201d list"))
STATUS_LABELS = {"conformant": "Conformant", "active": "Active",
                 "not_participating": "Not participating", None: "Unknown"}
_BATCH = 5_000


@dataclass
class Table:
    name: str  # the CSV file's stem
    sheet: str  # the XLSX sheet's title
    headers: tuple[str, ...]
    rows: list[tuple[Any, ...]]


@dataclass
class Export:
    name: str  # the XLSX file's stem
    tables: list[Table]

    @property
    def rows(self) -> list[tuple[Any, ...]]:
        return self.tables[0].rows


def _stream(session: Session, query: Select[Any]) -> Iterator[Any]:
    """Rows of ``query`` fetched in batches (a server-side cursor on PostgreSQL)."""
    result = session.connection().execution_options(yield_per=_BATCH).execute(query)
    yield from result


def accepted_submissions(campaign_id: int) -> Any:
    """(id, request_id, supplier_id) of each request's newest accepted submission."""
    return (select(func.max(Submission.id).label("id"),
                   col(Submission.request_id).label("request_id"),
                   func.max(Request.supplier_id).label("supplier_id"))
            .join(Request, col(Request.id) == Submission.request_id)
            .where(Request.campaign_id == campaign_id)
            .where(col(Submission.outcome).in_(sorted(ACCEPTED_OUTCOMES)))
            .where(col(Submission.duplicate_of).is_(None))
            .group_by(col(Submission.request_id))
            .subquery("accepted"))


# --------------------------------------------------------------------------- supplier status

STATUS_HEADERS = (
    "Supplier code", "Supplier name", "Country", "Buyer", "Request state", "Stage",
    "Times sent", "Stage sent at (UTC)", "Due date", "Awaiting approval", "Responded at (UTC)",
    "Accepted at (UTC)", "Exempt reason", "Files received", "Last file", "Last received at (UTC)",
    "Last verdict", "Template", "Required missing", "Errors", "Warnings", "Findings",
)
_FINDINGS_SHOWN = 20


def supplier_status(session: Session, campaign: Campaign) -> Export:
    """One row per supplier of the campaign: its stage and dates, its last verdict and that
    submission's findings."""
    assert campaign.id is not None
    judged = (select(col(Submission.request_id).label("request_id"),
                     func.max(Submission.id).label("last_id"),
                     func.count(col(Submission.id)).label("files"))
              .join(Request, col(Request.id) == Submission.request_id)
              .where(Request.campaign_id == campaign.id)
              .group_by(col(Submission.request_id)).subquery("judged"))
    query = (
        select(Supplier.code, Supplier.name, Supplier.country, Supplier.buyer, Request.state,
               Request.stage, Request.stage_repeat, Request.stage_sent_at, Request.due_date,
               Request.awaiting_approval, Request.responded_at, Request.accepted_at,
               Request.exempt_reason, judged.c.files, Submission.filename,
               Submission.received_at, Submission.outcome, Submission.template,
               Submission.version, Submission.required_missing, Submission.findings)
        .join(Supplier, col(Supplier.id) == Request.supplier_id)
        .outerjoin(judged, judged.c.request_id == Request.id)
        .outerjoin(Submission, col(Submission.id) == judged.c.last_id)
        .where(Request.campaign_id == campaign.id)
        .order_by(Supplier.code))
    rows: list[tuple[Any, ...]] = []
    for r in _stream(session, query):
        findings = r.findings or []
        severities = Counter(str(f.get("severity")) for f in findings)
        template = f"{r.template} {r.version}" if r.template else None
        rows.append((
            r.code, r.name, r.country, r.buyer, str(r.state), r.stage, r.stage_repeat or None,
            r.stage_sent_at, r.due_date, r.awaiting_approval, r.responded_at, r.accepted_at,
            r.exempt_reason, r.files or 0, r.filename, r.received_at, r.outcome, template,
            r.required_missing, severities.get("error", 0) if r.outcome else None,
            severities.get("warning", 0) if r.outcome else None, _findings_text(findings),
        ))
    return Export("supplier_status",
                  [Table("supplier_status", "Supplier status", STATUS_HEADERS, rows)])


def _findings_text(findings: Sequence[dict[str, Any]]) -> str | None:
    if not findings:
        return None
    parts = []
    for f in findings[:_FINDINGS_SHOWN]:
        where = f"{f.get('sheet')}!{f.get('cell')}" if f.get("cell") else (f.get("sheet") or "")
        parts.append(f"[{f.get('severity')}] {f.get('code')}"
                     f"{' ' + where if where else ''}: {f.get('message')}")
    if len(findings) > _FINDINGS_SHOWN:
        parts.append(f"… and {len(findings) - _FINDINGS_SHOWN} more")
    return " | ".join(parts)


# --------------------------------------------------------------------------- smelters


@dataclass
class Smelter:
    """One smelter of the consolidated list: by CID, or (no CID) by metal, name, country."""

    key: tuple[str, ...]
    cid: str
    metals: Counter[str] = field(default_factory=Counter)
    names: Counter[str] = field(default_factory=Counter)
    countries: Counter[str] = field(default_factory=Counter)
    suppliers: set[int] = field(default_factory=set)
    reported_status: str | None = None
    red_flags: set[str] = field(default_factory=set)
    #: filled from the smelter lists in effect
    standard_name: str | None = None
    reference_country: str | None = None
    status: str | None = None

    @property
    def metal(self) -> str:
        return self.metals.most_common(1)[0][0]

    @property
    def name(self) -> str:
        return self.standard_name or self.names.most_common(1)[0][0]

    @property
    def country(self) -> str:
        if self.reference_country:
            return self.reference_country
        return self.countries.most_common(1)[0][0] if self.countries else ""

    @property
    def marker(self) -> str:
        return MARKERS.get(self.status or "", "")

    def sort_key(self) -> tuple[int, str, str, str]:
        metal = self.metal
        rank = METAL_ORDER.index(metal) if metal in METAL_ORDER else len(METAL_ORDER)
        return (rank, metal.casefold(), self.name.casefold(), self.cid)


#: names of Smelter List pseudo-entries, which name no smelter
_PSEUDO = frozenset({"smelter not listed", "smelter not yet identified", "unknown"})


def consolidated_smelters(session: Session, campaign: Campaign,
                          smelter_data: SmelterData | None = None) -> list[Smelter]:
    """The union of the smelter rows of the accepted submissions, one entry per smelter,
    with the reference's name and country and the RMAP status currently in effect (the
    status recorded at validation when the smelter has none now)."""
    assert campaign.id is not None
    accepted = accepted_submissions(campaign.id)
    query = (select(SubmissionSmelter.cid, SubmissionSmelter.metal, SubmissionSmelter.name,
                    SubmissionSmelter.country, SubmissionSmelter.rmap_status,
                    SubmissionSmelter.red_flags, accepted.c.supplier_id)
             .join(accepted, accepted.c.id == SubmissionSmelter.submission_id))
    found: dict[tuple[str, ...], Smelter] = {}
    for cid, metal, name, country, status, flags, supplier_id in _stream(session, query):
        cid = (cid or "").strip().upper()
        name = " ".join((name or "").split())
        metal = " ".join((metal or "").split())
        country = " ".join((country or "").split())
        if not cid and (not name or name.casefold() in _PSEUDO):
            continue
        key = (cid,) if cid else ("", metal.casefold(), name.casefold(), country.casefold())
        smelter = found.get(key)
        if smelter is None:
            smelter = found[key] = Smelter(key, cid)
        if metal:
            smelter.metals[metal] += 1
        if name:
            smelter.names[name] += 1
        if country:
            smelter.countries[country] += 1
        smelter.suppliers.add(supplier_id)
        smelter.reported_status = status or smelter.reported_status
        smelter.red_flags.update(flags or ())
    data = smelter_data or load_smelter_context(session)
    for smelter in found.values():
        if not smelter.metals:
            smelter.metals["Unknown"] += 1
        if not smelter.names:
            smelter.names[smelter.cid] += 1
        known = data.reference.get(smelter.cid) if smelter.cid else None
        if known is not None:
            smelter.standard_name, smelter.reference_country = known.standard_name, known.country
        current = data.status.get(smelter.cid) if smelter.cid else None
        smelter.status = str(current.status) if current else smelter.reported_status
    return sorted(found.values(), key=Smelter.sort_key)


SMELTER_HEADERS = ("Metal", "Smelter Name", "Smelter Country", "Smelter ID", "RMAP Status",
                   "Suppliers Reporting", "Red Flags", "Names Reported")


def smelter_list(session: Session, campaign: Campaign,
                 smelters: list[Smelter] | None = None) -> Export:
    """The consolidated smelter list in the shape of a Conflict Minerals Report's Appendix A:
    Metal, Smelter Name (with its status marker), Smelter Country (upper case), then the
    CID, the RMAP status, how many suppliers reported it and what else was seen."""
    smelters = consolidated_smelters(session, campaign) if smelters is None else smelters
    rows = [(s.metal, f"{s.name}{s.marker}", s.country.upper(), s.cid or None,
             STATUS_LABELS.get(s.status, s.status or "Unknown"), len(s.suppliers),
             ", ".join(sorted(s.red_flags)) or None,
             " / ".join(n for n, _ in s.names.most_common(5)))
            for s in smelters]
    legend = [(mark, meaning) for mark, meaning in LEGEND]
    return Export("smelters", [
        Table("smelters", "Appendix A", SMELTER_HEADERS, rows),
        Table("smelters_legend", "Legend", ("Marker", "Meaning"), legend),
    ])


# --------------------------------------------------------------------------- countries

COUNTRY_HEADERS = ("Country", "Metals", "Smelters", "Conformant", "Active",
                   "Not participating", "Status unknown", "Suppliers Reporting")


def countries(session: Session, campaign: Campaign,
              smelters: list[Smelter] | None = None) -> Export:
    """The countries reported: where the smelters and refiners of the accepted submissions
    are (the Smelter List's country column), with their metals and RMAP status."""
    smelters = consolidated_smelters(session, campaign) if smelters is None else smelters
    by_country: dict[str, list[Smelter]] = {}
    for s in smelters:
        by_country.setdefault(s.country.upper() or "UNKNOWN", []).append(s)
    rows = []
    for country in sorted(by_country):
        group = by_country[country]
        statuses = Counter(s.status for s in group)
        metals = sorted({s.metal for s in group},
                        key=lambda m: (METAL_ORDER.index(m) if m in METAL_ORDER else 9, m))
        suppliers = set().union(*(s.suppliers for s in group))
        rows.append((country, ", ".join(metals), len(group), statuses.get("conformant", 0),
                     statuses.get("active", 0), statuses.get("not_participating", 0),
                     sum(n for k, n in statuses.items()
                         if k not in ("conformant", "active", "not_participating")),
                     len(suppliers)))
    return Export("countries", [Table("countries", "Countries", COUNTRY_HEADERS, rows)])


# --------------------------------------------------------------------------- disclosure


def senior_stages(campaign: Campaign) -> tuple[list[str], str | None]:
    """The ladder's stage names in order, and the first one that goes to (or comes from)
    a senior officer: escalated means that stage or a later one was sent."""
    stages = (campaign.ladder or {}).get("stages") or []
    names = [s["name"] for s in stages]
    for s in stages:
        people = (*s.get("to", ()), *s.get("cc", ()))
        if not s.get("handover") and ("senior_officer" in people
                                      or "our_senior_officer" in people
                                      or "senior" in s["name"]):
            return names, s["name"]
    return names, None


def disclosure(session: Session, campaign: Campaign, *, today: date,
               smelters: list[Smelter] | None = None) -> Export:
    """The figures a Form SD / Conflict Minerals Report quotes, and the response rate over
    time (one row per day from the campaign's start to ``today``)."""
    assert campaign.id is not None
    smelters = consolidated_smelters(session, campaign) if smelters is None else smelters
    names, senior = senior_stages(campaign)
    handover = next((s["name"] for s in (campaign.ladder or {}).get("stages", [])
                     if s.get("handover")), None)
    counts: Counter[str] = Counter()
    grouped = (select(Request.state, Request.stage,
                      col(Request.responded_at).is_not(None).label("responded"),
                      func.count(col(Request.id)))
               .where(Request.campaign_id == campaign.id)
               .group_by(Request.state, Request.stage, col(Request.responded_at).is_not(None)))
    for state, stage, responded, n in _stream(session, grouped):
        counts["all"] += n
        if state == RequestState.EXEMPT:
            counts["exempt"] += n
            continue
        counts["surveyed"] += n
        counts["responded"] += n if responded or state == RequestState.ACCEPTED else 0
        counts["valid"] += n if state == RequestState.ACCEPTED else 0
        if senior and stage in names and names.index(stage) >= names.index(senior):
            counts["escalated"] += n
        if state == RequestState.HANDED_OVER or (handover and stage == handover):
            counts["handed_over"] += n
    accepted = accepted_submissions(campaign.id)
    with_file = session.exec(select(func.count()).select_from(accepted)).one()
    statuses = Counter(s.status for s in smelters)

    def rate(part: int) -> float | None:
        return round(part / counts["surveyed"], 4) if counts["surveyed"] else None

    figures: list[tuple[Any, ...]] = [
        ("Campaign", campaign.name, None),
        ("Reporting year", campaign.reporting_year, None),
        ("As of", today, None),
        ("Suppliers in the campaign", counts["all"], None),
        ("Suppliers exempted", counts["exempt"], "not surveyed; reasons in the status export"),
        ("Suppliers surveyed", counts["surveyed"], None),
        ("Suppliers responded", counts["responded"], "any reply that is not an auto-reply"),
        ("Response rate", rate(counts["responded"]), "responded / surveyed"),
        ("Valid responses (accepted CMRT)", counts["valid"], None),
        ("Valid response rate", rate(counts["valid"]), "valid / surveyed"),
        ("Accepted submissions counted", with_file, "newest accepted file per supplier"),
        ("Escalated to senior officers", counts["escalated"],
         f"stage '{senior}' or later sent" if senior else "no senior stage in the ladder"),
        ("Handed over to procurement", counts["handed_over"], None),
        ("Smelters and refiners identified", len(smelters), None),
        ("Smelters RMAP conformant", statuses.get("conformant", 0), "marked * in Appendix A"),
        ("Smelters RMAP active", statuses.get("active", 0), "marked ** in Appendix A"),
        ("Smelters not participating in RMAP", statuses.get("not_participating", 0), None),
        ("Smelters with unknown RMAP status",
         sum(n for k, n in statuses.items()
             if k not in ("conformant", "active", "not_participating")), None),
        ("Countries of smelters", len({s.country.upper() for s in smelters if s.country}), None),
    ]
    for metal in METAL_ORDER:
        figures.append((f"{metal} smelters", sum(1 for s in smelters if s.metal == metal), None))
    return Export("disclosure", [
        Table("disclosure", "Figures", ("Figure", "Value", "Note"), figures),
        Table("disclosure_over_time", "Over time",
              ("Date", "Responded (cumulative)", "Valid (cumulative)", "Surveyed",
               "Response rate", "Valid response rate"),
              _over_time(session, campaign, counts["surveyed"], today)),
    ])


def _over_time(session: Session, campaign: Campaign, surveyed: int,
               today: date) -> list[tuple[Any, ...]]:
    responded: Counter[date] = Counter()
    valid: Counter[date] = Counter()
    query = (select(Request.responded_at, Request.accepted_at)
             .where(Request.campaign_id == campaign.id)
             .where(Request.state != RequestState.EXEMPT)
             .where(col(Request.responded_at).is_not(None) | col(Request.accepted_at).is_not(None)))
    for responded_at, accepted_at in _stream(session, query):
        first = responded_at or accepted_at
        responded[_day(first)] += 1
        if accepted_at is not None:
            valid[_day(accepted_at)] += 1
    start = _day(campaign.started_at or campaign.created_at)
    end = max([today, *responded, *valid])
    rows: list[tuple[Any, ...]] = []
    total_r = total_v = 0
    day = start
    while day <= end:
        total_r += responded.get(day, 0)
        total_v += valid.get(day, 0)
        rows.append((day, total_r, total_v, surveyed,
                     round(total_r / surveyed, 4) if surveyed else None,
                     round(total_v / surveyed, 4) if surveyed else None))
        day += timedelta(days=1)
    return rows


def _day(moment: datetime) -> date:
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).astimezone(UTC).date()


# --------------------------------------------------------------------------- writing


def write_export(export: Export, out_dir: Path, fmt: Format = "both") -> list[Path]:
    """Write ``export`` under ``out_dir``: ``<name>.xlsx`` (one sheet per table) and/or
    one ``<table>.csv`` per table (UTF-8 with a BOM, so Excel reads the accents)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    if fmt in ("xlsx", "both"):
        path = out_dir / f"{export.name}.xlsx"
        write_xlsx(path, [(t.sheet, t.headers, t.rows) for t in export.tables])
        written.append(path)
    if fmt in ("csv", "both"):
        for table in export.tables:
            path = out_dir / f"{table.name}.csv"
            write_csv(path, table.headers, table.rows)
            written.append(path)
    return written


def write_csv(path: Path, headers: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
    temporary = path.with_name(f".{path.name}.part")
    with temporary.open("w", encoding="utf-8-sig", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(csv_row(headers))
        writer.writerows(csv_row(row) for row in rows)
    temporary.replace(path)


def write_xlsx(path: Path,
               sheets: Sequence[tuple[str, Sequence[str], Iterable[Sequence[Any]]]]) -> None:
    workbook = Workbook(write_only=True)
    bold = Font(bold=True)
    for title, headers, rows in sheets:
        sheet = workbook.create_sheet(title[:31])
        sheet.freeze_panes = "A2"
        header_cells = []
        for value in xlsx_row(headers):
            cell = WriteOnlyCell(sheet, value=value)
            cell.font = bold
            header_cells.append(cell)
        sheet.append(header_cells)
        for row in rows:
            sheet.append(xlsx_row(row))
    temporary = path.with_name(f".{path.name}.part")
    workbook.save(temporary)
    temporary.replace(path)
