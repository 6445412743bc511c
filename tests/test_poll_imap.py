"""Intake against a real Dovecot: a shared mailbox, odd replies, restarts, UIDVALIDITY.

Replies are APPENDed into the compliance mailbox (the bot user) unseen, as delivered mail is;
``poll_once`` reads them over IMAPS through ``ImapSource``. The mailbox is shared with
people: their mail must keep its flags and folder, whatever intake does with ours.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr
from sqlmodel import Session, col, select

from outreach.bootstrap import App
from outreach.core.clock import FixedClock
from outreach.core.enums import ContactStatus, RequestState
from outreach.db.models import (
    Contact,
    InboundMessage,
    OutboundMessage,
    Request,
    Submission,
    Supplier,
)
from outreach.mail.idle_watcher import IdleWatcher
from outreach.mail.imap_source import ImapSource
from outreach.scheduler import tick_once
from outreach.services import intake as intake_module
from outreach.services.intake import Intake
from outreach.services.poll import poll_once
from tests.support import replies
from tests.support.factories import fresh, import_lines, running_campaign, supplier_line, tx
from tests.support.mail_fixtures import Mailboxes
from tests.support.workbooks import accepted_cmrt, rejected_cmrt
from tests.test_validate_hostile import CASES as HOSTILE

pytestmark = pytest.mark.mail

LINES = [supplier_line("A1"), supplier_line("B2"), supplier_line("C3")]
ALL = ("1:*",)


@pytest.fixture
def clock() -> FixedClock:
    """Real time: Dovecot stamps APPENDed mail with the wall clock, and intake reads folders
    that appear after installation from the installation date on."""
    today = datetime.now(UTC).date()
    return FixedClock(datetime(today.year, today.month, today.day, 12, tzinfo=UTC))


@pytest.fixture
def intake(app: App, session: Session, clock: FixedClock, tmp_path: Path,
           mailboxes: Mailboxes) -> Intake:
    with tx(session):
        import_lines(session, clock, tmp_path / "s.csv", LINES)
        running_campaign(session, clock)
    while not tick_once(app)["queued"]:  # the requests go out on a business day
        clock.advance(timedelta(days=1))
    imap = app.settings.imap.model_copy(update={
        "source": "imap", "host": mailboxes.dovecot.host,
        "port": mailboxes.dovecot.imaps_port, "security": "tls",
        "ca_file": mailboxes.dovecot.cafile, "username": SecretStr(mailboxes.bot.login),
        "password": SecretStr(mailboxes.bot.password), "timeout_seconds": 10.0,
        "folders": ["INBOX", "Junk"]})
    settings = app.settings.model_copy(update={"imap": imap})
    return Intake(app.sessions, clock, settings, app.templates())


def source(intake: Intake) -> ImapSource:
    return ImapSource(intake.settings.imap)


def token(session: Session, code: str) -> str:
    return request_of(session, code).reply_token


def request_of(session: Session, code: str) -> Request:
    fresh(session)
    supplier = session.exec(select(Supplier).where(Supplier.code == code)).one()
    return session.exec(select(Request).where(Request.supplier_id == supplier.id)).one()


def first_message_id(session: Session, code: str) -> str:
    request = request_of(session, code)
    return session.exec(select(OutboundMessage.message_id)
                        .where(OutboundMessage.request_id == request.id)).one()


def flags_by_subject(mailboxes: Mailboxes, folder: str) -> dict[str, set[bytes]]:
    with mailboxes.imap(mailboxes.bot) as client:
        if not client.folder_exists(folder):
            return {}
        client.select_folder(folder, readonly=True)
        uids = client.search(list(ALL))
        data = client.fetch(uids, ["FLAGS", "BODY.PEEK[HEADER.FIELDS (SUBJECT)]"])
    found = {}
    for item in data.values():
        subject = item[b"BODY[HEADER.FIELDS (SUBJECT)]"].decode().strip()
        found[subject.removeprefix("Subject: ")] = set(item[b"FLAGS"]) - {b"\\Recent"}
    return found


def statuses(session: Session) -> dict[str, str]:
    fresh(session)
    return {m.subject or "": m.status for m in session.exec(select(InboundMessage)).all()}


def test_a_shared_mailbox_ours_are_settled_and_the_rest_untouched(
        intake: Intake, session: Session, mailboxes: Mailboxes) -> None:
    dovecot = mailboxes.dovecot
    assert poll_once(intake, source(intake)).recorded == 0  # baseline: nothing yet
    a1, b2 = token(session, "A1"), token(session, "B2")
    people = [
        (replies.unrelated(subject="Lunch on Friday?"), "INBOX", [b"\\Seen", b"\\Flagged"]),
        (replies.unrelated(subject="Holiday rota", photo=True), "INBOX", []),
        (replies.unrelated(subject="Newsletter"), "Junk", [b"$Label1"]),
    ]
    for raw, folder, flags in people:
        dovecot.append("bot", folder, raw, flags=flags)
    ours = {
        "token": replies.supplier_reply(
            sender="Pat A1 <pat@a1.example>", to=replies.token_address(a1),
            subject="Re: CMRT", attachments=[("CMRT_A1.xlsx", accepted_cmrt(seed=21))]),
        "thread, zip of two": replies.supplier_reply(
            sender="pat@b2.example", to=replies.MAILBOX, subject="our files",
            in_reply_to=first_message_id(session, "B2"),
            attachments=[("cmrts.zip", replies.zipped([("plant1.xlsx", accepted_cmrt(22)),
                                                       ("plant2.xlsx", rejected_cmrt(23))]))]),
        "forwarded by a colleague": replies.forwarded(
            replies.supplier_reply(sender="pat@c3.example", to="kim@c3.example",
                                   subject="CMRT", attachments=[("c.xlsx",
                                                                 accepted_cmrt(24))]),
            sender="Kim <kim@c3.example>", to=replies.token_address(token(session, "C3")),
            subject="Fwd: CMRT"),
        "auto-reply": replies.auto_reply(sender="boss@a1.example",
                                         subject=replies.tagged_subject(a1, prefix="")),
        "stranger with a token": replies.supplier_reply(
            sender="mallory@evil.example", to=replies.token_address(b2), subject="CMRT",
            attachments=[("c.xlsx", accepted_cmrt(seed=25))]),
    }
    for raw in ours.values():
        dovecot.append("bot", "Junk" if b"Fwd:" in raw[:2000] else "INBOX", raw)
    before = {folder: flags_by_subject(mailboxes, folder) for folder in ("INBOX", "Junk")}

    report = poll_once(intake, source(intake))
    assert report.error is None and report.recorded == len(people) + len(ours)
    assert report.statuses == {"unrelated": 3, "processed": 4, "quarantined": 1}
    assert report.actioned == 4
    assert request_of(session, "A1").state == RequestState.ACCEPTED
    assert request_of(session, "C3").state == RequestState.ACCEPTED  # the colleague's
    b2_request = request_of(session, "B2")
    assert b2_request.state == RequestState.ACCEPTED  # one of two plants accepted: "any"
    b2_files = session.exec(select(Submission)
                            .where(Submission.request_id == b2_request.id)).all()
    assert sorted(s.outcome or "" for s in b2_files)[-1] == "rejected" and len(b2_files) == 2

    after = {folder: flags_by_subject(mailboxes, folder) for folder in ("INBOX", "Junk")}
    for folder in ("INBOX", "Junk"):
        for raw, where, _flags in people:
            if where != folder:
                continue
            subject = raw.split(b"Subject: ", 1)[1].split(b"\r\n", 1)[0].decode()
            assert after[folder][subject] == before[folder][subject]  # flags untouched
    assert set(after["INBOX"]) == {"Lunch on Friday?", "Holiday rota", "CMRT"}  # + stranger
    assert set(after["Junk"]) == {"Newsletter"}
    assert len(flags_by_subject(mailboxes, "Outreach")) == 4
    assert all(b"\\Seen" not in f for f in flags_by_subject(mailboxes, "Outreach").values())
    assert poll_once(intake, source(intake)).recorded == 0  # nothing twice


def test_a_dsn_bounce_marks_the_contact(intake: Intake, session: Session,
                                        mailboxes: Mailboxes) -> None:
    poll_once(intake, source(intake))
    fresh(session)
    sent = session.exec(select(OutboundMessage)).first()
    assert sent is not None
    original = (f"From: {replies.MAILBOX}\r\nTo: {sent.to_addresses[0]}\r\n"
                f"Subject: {sent.subject}\r\nMessage-ID: {sent.message_id}\r\n\r\nHello\r\n"
                ).encode()
    mailboxes.dovecot.append("bot", "INBOX", replies.bounce_dsn(
        original_raw=original, failed_recipient=sent.to_addresses[0]))
    report = poll_once(intake, source(intake))
    assert report.statuses == {"processed": 1}
    fresh(session)
    contact = session.exec(select(Contact)
                           .where(Contact.email == sent.to_addresses[0])).one()
    assert contact.status == ContactStatus.BOUNCED
    assert session.exec(select(OutboundMessage)
                        .where(col(OutboundMessage.stage).is_(None))).all() == []


def test_odd_replies_each_get_their_answer(intake: Intake, session: Session,
                                           mailboxes: Mailboxes) -> None:
    poll_once(intake, source(intake))
    a1 = replies.token_address(token(session, "A1"))
    odd = {
        "winmail": replies.winmail(sender="pat@a1.example", to=a1, subject="CMRT winmail"),
        "pdf": replies.pdf_instead(sender="pat@a1.example", to=a1, subject="CMRT pdf"),
        "link": replies.link_only(sender="pat@a1.example", to=a1, subject="CMRT link"),
        "question": replies.question(sender="pat@a1.example", to=a1, subject="CMRT question"),
        "latin-1": replies.non_utf8(sender="Jürgen Schön <pat@a1.example>", to=a1,
                                    attachments=[("Erklärung.xlsx", accepted_cmrt(31))]),
    }
    for raw in odd.values():
        mailboxes.dovecot.append("bot", "INBOX", raw)
    report = poll_once(intake, source(intake))
    assert report.statuses.get("failed", 0) == 0
    assert report.statuses == {"processed": 3, "attention": 2}
    fresh(session)
    answers = session.exec(select(OutboundMessage)
                           .where(col(OutboundMessage.stage).is_(None))
                           .order_by(col(OutboundMessage.id))).all()
    texts = " ".join(a.body_text for a in answers)
    assert [a.kind for a in answers].count("unreadable") == 3  # winmail, pdf, link
    assert "winmail.dat" in texts and "PDF" in texts and "sharepoint" in texts
    assert request_of(session, "A1").state == RequestState.ACCEPTED  # the Latin-1 one


def test_every_hostile_file_is_stored_judged_and_answered(
        intake: Intake, session: Session, mailboxes: Mailboxes) -> None:
    poll_once(intake, source(intake))
    a1 = replies.token_address(token(session, "A1"))
    for name, build, _outcome, _code in HOSTILE:
        mailboxes.dovecot.append("bot", "INBOX", replies.supplier_reply(
            sender="pat@a1.example", to=a1, subject=f"hostile {name}",
            attachments=[(f"{name}.xlsx", build())]))
    report = poll_once(intake, source(intake))
    assert set(report.statuses) <= {"processed", "attention"}, report.statuses
    fresh(session)
    submissions = session.exec(select(Submission)).all()
    assert len(submissions) >= len(HOSTILE) - 1  # an empty file may carry no attachment
    assert all(s.outcome in {"rejected", "unreadable", "accepted", "accepted_with_warnings"}
               for s in submissions)
    inbound = session.exec(select(InboundMessage)).all()
    assert {m.status for m in inbound} <= {"processed", "attention"}


def test_a_30_mb_workbook_is_taken_in(intake: Intake, session: Session,
                                      mailboxes: Mailboxes) -> None:
    poll_once(intake, source(intake))
    big = replies.big_attachment(30)
    mailboxes.dovecot.append("bot", "INBOX", replies.supplier_reply(
        sender="pat@a1.example", to=replies.token_address(token(session, "A1")),
        subject="big CMRT", attachments=[("CMRT_big.xlsx", big)]))
    report = poll_once(intake, source(intake))
    assert report.statuses == {"processed": 1}
    fresh(session)
    submission = session.exec(select(Submission)).one()
    assert submission.size == len(big) and submission.outcome in {
        "accepted", "accepted_with_warnings"}


def test_a_server_restart_mid_poll_loses_and_doubles_nothing(
        intake: Intake, session: Session, mailboxes: Mailboxes,
        monkeypatch: pytest.MonkeyPatch) -> None:
    poll_once(intake, source(intake))
    for code, seed in (("A1", 41), ("B2", 42), ("C3", 43)):
        mailboxes.dovecot.append("bot", "INBOX", replies.supplier_reply(
            sender=f"pat@{code.lower()}.example", to=replies.token_address(token(session, code)),
            subject=f"CMRT {code}", attachments=[("c.xlsx", accepted_cmrt(seed))]))
    real = intake_module.process
    calls: list[int] = []

    def process_then_restart(*args: Any, **kwargs: Any) -> str:
        result = real(*args, **kwargs)
        calls.append(1)
        if len(calls) == 1:
            mailboxes.dovecot.stop()  # the server goes away after the first reply
        return result

    monkeypatch.setattr("outreach.services.poll.process", process_then_restart)
    report = poll_once(intake, source(intake))
    assert report.error is not None  # reported, not raised
    mailboxes.dovecot.start()
    monkeypatch.undo()
    report = poll_once(intake, source(intake))
    assert report.error is None
    fresh(session)
    assert len(session.exec(select(InboundMessage)).all()) == 3
    assert len(session.exec(select(Submission)).all()) == 3
    assert {request_of(session, c).state for c in ("A1", "B2", "C3")} == {RequestState.ACCEPTED}
    assert flags_by_subject(mailboxes, "INBOX") == {}  # the first one's move was retried


def test_a_uidvalidity_change_rescans_without_duplicates(
        intake: Intake, session: Session, mailboxes: Mailboxes) -> None:
    dovecot = mailboxes.dovecot
    poll_once(intake, source(intake))
    dovecot.append("bot", "INBOX", replies.supplier_reply(
        sender="pat@a1.example", to=replies.token_address(token(session, "A1")),
        subject="CMRT A1", attachments=[("c.xlsx", rejected_cmrt(51))]))
    dovecot.append("bot", "INBOX", replies.supplier_reply(
        sender="mallory@evil.example", to=replies.token_address(token(session, "B2")),
        subject="from a stranger", attachments=[("c.xlsx", accepted_cmrt(53))]))
    dovecot.append("bot", "INBOX", replies.unrelated())
    assert poll_once(intake, source(intake)).statuses == {
        "processed": 1, "quarantined": 1, "unrelated": 1}
    old = _uidvalidity(mailboxes)
    _rebuild_uids(mailboxes)
    assert _uidvalidity(mailboxes) != old
    # the settled reply was moved away; the stranger's and the colleague's mail stay in
    # INBOX under new UIDs, and a new reply arrives
    dovecot.append("bot", "INBOX", replies.supplier_reply(
        sender="pat@b2.example", to=replies.token_address(token(session, "B2")),
        subject="CMRT B2", attachments=[("c.xlsx", accepted_cmrt(52))]))
    report = poll_once(intake, source(intake))
    assert report.statuses == {"duplicate": 2, "processed": 1}
    fresh(session)
    assert len(session.exec(select(Submission)).all()) == 2
    answers = session.exec(select(OutboundMessage)
                           .where(col(OutboundMessage.stage).is_(None))).all()
    assert len(answers) == 2  # the correction for A1 and the receipt for B2, once each
    review = session.exec(select(InboundMessage)
                          .where(InboundMessage.status == "quarantined")).all()
    assert len(review) == 1  # the stranger's mail waits once, not twice


def test_idle_wakes_the_poll_within_seconds(intake: Intake, session: Session,
                                            mailboxes: Mailboxes) -> None:
    import threading

    poll_once(intake, source(intake))
    woke = threading.Event()
    watcher = IdleWatcher(intake.settings.imap, "INBOX", woke.set)
    watcher.start()
    try:
        time.sleep(1.0)  # IDLE established
        started = time.monotonic()
        mailboxes.dovecot.deliver_lmtp(replies.supplier_reply(
            sender="pat@a1.example", to=replies.token_address(token(session, "A1")),
            subject="CMRT", attachments=[("c.xlsx", accepted_cmrt(61))]), "bot@outreach.test")
        assert woke.wait(10)
        poll_once(intake, source(intake))
        latency = time.monotonic() - started
    finally:
        watcher.stop()
    assert request_of(session, "A1").state == RequestState.ACCEPTED
    assert latency < 5, latency


def _uidvalidity(mailboxes: Mailboxes) -> int:
    with mailboxes.imap(mailboxes.bot) as client:
        return int(client.select_folder("INBOX", readonly=True)[b"UIDVALIDITY"])


def _rebuild_uids(mailboxes: Mailboxes) -> None:
    """What a server migration does: same messages, new UIDVALIDITY and UIDs."""
    dovecot = mailboxes.dovecot
    dovecot.stop()
    maildir = dovecot.base / "mail" / "bot" / "Maildir"
    for index in [*maildir.glob("dovecot-uidlist"), *maildir.glob("dovecot-uidvalidity*"),
                  *maildir.glob("dovecot.index*"), *maildir.glob("dovecot.list.index*")]:
        if index.is_dir():
            shutil.rmtree(index)
        else:
            index.unlink()
    time.sleep(1.1)  # UIDVALIDITY comes from the clock
    dovecot.start()


@pytest.fixture(autouse=True)
def _no_leftover_watchers() -> Iterator[None]:
    yield
