"""`outreach smelter import`, its tables and the smelter data validation reads.

Service tests run on SQLite and PostgreSQL (``session``); CLI tests go through ``main(argv)``
against a real database, as tests/test_cli.py does.
"""

from __future__ import annotations

import copy
import io
import json
from datetime import date
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from sqlmodel import Session, func, select

from outreach.cmrt.opening import open_workbook
from outreach.cmrt.redflags import RedFlag
from outreach.cmrt.reference import RmapStatus, reference_from_workbook
from outreach.core.clock import FixedClock
from outreach.db.models import (
    Event,
    SmelterImport,
    SmelterListKind,
    SmelterRedFlagRow,
    SmelterReferenceRow,
    SmelterStatusRow,
)
from outreach.services.smelters import (
    NotThatKindOfFile,
    SmelterFile,
    SmelterFileRejected,
    SmelterImportReport,
    detect_kind,
    import_smelter_file,
    load_smelter_context,
    read_smelter_file,
)
from tests.support.cli_runner import cli_runner

TEMPLATES = Path(__file__).parent / "data" / "cmrt" / "templates"
CMRT_64 = TEMPLATES / "RMI_CMRT_6.4.xlsx"
CMRT_65 = TEMPLATES / "RMI_CMRT_6.5.xlsx"
EMRT_21 = TEMPLATES / "RMI_EMRT_2.1.xlsx"
RMAP = "cid,status,as_of"
FLAGS = "list,cid,name,country,reason"

Lookup = SmelterListKind.LOOKUP
Rmap = SmelterListKind.RMAP
Flags = SmelterListKind.RED_FLAGS


def _csv(*lines: str) -> bytes:
    return ("\n".join(lines) + "\n").encode()


def _workbook(sheets: dict[str, list[list[Any]]]) -> bytes:
    """A small real .xlsx (openpyxl); rows start at row 1."""
    wb = openpyxl.Workbook()
    wb.remove(wb.active)
    for title, rows in sheets.items():
        ws = wb.create_sheet(title)
        for row in rows:
            ws.append(row)
    buffer = io.BytesIO()
    wb.save(buffer)
    return buffer.getvalue()


def _lookup_sheet(*rows: list[Any]) -> bytes:
    """A workbook whose Smelter Look-up has ``rows`` from row 5 (the template's first)."""
    return _workbook({"Smelter Look-up": [["Metal"], [], [], ["Metal", "Name"], *rows]})


def _file(name: str, data: bytes, kind: SmelterListKind | None = None) -> SmelterFile:
    return read_smelter_file(name, data, kind)


def _import(session: Session, clock: FixedClock, parsed: SmelterFile,
            **kwargs: Any) -> SmelterImportReport:
    """One import in its own transaction, as the CLI's unit of work runs it."""
    try:
        report = import_smelter_file(session, clock, parsed, actor="cli:test", **kwargs)
    except Exception:
        session.rollback()
        raise
    session.commit()
    return report


def _count(session: Session, model: Any) -> int:
    return int(session.exec(select(func.count()).select_from(model)).one())


def _counts(report: SmelterImportReport) -> tuple[int, int, int, int]:
    return report.added, report.removed, report.changed, report.unchanged


# -- reading files (no database) ------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "data", "kind"),
    [
        ("RMI_CMRT_6.5.xlsx", b"", Lookup),          # by name: opening says what is wrong
        ("template", CMRT_65.read_bytes()[:64], Lookup),  # a zip without a known name
        ("status.csv", _csv(" CID , Status ,As Of", "CID000001,active,2026-01-01"), Rmap),
        ("flags.txt", _csv("reason,list,name", "why,OFAC,Foo"), Flags),
        ("both.csv", _csv("list,cid,status,as_of,reason"), Rmap),
    ],
)
def test_the_kind_is_detected_from_name_bytes_and_header(
        name: str, data: bytes, kind: SmelterListKind) -> None:
    assert detect_kind(name, data) is kind


@pytest.mark.parametrize(
    ("name", "data", "message"),
    [
        ("x.csv", _csv("code,name,contacts", "A,B,C"),
         "the header (code, name, contacts) is neither an RMAP status file (cid,status,as_of) "
         "nor a red-flag list (list,cid,name,country,reason)"),
        ("x.csv", b"", "x.csv is empty: import an RMI template (.xlsx) or a CSV with the header"),
        ("x.pdf", b"%PDF-1.7 ...", "neither a workbook nor a CSV file (pdf)"),
        ("x.csv", "cid,status,as_of\nCID000001,activé,2026-01-01\n".encode("cp1252"),
         "neither a workbook nor a CSV file"),
    ],
)
def test_a_file_of_no_known_kind_is_refused_naming_the_headers(
        name: str, data: bytes, message: str) -> None:
    with pytest.raises(NotThatKindOfFile) as caught:
        detect_kind(name, data)
    assert message in str(caught.value)
    assert caught.value.exit_code == 6


@pytest.mark.parametrize(
    ("data", "kind", "message"),
    [
        (_csv(RMAP, "CID000001,active,2026-01-01"), Lookup,
         "status.csv is not a readable Excel workbook (text)"),
        (b"\x00\x01\x02garbage" * 50, Lookup, "is not a readable Excel workbook"),
        (_workbook({"Declaration": [["hello"]]}), Lookup,
         "has no 'Smelter Look-up' sheet, so it is not an RMI reporting template"),
        (_lookup_sheet(), Lookup, "its 'Smelter Look-up' sheet lists no smelter"),
        (CMRT_65.read_bytes(), Rmap, "is a workbook, not a CSV file"),
        (_csv("cid,status", "CID000001,active"), Rmap,
         "status.csv is not an RMAP status file: missing column(s) as_of"),
        (_csv(RMAP, "CID000001,active,2026-01-01"), Flags,
         "status.csv is not a red-flag list: missing column(s) list, reason"),
        ("cid,status,as_of\nCID000001,activé,2026-01-01\n".encode("cp1252"), Rmap,
         "is not UTF-8 text"),
    ],
)
def test_a_file_that_is_not_what_it_claims_is_refused(
        data: bytes, kind: SmelterListKind, message: str) -> None:
    with pytest.raises(NotThatKindOfFile) as caught:
        _file("status.csv", data, kind)
    assert message in str(caught.value)


def test_a_template_lookup_reads_like_the_reference() -> None:
    parsed = _file(CMRT_65.name, CMRT_65.read_bytes())
    expected = reference_from_workbook(open_workbook(CMRT_65.read_bytes()).workbook)
    assert (parsed.kind, parsed.template, parsed.problems) == (Lookup, "CMRT 6.5", ())
    assert len(parsed.rows) == len(expected) == 349
    assert parsed.rows["CID002763"] == {"cid": "CID002763", "metal": "Gold",
                                        "standard_name": "8853 S.p.A.", "country": "ITALY",
                                        "aliases": ["8853 S.p.A."]}
    assert len(parsed.sha256) == 64


def test_lookup_rows_with_a_bad_cid_or_a_conflicting_duplicate_are_reported_by_row() -> None:
    parsed = _file("edited.xlsx", _lookup_sheet(
        ["Gold", "Alpha Gold", "Alpha Gold", "CHINA", "CID000001"],        # row 5
        ["Gold", "Alpha Au", "Alpha Gold", "CHINA", "cid000001"],          # 6: an alias
        ["Gold", "Beta Gold", "Beta Gold", "PERU", "CID12"],               # 7: bad CID
        ["Gold", "Gamma Gold", "Gamma Gold", "PERU", ""],                  # 8: no CID
        ["Tin", "Alpha Tin", "Alpha Tin", "CHINA", "CID000001"],           # 9: conflict
        ["Gold", "Smelter not listed", "", "", ""],                        # pseudo: skipped
        ["Tin", "Delta Tin", "Delta Tin", "BOLIVIA", "CID000002"],         # 11
    ))
    assert [(p.line, p.message) for p in parsed.problems] == [
        (7, "Beta Gold: CID 'CID12' is not a smelter ID like CID001234"),
        (8, "Gamma Gold: CID '' is not a smelter ID like CID001234"),
        (9, "CID000001 is listed as Tin / Alpha Tin / CHINA but as Gold / Alpha Gold / CHINA "
            "on row 5"),
    ]
    assert parsed.rows["CID000001"]["aliases"] == ["Alpha Gold", "Alpha Au"]
    assert set(parsed.rows) == {"CID000001", "CID000002"}
    assert parsed.template is None  # not an identified RMI template


def test_csv_rows_with_bad_cids_and_duplicates_are_reported_by_line() -> None:
    status = _file("s.csv", _csv(RMAP, "CID000001,active,2026-01-01", "CID00001,active,2026-01-01",
                                 "cid000001,conformant,2026-01-01"))
    assert [(p.line, p.message) for p in status.problems] == [
        (3, "cid 'CID00001' is not a smelter ID like CID001234"),
        (4, "CID000001 is listed twice (first on line 2)"),
    ]
    flags = _file("f.csv", _csv(FLAGS, "OFAC,CID000001,,,x", "OFAC,XYZ,,,x",
                                "OFAC,cid000001,,,y"))
    assert [p.line for p in flags.problems] == [3, 4]
    assert list(flags.rows.values()) == [{"list_name": "OFAC", "cid": "CID000001", "name": None,
                                          "country": None, "reason": "x"}]


# -- importing (SQLite and PostgreSQL) ------------------------------------------------------


def test_lookup_import_stores_every_smelter_and_records_the_import(
        session: Session, clock: FixedClock) -> None:
    report = _import(session, clock, _file(CMRT_64.name, CMRT_64.read_bytes()))
    assert _counts(report) == (368, 0, 0, 0)
    assert (report.rows, report.template, report.import_id) == (368, "CMRT 6.4", 1)
    assert _count(session, SmelterReferenceRow) == 368
    row = session.exec(select(SmelterReferenceRow)
                       .where(SmelterReferenceRow.cid == "CID002763")).one()
    assert (row.metal, row.standard_name, row.country, row.source, row.imported_at,
            row.import_id) == ("Gold", "8853 S.p.A.", "ITALY", CMRT_64.name, clock.now(), 1)
    imported = session.exec(select(SmelterImport)).one()
    assert (imported.kind, imported.source, imported.template, imported.added,
            imported.actor) == (Lookup, CMRT_64.name, "CMRT 6.4", 368, "cli:test")
    assert len(imported.changes["added"]) == 368 and imported.changes["removed"] == []
    event = session.exec(select(Event).where(Event.kind == "smelters.imported")).one()
    assert event.data["list_kind"] == "lookup" and event.data["import_id"] == 1
    assert (event.data["added"], event.data["removed"], event.data["changed"]) == (368, 0, 0)
    assert event.data["sha256"] == imported.sha256 and event.actor == "cli:test"


def test_reimporting_the_same_file_changes_nothing_but_is_recorded(
        session: Session, clock: FixedClock) -> None:
    parsed = _file(CMRT_65.name, CMRT_65.read_bytes())
    _import(session, clock, parsed)
    before = {r.cid: (r.metal, r.standard_name, r.country, r.aliases)
              for r in session.exec(select(SmelterReferenceRow))}
    again = _import(session, clock, parsed)
    assert _counts(again) == (0, 0, 0, 349)
    after = {r.cid: (r.metal, r.standard_name, r.country, r.aliases)
             for r in session.exec(select(SmelterReferenceRow))}
    assert after == before
    assert _count(session, SmelterImport) == 2
    assert session.exec(select(SmelterImport).order_by(SmelterImport.id.desc())  # type: ignore
                        ).first().changes == {"added": [], "removed": [], "changed": []}


def _state(session: Session) -> dict[str, dict[str, Any]]:
    return {r.cid: {"cid": r.cid, "metal": r.metal, "standard_name": r.standard_name,
                    "country": r.country, "aliases": list(r.aliases)}
            for r in session.exec(select(SmelterReferenceRow))}


def test_a_new_release_counts_its_changes_and_keeps_enough_to_undo_them(
        session: Session, clock: FixedClock) -> None:
    _import(session, clock, _file(CMRT_64.name, CMRT_64.read_bytes()))
    old = _state(session)
    report = _import(session, clock, _file(CMRT_65.name, CMRT_65.read_bytes()))
    new = _state(session)
    assert _counts(report) == (len(new.keys() - old.keys()), len(old.keys() - new.keys()),
                               sum(1 for c in new.keys() & old.keys() if new[c] != old[c]),
                               sum(1 for c in new.keys() & old.keys() if new[c] == old[c]))
    assert _counts(report) == (11, 30, 5, 333)
    # the import row's changes turn the new state back into the old one
    changes = session.get(SmelterImport, report.import_id).changes
    rebuilt = copy.deepcopy(new)
    for cid in changes["added"]:
        del rebuilt[cid]
    for removed in changes["removed"]:
        rebuilt[removed["key"]] = removed["before"]
    for changed in changes["changed"]:
        rebuilt[changed["key"]].update(changed["before"])
        assert {k: new[changed["key"]][k] for k in changed["after"]} == changed["after"]
    assert rebuilt == old
    assert {r.import_id for r in session.exec(select(SmelterReferenceRow))} == {2}


def test_rmap_changes_count_status_changes_and_keep_the_newest_as_of(
        session: Session, clock: FixedClock) -> None:
    _import(session, clock, _file("nov.csv", _csv(
        RMAP, "CID000001,conformant,2026-11-30", "CID000002,active,2026-11-30",
        "CID000003,active,2026-11-30")))
    report = _import(session, clock, _file("dec.csv", _csv(
        RMAP, "CID000001,conformant,2026-12-31",      # same status, newer list: unchanged
        "CID000002,conformant,2026-12-31",            # changed
        "CID000004,not participating,2026-12-31")))   # added; CID000003 removed
    assert _counts(report) == (1, 1, 1, 1)
    stored = {r.cid: (r.status, r.as_of) for r in session.exec(select(SmelterStatusRow))}
    assert stored == {"CID000001": ("conformant", date(2026, 12, 31)),
                      "CID000002": ("conformant", date(2026, 12, 31)),
                      "CID000004": ("not_participating", date(2026, 12, 31))}
    changes = session.get(SmelterImport, report.import_id).changes
    assert changes == {
        "added": ["CID000004"],
        "removed": [{"key": "CID000003", "before": {"cid": "CID000003", "status": "active",
                                                     "as_of": "2026-11-30"}}],
        "changed": [{"key": "CID000002",
                     "before": {"status": "active", "as_of": "2026-11-30"},
                     "after": {"status": "conformant", "as_of": "2026-12-31"}}],
    }


def test_red_flag_lists_are_replaced_and_may_be_emptied(
        session: Session, clock: FixedClock) -> None:
    _import(session, clock, _file("f.csv", _csv(
        FLAGS, "OFAC,CID000001,,,sanctioned", "Watch,,Foo Metals,CHINA,media")))
    report = _import(session, clock, _file("f.csv", _csv(
        FLAGS, "OFAC,CID000001,,,sanctioned since 2026", "watch,,FOO  metals,china,media",
        "EU,CID000002,,,listed")))
    # a new reason and a new spelling are changes; the keys match case-insensitively
    assert _counts(report) == (1, 0, 2, 0)
    assert _count(session, SmelterRedFlagRow) == 3
    emptied = _import(session, clock, _file("none.csv", _csv(FLAGS)))
    assert _counts(emptied) == (0, 3, 0, 0) and emptied.rows == 0
    assert _count(session, SmelterRedFlagRow) == 0
    assert load_smelter_context(session).red_flags_import_id == emptied.import_id


def test_bad_rows_import_nothing_unless_skipped(session: Session, clock: FixedClock) -> None:
    parsed = _file("s.csv", _csv(RMAP, "CID000001,active,2026-01-01", "CID1,active,2026-01-01",
                                 "CID000002,unknown,2026-01-01"))
    with pytest.raises(SmelterFileRejected) as caught:
        _import(session, clock, parsed)
    assert "2 row(s) with 2 problem(s); nothing was imported" in str(caught.value)
    assert [p.line for p in caught.value.problems] == [3, 4]
    assert (_count(session, SmelterStatusRow), _count(session, SmelterImport),
            _count(session, Event)) == (0, 0, 0)
    report = _import(session, clock, parsed, skip_invalid=True)
    assert (report.rows, report.added, report.skipped_invalid) == (1, 1, 2)
    assert session.get(SmelterImport, report.import_id).skipped_invalid == 2
    assert _count(session, SmelterStatusRow) == 1


def test_a_file_with_no_valid_row_is_refused_even_when_skipping(
        session: Session, clock: FixedClock) -> None:
    _import(session, clock, _file("f.csv", _csv(FLAGS, "OFAC,CID000001,,,x")))
    with pytest.raises(SmelterFileRejected, match="no row is valid"):
        _import(session, clock, _file("f.csv", _csv(FLAGS, "OFAC,CID1,,,x")),
                skip_invalid=True)
    with pytest.raises(NotThatKindOfFile, match="lists no smelter"):
        _import(session, clock, _file("s.csv", _csv(RMAP)))
    assert _count(session, SmelterRedFlagRow) == 1


def test_a_dry_run_reports_the_changes_and_writes_nothing(
        session: Session, clock: FixedClock) -> None:
    _import(session, clock, _file(CMRT_64.name, CMRT_64.read_bytes()))
    report = _import(session, clock, _file(CMRT_65.name, CMRT_65.read_bytes()), dry_run=True)
    assert _counts(report) == (11, 30, 5, 333)
    assert report.dry_run and report.import_id is None
    assert _count(session, SmelterReferenceRow) == 368
    assert (_count(session, SmelterImport), _count(session, Event)) == (1, 1)


# -- what validation reads ------------------------------------------------------------------


def test_the_context_rebuilds_the_reference_status_and_flags(
        session: Session, clock: FixedClock) -> None:
    lookup = _import(session, clock, _file(CMRT_65.name, CMRT_65.read_bytes()))
    status = _import(session, clock, _file("s.csv", _csv(
        RMAP, "CID002763,conformant,2026-11-30", "CID000015,active,2026-10-31")))
    flags = _import(session, clock, _file("f.csv", _csv(
        FLAGS, "OFAC,CID002763,,,sanctioned", "Watch,,8853 s.p.a.,italy,media")))
    data = load_smelter_context(session)
    expected = reference_from_workbook(open_workbook(CMRT_65.read_bytes()).workbook)
    assert data.reference.smelters == expected.smelters
    assert data.reference.by_alias == expected.by_alias
    assert data.reference.source == CMRT_65.name and data.reference_origin == "imported"
    assert data.reference.find("gold", " 8853  S.P.A.").cid == "CID002763"
    assert data.status["CID002763"].status is RmapStatus.CONFORMANT
    assert data.status["CID000015"].as_of == date(2026, 10, 31)
    assert data.status_as_of == date(2026, 11, 30)
    assert (data.reference_import_id, data.status_import_id, data.red_flags_import_id) == (
        lookup.import_id, status.import_id, flags.import_id)
    assert data.red_flags.flags_for("cid002763", None) == (
        RedFlag("OFAC", "sanctioned", cid="CID002763"),)
    assert [f.list_name for f in data.flags("CID002763")] == ["OFAC", "Watch"]


def test_without_an_import_the_newest_shipped_cmrt_is_the_reference(session: Session) -> None:
    data = load_smelter_context(session, blank_templates=[
        TEMPLATES / "RMI_CMRT_6.4_english_blank.xlsx", EMRT_21, CMRT_65, CMRT_64])
    assert data.reference_origin == "bundled" and data.reference.source == CMRT_65.name
    assert len(data.reference) == 349
    assert (data.status, len(data.red_flags), data.reference_import_id) == ({}, 0, None)
    only_emrt = load_smelter_context(session, blank_templates=[EMRT_21])
    assert only_emrt.reference.source == EMRT_21.name
    nothing = load_smelter_context(session, blank_templates=[])
    assert (nothing.reference_origin, len(nothing.reference)) == ("none", 0)


# -- the command line -------------------------------------------------------------------------


@pytest.fixture
def cli(tmp_path: Path, db_url: str, monkeypatch: pytest.MonkeyPatch, capsys):
    """`outreach --data DIR ...` against a migrated test database; returns (code, out, err)."""
    run = cli_runner(tmp_path / "data", capsys, monkeypatch,
                     {"OUTREACH_DATABASE__URL": db_url, "OUTREACH_ACTOR": "ann"})
    assert run("db", "upgrade")[0] == 0
    return run


def _write(tmp_path: Path, name: str, data: bytes) -> str:
    path = tmp_path / name
    path.write_bytes(data)
    return str(path)


def test_cli_import_list_and_show(cli, tmp_path: Path) -> None:
    code, out, err = cli("smelter", "import", str(CMRT_64))
    assert code == 0, err
    assert out.strip() == ("imported 368 smelters from RMI_CMRT_6.4.xlsx (CMRT 6.4): "
                           "368 added, 0 removed, 0 changed, 0 unchanged")
    code, out, _ = cli("smelter", "import", str(CMRT_65), "--dry-run")
    assert code == 0 and out.startswith("would import 349 smelters") and "30 removed" in out
    code, out, _ = cli("smelter", "import", str(CMRT_65), "--json")
    assert json.loads(out)["added"] == 11 and json.loads(out)["import_id"] == 2
    code, out, _ = cli("smelter", "import", str(CMRT_65), "--json")
    assert json.loads(out)["unchanged"] == 349

    status = _write(tmp_path, "rmap.csv", _csv(RMAP, "CID002763,conformant,2026-11-30",
                                               "CID000015,active,2026-11-30"))
    flags = _write(tmp_path, "flags.csv", _csv(FLAGS, "OFAC SDN,CID002763,,,sanctioned"))
    assert cli("smelter", "import", status)[0] == 0
    code, out, err = cli("smelter", "import", flags)
    assert code == 0 and "imported 1 red-flag entries" in out, err

    code, out, _ = cli("smelter", "list", "--json")
    listed = json.loads(out)
    assert len(listed) == 349
    code, out, _ = cli("smelter", "list", "--status", "conformant", "--json")
    assert [e["cid"] for e in json.loads(out)] == ["CID002763"]
    code, out, _ = cli("smelter", "list", "--status", "unknown", "--metal", "TIN", "--json")
    tin = json.loads(out)
    assert tin and {e["metal"] for e in tin} == {"Tin"} and "CID000015" not in {
        e["cid"] for e in tin}
    code, out, _ = cli("smelter", "list", "--red-flagged")
    assert code == 0 and "1 smelters" in out and "CID002763" in out and "OFAC SDN" in out
    assert "status as of 2026-11-30" in out

    code, out, _ = cli("smelter", "show", "cid002763")
    assert code == 0
    assert "8853 S.p.A." in out and "conformant (as of 2026-11-30)" in out and "sanctioned" in out
    code, out, _ = cli("smelter", "show", "CID002763", "--json")
    shown = json.loads(out)
    assert (shown["status"], shown["as_of"], shown["red_flags"], shown["in_reference"]) == (
        "conformant", "2026-11-30", [{"list": "OFAC SDN", "reason": "sanctioned"}], True)


def test_cli_bad_input_exits_6_and_changes_nothing(cli, tmp_path: Path) -> None:
    bad = _write(tmp_path, "rmap.csv", _csv(RMAP, "CID999991,active,2026-11-30",
                                            "CID0001,active,2026-11-30"))
    code, out, err = cli("smelter", "import", bad)
    assert code == 6
    assert "line 3: cid 'CID0001' is not a smelter ID like CID001234" in err
    assert "nothing was imported" in err
    code, out, err = cli("smelter", "import", bad, "--json")
    assert code == 6 and json.loads(out) == {"problems": [
        {"line": 3, "message": "cid 'CID0001' is not a smelter ID like CID001234"}]}
    code, out, _ = cli("smelter", "show", "CID999991")
    assert code == 5
    code, out, err = cli("smelter", "import", bad, "--skip-invalid")
    assert code == 0 and "1 invalid rows skipped" in out and "line 3" in err

    headers = _write(tmp_path, "x.csv", _csv("code,name", "A,B"))
    code, _, err = cli("smelter", "import", headers)
    assert code == 6 and "cid,status,as_of" in err and "list,cid,name,country,reason" in err
    code, _, err = cli("smelter", "import", bad, "--kind", "lookup")
    assert code == 6 and "not a readable Excel workbook" in err
    no_lookup = _write(tmp_path, "plain.xlsx", _workbook({"Sheet": [["a"]]}))
    code, _, err = cli("smelter", "import", no_lookup)
    assert code == 6 and "has no 'Smelter Look-up' sheet" in err
    code, _, err = cli("smelter", "import", str(CMRT_65), "--kind", "red-flags")
    assert code == 6 and "is a workbook, not a CSV file" in err
    code, _, err = cli("smelter", "import", bad, "--kind", "nonsense")
    assert code == 2

    code, _, err = cli("smelter", "show", "12345")
    assert code == 6 and "not a smelter ID" in err
    code, _, err = cli("smelter", "list", "--status", "great")
    assert code == 6 and "--status 'great'" in err
    code, out, _ = cli("smelter", "show", "CID999991", "--json")
    assert code == 0 and json.loads(out)["status"] == "active"
    assert json.loads(out)["in_reference"] is False
