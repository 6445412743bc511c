"""Proof that the mail fixtures are real: mail sent by SMTP lands in Dovecot, faults surface
in aiosmtplib the way outbound delivery code will see them, and Dovecot behaves like Dovecot
(UNSEEN after APPEND, IDLE wake-ups, stable UIDs across a restart)."""

from __future__ import annotations

import asyncio
import email
import imaplib
import socket
import ssl
import time
from email.message import EmailMessage
from email.policy import default as default_policy
from email.utils import make_msgid

import aiosmtplib
import pytest
from imapclient.exceptions import LoginError

from tests.support.mail_fixtures import Mailboxes, MailUser
from tests.support.smtp_server import SmtpServer

pytestmark = pytest.mark.mail

ATTACHMENT = bytes(range(256)) * 64  # binary, so base64 damage would show
XLSX_TYPE = ("application", "vnd.openxmlformats-officedocument.spreadsheetml.sheet")


def survey_request(sender: str, recipient: str, subject: str = "CMRT request") -> EmailMessage:
    message = EmailMessage()
    message["From"] = sender
    message["To"] = recipient
    message["Subject"] = subject
    message["Message-ID"] = make_msgid(domain="outreach.test")
    message["X-Outreach-Campaign"] = "2025-Q1"
    message.set_content("Please fill in the attached CMRT.")
    message.add_attachment(
        ATTACHMENT, maintype=XLSX_TYPE[0], subtype=XLSX_TYPE[1], filename="CMRT.xlsx"
    )
    return message


def client_context(server: SmtpServer) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=server.cafile)


async def send(
    server: SmtpServer,
    message: EmailMessage,
    user: MailUser | None = None,
    password: str | None = None,
    timeout: float = 10.0,
    implicit_tls: bool = False,
    recipients: list[str] | None = None,
) -> None:
    """One connection, one message: STARTTLS (or implicit TLS), optional AUTH, send, QUIT."""
    smtp = aiosmtplib.SMTP(
        hostname=server.host,
        port=server.tls_port if implicit_tls else server.port,
        use_tls=implicit_tls,
        start_tls=not implicit_tls,
        tls_context=client_context(server),
        timeout=timeout,
    )
    await smtp.connect()
    try:
        if user is not None:
            await smtp.login(user.login, password if password is not None else user.password)
        await smtp.send_message(message, recipients=recipients)
    finally:
        smtp.close()


def request_to_supplier(mailboxes: Mailboxes) -> EmailMessage:
    return survey_request(mailboxes.bot.address, mailboxes.supplier.address)


def test_starttls_auth_message_reaches_imaps_intact(
    smtp_server: SmtpServer, mailboxes: Mailboxes
) -> None:
    sent = request_to_supplier(mailboxes)
    asyncio.run(send(smtp_server, sent, user=mailboxes.bot))

    (recorded,) = smtp_server.messages
    assert recorded.auth_user == "bot"
    assert recorded.tls
    assert recorded.rcpt_tos == (mailboxes.supplier.address,)

    with mailboxes.imap(mailboxes.supplier) as client:
        client.select_folder("INBOX", readonly=True)
        (uid,) = client.search("UNSEEN")
        raw = client.fetch([uid], [b"BODY.PEEK[]"])[uid][b"BODY[]"]
    received = email.message_from_bytes(raw, policy=default_policy)
    assert received["Message-ID"] == sent["Message-ID"]
    assert received["Subject"] == "CMRT request"
    assert received["X-Outreach-Campaign"] == "2025-Q1"
    assert received["Return-Path"] == f"<{mailboxes.bot.address}>"
    assert received["Delivered-To"] == mailboxes.supplier.address
    (attachment,) = list(received.iter_attachments())
    assert attachment.get_filename() == "CMRT.xlsx"
    assert attachment.get_content() == ATTACHMENT


def test_implicit_tls_and_external_recipients_are_recorded_only(
    smtp_server: SmtpServer, mailboxes: Mailboxes
) -> None:
    outside = "buyer@elsewhere.example"
    message = survey_request(mailboxes.bot.address, outside)
    asyncio.run(send(smtp_server, message, user=mailboxes.bot, implicit_tls=True))

    (recorded,) = smtp_server.messages
    assert recorded.rcpt_tos == (outside,)
    assert recorded.tls
    assert b"CMRT.xlsx" in recorded.data
    assert mailboxes.inbox(mailboxes.supplier) == []


def test_append_without_flags_stays_unseen(mailboxes: Mailboxes) -> None:
    reply = survey_request(mailboxes.supplier.address, mailboxes.bot.address, "RE: CMRT request")
    uid = mailboxes.dovecot.append(mailboxes.bot.login, "INBOX", reply.as_bytes(), flags=())

    with mailboxes.imap(mailboxes.bot) as client:
        client.select_folder("INBOX")
        assert client.search("UNSEEN") == [uid]


def test_idle_wakes_up_on_lmtp_delivery(mailboxes: Mailboxes) -> None:
    with mailboxes.imap(mailboxes.bot) as client:
        client.select_folder("INBOX")
        client.idle()
        started = time.monotonic()
        reply = survey_request(mailboxes.supplier.address, mailboxes.bot.address, "RE: hello")
        mailboxes.dovecot.deliver_lmtp(reply.as_bytes(), mailboxes.bot.address)
        responses: list[tuple[int, bytes]] = []
        while time.monotonic() - started < 5 and not any(r[1] == b"EXISTS" for r in responses):
            responses += client.idle_check(timeout=1)
        elapsed = time.monotonic() - started
        client.idle_done()
    assert (1, b"EXISTS") in responses
    assert elapsed < 3


def test_data_451_twice_then_retry_succeeds(smtp_server: SmtpServer, mailboxes: Mailboxes) -> None:
    smtp_server.faults.data_failures = [451, 451]
    message = request_to_supplier(mailboxes)
    for _ in range(2):
        with pytest.raises(aiosmtplib.SMTPDataError) as failure:
            asyncio.run(send(smtp_server, message, user=mailboxes.bot))
        assert failure.value.code == 451
    assert mailboxes.inbox(mailboxes.supplier) == []

    asyncio.run(send(smtp_server, message, user=mailboxes.bot))
    assert len(mailboxes.inbox(mailboxes.supplier)) == 1
    assert [r.code for r in smtp_server.replies_to("DATA")] == [451, 451, 250]


@pytest.mark.parametrize("code", [550, 451])
def test_rcpt_refusal(smtp_server: SmtpServer, mailboxes: Mailboxes, code: int) -> None:
    smtp_server.faults.rcpt_refusals = {mailboxes.supplier.address.upper(): code}
    with pytest.raises(aiosmtplib.SMTPRecipientsRefused) as failure:
        asyncio.run(send(smtp_server, request_to_supplier(mailboxes), user=mailboxes.bot))
    (refusal,) = failure.value.recipients
    assert refusal.code == code
    assert smtp_server.messages == []


def test_rcpt_refusal_of_one_recipient_delivers_to_the_other(
    smtp_server: SmtpServer, mailboxes: Mailboxes
) -> None:
    smtp_server.faults.rcpt_refusals = {"gone@supplier.test": 550}
    recipients = ["gone@supplier.test", mailboxes.supplier.address]
    message = request_to_supplier(mailboxes)
    asyncio.run(send(smtp_server, message, user=mailboxes.bot, recipients=recipients))
    (recorded,) = smtp_server.messages
    assert recorded.rcpt_tos == (mailboxes.supplier.address,)


def test_auth_refused_with_535(smtp_server: SmtpServer, mailboxes: Mailboxes) -> None:
    smtp_server.faults.refuse_auth = True
    with pytest.raises(aiosmtplib.SMTPAuthenticationError) as failure:
        asyncio.run(send(smtp_server, request_to_supplier(mailboxes), user=mailboxes.bot))
    assert failure.value.code == 535


def test_wrong_smtp_password_refused_with_535(
    smtp_server: SmtpServer, mailboxes: Mailboxes
) -> None:
    with pytest.raises(aiosmtplib.SMTPAuthenticationError):
        message = request_to_supplier(mailboxes)
        asyncio.run(send(smtp_server, message, user=mailboxes.bot, password="wrong"))


def test_policy_block_554_at_mail_from(smtp_server: SmtpServer, mailboxes: Mailboxes) -> None:
    smtp_server.faults.mail_failures = [554]
    with pytest.raises(aiosmtplib.SMTPSenderRefused) as failure:
        asyncio.run(send(smtp_server, request_to_supplier(mailboxes), user=mailboxes.bot))
    assert failure.value.code == 554


def test_421_at_mail_from_closes_the_connection(
    smtp_server: SmtpServer, mailboxes: Mailboxes
) -> None:
    """Server side, raw socket: aiosmtplib hangs up on 421 itself, so it cannot prove this."""
    smtp_server.faults.mail_failures = [421]
    with socket.create_connection((smtp_server.host, smtp_server.port), timeout=2) as sock:
        reader = sock.makefile("rb")
        assert reader.readline().startswith(b"220")
        sock.sendall(b"EHLO client.test\r\n")
        while not reader.readline().startswith(b"250 "):
            pass
        sock.sendall(f"MAIL FROM:<{mailboxes.bot.address}>\r\n".encode())
        assert reader.readline().startswith(b"421 4.3.2")
        assert reader.readline() == b""  # EOF: the server closed the channel


def test_421_at_data_surfaces_as_data_error(smtp_server: SmtpServer, mailboxes: Mailboxes) -> None:
    smtp_server.faults.data_failures = [421]
    with pytest.raises(aiosmtplib.SMTPDataError) as failure:
        asyncio.run(send(smtp_server, request_to_supplier(mailboxes), user=mailboxes.bot))
    assert failure.value.code == 421


def test_connection_reset_during_data(smtp_server: SmtpServer, mailboxes: Mailboxes) -> None:
    smtp_server.faults.reset_during_data = 1
    with pytest.raises(aiosmtplib.SMTPServerDisconnected):
        asyncio.run(send(smtp_server, request_to_supplier(mailboxes), user=mailboxes.bot))
    asyncio.run(send(smtp_server, request_to_supplier(mailboxes), user=mailboxes.bot))
    assert len(mailboxes.inbox(mailboxes.supplier)) == 1


def test_stalled_data_times_out(smtp_server: SmtpServer, mailboxes: Mailboxes) -> None:
    smtp_server.faults.stall_data_seconds = 3.0
    started = time.monotonic()
    with pytest.raises(aiosmtplib.SMTPReadTimeoutError):
        message = request_to_supplier(mailboxes)
        asyncio.run(send(smtp_server, message, user=mailboxes.bot, timeout=0.5))
    assert time.monotonic() - started < 2
    assert smtp_server.messages == []


def test_dovecot_down_answers_451(smtp_server: SmtpServer, mailboxes: Mailboxes) -> None:
    mailboxes.dovecot.stop()
    try:
        with pytest.raises(aiosmtplib.SMTPDataError) as failure:
            asyncio.run(send(smtp_server, request_to_supplier(mailboxes), user=mailboxes.bot))
        assert failure.value.code == 451
        assert "4.3.0" in failure.value.message
        assert smtp_server.messages == []
    finally:
        mailboxes.dovecot.start()


def test_wrong_imap_password_fails_quickly(mailboxes: Mailboxes) -> None:
    started = time.monotonic()
    with pytest.raises(LoginError):
        mailboxes.dovecot.imap_client(mailboxes.bot.login, "not-the-password")
    assert time.monotonic() - started < 2


def test_restart_keeps_uidvalidity_and_uids(mailboxes: Mailboxes) -> None:
    dovecot = mailboxes.dovecot
    for n in range(3):
        message = survey_request(mailboxes.supplier.address, mailboxes.bot.address, f"RE {n}")
        dovecot.deliver_lmtp(message.as_bytes(), mailboxes.bot.address)
    polling = mailboxes.imap(mailboxes.bot)
    before = polling.select_folder("INBOX")[b"UIDVALIDITY"]
    uids_before = polling.search("ALL")

    dovecot.restart()

    with pytest.raises((imaplib.IMAP4.abort, OSError)):
        polling.noop()
    polling.shutdown()
    with mailboxes.imap(mailboxes.bot) as client:
        assert client.select_folder("INBOX")[b"UIDVALIDITY"] == before
        assert client.search("ALL") == uids_before
