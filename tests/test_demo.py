"""``outreach demo`` end to end: a small season (12 suppliers, every behaviour profile once)
through the in-process SMTP server and the local Maildir, on the service's own jobs."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
from sqlalchemy import create_engine
from sqlmodel import Session, select

from outreach.core.enums import ContactStatus, RequestState
from outreach.db.models import (
    Approval,
    Contact,
    ContactSuggestion,
    InboundMessage,
    OutboundMessage,
    Request,
    Submission,
    Supplier,
)
from outreach.demo.profiles import PROFILES, assign
from outreach.demo.season import _supplier_rows
from tests.support.cli_runner import cli_runner

pytest.importorskip("aiosmtpd")

SUPPLIERS = 12


def test_a_small_demo_covers_every_responsive_profile_and_hands_over_the_rest(
        tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    data = tmp_path / "demo"
    run = cli_runner(data, capsys, monkeypatch)
    code, output, error = run("demo", "--suppliers", str(SUPPLIERS), "--seed", "0")
    assert code == 0, error

    # which supplier got which profile is deterministic per seed
    profiles = assign(list(PROFILES.values()), SUPPLIERS, 0)
    _rows, sims = _supplier_rows(SUPPLIERS, profiles, 0)
    assert {s.profile.name for s in sims} == set(PROFILES)  # every profile is in the season

    engine = create_engine(f"sqlite:///{data / 'outreach.sqlite3'}")
    with Session(engine) as session:
        states = {code: state for code, state in session.exec(
            select(Supplier.code, Request.state).join(Request,
                                                     Request.supplier_id == Supplier.id))}
        for sim in sims:
            wanted = RequestState.ACCEPTED if sim.profile.responsive else \
                RequestState.HANDED_OVER
            assert states[sim.code] == wanted, (sim.code, sim.profile.name)
        sent = {kind for kind, status in session.exec(
            select(OutboundMessage.kind, OutboundMessage.status)) if status == "sent"}
        # every ladder stage really left (the hand-over is a state, checked above)
        assert {"request", "reminder", "follow_up", "senior_notice"} <= sent
        assert {"receipt", "correction", "unreadable"} <= sent  # our answers too
        approved = {a.stage for a in session.exec(select(Approval))}
        assert approved == {"senior_notice", "handover"}
        # what each odd profile sent was recognised for what it is
        kinds = {m.classification for m in session.exec(select(InboundMessage))}
        assert {"supplier_reply", "auto_reply", "bounce"} <= kinds
        assert session.exec(select(InboundMessage)
                            .where(InboundMessage.status == "attention")).first()  # question
        assert session.exec(select(Contact)
                            .where(Contact.status == ContactStatus.BOUNCED)).first()
        outcomes = {s.outcome for s in session.exec(select(Submission))}
        assert {"accepted", "rejected", "unreadable"} <= outcomes | {"accepted_with_warnings"}
        assert any("outdated_template" in str(s.findings)
                   for s in session.exec(select(Submission)))  # the legacy template
        assert session.exec(select(ContactSuggestion)).first()  # the colleague
    engine.dispose()

    for stage in ("request", "reminder", "follow_up", "senior_notice", "handover"):
        assert stage in output
    assert "every responsive supplier covered" in output
    assert "never-answering ones handed over" in output
    assert "approved by the demo itself" in output
    assert "history " in output and "status" in output
    reports = data / "reports"
    if importlib.util.find_spec("outreach.services.digest"):
        assert (reports / "digest.html").stat().st_size > 1000
    if importlib.util.find_spec("outreach.reports"):
        assert (reports / "supplier_status.xlsx").is_file()
        assert list(reports.glob("*CMRT*.xlsx"))  # the consolidated company CMRT

    code, status_out, _ = run("status")
    assert code == 0 and "CMRT 2025" in status_out


def test_the_demo_wants_a_fresh_folder(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    data = tmp_path / "used"
    data.mkdir()
    (data / "something").write_text("x")
    code, _out, error = cli_runner(data, capsys, monkeypatch)("demo", "--suppliers", "3")
    assert code == 2 and "not empty" in error
