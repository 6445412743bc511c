"""``outreach export``: every export from real submissions (through intake), opened with
openpyxl and with our own reader, formula injection inert, on SQLite and PostgreSQL."""

from __future__ import annotations

import csv
import hashlib
import io
import random
from dataclasses import replace
from datetime import date, timedelta
from pathlib import Path

import openpyxl
import pytest
from sqlmodel import Session, select

from outreach.bootstrap import App
from outreach.cmrt.fill import SmelterPick, fill_cmrt, sample_filing, smelter_lookup
from outreach.cmrt.workbook import load_workbook_bytes
from outreach.core.clock import FixedClock
from outreach.db.models import Campaign, Submission, SubmissionSmelter
from outreach.reports import exports
from outreach.reports.runner import KINDS, run_exports, slug
from outreach.reports.safe_cells import csv_row, safe, xlsx_row
from outreach.scheduler import tick_once
from outreach.services.intake import Intake
from outreach.settings import Settings
from tests.support.cli_runner import cli_runner
from tests.support.db_fixtures import make_settings
from tests.support.factories import fresh, import_lines, running_campaign, supplier_line, tx
from tests.support.workbooks import accepted_cmrt, blank, rejected_cmrt
from tests.test_intake_pipeline import deliver, reply, token_of

EVIL_SUPPLIER = '=HYPERLINK("http://evil","x")'
EVIL_SMELTER = "+cmd|' /C calc'!A0"
ROOT = Path(__file__).parent.parent
POLICY = "https://company.example/responsible-minerals"
LINES = [
    supplier_line("A1", "Alpha Metals GmbH", country="DE"),
    supplier_line("B2", "Beta Components Ltd.", country="GB"),
    supplier_line("C3", EVIL_SUPPLIER.replace('"', '""'), country="US"),
    supplier_line("D4", "Delta Rejected S.A.", country="FR"),
    supplier_line("E5", "Echo Silent Inc.", country="US"),
]


def export_settings(tmp_path: Path, db_url: str) -> Settings:
    """Test settings with a policy URL (company question B is "Yes")."""
    return make_settings(tmp_path / "data", db_url,
                         company={"declaration": {"policy_url": POLICY}})


def evil_cmrt(seed: int) -> bytes:
    """An accepted CMRT with one "Smelter not listed" row named like a DDE payload."""
    filing = sample_filing(random.Random(seed), smelter_lookup(blank()), smelter_rows=(3, 8))
    metal = next(m.metal for m in filing.metals if m.declared)
    picks = (*filing.smelters, SmelterPick(metal, name=EVIL_SMELTER, country="GERMANY",
                                           not_listed=True))
    return fill_cmrt(blank(), replace(filing, smelters=picks))


@pytest.fixture
def settings(tmp_path: Path, db_url: str) -> Settings:
    return export_settings(tmp_path, db_url)


@pytest.fixture
def campaign(app: App, session: Session, clock: FixedClock, tmp_path: Path) -> Campaign:
    return surveyed_campaign(app, session, clock, tmp_path)


def surveyed_campaign(app: App, session: Session, clock: FixedClock,
                      tmp_path: Path) -> Campaign:
    """Five suppliers: A1, B2 and C3 accepted (C3 with hostile names), D4 rejected, E5 silent."""
    with tx(session):
        import_lines(session, clock, tmp_path / "s.csv", LINES)
        made = running_campaign(session, clock)
    tick_once(app)
    clock.advance(timedelta(days=3))
    intake = Intake(app.sessions, clock, app.settings, app.templates())
    for code, workbook in (("A1", accepted_cmrt(seed=11)), ("B2", accepted_cmrt(seed=12)),
                           ("C3", evil_cmrt(seed=13)), ("D4", rejected_cmrt(seed=14))):
        _, status = deliver(intake, reply(
            sender=f"pat@{code.lower()}.example",
            to=f"conflict-minerals+{token_of(session, code)}@company.example",
            files=((f"CMRT {code}.xlsx", workbook),)))
        assert status == "processed"
        clock.advance(timedelta(days=1))
    fresh(session)
    return session.exec(select(Campaign).where(Campaign.id == made.id)).one()


def _run(session: Session, app: App, campaign: Campaign, out: Path,
         kinds: tuple[str, ...] = KINDS):
    return run_exports(session, app.settings, campaign, kinds, out, fmt="both",
                       today=date(2027, 1, 20))


def _csv(path: Path) -> list[list[str]]:
    with path.open(encoding="utf-8-sig", newline="") as handle:
        return list(csv.reader(handle))


def _accepted(session: Session) -> list[Submission]:
    return [s for s in session.exec(select(Submission)).all()
            if s.outcome in exports.ACCEPTED_OUTCOMES]


def test_safe_cells_neutralise_every_trigger() -> None:
    for value in ("=1+1", "+1", "-1", "@SUM(A1)", "\t=1", "\r=1"):
        assert safe(value) == "'" + value
    assert safe("Alpha GmbH") == "Alpha GmbH" and safe("") == ""
    assert csv_row([EVIL_SUPPLIER, 3, None, True]) == ["'" + EVIL_SUPPLIER, "3", "", "Yes"]
    assert xlsx_row(["a\x00b", -5]) == ["ab", -5]  # numbers stay numbers


def test_every_export_opens_with_openpyxl_and_our_reader(
        app: App, session: Session, campaign: Campaign, tmp_path: Path) -> None:
    out = tmp_path / "out"
    run = _run(session, app, campaign, out)
    assert set(run.paths) == set(KINDS)
    xlsx = [p for p in run.all_paths() if p.suffix == ".xlsx"]
    assert {p.name for p in xlsx} >= {"supplier_status.xlsx", "smelters.xlsx",
                                      "countries.xlsx", "disclosure.xlsx"}
    for path in xlsx:
        book = openpyxl.load_workbook(path)
        assert book.sheetnames
        ours = load_workbook_bytes(path.read_bytes())
        assert ours.has(book.sheetnames[0])
    for path in run.all_paths():
        if path.suffix == ".csv":
            assert _csv(path)[0]  # a header row


def test_supplier_status_has_one_row_per_supplier_with_verdicts(
        app: App, session: Session, campaign: Campaign, tmp_path: Path) -> None:
    run = _run(session, app, campaign, tmp_path / "out", ("status",))
    rows = _csv(tmp_path / "out" / "supplier_status.csv")
    header, body = rows[0], {r[0]: dict(zip(rows[0], r, strict=True)) for r in rows[1:]}
    assert header[0] == "Supplier code" and set(body) == {"A1", "B2", "C3", "D4", "E5"}
    assert body["A1"]["Request state"] == "accepted"
    assert body["A1"]["Last verdict"] in exports.ACCEPTED_OUTCOMES
    assert body["D4"]["Last verdict"] == "rejected" and "required_missing" in body["D4"]["Findings"]
    assert body["D4"]["Request state"] == "open" and body["D4"]["Errors"] != "0"
    assert body["E5"]["Last verdict"] == "" and body["E5"]["Files received"] == "0"
    assert body["E5"]["Stage"] == "request"
    book = openpyxl.load_workbook(run.paths["status"][0])
    sheet = book["Supplier status"]
    assert [c.value for c in sheet[1]][:3] == ["Supplier code", "Supplier name", "Country"]
    assert sheet.max_row == 6


def test_formula_injection_is_inert_in_csv_and_xlsx(
        app: App, session: Session, campaign: Campaign, tmp_path: Path) -> None:
    out = tmp_path / "out"
    _run(session, app, campaign, out, ("status", "smelters", "countries"))
    status = _csv(out / "supplier_status.csv")
    smelters = _csv(out / "smelters.csv")
    assert status[[r[0] for r in status].index("C3")][:2] == ["C3", "'" + EVIL_SUPPLIER]
    evil = [r for r in smelters if EVIL_SMELTER in r[1]]
    assert evil and evil[0][1] == "'" + EVIL_SMELTER
    for path in out.glob("*.csv"):
        for row in _csv(path):
            assert not any(cell.startswith(("=", "+", "-", "@", "\t", "\r")) for cell in row)
    for path in out.glob("*.xlsx"):
        book = openpyxl.load_workbook(path)
        for sheet in book.worksheets:
            for row in sheet.iter_rows():
                for cell in row:
                    assert cell.data_type != "f", (path.name, cell.coordinate, cell.value)
                    if isinstance(cell.value, str):
                        assert not cell.value.startswith(("=", "+", "-", "@"))
    names = [c.value for c in openpyxl.load_workbook(out / "smelters.xlsx")["Appendix A"]["B"]]
    assert "'" + EVIL_SMELTER in names
    codes = openpyxl.load_workbook(out / "supplier_status.xlsx")["Supplier status"]
    assert "'" + EVIL_SUPPLIER in [c.value for c in codes["B"]]
    # our own reader sees text, never a formula
    ours = load_workbook_bytes((out / "supplier_status.xlsx").read_bytes())
    assert not (ours.formulas("Supplier status") or frozenset())


def test_smelter_list_is_the_union_in_appendix_a_shape(
        app: App, session: Session, campaign: Campaign, tmp_path: Path) -> None:
    out = tmp_path / "out"
    _run(session, app, campaign, out, ("smelters",))
    rows = _csv(out / "smelters.csv")
    assert rows[0][:3] == ["Metal", "Smelter Name", "Smelter Country"]
    accepted_ids = {s.id for s in _accepted(session)}
    reported = session.exec(select(SubmissionSmelter)).all()
    cids = {r.cid for r in reported if r.submission_id in accepted_ids and r.cid}
    rejected_only = {r.cid for r in reported if r.submission_id not in accepted_ids
                     and r.cid} - cids
    listed = {r[3] for r in rows[1:] if r[3]}
    assert listed == cids and not (listed & rejected_only)
    metals = [r[0] for r in rows[1:]]
    order = [m for m in exports.METAL_ORDER if m in metals]
    assert sorted(metals, key=order.index) == metals  # Gold, Tantalum, Tin, Tungsten
    for row in rows[1:]:
        status, name = row[4], row[1]
        marker = {"Conformant": "*", "Active": "**"}.get(status, "")
        assert name.endswith(marker) if marker else not name.endswith("*")
        assert row[2] == row[2].upper() and int(row[5]) >= 1
    counts = {}
    for s in _accepted(session):
        for r in reported:
            if r.submission_id == s.id and r.cid:
                counts.setdefault(r.cid, set()).add(s.supplier_id)
    assert {r[3]: int(r[5]) for r in rows[1:] if r[3]} == {k: len(v) for k, v in counts.items()}
    legend = _csv(out / "smelters_legend.csv")
    assert ["*", "RMAP \u201cconformant\u201d, based on RMI"] in legend


def test_countries_and_disclosure_figures(
        app: App, session: Session, campaign: Campaign, tmp_path: Path) -> None:
    out = tmp_path / "out"
    _run(session, app, campaign, out, ("smelters", "countries", "disclosure"))
    smelter_countries = {r[2] for r in _csv(out / "smelters.csv")[1:]}
    countries = _csv(out / "countries.csv")
    assert {r[0] for r in countries[1:]} == smelter_countries
    assert sum(int(r[2]) for r in countries[1:]) == len(_csv(out / "smelters.csv")) - 1
    figures = {r[0]: r[1] for r in _csv(out / "disclosure.csv")[1:]}
    assert figures["Suppliers surveyed"] == "5"
    assert figures["Suppliers responded"] == "4"
    assert figures["Valid responses (accepted CMRT)"] == "3"
    assert figures["Valid response rate"] == "0.6"
    assert figures["Escalated to senior officers"] == "0"
    assert figures["Handed over to procurement"] == "0"
    assert figures["Smelters and refiners identified"] == str(len(_csv(out / "smelters.csv")) - 1)
    series = _csv(out / "disclosure_over_time.csv")
    assert series[0][0] == "Date" and series[-1][1:3] == ["4", "3"]
    assert series[1][1] == "0"  # the campaign's first day: nothing yet
    book = openpyxl.load_workbook(out / "disclosure.xlsx")
    assert book.sheetnames == ["Figures", "Over time"]


def test_originals_are_copied_with_readable_names_and_an_index(
        app: App, session: Session, campaign: Campaign, tmp_path: Path) -> None:
    out = tmp_path / "out"
    run = _run(session, app, campaign, out, ("originals",))
    assert run.notes["originals"] == {"copied": 4, "missing": 0}
    index = _csv(out / "originals" / "index.csv")
    assert index[0][:4] == ["Supplier code", "Supplier name", "Submission id", "Outcome"]
    for row in index[1:]:
        entry = dict(zip(index[0], row, strict=True))
        path = out / "originals" / entry["Exported as"]
        assert hashlib.sha256(path.read_bytes()).hexdigest() == entry["sha256"]
        assert path.name.startswith(f"{entry['Supplier code']}_{entry['Submission id']}_"
                                    f"{entry['Outcome']}_")
        assert path.name.endswith(".xlsx") and " " not in path.name
    assert "'" + EVIL_SUPPLIER in [r[1] for r in index]
    rejected = [r for r in index[1:] if r[3] == "rejected"]
    assert len(rejected) == 1 and rejected[0][0] == "D4"


def test_the_cli_writes_every_export_to_the_default_folder(
        app: App, session: Session, campaign: Campaign, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    data = app.settings.data
    run = cli_runner(data, capsys, monkeypatch, env={
        "OUTREACH_DATABASE__URL": app.settings.database_url,
        "OUTREACH_COMPANY__DECLARATION__POLICY_URL": POLICY})
    code, stdout, stderr = run("export", "all", "-c", campaign.name, "--format", "csv")
    assert code == 0, stderr
    folder = app.settings.exports_dir / slug(campaign.name)
    assert folder.name == "cmrt-2026"
    printed = {Path(line) for line in stdout.splitlines() if line.strip()}
    assert folder / "supplier_status.csv" in printed
    assert folder / "smelters.csv" in printed and (folder / "smelters.csv").is_file()
    assert not list(folder.glob("supplier_status.xlsx"))  # --format csv
    assert list(folder.glob("*_CMRT_6.5.xlsx")) and "our validator: accepted" in stderr
    code, stdout, stderr = run("export", "smelters", "--format", "xlsx",
                               "--out", str(data / "elsewhere"))
    assert code == 0, stderr
    assert stdout.strip() == str(data / "elsewhere" / "smelters.xlsx")
    code, stdout, stderr = run("export", "status", "-c", "no such campaign")
    assert code == 5 and "no campaign named" in stderr


def test_an_empty_campaign_exports_empty_tables(
        app: App, session: Session, clock: FixedClock, tmp_path: Path) -> None:
    with tx(session):
        import_lines(session, clock, tmp_path / "s.csv", LINES[:1])
        made = running_campaign(session, clock)
    fresh(session)
    run = _run(session, app, made, tmp_path / "out",
               ("status", "smelters", "countries", "disclosure", "originals"))
    assert len(_csv(tmp_path / "out" / "smelters.csv")) == 1
    assert run.notes["originals"] == {"copied": 0, "missing": 0}
    book = openpyxl.load_workbook(io.BytesIO((tmp_path / "out" / "smelters.xlsx").read_bytes()))
    assert book["Appendix A"].max_row == 1
