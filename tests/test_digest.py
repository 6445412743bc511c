"""The status digest: its schedule in the database, sent once however many senders run,
its real MIME structure and contents, delivery through real mail servers, the one-time
"coverage complete" notice, and the ``outreach digest`` / ``outreach status`` commands."""

from __future__ import annotations

import itertools
import json
import threading
from datetime import UTC, date, datetime, timedelta
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path

import pytest
from sqlmodel import Session, col, select

from outreach.bootstrap import App, build
from outreach.core.clock import FixedClock
from outreach.core.enums import ContactStatus, RequestState
from outreach.db.models import (
    Contact,
    Digest,
    OutboundMessage,
    Request,
    Submission,
    SubmissionSmelter,
    Supplier,
)
from outreach.scheduler import deliver_once, digest_once, tick_once
from outreach.services import delivery_state
from outreach.services.blobs import get_blob
from outreach.services.digest import (
    DIGEST_KIND,
    DIGEST_PRIORITY,
    digest_key,
    send_due_digests,
)
from outreach.services.digest_due import next_occurrence
from outreach.services.intake import Identity, Intake, process, record
from outreach.services.requests import exempt_request
from outreach.settings import DigestSettings, Settings
from tests.support.cli_runner import cli_runner
from tests.support.factories import fresh, import_lines, running_campaign, supplier_line, tx
from tests.support.workbooks import accepted_cmrt, rejected_cmrt

BOX = "conflict-minerals@company.example"
_uids = itertools.count(1)
LINES = [supplier_line("A1", "Alpha Metall GmbH", country="DE"),
         supplier_line("B2", "Bravo <b>Inc</b>", country="US"),
         supplier_line("C3", country="CN"), supplier_line("D4", country="CN"),
         supplier_line("E5", country="JP")]


# --------------------------------------------------------------------------- the schedule


def test_weekly_on_the_weekday_then_daily_in_the_last_weeks() -> None:
    config = DigestSettings(weekday=0, hour=8, daily_weeks_before_due=4)
    due = date(2027, 3, 31)
    monday_after = next_occurrence(datetime(2027, 1, 11, 9, 0, tzinfo=UTC), due, config)
    assert monday_after.period == "2027-W03" and not monday_after.daily
    assert monday_after.due_at == datetime(2027, 1, 18, 8, 0, tzinfo=UTC)
    # four weeks before the due date: every day
    daily = next_occurrence(datetime(2027, 3, 4, 9, 0, tzinfo=UTC), due, config)
    assert (daily.period, daily.daily) == ("2027-03-05", True)
    assert next_occurrence(datetime(2027, 3, 31, 7, 0, tzinfo=UTC), due,
                           config).period == "2027-03-31"
    # after the due date: weekly again
    assert next_occurrence(datetime(2027, 3, 31, 9, 0, tzinfo=UTC), due,
                           config).period == "2027-W14"
    # the hour is in the company's zone
    berlin = next_occurrence(datetime(2027, 1, 11, 9, 0, tzinfo=UTC), due, config,
                             "Europe/Berlin")
    assert berlin.due_at == datetime(2027, 1, 18, 7, 0, tzinfo=UTC)


# --------------------------------------------------------------------------- a season


def _reply(*, sender: str, to: str = BOX, subject: str = "Re: CMRT request",
           files: tuple[tuple[str, bytes], ...] = ()) -> bytes:
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = sender, to, subject
    message["Date"] = "Thu, 14 Jan 2027 10:00:00 +0000"
    message["Message-ID"] = f"<digest-reply-{next(_uids)}@supplier.example>"
    message.set_content("Please find attached.")
    for filename, data in files:
        message.add_attachment(data, maintype="application",
                               subtype="vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                               filename=filename)
    return message.as_bytes()


def _deliver(intake: Intake, raw: bytes) -> str:
    inbound_id = record(intake, Identity("test:box", "INBOX", 1, next(_uids)), raw=raw,
                        size=len(raw), internal_date=intake.clock.now())
    assert inbound_id is not None
    return process(intake, inbound_id, raw)


def _requests(session: Session) -> dict[str, Request]:
    fresh(session)
    return {s.code: r for r, s in session.exec(
        select(Request, Supplier).join(Supplier, col(Supplier.id) == Request.supplier_id)).all()}


def build_season(app: App, session: Session, clock: FixedClock, tmp_path: Path, *,
                 pause_delivery: bool = True) -> None:
    """Every section of the digest gets real data: accepted, rejected (with findings),
    awaiting approval, upcoming, handed over, red-flag smelter, quarantined, bounced, failed,
    exempt, and (optionally) paused delivery."""
    with tx(session):
        import_lines(session, clock, tmp_path / "s.csv", LINES)
        running_campaign(session, clock)
    tick_once(app)
    clock.advance(timedelta(days=3))
    intake = Intake(app.sessions, clock, app.settings, app.templates())
    requests = _requests(session)
    assert _deliver(intake, _reply(
        sender="pat@a1.example", to=f"conflict-minerals+{requests['A1'].reply_token}"
        "@company.example", files=(("CMRT A1.xlsx", accepted_cmrt(seed=1)),))) == "processed"
    _deliver(intake, _reply(sender="bo@b2.example",
                            subject=f"CMRT [CMRT 2026 · ref {requests['B2'].reply_token}]",
                            files=(("cmrt-b2.xlsx", rejected_cmrt(seed=2)),)))
    assert _deliver(intake, _reply(sender="stranger@elsewhere.example",
                                   subject="our CMRT")) in {"quarantined", "attention"}
    requests = _requests(session)
    with tx(session):
        requests["C3"].awaiting_approval, requests["C3"].next_action_at = "senior_notice", None
        requests["D4"].state, requests["D4"].next_action_at = RequestState.HANDED_OVER, None
        requests["D4"].updated_at = clock.now()
        exempt_request(session, clock, requests["E5"], actor="cli:test",
                       reason="no 3TG in its products")
        accepted = session.exec(select(Submission).where(
            Submission.request_id == requests["A1"].id)).one()
        smelter = session.exec(select(SubmissionSmelter).where(
            SubmissionSmelter.submission_id == accepted.id)
            .order_by(col(SubmissionSmelter.id))).first()
        assert smelter is not None
        smelter.red_flags = ["OECD Annex II watch list"]
        bounced = session.exec(select(Contact).where(
            Contact.supplier_id == requests["B2"].supplier_id)).first()
        assert bounced is not None
        bounced.status, bounced.bounced_at = ContactStatus.BOUNCED, clock.now()
        failed = session.exec(select(OutboundMessage).where(
            OutboundMessage.request_id == requests["C3"].id)).first()
        assert failed is not None
        failed.status, failed.last_error = "failed", "550 5.1.1 mailbox unavailable"
        if pause_delivery:
            delivery_state.pause(session, clock, actor="cli:test", reason="server maintenance")


def _first_digest(app: App, clock: FixedClock) -> OutboundMessage:
    assert send_due_digests(app.sessions, clock, app.settings, app.templates()).planned == 1
    clock.set(datetime(2027, 1, 18, 8, 0, tzinfo=UTC))  # Monday 08:00: the first is due
    report = send_due_digests(app.sessions, clock, app.settings, app.templates())
    assert report.sent == 1
    with app.sessions() as session:
        message = session.exec(select(OutboundMessage)
                               .where(OutboundMessage.kind == DIGEST_KIND)).one()
        session.expunge(message)
    return message


def parse(raw: bytes) -> EmailMessage:
    return message_from_bytes(raw, policy=policy.default)  # type: ignore[return-value]


def check_structure(message: EmailMessage) -> tuple[str, str, bytes]:
    """multipart/alternative [text/plain, multipart/related [text/html, image/png]]: the
    text, the HTML and the PNG, with the HTML's cid: matching the image's Content-ID."""
    assert message.get_content_type() == "multipart/alternative"
    text_part, related = message.get_payload()  # type: ignore[misc]
    assert text_part.get_content_type() == "text/plain"
    assert related.get_content_type() == "multipart/related"
    html_part, image = related.get_payload()
    assert html_part.get_content_type() == "text/html"
    assert image.get_content_type() == "image/png"
    png = image.get_content()
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    cid = image["Content-ID"].strip()
    assert cid.startswith("<") and cid.endswith(">")
    html = html_part.get_content()
    assert f'src="cid:{cid[1:-1]}"' in html
    return text_part.get_content(), html, png


def test_the_digest_is_multipart_related_with_every_section(
        app: App, session: Session, clock: FixedClock, tmp_path: Path) -> None:
    build_season(app, session, clock, tmp_path)
    outbound = _first_digest(app, clock)
    assert outbound.priority == DIGEST_PRIORITY and outbound.raw_sha256
    campaign_id = _requests(session)["A1"].campaign_id
    assert outbound.idempotency_key == digest_key(campaign_id, "2027-W03")
    assert outbound.to_addresses == [str(app.settings.mail.compliance_address)]
    raw = get_blob(app.settings.attachments_dir, outbound.raw_sha256)
    message = parse(raw)
    assert message["Message-ID"] == outbound.message_id
    assert "coverage 25.0% (1/4)" in str(message["Subject"])
    text, html, _ = check_structure(message)
    for body in (text, html):
        assert "Alpha Metall GmbH" in body  # newly accepted
        assert "cmrt-b2.xlsx" in body  # rejected, with its top findings
        assert "senior_notice" in body  # awaiting approval
        assert "D4" in body  # handed over
        assert "OECD Annex II watch list" in body and "A1" in body  # red flag, who reported
        assert "stranger@elsewhere.example" in body  # quarantined reply
        assert "550 5.1.1 mailbox unavailable" in body  # failed delivery
        assert "server maintenance" in body  # delivery paused
        assert "no 3TG in its products" in body  # exempt, with its reason
    assert "Bravo &lt;b&gt;Inc&lt;/b&gt;" in html and "<b>Inc</b>" not in html
    rejected = session.exec(select(Submission).where(Submission.outcome == "rejected")).one()
    top = next(f for f in rejected.findings if f["severity"] == "error")
    assert top["message"] in text
    bounced = session.exec(select(Contact).where(Contact.status == "bounced")).one()
    assert bounced.email in text
    # upcoming escalations come from the schedule simulation
    assert "UPCOMING ESCALATIONS, next 7 days" in text
    fresh(session)
    digest = session.exec(select(Digest).where(Digest.period == "2027-W03")).one()
    assert digest.status == "sent" and digest.outbound_id == outbound.id
    assert digest.figures["accepted"] == 1 and digest.figures["in_scope"] == 4
    # the next row is planned ahead, a week later
    upcoming = session.exec(select(Digest).where(Digest.status == "due")).one()
    assert upcoming.period == "2027-W04"


def test_the_next_digest_shows_the_change_since_the_last(
        app: App, session: Session, clock: FixedClock, tmp_path: Path) -> None:
    build_season(app, session, clock, tmp_path)
    _first_digest(app, clock)
    requests = _requests(session)
    intake = Intake(app.sessions, clock, app.settings, app.templates())
    _deliver(intake, _reply(sender="pat@c3.example",
                            to=f"conflict-minerals+{requests['C3'].reply_token}@company.example",
                            files=(("c3.xlsx", accepted_cmrt(seed=5)),)))
    clock.set(datetime(2027, 1, 25, 8, 0, tzinfo=UTC))
    assert send_due_digests(app.sessions, clock, app.settings, app.templates()).sent == 1
    fresh(session)
    second = session.exec(select(OutboundMessage).where(
        OutboundMessage.idempotency_key == digest_key(requests["C3"].campaign_id,
                                                      "2027-W04"))).one()
    text = second.body_text
    assert "Since the last digest (2027-W03): +1 accepted, +25.0 points" in text
    assert "coverage 50.0% (2/4)" in second.subject


def test_two_senders_at_once_send_a_period_once(
        app: App, session: Session, clock: FixedClock, tmp_path: Path) -> None:
    with tx(session):
        import_lines(session, clock, tmp_path / "s.csv", LINES[:2])
        running_campaign(session, clock)
    assert send_due_digests(app.sessions, clock, app.settings, app.templates()).planned == 1
    clock.set(datetime(2027, 1, 18, 8, 0, tzinfo=UTC))
    services = [build(app.settings, clock=clock, check_schema=False) for _ in range(2)]
    for service in services:
        service.templates()
    barrier = threading.Barrier(2)
    results: list[int] = []
    errors: list[BaseException] = []

    def run(service: App) -> None:
        try:
            barrier.wait()
            for _ in range(3):
                results.append(send_due_digests(service.sessions, clock, service.settings,
                                                service.templates()).sent)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(s,)) for s in services]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    for service in services:
        service.close()
    assert not errors, errors
    fresh(session)
    digests = session.exec(select(OutboundMessage)
                           .where(OutboundMessage.kind == DIGEST_KIND)).all()
    assert sum(results) == len(digests) == 1
    rows = session.exec(select(Digest).order_by(col(Digest.due_at))).all()
    assert [(d.period, d.status) for d in rows] == [("2027-W03", "sent"), ("2027-W04", "due")]


def test_coverage_complete_is_notified_once_and_escalation_stops(
        app: App, session: Session, clock: FixedClock, tmp_path: Path) -> None:
    with tx(session):
        import_lines(session, clock, tmp_path / "s.csv", LINES[:2])
        running_campaign(session, clock)
    tick_once(app)
    clock.advance(timedelta(days=2))
    intake = Intake(app.sessions, clock, app.settings, app.templates())
    requests = _requests(session)
    _deliver(intake, _reply(sender="pat@a1.example",
                            to=f"conflict-minerals+{requests['A1'].reply_token}@company.example",
                            files=(("a1.xlsx", accepted_cmrt(seed=7)),)))
    b2 = _requests(session)["B2"]
    with tx(session):
        exempt_request(session, clock, b2, actor="cli:test", reason="left the supply chain")
    report = send_due_digests(app.sessions, clock, app.settings, app.templates())
    assert report.complete == 1
    assert send_due_digests(app.sessions, clock, app.settings, app.templates()).complete == 0
    fresh(session)
    complete = session.exec(select(OutboundMessage).where(
        OutboundMessage.idempotency_key == digest_key(requests["A1"].campaign_id,
                                                      "complete"))).one()
    assert complete.subject.startswith("Coverage complete: CMRT 2026")
    assert "COVERAGE COMPLETE" in complete.body_text
    # escalation has stopped: months later the tick decides nothing more
    before = len(session.exec(select(OutboundMessage)).all())
    for _ in range(12):
        clock.advance(timedelta(days=10))
        tick_once(app)
    fresh(session)
    ladder_mail = session.exec(select(OutboundMessage)
                               .where(col(OutboundMessage.stage).is_not(None))).all()
    assert len(session.exec(select(OutboundMessage)).all()) - before == \
        len(session.exec(select(OutboundMessage).where(
            OutboundMessage.kind == DIGEST_KIND)).all()) - 1
    assert all(m.stage == "request" for m in ladder_mail)


def test_the_digest_job_sends_through_real_mail_servers(
        app: App, session: Session, clock: FixedClock, tmp_path: Path, smtp_server,
        mailboxes) -> None:
    from tests.test_delivery import smtp_settings

    build_season(app, session, clock, tmp_path, pause_delivery=False)
    # Dovecot delivers by local part: the digest goes to the "bot" mailbox
    settings: Settings = smtp_settings(app.settings, smtp_server, mailboxes)
    settings = settings.model_copy(update={"digest": settings.digest.model_copy(
        update={"recipients": [f"{mailboxes.bot.login}@compliance.example"]})})
    live = build(settings, clock=clock, check_schema=False)
    try:
        digest_once(live)
        clock.set(datetime(2027, 1, 18, 8, 0, tzinfo=UTC))
        assert digest_once(live)["sent"] == 1
        deliver_once(live)  # the requests and the digest (answers and digests first)
        fresh(session)
        outbound = session.exec(select(OutboundMessage)
                                .where(OutboundMessage.kind == DIGEST_KIND)).one()
        assert outbound.status == "sent"
        stored = get_blob(settings.attachments_dir, outbound.raw_sha256 or "")
    finally:
        live.close()
    received = [parse(raw) for raw in mailboxes.inbox(mailboxes.bot)]
    [digest] = [m for m in received if m["Message-ID"] == outbound.message_id]
    _, _, png = check_structure(digest)
    _, _, sent_png = check_structure(parse(stored))
    assert png == sent_png


# --------------------------------------------------------------------------- commands


def test_digest_preview_and_send_and_status_commands(
        app: App, session: Session, clock: FixedClock, tmp_path: Path, db_url: str,
        capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    build_season(app, session, clock, tmp_path)
    cli = cli_runner(app.settings.data, capsys, monkeypatch,
                     env={"OUTREACH_DATABASE__URL": db_url})
    target = tmp_path / "preview" / "digest.eml"
    code, out, err = cli("digest", "--preview", str(target))
    assert code == 0, err
    check_structure(parse(target.read_bytes()))
    html = target.with_suffix(".html").read_text(encoding="utf-8")
    assert "data:image/png;base64," in html and "cid:" not in html
    assert target.with_suffix(".png").read_bytes().startswith(b"\x89PNG")
    assert cli("digest")[0] == 6
    code, out, err = cli("digest", "--send", "--json")
    assert code == 0, err
    queued = json.loads(out)
    assert queued["idempotency_key"].startswith("digest:")
    code, out, err = cli("status", "--json")
    assert code == 0, err
    (campaign,) = json.loads(out)["campaigns"]
    assert (campaign["in_scope"], campaign["accepted"], campaign["coverage"]) == (4, 1, 0.25)
    assert campaign["exempt"] == [{"supplier": "E5", "name": "Supplier E5",
                                   "reason": "no 3TG in its products"}]
    assert campaign["by_stage"]  # what status printed before is still there
    code, out, _ = cli("status")
    assert code == 0 and "accepted CMRTs / in scope" in out and "no 3TG" in out
    assert "coverage by supplier country" in out
