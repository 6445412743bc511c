"""Intake from recorded bytes to verdict, request move and answer, on SQLite and PostgreSQL.

No mailbox here (``test_poll_*`` read real ones): each test records a reply the way a poll
would and processes it, then looks at what the database and the outbox say.
"""

from __future__ import annotations

import itertools
from datetime import date, timedelta
from email.message import EmailMessage
from pathlib import Path

import pytest
from sqlmodel import Session, col, select

from outreach.bootstrap import App
from outreach.core.clock import FixedClock
from outreach.core.enums import ContactStatus, RequestState
from outreach.db.engine import write_transaction
from outreach.db.models import (
    Contact,
    ContactSuggestion,
    Event,
    InboundMessage,
    OutboundMessage,
    Request,
    Submission,
    SubmissionSmelter,
    Supplier,
)
from outreach.scheduler import tick_once
from outreach.services.blobs import get_blob
from outreach.services.intake import Identity, Intake, process, record
from outreach.services.tick import tick
from tests.support.factories import fresh, import_lines, running_campaign, supplier_line, tx
from tests.support.workbooks import accepted_cmrt, rejected_cmrt

DATA = Path(__file__).parent / "data" / "cmrt"
LINES = [supplier_line("A1", country="DE"),
         supplier_line("B2", country="US", contacts="primary: Bo <bo@b2.example>")]
BOX = "conflict-minerals@company.example"
_uids = itertools.count(1)


@pytest.fixture
def intake(app: App, session: Session, clock: FixedClock, tmp_path: Path) -> Intake:
    with tx(session):
        import_lines(session, clock, tmp_path / "s.csv", LINES)
        running_campaign(session, clock)
    tick_once(app)  # the requests go out: replies can thread under them
    clock.advance(timedelta(days=3))
    return Intake(app.sessions, clock, app.settings, app.templates())


def request_of(session: Session, code: str) -> Request:
    fresh(session)
    supplier = session.exec(select(Supplier).where(Supplier.code == code)).one()
    return session.exec(select(Request).where(Request.supplier_id == supplier.id)).one()


def reply(*, sender: str, to: str = BOX, subject: str = "Re: CMRT request",
          files: tuple[tuple[str, bytes], ...] = (), text: str = "Please find attached.",
          headers: dict[str, str] | None = None) -> bytes:
    message = EmailMessage()
    message["From"] = sender
    message["To"] = to
    message["Subject"] = subject
    message["Date"] = "Tue, 08 Dec 2026 10:00:00 +0000"
    message["Message-ID"] = f"<reply-{next(_uids)}@supplier.example>"
    for name, value in (headers or {}).items():
        message[name] = value
    message.set_content(text)
    for filename, data in files:
        message.add_attachment(data, maintype="application",
                               subtype="vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                               filename=filename)
    return message.as_bytes()


def deliver(intake: Intake, raw: bytes, folder: str = "INBOX") -> tuple[int, str]:
    inbound_id = record(intake, Identity("test:box", folder, 1, next(_uids)), raw=raw,
                        size=len(raw), internal_date=intake.clock.now())
    assert inbound_id is not None
    return inbound_id, process(intake, inbound_id, raw)


def token_of(session: Session, code: str) -> str:
    return request_of(session, code).reply_token


def answers(session: Session) -> list[OutboundMessage]:
    fresh(session)
    return list(session.exec(select(OutboundMessage)
                             .where(col(OutboundMessage.stage).is_(None))
                             .order_by(col(OutboundMessage.id))).all())


def test_an_accepted_cmrt_ends_the_ladder_and_is_receipted(
        intake: Intake, session: Session) -> None:
    token = token_of(session, "A1")
    workbook = accepted_cmrt(seed=1, company="Supplier A1 GmbH",
                             contact_email="new.person@a1.example")
    inbound_id, status = deliver(intake, reply(
        sender="Pat A1 <pat@a1.example>", to=f"conflict-minerals+{token}@company.example",
        files=(("CMRT A1.xlsx", workbook),)))
    assert status == "processed"
    request = request_of(session, "A1")
    assert request.state == RequestState.ACCEPTED and request.next_action_at is None
    assert request.responded_at is not None and request.accepted_at is not None
    submission = session.exec(select(Submission)).one()
    assert submission.outcome in {"accepted", "accepted_with_warnings"}
    assert submission.request_id == request.id and submission.inbound_message_id == inbound_id
    assert get_blob(intake.settings.attachments_dir, submission.sha256 or "") == workbook
    assert submission.declaration and submission.declaration["company"]["name"] == \
        "Supplier A1 GmbH"
    assert session.exec(select(SubmissionSmelter)
                        .where(SubmissionSmelter.submission_id == submission.id)).all()
    (answer,) = answers(session)
    assert answer.kind.startswith("receipt") and answer.to_addresses == ["pat@a1.example"]
    assert answer.priority < 100 and token in answer.subject
    assert answer.in_reply_to is not None  # threaded under the request
    inbound = session.get(InboundMessage, inbound_id)
    assert inbound is not None and inbound.match_method == "token" and inbound.raw_stored
    suggestions = session.exec(select(ContactSuggestion)).all()
    assert "new.person@a1.example" in {s.email for s in suggestions}


def test_a_rejected_cmrt_gets_a_correction_and_the_ladder_waits_its_grace(
        intake: Intake, session: Session) -> None:
    token = token_of(session, "A1")
    deliver(intake, reply(sender="pat@a1.example", subject=f"CMRT [CMRT 2026 · ref {token}]",
                          files=(("cmrt.xlsx", rejected_cmrt(seed=2)),)))
    request = request_of(session, "A1")
    assert request.state == RequestState.OPEN
    assert request.last_rejected_at == intake.clock.now()
    (answer,) = answers(session)
    assert answer.kind == "correction"
    submission = session.exec(select(Submission)).one()
    assert submission.outcome == "rejected"
    for finding in submission.findings:
        if finding["severity"] == "error" and finding["cell"]:
            assert finding["message"] in answer.body_text
    # the next tick re-decides: no reminder inside the grace period
    before = len(session.exec(select(OutboundMessage)).all())
    tick_once_at(intake)
    fresh(session)
    assert len(session.exec(select(OutboundMessage)).all()) == before


def tick_once_at(intake: Intake) -> None:
    with write_transaction(intake.sessions) as session:
        tick(session, intake.clock, settings=intake.settings, templates=intake.templates)


def test_the_same_file_again_is_recognised_and_not_judged_twice(
        intake: Intake, session: Session) -> None:
    workbook = rejected_cmrt(seed=3)
    for _ in range(2):
        deliver(intake, reply(sender="pat@a1.example", files=(("c.xlsx", workbook),)))
    first, second = session.exec(select(Submission).order_by(col(Submission.id))).all()
    assert second.duplicate_of == first.id and second.outcome == first.outcome
    assert second.validated_at is None
    # a rejected file sent again gets its correction again; nothing is judged twice
    assert [a.kind for a in answers(session)] == ["correction", "correction"]


def test_the_same_mail_under_another_identity_is_a_duplicate(
        intake: Intake, session: Session) -> None:
    raw = reply(sender="pat@a1.example", files=(("c.xlsx", accepted_cmrt(seed=4)),))
    deliver(intake, raw)
    _, status = deliver(intake, raw, folder="Junk")
    assert status == "duplicate"
    assert len(session.exec(select(Submission)).all()) == 1
    assert len(answers(session)) == 1


def test_a_colleague_in_the_domain_is_accepted_and_offered_as_a_contact(
        intake: Intake, session: Session) -> None:
    token = token_of(session, "A1")
    _, status = deliver(intake, reply(sender="Kim <kim@a1.example>",
                                      to=f"conflict-minerals+{token}@company.example",
                                      files=(("c.xlsx", accepted_cmrt(seed=5)),)))
    assert status == "processed"
    assert request_of(session, "A1").state == RequestState.ACCEPTED
    suggestion = session.exec(select(ContactSuggestion)
                              .where(ContactSuggestion.email == "kim@a1.example")).one()
    assert suggestion.source == "reply_sender" and suggestion.status == "pending"


def test_a_token_from_a_foreign_domain_is_quarantined_and_closes_nothing(
        intake: Intake, session: Session) -> None:
    token = token_of(session, "A1")
    inbound_id, status = deliver(intake, reply(
        sender="mallory@evil.example", to=f"conflict-minerals+{token}@company.example",
        files=(("c.xlsx", accepted_cmrt(seed=6)),)))
    assert status == "quarantined"
    assert request_of(session, "A1").state == RequestState.OPEN
    assert session.exec(select(Submission)).all() == [] and answers(session) == []
    inbound = session.get(InboundMessage, inbound_id)
    assert inbound is not None and "evil.example" in (inbound.note or "")
    assert inbound.raw_stored  # kept for `outreach inbox assign`


def test_a_person_assigns_a_quarantined_reply(intake: Intake, session: Session) -> None:
    raw = reply(sender="someone@gmail.example", subject="our CMRT",
                files=(("c.xlsx", accepted_cmrt(seed=7)),))
    inbound_id, status = deliver(intake, raw)
    assert status == "quarantined"
    request = request_of(session, "B2")
    assert process(intake, inbound_id, raw, assign_to=request.id,
                   actor="cli:alice") == "processed"
    assert request_of(session, "B2").state == RequestState.ACCEPTED
    inbound = session.get(InboundMessage, inbound_id)
    assert inbound is not None and inbound.match_method == "manual"
    assert session.exec(select(Event).where(Event.actor == "cli:alice")).all()


def test_mail_that_is_not_ours_is_recorded_without_its_bytes(
        intake: Intake, session: Session) -> None:
    inbound_id, status = deliver(intake, reply(sender="friend@elsewhere.example",
                                               subject="lunch on Friday?", text="Pizza?"))
    assert status == "unrelated"
    inbound = session.get(InboundMessage, inbound_id)
    assert inbound is not None and not inbound.raw_stored


def test_a_question_needs_attention_and_pauses_nothing(intake: Intake,
                                                      session: Session) -> None:
    before = request_of(session, "A1").next_action_at
    _, status = deliver(intake, reply(sender="pat@a1.example",
                                      text="Which products does this concern?"))
    assert status == "attention" and answers(session) == []
    request = request_of(session, "A1")
    assert request.state == RequestState.OPEN and request.next_action_at == before
    assert request.responded_at is not None


def test_a_pdf_is_stored_and_answered_with_a_request_for_the_workbook(
        intake: Intake, session: Session) -> None:
    _, status = deliver(intake, reply(sender="pat@a1.example",
                                      files=(("cmrt.pdf", b"%PDF-1.7\n%\xe2\xe3\n1 0 obj"),)))
    assert status == "processed"
    submission = session.exec(select(Submission)).one()
    assert submission.kind == "pdf" and submission.outcome == "unreadable"
    (answer,) = answers(session)
    assert answer.kind == "unreadable" and "PDF" in answer.body_text


def test_an_auto_reply_is_linked_but_never_answered_nor_a_response(
        intake: Intake, session: Session) -> None:
    token = token_of(session, "A1")
    _, status = deliver(intake, reply(
        sender="pat@a1.example", subject=f"Out of office: [CMRT 2026 · ref {token}]",
        headers={"Auto-Submitted": "auto-replied"}, text="I am away until Monday."))
    assert status == "processed"
    assert answers(session) == [] and request_of(session, "A1").responded_at is None


def test_a_bounce_marks_the_contact_bounced(intake: Intake, session: Session) -> None:
    request_message = session.exec(select(OutboundMessage)).first()
    assert request_message is not None
    raw = (
        "From: MAILER-DAEMON@mx.a1.example\r\n"
        f"To: {BOX}\r\n"
        "Subject: Undelivered Mail Returned to Sender\r\n"
        "Auto-Submitted: auto-replied\r\n"
        "MIME-Version: 1.0\r\n"
        'Content-Type: multipart/report; report-type=delivery-status; boundary="B"\r\n'
        "\r\n--B\r\nContent-Type: text/plain\r\n\r\n"
        "Your message could not be delivered.\r\n"
        "\r\n--B\r\nContent-Type: message/delivery-status\r\n\r\n"
        "Reporting-MTA: dns; mx.a1.example\r\n\r\n"
        "Final-Recipient: rfc822; pat@a1.example\r\nAction: failed\r\nStatus: 5.1.1\r\n"
        "Diagnostic-Code: smtp; 550 5.1.1 user unknown\r\n"
        "\r\n--B\r\nContent-Type: text/rfc822-headers\r\n\r\n"
        f"From: {BOX}\r\nTo: pat@a1.example\r\n"
        f"Message-ID: {request_message.message_id}\r\nSubject: CMRT request\r\n"
        "\r\n--B--\r\n").encode()
    _, status = deliver(intake, raw)
    assert status == "processed"
    fresh(session)
    contact = session.exec(select(Contact).where(Contact.email == "pat@a1.example")).one()
    assert contact.status == ContactStatus.BOUNCED
    assert answers(session) == []


def test_a_reply_to_a_supplier_with_two_campaigns_goes_by_template(
        intake: Intake, session: Session, clock: FixedClock) -> None:
    from outreach.core.enums import TemplateFamily
    from outreach.core.ladder import default_ladder
    from outreach.services.campaigns import NewCampaign, create_campaign, start_campaign

    with tx(session):
        emrt = create_campaign(session, clock, NewCampaign(
            name="EMRT 2026", reporting_year=2026, due_date=date(2027, 3, 31),
            template_family=TemplateFamily.EMRT, min_version="1.1", scope_tags=()),
            actor="cli:test", company_time_zone="UTC")
        start_campaign(session, clock, emrt, default_ladder(), actor="cli:test",
                       late_joiner_days=30, company_time_zone="UTC")
    deliver(intake, reply(sender="pat@a1.example", files=(("c.xlsx", accepted_cmrt(seed=8)),)))
    fresh(session)
    submission = session.exec(select(Submission)).one()
    request = session.get(Request, submission.request_id)
    assert request is not None and request.campaign_id != emrt.id


def test_worker_processes_judge_like_the_service_itself(intake: Intake,
                                                        session: Session) -> None:
    """The pool (spawned workers, verdicts sent back) and in-process preparing agree, and
    a verdict judged with another campaign's context is judged again."""
    from dataclasses import replace as dc_replace

    from outreach.services.intake_prepare import PreparePool, prepare

    raws = [reply(sender="pat@a1.example", files=((f"c{i}.xlsx", (
        accepted_cmrt(seed=70 + i) if i % 2 else rejected_cmrt(seed=70 + i))),))
        for i in range(4)]
    with intake.sessions() as s:
        settings = intake.prepare_settings(s)
    assert set(settings.contexts) == {"CMRT"}
    pool = PreparePool(workers=2)
    try:
        pooled = list(pool.map(raws, settings))
    finally:
        pool.close()
    inline = [prepare(raw, settings) for raw in raws]
    for a, b in zip(pooled, inline, strict=True):
        assert not isinstance(a, BaseException)
        assert {k: v.outcome for k, v in a.judged.items()} == \
            {k: v.outcome for k, v in b.judged.items()}
        assert a.files[0].opened is None and a.files[0].family == "CMRT"
    # a verdict for another campaign is not used: judged again with the request's context
    wrong = dc_replace(pooled[1], judged={(999, 0): pooled[0].judged[next(iter(
        pooled[0].judged))]})
    inbound_id = record(intake, Identity("test:box", "INBOX", 1, next(_uids)), raw=raws[1],
                        size=len(raws[1]), internal_date=intake.clock.now())
    assert inbound_id is not None
    process(intake, inbound_id, raws[1], prepared=wrong)
    fresh(session)
    submission = session.exec(select(Submission)).one()
    expected = next(iter(inline[1].judged.values())).outcome
    assert submission.outcome == str(expected)
