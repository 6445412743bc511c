"""A whole survey season through real mail servers, the clock stepped a day at a time.

The service's own jobs (``tick_once``, ``deliver_once``, ``poll_mailbox``: what ``outreach
run`` schedules) send through aiosmtpd into Dovecot and read the compliance mailbox over
IMAPS. Three suppliers, each with its own Dovecot mailbox, behave as real ones do:

* P1 answers the request at once with a complete CMRT;
* R2 answers with a flawed CMRT, then corrects it after our correction request;
* S3 never answers: reminders, follow-up, the senior officer's notice (approved by a
  person) and the hand-over (approved too).

What each supplier received is read back from its mailbox: every stage once, threaded
under the request, the answers to the replies, nothing twice.
"""

from __future__ import annotations

from datetime import timedelta
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path

import pytest
from pydantic import SecretStr
from sqlmodel import Session, select

from outreach.bootstrap import App, build
from outreach.core.clock import FixedClock
from outreach.core.enums import RequestState
from outreach.db.engine import write_transaction
from outreach.db.models import Request, Supplier
from outreach.scheduler import deliver_once, poll_mailbox, tick_once
from outreach.services import approvals
from outreach.settings import Settings
from tests.support.factories import fresh, import_lines, running_campaign, supplier_line, tx
from tests.support.mail_fixtures import Mailboxes
from tests.support.smtp_server import SmtpServer
from tests.support.workbooks import accepted_cmrt, rejected_cmrt
from tests.test_delivery import smtp_settings

pytestmark = pytest.mark.mail

BOX = "bot@company.example"
SUPPLIERS = {"p1": "P1", "r2": "R2", "s3": "S3"}
PASSWORD = "seasonpass"
OFFICER = "officer@company.example"  # our senior officer, on cc of the official notice


def season_settings(settings: Settings, server: SmtpServer, mailboxes: Mailboxes) -> Settings:
    base = smtp_settings(settings, server, mailboxes)
    imap = base.imap.model_copy(update={
        "source": "imap", "host": mailboxes.dovecot.host, "port": mailboxes.dovecot.imaps_port,
        "security": "tls", "ca_file": mailboxes.dovecot.cafile,
        "username": SecretStr(mailboxes.bot.login),
        "password": SecretStr(mailboxes.bot.password), "folders": ["INBOX"],
        "timeout_seconds": 10.0})
    mail = base.mail.model_copy(update={"from_address": BOX, "compliance_address": BOX})
    officer = base.company.senior_officer.model_copy(update={"email": OFFICER})
    company = base.company.model_copy(update={"senior_officer": officer})
    return base.model_copy(update={"imap": imap, "mail": mail, "company": company})


def inbox(mailboxes: Mailboxes, user: str) -> list[EmailMessage]:
    return [message_from_bytes(raw, policy=policy.default)  # type: ignore[misc]
            for raw in mailboxes.dovecot.fetch_raw(user)]


def answer(original: EmailMessage, sender: str, workbook: bytes) -> bytes:
    """What a supplier's mail client makes of "Reply" with a file attached."""
    reply = EmailMessage()
    reply["From"] = sender
    reply["To"] = original["Reply-To"]
    reply["Subject"] = "RE: " + str(original["Subject"])
    reply["In-Reply-To"] = original["Message-ID"]
    reply["References"] = original["Message-ID"]
    reply["Message-ID"] = f"<{abs(hash((sender, original['Message-ID'])))}@supplier.example>"
    reply.set_content("Please find our CMRT attached.\n\n> " + str(original["Subject"]))
    reply.add_attachment(workbook, maintype="application",
                         subtype="vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                         filename="CMRT.xlsx")
    return reply.as_bytes()


def state_of(session: Session, code: str) -> Request:
    fresh(session)
    supplier = session.exec(select(Supplier).where(Supplier.code == code)).one()
    return session.exec(select(Request).where(Request.supplier_id == supplier.id)).one()


def test_a_whole_season_through_smtp_and_imap(
        app: App, session: Session, clock: FixedClock, tmp_path: Path,
        smtp_server: SmtpServer, mailboxes: Mailboxes) -> None:
    for user in (*SUPPLIERS, "officer"):
        mailboxes.dovecot.add_user(user, PASSWORD)
    lines = [supplier_line(code, contacts=f"primary: {code} Buyer <{user}@{user}-co.example>")
             for user, code in SUPPLIERS.items()]
    with tx(session):
        import_lines(session, clock, tmp_path / "s.csv", lines)
        running_campaign(session, clock, due=clock.now().date() + timedelta(days=30))
    live = build(season_settings(app.settings, smtp_server, mailboxes), clock=clock,
                 check_schema=False)
    handled: set[str] = set()
    try:
        assert poll_mailbox(live)["fetched"] == 0  # the first poll sets the baseline
        for _day in range(80):
            tick_once(live)
            deliver_once(live)
            for user, behaviour in (("p1", "prompt"), ("r2", "corrects")):
                for message in inbox(mailboxes, user):
                    if message["Message-ID"] in handled:
                        continue
                    handled.add(message["Message-ID"])
                    kind = _kind(message)
                    sender = f"{user}@{user}-co.example"
                    if kind == "request":
                        workbook = accepted_cmrt(seed=1) if behaviour == "prompt" else \
                            rejected_cmrt(seed=2)
                        mailboxes.dovecot.append("bot", "INBOX", answer(message, sender,
                                                                        workbook))
                    elif kind == "correction":
                        mailboxes.dovecot.append("bot", "INBOX", answer(
                            message, sender, accepted_cmrt(seed=3)))
            poll_mailbox(live)
            deliver_once(live)  # answers go out the same day
            with write_transaction(live.sessions) as s:
                for pending in approvals.pending_approvals(s):
                    approvals.approve(s, clock, pending.request, actor="cli:test",
                                      reason="season test")
            clock.advance(timedelta(days=1))
    finally:
        live.close()

    assert state_of(session, "P1").state == RequestState.ACCEPTED
    assert state_of(session, "R2").state == RequestState.ACCEPTED
    assert state_of(session, "S3").state == RequestState.HANDED_OVER

    p1 = [_kind(m) for m in inbox(mailboxes, "p1")]
    assert p1 == ["request", "receipt"]
    r2 = inbox(mailboxes, "r2")
    assert [_kind(m) for m in r2] == ["request", "correction", "receipt"]
    correction = r2[1].get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert "Declaration" in correction  # each finding named with its sheet and cell
    s3 = inbox(mailboxes, "s3")
    kinds = [_kind(m) for m in s3]
    assert kinds == ["request", "reminder", "reminder", "follow_up", "senior_notice"]
    notice = s3[-1]
    assert OFFICER in str(notice["Cc"])
    assert [_kind(m) for m in inbox(mailboxes, "officer")] == ["senior_notice"]
    root = s3[0]["Message-ID"]
    assert all(m["In-Reply-To"] == root for m in s3[1:])
    assert len({m["Message-ID"] for m in s3}) == len(s3)
    assert all(m["Auto-Submitted"] == "auto-generated" for m in (*s3, *r2))
    # the replies were moved out of the compliance mailbox; the copy of our own notice
    # (compliance on cc) stays for people to read
    (copy,) = [message_from_bytes(raw, policy=policy.default)
               for raw in mailboxes.dovecot.fetch_raw("bot", "INBOX")]
    assert copy["Message-ID"] == notice["Message-ID"]
    assert len(mailboxes.dovecot.fetch_raw("bot", "Outreach")) == 3


def _kind(message: EmailMessage) -> str:
    """Which template a message came from, by its subject's wording."""
    subject = str(message["Subject"]).lower()
    for needle, kind in (("accepted", "receipt"), ("received", "receipt"),
                         ("correct", "correction"), ("official notice", "senior_notice"),
                         ("reminder", "reminder"), ("overdue", "follow_up"),
                         ("follow", "follow_up")):
        if needle in subject:
            return kind
    return "request"
