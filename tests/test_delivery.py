"""deliver_due(): the outbox through a real SMTP server into a real Dovecot, on both databases."""

from __future__ import annotations

from datetime import timedelta
from email import message_from_bytes, policy

import pytest
from pydantic import SecretStr
from sqlmodel import Session, select

from outreach.bootstrap import App
from outreach.core.clock import FixedClock
from outreach.db.models import DeliveryAttempt, Event, OutboundMessage, RecipientSend
from outreach.errors import InvalidInput, InvalidState
from outreach.mail.compose import message_id_for
from outreach.mail.transport import Transport, open_transport
from outreach.services import delivery as svc
from outreach.services import delivery_state
from outreach.services.blobs import put_blob
from outreach.settings import Settings
from tests.support.factories import fresh, tx
from tests.support.mail_fixtures import Mailboxes
from tests.support.smtp_server import SmtpServer

WORKBOOK = b"PK\x03\x04" + bytes(range(256)) * 64


def smtp_settings(settings: Settings, server: SmtpServer, mailboxes: Mailboxes,
                  **delivery: object) -> Settings:
    smtp = settings.smtp.model_copy(update={
        "transport": "smtp", "host": "127.0.0.1", "port": server.port, "security": "starttls",
        "ca_file": mailboxes.dovecot.cafile, "username": SecretStr(mailboxes.bot.login),
        "password": SecretStr(mailboxes.bot.password), "timeout_seconds": 10.0})
    return settings.model_copy(update={
        "smtp": smtp, "delivery": settings.delivery.model_copy(update=delivery)})


def transport_for(settings: Settings) -> Transport:
    return open_transport(settings.smtp, settings.outbox_dir)


def queue(session: Session, clock: FixedClock, settings: Settings, key: str, to: list[str],
          *, kind: str = "reminder", attach: bool = False, **fields: object) -> OutboundMessage:
    sha = put_blob(settings.attachments_dir, WORKBOOK) if attach else None
    values: dict[str, object] = dict(
        kind=kind, stage=kind, repeat=1, idempotency_key=key,
        message_id=message_id_for(key, "outreach.test"), from_address="bot@outreach.test",
        reply_to="bot+tok123@outreach.test", to_addresses=to, cc_addresses=[],
        subject=f"Your CMRT ({key})", body_text="Please send the CMRT.\n",
        body_html="<p>Please send the CMRT.</p>", attachment_sha256=sha,
        attachment_name="RMI_CMRT_6.5_SZ-1.xlsx" if attach else None,
        status=svc.QUEUED, priority=100, next_attempt_at=clock.now(), created_at=clock.now())
    row = OutboundMessage(**(values | fields))
    with tx(session):
        session.add(row)
    return row


def test_a_queued_message_arrives_once_with_its_attachment(
        app: App, session: Session, clock: FixedClock, smtp_server: SmtpServer,
        mailboxes: Mailboxes) -> None:
    settings = smtp_settings(app.settings, smtp_server, mailboxes)
    row = queue(session, clock, settings, "r1:request:1", [mailboxes.supplier.address],
                attach=True, in_reply_to=None)
    report = svc.deliver_due(app.sessions, clock, transport_for(settings), settings)
    assert (report.sent, report.failed, report.paused) == (1, 0, None)
    assert svc.deliver_due(app.sessions, clock, transport_for(settings), settings).handled == 0
    [raw] = mailboxes.inbox(mailboxes.supplier)
    received = message_from_bytes(raw, policy=policy.default)
    assert received["Message-ID"] == row.message_id
    assert received["Reply-To"].addresses[0].addr_spec == "bot+tok123@outreach.test"
    assert received["Auto-Submitted"] == "auto-generated"
    [attachment] = list(received.iter_attachments())
    assert attachment.get_filename() == "RMI_CMRT_6.5_SZ-1.xlsx"
    assert attachment.get_content() == WORKBOOK
    fresh(session)
    stored = session.get(OutboundMessage, row.id)
    assert stored is not None and stored.status == svc.SENT and stored.sent_at == clock.now()
    assert session.exec(select(RecipientSend.address)).all() == [mailboxes.supplier.address]
    [attempt] = session.exec(select(DeliveryAttempt)).all()
    assert (attempt.outcome, attempt.finished_at) == ("sent", clock.now())


def test_many_messages_share_one_connection_and_the_account_limit(
        app: App, session: Session, clock: FixedClock, smtp_server: SmtpServer,
        mailboxes: Mailboxes) -> None:
    settings = smtp_settings(app.settings, smtp_server, mailboxes, per_minute=5)
    for i in range(8):
        queue(session, clock, settings, f"r{i}:request:1", [f"s{i}@supplier.example"])
    report = svc.deliver_due(app.sessions, clock, transport_for(settings), settings)
    assert (report.sent, report.deferred) == (5, 3)
    assert len(smtp_server.messages) == 5
    fresh(session)
    later = session.exec(select(OutboundMessage).where(OutboundMessage.status == svc.QUEUED)
                         ).all()
    assert {m.next_attempt_at for m in later} == {clock.now() + timedelta(minutes=1)}
    clock.advance(timedelta(minutes=1))
    assert svc.deliver_due(app.sessions, clock, transport_for(settings), settings).sent == 3


def test_answers_and_digests_go_ahead_of_a_large_launch(
        app: App, session: Session, clock: FixedClock, smtp_server: SmtpServer,
        mailboxes: Mailboxes) -> None:
    """A launch of 30 requests is queued first; an answer and a digest queued after it
    still go in the first minute's five sends."""
    from outreach.services.answers import ANSWER_PRIORITY

    settings = smtp_settings(app.settings, smtp_server, mailboxes, per_minute=5)
    for i in range(30):
        queue(session, clock, settings, f"r{i}:request:1", [f"s{i}@supplier.example"],
              kind="request")
    clock.advance(timedelta(seconds=5))
    queue(session, clock, settings, "answer:submission:1", ["kim@supplier.example"],
          kind="receipt", stage=None, priority=ANSWER_PRIORITY)
    queue(session, clock, settings, "digest:1:2027-W03", ["compliance@company.example"],
          kind="digest", stage=None, priority=50)
    report = svc.deliver_due(app.sessions, clock, transport_for(settings), settings)
    assert report.sent == 5
    first = [m.rcpt_tos[0] for m in smtp_server.messages]
    assert first[:2] == ["kim@supplier.example", "compliance@company.example"]


def test_our_own_people_on_copy_are_not_held_by_the_contact_gap(
        app: App, session: Session, clock: FixedClock, smtp_server: SmtpServer,
        mailboxes: Mailboxes) -> None:
    """The senior officer is on copy of every notice: the gap protects suppliers, so two
    notices to two suppliers go out together."""
    settings = smtp_settings(app.settings, smtp_server, mailboxes)
    officer = str(settings.company.senior_officer.email)
    for i in range(2):
        queue(session, clock, settings, f"r{i}:senior_notice:1", [f"s{i}@supplier.example"],
              kind="senior_notice", cc_addresses=[officer])
    assert svc.deliver_due(app.sessions, clock, transport_for(settings), settings).sent == 2


def test_no_contact_gets_two_ladder_mails_within_the_gap_but_answers_go(
        app: App, session: Session, clock: FixedClock, smtp_server: SmtpServer,
        mailboxes: Mailboxes) -> None:
    settings = smtp_settings(app.settings, smtp_server, mailboxes)
    address = mailboxes.supplier.address
    queue(session, clock, settings, "r1:reminder:1", [address])
    assert svc.deliver_due(app.sessions, clock, transport_for(settings), settings).sent == 1
    second = queue(session, clock, settings, "r1:follow_up:1", [address.upper()],
                   kind="follow_up")
    answer = queue(session, clock, settings, "r1:receipt:1", [address], kind="receipt",
                   priority=10)
    report = svc.deliver_due(app.sessions, clock, transport_for(settings), settings)
    assert (report.sent, report.deferred) == (1, 1)
    fresh(session)
    assert session.get(OutboundMessage, answer.id).status == svc.SENT  # type: ignore[union-attr]
    held = session.get(OutboundMessage, second.id)
    assert held is not None and held.next_attempt_at == clock.now() + timedelta(hours=72)


def test_a_refused_recipient_is_marked_and_the_other_gets_it(
        app: App, session: Session, clock: FixedClock, smtp_server: SmtpServer,
        mailboxes: Mailboxes) -> None:
    settings = smtp_settings(app.settings, smtp_server, mailboxes)
    smtp_server.faults.rcpt_refusals = {"gone@supplier.example": 550}
    queue(session, clock, settings, "r1:request:1",
          ["gone@supplier.example", mailboxes.supplier.address])
    report = svc.deliver_due(app.sessions, clock, transport_for(settings), settings)
    assert report.partial == 1
    assert len(mailboxes.inbox(mailboxes.supplier)) == 1
    assert session.exec(select(RecipientSend.address)).all() == [mailboxes.supplier.address]


def test_transient_failures_back_off_then_succeed(
        app: App, session: Session, clock: FixedClock, smtp_server: SmtpServer,
        mailboxes: Mailboxes) -> None:
    settings = smtp_settings(app.settings, smtp_server, mailboxes, retry_base_seconds=60.0)
    smtp_server.faults.data_failures = [451, 451]
    row = queue(session, clock, settings, "r1:request:1", [mailboxes.supplier.address])
    waits = []
    for _ in range(2):
        assert svc.deliver_due(app.sessions, clock, transport_for(settings), settings
                               ).retried == 1
        fresh(session)
        stored = session.get(OutboundMessage, row.id)
        assert stored is not None
        waits.append(stored.next_attempt_at - clock.now())  # type: ignore[operator]
        clock.advance(waits[-1])
    assert waits == [timedelta(seconds=60), timedelta(seconds=120)]
    assert svc.deliver_due(app.sessions, clock, transport_for(settings), settings).sent == 1
    assert len(mailboxes.inbox(mailboxes.supplier)) == 1


@pytest.mark.parametrize("fault", ["auth", "policy"])
def test_login_or_policy_refusal_opens_the_circuit(
        app: App, session: Session, clock: FixedClock, smtp_server: SmtpServer,
        mailboxes: Mailboxes, fault: str) -> None:
    settings = smtp_settings(app.settings, smtp_server, mailboxes)
    alarm = settings.data / "alarm.txt"
    script = settings.data / "alarm.sh"
    script.write_text("#!/bin/sh\n"
                      f'echo "$OUTREACH_ALERT_KIND: $OUTREACH_ALERT_MESSAGE" >> {alarm}\n')
    script.chmod(0o755)
    settings = settings.model_copy(update={"alerts": settings.alerts.model_copy(
        update={"command": str(script)})})
    if fault == "auth":
        settings = settings.model_copy(update={"smtp": settings.smtp.model_copy(
            update={"password": SecretStr("wrong")})})
    else:
        smtp_server.faults.mail_failures = [554]
    for i in range(3):
        queue(session, clock, settings, f"r{i}:request:1", [mailboxes.supplier.address])
    report = svc.deliver_due(app.sessions, clock, transport_for(settings), settings)
    assert report.paused and report.sent == 0
    # the alarm was raised once: the command ran, alerts.log has the line
    assert alarm.read_text().count("delivery.paused: ") == 1
    assert "outreach delivery resume" in alarm.read_text()
    assert '"kind": "delivery.paused"' in (settings.data / "alerts.log").read_text()
    with tx(session):
        state = delivery_state.delivery_state(session, clock)
    assert state.paused and state.paused_by == "system:delivery"
    fresh(session)
    queued = session.exec(select(OutboundMessage)).all()
    assert {m.status for m in queued} == {svc.QUEUED} and all(m.lease_owner is None
                                                               for m in queued)
    # paused: nothing goes until a person resumes, and no second alarm
    assert svc.deliver_due(app.sessions, clock, transport_for(settings), settings).paused
    assert alarm.read_text().count("delivery.paused: ") == 1
    assert session.exec(select(Event.kind).where(Event.kind == "delivery.paused")).all()


def test_a_worker_that_died_mid_send_leaves_the_message_uncertain_not_resent(
        app: App, session: Session, clock: FixedClock, smtp_server: SmtpServer,
        mailboxes: Mailboxes) -> None:
    settings = smtp_settings(app.settings, smtp_server, mailboxes)
    row = queue(session, clock, settings, "r1:request:1", [mailboxes.supplier.address],
                lease_until=clock.now() + timedelta(minutes=5), lease_owner="dead:1:1",
                attempts=1)
    with tx(session):  # the dead worker had opened its attempt and then vanished
        session.add(DeliveryAttempt(outbound_id=row.id, attempt=1, started_at=clock.now(),
                                    outcome="sending"))
    clock.advance(timedelta(minutes=6))
    report = svc.deliver_due(app.sessions, clock, transport_for(settings), settings)
    assert (report.uncertain, report.sent) == (1, 0)
    assert smtp_server.messages == []
    fresh(session)
    stored = session.get(OutboundMessage, row.id)
    assert stored is not None and stored.status == svc.UNCERTAIN
    assert "outreach deliver --retry" in (stored.last_error or "")


def test_a_person_requeues_an_uncertain_message(app: App, session: Session,
                                                 clock: FixedClock) -> None:
    row = queue(session, clock, app.settings, "r9:request:1", ["a@supplier.example"],
                status=svc.UNCERTAIN)
    with pytest.raises(InvalidInput, match="--reason"):
        svc.retry_message(session, clock, row.id, actor="cli:ann", reason=None)
    with tx(session):
        svc.retry_message(session, clock, row.id, actor="cli:ann", reason="never arrived")
    fresh(session)
    assert session.get(OutboundMessage, row.id).status == svc.QUEUED  # type: ignore[union-attr]
    with pytest.raises(InvalidState, match="only uncertain or failed"):
        svc.retry_message(session, clock, row.id, actor="cli:ann", reason="again")


def test_cron_deliver_through_the_local_transport(app: App, session: Session,
                                                  clock: FixedClock) -> None:
    from outreach.scheduler import deliver_once

    queue(session, clock, app.settings, "r8:request:1", ["a@supplier.example"])
    assert app.settings.smtp.transport == "local"
    assert deliver_once(app)["sent"] == 1
    [written] = list(app.settings.outbox_dir.glob("*.eml"))
    assert b"Please send the CMRT." in written.read_bytes()


def test_recipients_put_off_with_4xx_get_the_letter_later_in_a_message_of_their_own(
        app: App, session: Session, clock: FixedClock, smtp_server: SmtpServer,
        mailboxes: Mailboxes) -> None:
    settings = smtp_settings(app.settings, smtp_server, mailboxes, retry_base_seconds=60.0)
    smtp_server.faults.rcpt_refusals = {"later@supplier.example": 451}
    original = queue(session, clock, settings, "r1:request:1",
                     [mailboxes.supplier.address, "later@supplier.example"])
    assert svc.deliver_due(app.sessions, clock, transport_for(settings), settings).partial == 1
    fresh(session)
    copy = session.exec(select(OutboundMessage).where(
        OutboundMessage.id != original.id)).one()
    assert copy.to_addresses == ["later@supplier.example"]
    assert copy.in_reply_to == original.message_id and copy.message_id != original.message_id
    assert copy.next_attempt_at == clock.now() + timedelta(seconds=60)
    smtp_server.faults.rcpt_refusals = {}
    clock.advance(timedelta(seconds=60))
    assert svc.deliver_due(app.sessions, clock, transport_for(settings), settings).sent == 1
    assert smtp_server.messages[-1].rcpt_tos == ("later@supplier.example",)
