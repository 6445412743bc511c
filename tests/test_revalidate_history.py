"""A new smelter list re-checks the accepted CMRTs (reporting only); a supplier's history."""

from __future__ import annotations

import pytest
from sqlmodel import Session, select

from outreach.bootstrap import App
from outreach.db.engine import write_transaction
from outreach.db.models import Event, Submission, SubmissionSmelter
from outreach.errors import NotFound
from outreach.scheduler import deliver_once
from outreach.services.history import supplier_history
from outreach.services.intake import Intake
from outreach.services.revalidate import revalidate_accepted
from outreach.services.smelters import import_smelter_file, read_smelter_file
from tests.support.factories import fresh
from tests.support.workbooks import accepted_cmrt
from tests.test_intake_pipeline import deliver, reply, token_of
from tests.test_intake_pipeline import intake as intake  # the fixture, re-exported


def import_csv(intake: Intake, name: str, text: str) -> None:
    with write_transaction(intake.sessions) as session:
        parsed = read_smelter_file(name, text.encode())
        report = import_smelter_file(session, intake.clock, parsed, actor="cli:test")
        revalidate_accepted(session, intake.clock, actor="cli:test", reason=f"after {name}",
                            import_id=report.import_id)


def test_a_new_status_list_reports_lost_conformance_and_changes_no_verdict(
        intake: Intake, session: Session) -> None:
    token = token_of(session, "A1")
    deliver(intake, reply(sender="pat@a1.example", to=f"conflict-minerals+{token}@"
                          "company.example", files=(("c.xlsx", accepted_cmrt(seed=81)),)))
    fresh(session)
    cids = [r.cid for r in session.exec(select(SubmissionSmelter)).all() if r.cid]
    assert len(cids) >= 2
    first, second = cids[0], cids[1]
    # judged with no status list; now the lists arrive, then change
    import_csv(intake, "status1.csv", f"cid,status,as_of\n{first},conformant,2026-11-30\n")
    with write_transaction(intake.sessions) as s:  # as if judged under the first list
        for row in s.exec(select(SubmissionSmelter)
                          .where(SubmissionSmelter.cid == first)).all():
            row.rmap_status = "conformant"
    import_csv(intake, "status2.csv", f"cid,status,as_of\n{first},active,2026-12-31\n")
    import_csv(intake, "flags.csv", "list,cid,name,country,reason\n"
                                    f"Watch,{second},,,under review\n")
    fresh(session)
    events = session.exec(select(Event).where(Event.kind == "smelters.revalidated")
                          .order_by(Event.id)).all()
    lost = events[-2].data
    assert lost["counts"]["conformance_lost"] >= 1 and lost["suppliers"] == ["A1"]
    assert {(d["cid"], d["before"], d["after"]) for d in lost["differences"]
            if d["kind"] == "conformance_lost"} == {(first, "conformant", "active")}
    flagged = events[-1].data
    assert any(d["kind"] == "red_flagged" and d["cid"] == second
               for d in flagged["differences"])
    submission = session.exec(select(Submission)).one()
    assert submission.outcome in {"accepted", "accepted_with_warnings"}  # unchanged


def test_history_lists_mail_replies_and_verdicts_in_order(
        intake: Intake, session: Session, app: App) -> None:
    token = token_of(session, "A1")
    deliver(intake, reply(sender="pat@a1.example", to=f"conflict-minerals+{token}@"
                          "company.example", files=(("c.xlsx", accepted_cmrt(seed=82)),)))
    deliver_once(app)
    fresh(session)
    supplier, lines = supplier_history(session, "a1")  # any case
    kinds = [line.kind for line in lines]
    assert supplier.code == "A1"
    for expected in ("message.queued", "message.sent", "inbound.reply", "submission.judged",
                     "request.accepted"):
        assert expected in kinds, kinds
    assert kinds.index("inbound.reply") < kinds.index("request.accepted")
    sent = next(line for line in lines if line.kind == "message.sent")
    assert "message_id=<" in sent.summary
    assert [line.at for line in lines] == sorted(line.at for line in lines)


def test_history_of_an_unknown_supplier_is_not_found(intake: Intake,
                                                     session: Session) -> None:
    with pytest.raises(NotFound):
        supplier_history(session, "NOPE")
