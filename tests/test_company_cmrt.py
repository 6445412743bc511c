"""The consolidated company CMRT: RMI's shipped blank patched with our Declaration and the
union of the accepted suppliers' smelters; accepted by our validator and, recalculated by
LibreOffice, by RMI's own Checker (0 missing)."""

from __future__ import annotations

import io
import zipfile
from datetime import date
from pathlib import Path

import openpyxl
import pytest
from sqlmodel import Session, select

from outreach.bootstrap import App
from outreach.cmrt.fill import METALS, smelter_lookup
from outreach.cmrt.validate import Outcome, ValidationContext, validate
from outreach.cmrt.workbook import load_workbook_bytes
from outreach.core.clock import FixedClock
from outreach.db.models import Campaign, Submission, SubmissionSmelter
from outreach.mail.blank_template import blank_template
from outreach.reports.company_cmrt import _all_yes, _any_yes, response_band
from outreach.reports.exports import ACCEPTED_OUTCOMES
from outreach.reports.runner import run_exports
from outreach.settings import Settings
from tests.support.factories import fresh, tx
from tests.support.libreoffice import INSTALL_HINT, checker_count, find_soffice, recalculate
from tests.support.services import require_service
from tests.test_exports import EVIL_SMELTER, POLICY, export_settings, surveyed_campaign

TODAY = date(2027, 1, 20)
UNKNOWN_TO_BLANK = "CID999998"


@pytest.fixture
def settings(tmp_path: Path, db_url: str) -> Settings:
    return export_settings(tmp_path, db_url)


@pytest.fixture
def campaign(app: App, session: Session, clock: FixedClock, tmp_path: Path) -> Campaign:
    """A1, B2, C3 accepted (C3 with a hostile smelter name), D4 rejected, E5 silent."""
    return surveyed_campaign(app, session, clock, tmp_path)


def _export(session: Session, app: App, campaign: Campaign, out: Path) -> Path:
    run = run_exports(session, app.settings, campaign, ("company-cmrt",), out, today=TODAY)
    note = run.notes["company-cmrt"]
    assert note["accepted"], note["findings"]
    (path,) = run.paths["company-cmrt"]
    return path


def _accepted_rows(session: Session) -> list[SubmissionSmelter]:
    accepted = {s.id for s in session.exec(select(Submission)).all()
                if s.outcome in ACCEPTED_OUTCOMES}
    return [r for r in session.exec(select(SubmissionSmelter)).all()
            if r.submission_id in accepted]


@pytest.fixture
def with_unknown_cid(session: Session, campaign: Campaign) -> Campaign:
    """One accepted row names a CID the shipped blank's Look-up does not know (a newer
    RMI list): it must go in as "Smelter not listed", not as an unknown CID."""
    submission = next(s for s in session.exec(select(Submission).order_by(Submission.id)).all()
                      if s.outcome in ACCEPTED_OUTCOMES)
    with tx(session):
        session.add(SubmissionSmelter(submission_id=submission.id, row=999, metal="Tin",
                                      name="Newer Tin Smelter Ltd.", country="MALAYSIA",
                                      cid=UNKNOWN_TO_BLANK, rmap_status=None))
    fresh(session)
    return campaign


def test_the_company_cmrt_is_accepted_and_holds_the_union(
        app: App, session: Session, with_unknown_cid: Campaign, tmp_path: Path) -> None:
    path = _export(session, app, with_unknown_cid, tmp_path / "out")
    data = path.read_bytes()
    assert path.name == "Example_Manufacturing_Inc_CMRT_6.5.xlsx"
    result = validate(data, ValidationContext(family="CMRT", reporting_year=2026, today=TODAY))
    assert result.outcome in (Outcome.ACCEPTED, Outcome.ACCEPTED_WITH_WARNINGS), \
        [f.as_dict() for f in result.findings]
    assert result.required_missing == 0
    company = result.company
    assert company is not None and company.name == "Example Manufacturing Inc."
    assert company.authorizer == "Alex Morgan" and company.effective_date == TODAY
    assert company.contact_email == "compliance@company.example"
    # the Smelter List: every accepted CID the Look-up knows, the others by name
    lookup = {e.cid for entries in smelter_lookup(blank_template("CMRT").data).values()
              for e in entries if e.cid}
    rows = _accepted_rows(session)
    expected_cids = {r.cid for r in rows if r.cid and r.cid in lookup}
    read_cids = {item.row.smelter_id for item in result.smelters if item.row.smelter_id}
    assert read_cids == expected_cids
    typed = {item.row.name for item in result.smelters if item.row.not_listed}
    assert "'" + EVIL_SMELTER in typed and "Newer Tin Smelter Ltd." in typed
    assert len(result.smelters) == len(expected_cids) + len(typed)
    # questions 1 and 2: "Yes" exactly for the metals with smelters
    with_smelters = {item.row.metal for item in result.smelters}
    content = result.content
    assert content is not None
    for metal in content.metals:
        assert metal.in_scope == (metal.metal in with_smelters), metal.metal
        if metal.in_scope:  # 3 of 5 surveyed suppliers accepted: Q6 and Q7 say so
            assert metal.answers[6].text == "Greater than 50%"
            assert metal.answers[7].text == "No" and metal.answers[8].text == "Yes"
    assert load_workbook_bytes(data).has("Smelter List")
    openpyxl.load_workbook(io.BytesIO(data))  # opens with openpyxl too


def test_the_blanks_parts_are_kept(app: App, session: Session, campaign: Campaign,
                                   tmp_path: Path) -> None:
    blank = blank_template("CMRT").data
    data = _export(session, app, campaign, tmp_path / "out").read_bytes()
    with zipfile.ZipFile(io.BytesIO(blank)) as a, zipfile.ZipFile(io.BytesIO(data)) as b:
        original, written = set(a.namelist()), set(b.namelist())
        assert original - written <= {"xl/calcChain.xml"}
        assert any("drawing" in name for name in written)
        kept = [n for n in original & written if not n.startswith("xl/worksheets/")
                and n != "xl/workbook.xml"]
        assert all(a.read(n) == b.read(n) for n in kept if not n.startswith("xl/calc"))


def test_rmis_checker_recalculated_by_libreoffice_counts_0_missing(
        app: App, session: Session, with_unknown_cid: Campaign, tmp_path: Path) -> None:
    soffice = find_soffice()
    require_service(soffice is not None, "LibreOffice (soffice)", INSTALL_HINT)
    assert soffice is not None
    path = _export(session, app, with_unknown_cid, tmp_path / "out")
    converted = recalculate([path], tmp_path / "recalculated", soffice=soffice)[path]
    assert checker_count(converted) == 0
    book = openpyxl.load_workbook(converted, read_only=True, data_only=True)
    try:
        listed = [(row[1], row[2]) for row in book["Smelter List"].iter_rows(
            min_row=5, max_col=5, values_only=True) if row[0] or row[2]]
    finally:
        book.close()
    assert listed and all(metal in METALS and name for metal, name in listed)


def test_the_metal_rules_are_conservative() -> None:
    assert _any_yes(["No", "Yes", "No"]) == "Yes"
    assert _any_yes(["No", "Unknown"]) == "Unknown" and _any_yes(["No", ""]) == "Unknown"
    assert _any_yes(["No", "No"]) == "No" and _any_yes([]) == "Unknown"
    assert _all_yes(["Yes", "Yes"]) == "Yes" and _all_yes(["Yes", "No"]) == "No"
    assert _all_yes(["Yes", "Unknown"]) == "Unknown" and _all_yes([]) == "Unknown"
    assert [response_band(r) for r in (None, 0, 0.3, 0.6, 0.8, 0.95, 1.0)] == [
        "None", "None", "50% or less", "Greater than 50%", "Greater than 75%",
        "Greater than 90%", "100%"]
    assert POLICY.startswith("https://")


def test_build_filing_cuts_at_the_templates_rows_and_says_so(tmp_path: Path) -> None:
    from collections import Counter

    from outreach.reports.company_cmrt import MAX_SMELTER_ROWS, build_filing
    from outreach.reports.exports import Smelter
    from tests.support.db_fixtures import make_settings

    def smelter(n: int) -> Smelter:
        return Smelter(("", "tin", f"s{n}", "x"), "", metals=Counter({"Tin": 1}),
                       names=Counter({f"Tin Works {n}": 1}), countries=Counter({"CHINA": 1}))

    union = [smelter(n) for n in range(MAX_SMELTER_ROWS + 3)]
    answers = {"tin": [("No", "Yes", "Yes", "Greater than 90%", "Yes")]}
    filing, left_out, not_listed = build_filing(
        make_settings(tmp_path), union, answers, 1.0, {"Tin": set()}, TODAY)
    assert len(filing.smelters) == MAX_SMELTER_ROWS == not_listed and len(left_out) == 3
    tin = filing.metal("Tin")
    assert tin.answers == ("Yes", "Yes", "No", "Yes", "Yes", "100%", "Yes", "No")
    assert not filing.metal("Gold").declared and filing.metal("Gold").answers[0] == "No"
