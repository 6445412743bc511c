"""The delivery transport against real servers: aiosmtpd (STARTTLS, AUTH, faults) delivering
into a private Dovecot, whose Maildir shows what actually arrived; and the local transport."""

from __future__ import annotations

import asyncio
import email
import io
import json
import mailbox
import os
import threading
import time
from collections.abc import Iterator
from email.message import EmailMessage, Message
from email.policy import default as default_policy
from email.utils import make_msgid
from pathlib import Path

import pytest
from pydantic import SecretStr

from outreach.errors import ConfigError
from outreach.logs import configure_logging
from outreach.mail.delivery_errors import DeliveryStatus, FailureReason, Stage, classify_reply
from outreach.mail.local_transport import LocalTransport, eml_file_name
from outreach.mail.smtp_transport import SmtpTransport
from outreach.mail.transport import Envelope, open_transport
from outreach.settings import LoggingSettings, SmtpSettings
from tests.support.dovecot import DovecotInstance, free_loopback_ports
from tests.support.mail_fixtures import Mailboxes
from tests.support.smtp_server import SmtpServer

SENDER = "conflict-minerals@outreach.test"
XLSX = ("application", "vnd.openxmlformats-officedocument.spreadsheetml.sheet")
TEXT_BODY = "Dear Zoë Müller,\n\nplease fill in the attached CMRT by 31 March.\n"
HTML_BODY = "<p>Dear Zoë Müller,</p><p>please fill in the attached <b>CMRT</b>.</p>"


def survey_message(to: str | list[str], subject: str = "CMRT request [REQ-7]",
                   attachment: bytes | None = None) -> EmailMessage:
    message = EmailMessage()
    message["From"] = f"Conflict Minerals Compliance <{SENDER}>"
    message["To"] = to if isinstance(to, str) else ", ".join(to)
    message["Subject"] = subject
    message["Message-ID"] = make_msgid(idstring="req7.stage1", domain="outreach.test")
    message["Auto-Submitted"] = "auto-generated"
    message["Reply-To"] = "conflict-minerals+REQ7@outreach.test"
    message.set_content(TEXT_BODY)
    message.add_alternative(HTML_BODY, subtype="html")
    if attachment is not None:
        message.add_attachment(attachment, maintype=XLSX[0], subtype=XLSX[1],
                               filename="CMRT_ACME-001.xlsx")
    return message


def envelope_for(message: EmailMessage, recipients: list[str]) -> Envelope:
    return Envelope(SENDER, recipients, message.as_bytes())


def smtp_settings(server: SmtpServer, **changes: object) -> SmtpSettings:
    values: dict[str, object] = {
        "transport": "smtp", "host": server.host, "port": server.port, "security": "starttls",
        "ca_file": Path(server.cafile), "username": SecretStr("bot"),
        "password": SecretStr("botpass"), "timeout_seconds": 5.0,
    }
    values.update(changes)
    return SmtpSettings(**values)  # type: ignore[arg-type]


def transport_for(server: SmtpServer, tmp_path: Path, **changes: object) -> SmtpTransport:
    transport = open_transport(smtp_settings(server, **changes), tmp_path / "outbox")
    assert isinstance(transport, SmtpTransport)
    return transport


def maildir_messages(dovecot: DovecotInstance, login: str) -> list[Message]:
    """What Dovecot wrote into the user's Maildir, read from disk, oldest first."""
    maildir = dovecot.base / "mail" / login / "Maildir"
    files = sorted((p for sub in ("new", "cur") if (maildir / sub).is_dir()
                    for p in (maildir / sub).iterdir()), key=lambda p: p.stat().st_mtime_ns)
    return [email.message_from_bytes(p.read_bytes(), policy=default_policy) for p in files]


def unfolded(value: object) -> str:
    """A header value as one line (long Message-IDs are folded on the wire)."""
    return " ".join(str(value).split())


def bodies(message: Message) -> tuple[str, str]:
    text = message.get_body(preferencelist=("plain",))  # type: ignore[attr-defined]
    html = message.get_body(preferencelist=("html",))  # type: ignore[attr-defined]
    return text.get_content(), html.get_content()


# -- what arrives ---------------------------------------------------------------------------


def test_message_arrives_in_dovecot_maildir_with_headers_and_both_parts(
    smtp_server: SmtpServer, mailboxes: Mailboxes, tmp_path: Path
) -> None:
    sent = survey_message(mailboxes.supplier.address)
    with transport_for(smtp_server, tmp_path).session() as session:
        result = session.send(envelope_for(sent, [mailboxes.supplier.address]))

    assert result.status is DeliveryStatus.SENT, result.detail
    assert result.code == 250 and result.accepted == (mailboxes.supplier.address,)
    assert result.message_id == unfolded(sent["Message-ID"])
    (recorded,) = smtp_server.messages
    assert recorded.tls and recorded.auth_user == "bot" and recorded.mail_from == SENDER
    (arrived,) = maildir_messages(mailboxes.dovecot, mailboxes.supplier.login)
    for header in ("Message-ID", "Subject", "From", "To", "Reply-To", "Auto-Submitted"):
        assert unfolded(arrived[header]) == unfolded(sent[header]), header
    assert arrived["Return-Path"] == f"<{SENDER}>"
    assert arrived["Delivered-To"] == mailboxes.supplier.address
    assert arrived.get_content_type() == "multipart/alternative"
    text, html = bodies(arrived)
    assert text == TEXT_BODY
    assert html.strip() == HTML_BODY


def test_attachment_of_one_and_a_half_megabytes_arrives_intact(
    smtp_server: SmtpServer, mailboxes: Mailboxes, tmp_path: Path
) -> None:
    workbook = os.urandom(1_500_000)
    sent = survey_message(mailboxes.supplier.address, attachment=workbook)
    with transport_for(smtp_server, tmp_path).session() as session:
        result = session.send(envelope_for(sent, [mailboxes.supplier.address]))

    assert result.status is DeliveryStatus.SENT, result.detail
    (arrived,) = maildir_messages(mailboxes.dovecot, mailboxes.supplier.login)
    (attachment,) = list(arrived.iter_attachments())  # type: ignore[attr-defined]
    assert attachment.get_filename() == "CMRT_ACME-001.xlsx"
    assert attachment.get_content_type() == "/".join(XLSX)
    assert attachment.get_content() == workbook
    assert bodies(arrived)[0] == TEXT_BODY


def test_fifty_messages_over_one_connection(
    smtp_server: SmtpServer, mailboxes: Mailboxes, tmp_path: Path
) -> None:
    with transport_for(smtp_server, tmp_path).session() as session:
        results = [
            session.send(envelope_for(survey_message(mailboxes.supplier.address, f"n{n}"),
                                      [mailboxes.supplier.address]))
            for n in range(50)
        ]
        assert session.connections_opened == 1

    assert [r.status for r in results] == [DeliveryStatus.SENT] * 50
    assert [r.reused_connection for r in results] == [False] + [True] * 49
    assert smtp_server.connections == 1
    assert len(smtp_server.replies_to("AUTH")) == 1
    assert len(smtp_server.messages) == 50
    subjects = [m["Subject"] for m in maildir_messages(mailboxes.dovecot, "supplier")]
    assert sorted(subjects) == sorted(f"n{n}" for n in range(50))


# -- TLS ------------------------------------------------------------------------------------


@pytest.fixture
def server_without_starttls(
    dovecot: DovecotInstance, mailboxes: Mailboxes
) -> Iterator[SmtpServer]:
    server = SmtpServer(dovecot, starttls=False, implicit_tls=False)
    server.start()
    try:
        yield server
    finally:
        server.stop()


def test_starttls_required_and_missing_is_a_tls_circuit_failure(
    server_without_starttls: SmtpServer, mailboxes: Mailboxes, tmp_path: Path
) -> None:
    server = server_without_starttls
    message = survey_message(mailboxes.supplier.address)
    with transport_for(server, tmp_path, username=None, password=None).session() as session:
        result = session.send(envelope_for(message, [mailboxes.supplier.address]))

    assert result.status is DeliveryStatus.CIRCUIT and result.opens_circuit
    assert result.reason is FailureReason.TLS and result.stage is Stage.TLS
    assert "does not offer STARTTLS" in result.detail
    assert server.replies_to("MAIL") == [] and server.messages == []  # not a word in clear

    # the same server is usable only when plain text is configured explicitly
    plain = transport_for(server, tmp_path, security="none", username=None, password=None)
    with plain.session() as session:
        assert session.send(envelope_for(message, [mailboxes.supplier.address])).delivered
    assert server.messages[0].tls is False


@pytest.mark.parametrize("security", ["starttls", "tls"])
def test_untrusted_certificate_refused_by_default_and_accepted_with_ca_file(
    smtp_server: SmtpServer, mailboxes: Mailboxes, tmp_path: Path, security: str
) -> None:
    port = smtp_server.port if security == "starttls" else smtp_server.tls_port
    message = survey_message(mailboxes.supplier.address)
    envelope = envelope_for(message, [mailboxes.supplier.address])

    system_cas = transport_for(smtp_server, tmp_path, security=security, port=port,
                               ca_file=None)
    with system_cas.session() as session:
        refused = session.send(envelope)
    assert refused.status is DeliveryStatus.CIRCUIT
    assert refused.reason is FailureReason.TLS
    assert "not trusted" in refused.detail and "smtp.ca_file" in refused.detail
    assert smtp_server.replies_to("AUTH") == [] and smtp_server.messages == []

    with transport_for(smtp_server, tmp_path, security=security, port=port).session() as s:
        accepted = s.send(envelope)
    assert accepted.status is DeliveryStatus.SENT, accepted.detail
    assert smtp_server.messages[0].tls


def test_missing_ca_file_is_a_config_error(smtp_server: SmtpServer, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"smtp\.ca_file"):
        open_transport(smtp_settings(smtp_server, ca_file=tmp_path / "nope.pem"), tmp_path)


# -- refusals -------------------------------------------------------------------------------


@pytest.mark.parametrize("how", ["refused", "wrong password"])
def test_auth_535_opens_the_circuit(
    smtp_server: SmtpServer, mailboxes: Mailboxes, tmp_path: Path, how: str
) -> None:
    password = "botpass"
    if how == "refused":
        smtp_server.faults.refuse_auth = True
    else:
        password = "Not-The-Password-42"
    transport = transport_for(smtp_server, tmp_path, password=SecretStr(password))
    with transport.session() as session:
        result = session.send(envelope_for(survey_message(mailboxes.supplier.address),
                                           [mailboxes.supplier.address]))

    assert result.status is DeliveryStatus.CIRCUIT and result.reason is FailureReason.AUTH
    assert (result.code, result.enhanced_status, result.stage) == (535, "5.7.8", Stage.AUTH)
    assert "refused our login (535 5.7.8" in result.detail
    assert "OUTREACH_SMTP__USERNAME/PASSWORD" in result.detail
    assert password not in repr(result)
    assert smtp_server.messages == []


def test_mail_554_opens_the_circuit_and_the_connection_stays_usable(
    smtp_server: SmtpServer, mailboxes: Mailboxes, tmp_path: Path
) -> None:
    smtp_server.faults.mail_failures = [554]
    envelope = envelope_for(survey_message(mailboxes.supplier.address),
                            [mailboxes.supplier.address])
    with transport_for(smtp_server, tmp_path).session() as session:
        blocked = session.send(envelope)
        after = session.send(envelope)

    assert blocked.status is DeliveryStatus.CIRCUIT and blocked.reason is FailureReason.POLICY
    assert (blocked.code, blocked.enhanced_status, blocked.stage) == (554, "5.7.1", Stage.MAIL)
    assert "refused mail from" in blocked.detail and "paused" in blocked.detail
    assert after.status is DeliveryStatus.SENT
    assert smtp_server.connections == 1


def test_rcpt_550_for_one_of_two_recipients_sends_to_the_other(
    smtp_server: SmtpServer, mailboxes: Mailboxes, tmp_path: Path
) -> None:
    gone = "gone@supplier.test"
    smtp_server.faults.rcpt_refusals = {gone.upper(): 550}
    recipients = [gone, mailboxes.supplier.address]
    with transport_for(smtp_server, tmp_path).session() as session:
        result = session.send(envelope_for(survey_message(recipients), recipients))

    assert result.status is DeliveryStatus.PARTIAL and result.delivered
    assert result.refused == (gone,) and result.deferred == ()
    assert result.accepted == (mailboxes.supplier.address,)
    (refusal,) = [r for r in result.recipients if not r.accepted]
    assert (refusal.code, refusal.enhanced_status) == (550, "5.1.1")
    assert gone in result.detail and "bounced" in result.detail
    assert smtp_server.messages[0].rcpt_tos == (mailboxes.supplier.address,)
    assert len(maildir_messages(mailboxes.dovecot, mailboxes.supplier.login)) == 1


def test_every_recipient_refused_is_a_permanent_failure(
    smtp_server: SmtpServer, mailboxes: Mailboxes, tmp_path: Path
) -> None:
    smtp_server.faults.rcpt_refusals = {"a@supplier.test": 550, "b@supplier.test": 550}
    recipients = ["a@supplier.test", "b@supplier.test"]
    with transport_for(smtp_server, tmp_path).session() as session:
        result = session.send(envelope_for(survey_message(recipients), recipients))
        then = session.send(envelope_for(survey_message(mailboxes.supplier.address),
                                         [mailboxes.supplier.address]))

    assert result.status is DeliveryStatus.PERMANENT and not result.delivered
    assert result.refused == tuple(recipients)
    assert smtp_server.replies_to("DATA")[0].code == 250  # only the second message had DATA
    assert then.status is DeliveryStatus.SENT and smtp_server.connections == 1


def test_rcpt_451_for_the_only_recipient_is_transient(
    smtp_server: SmtpServer, mailboxes: Mailboxes, tmp_path: Path
) -> None:
    smtp_server.faults.rcpt_refusals = {mailboxes.supplier.address: 451}
    with transport_for(smtp_server, tmp_path).session() as session:
        result = session.send(envelope_for(survey_message(mailboxes.supplier.address),
                                           [mailboxes.supplier.address]))
    assert result.status is DeliveryStatus.TRANSIENT and result.retry
    assert result.deferred == (mailboxes.supplier.address,) and result.refused == ()


def test_data_451_is_transient_and_the_retry_succeeds(
    smtp_server: SmtpServer, mailboxes: Mailboxes, tmp_path: Path
) -> None:
    smtp_server.faults.data_failures = [451]
    envelope = envelope_for(survey_message(mailboxes.supplier.address),
                            [mailboxes.supplier.address])
    with transport_for(smtp_server, tmp_path).session() as session:
        deferred = session.send(envelope)
        retried = session.send(envelope)

    assert deferred.status is DeliveryStatus.TRANSIENT and deferred.retry
    assert (deferred.code, deferred.enhanced_status, deferred.stage) == (451, "4.3.0", Stage.DATA)
    assert deferred.reason is FailureReason.TEMPORARY and not deferred.counts_as_connection_error
    assert "will retry" in deferred.detail
    assert retried.status is DeliveryStatus.SENT
    assert smtp_server.connections == 1
    assert len(maildir_messages(mailboxes.dovecot, mailboxes.supplier.login)) == 1


def test_connection_reset_during_data_is_transient_then_reconnects(
    smtp_server: SmtpServer, mailboxes: Mailboxes, tmp_path: Path
) -> None:
    smtp_server.faults.reset_during_data = 1
    envelope = envelope_for(survey_message(mailboxes.supplier.address),
                            [mailboxes.supplier.address])
    with transport_for(smtp_server, tmp_path).session() as session:
        broken = session.send(envelope)
        retried = session.send(envelope)
        assert session.connections_opened == 2

    assert broken.status is DeliveryStatus.TRANSIENT and broken.stage is Stage.DATA
    assert broken.reason is FailureReason.CONNECTION and broken.counts_as_connection_error
    assert broken.maybe_delivered
    assert retried.status is DeliveryStatus.SENT
    assert smtp_server.connections == 2
    assert len(maildir_messages(mailboxes.dovecot, mailboxes.supplier.login)) == 1


def test_stalled_data_times_out_as_transient(
    smtp_server: SmtpServer, mailboxes: Mailboxes, tmp_path: Path
) -> None:
    smtp_server.faults.stall_data_seconds = 3.0
    transport = transport_for(smtp_server, tmp_path, timeout_seconds=0.5)
    started = time.monotonic()
    with transport.session() as session:
        result = session.send(envelope_for(survey_message(mailboxes.supplier.address),
                                           [mailboxes.supplier.address]))
    assert time.monotonic() - started < 2.5
    assert result.status is DeliveryStatus.TRANSIENT and result.reason is FailureReason.TIMEOUT
    assert result.stage is Stage.DATA and result.maybe_delivered
    assert "did not answer within 0.5 s" in result.detail


def test_nothing_listening_is_a_connection_error(
    smtp_server: SmtpServer, mailboxes: Mailboxes, tmp_path: Path
) -> None:
    (port,) = free_loopback_ports(1)
    with transport_for(smtp_server, tmp_path, port=port).session() as session:
        result = session.send(envelope_for(survey_message(mailboxes.supplier.address),
                                           [mailboxes.supplier.address]))
    assert result.status is DeliveryStatus.TRANSIENT and result.counts_as_connection_error
    assert result.stage is Stage.CONNECT and f"127.0.0.1:{port}" in result.detail


@pytest.mark.parametrize("idle_probe_seconds", [30.0, 0.0])
def test_dropped_idle_connection_reconnects_transparently(
    smtp_server: SmtpServer, mailboxes: Mailboxes, tmp_path: Path, idle_probe_seconds: float
) -> None:
    """30 s: the drop is found at MAIL FROM and retried; 0 s: the NOOP probe finds it."""
    transport = open_transport(smtp_settings(smtp_server), tmp_path,
                               idle_probe_seconds=idle_probe_seconds)
    with transport.session() as session:
        first = session.send(envelope_for(survey_message(mailboxes.supplier.address, "one"),
                                          [mailboxes.supplier.address]))
        assert smtp_server.drop_connections() == 1
        second = session.send(envelope_for(survey_message(mailboxes.supplier.address, "two"),
                                           [mailboxes.supplier.address]))
        third = session.send(envelope_for(survey_message(mailboxes.supplier.address, "three"),
                                          [mailboxes.supplier.address]))

    assert [r.status for r in (first, second, third)] == [DeliveryStatus.SENT] * 3
    assert smtp_server.connections == 2
    assert third.reused_connection
    subjects = [m["Subject"] for m in maildir_messages(mailboxes.dovecot, "supplier")]
    assert subjects == ["one", "two", "three"]


def test_a_session_belongs_to_its_thread(smtp_server: SmtpServer, tmp_path: Path) -> None:
    errors: list[BaseException] = []
    envelope = Envelope(SENDER, ["x@supplier.test"], b"Subject: x\r\n\r\nx\r\n")
    with transport_for(smtp_server, tmp_path).session() as session:

        def other_thread() -> None:
            try:
                session.send(envelope)
            except RuntimeError as exc:
                errors.append(exc)

        worker = threading.Thread(target=other_thread)
        worker.start()
        worker.join()
    assert errors and "thread" in str(errors[0])


def test_a_session_cannot_be_opened_inside_an_event_loop(
    smtp_server: SmtpServer, tmp_path: Path
) -> None:
    transport = transport_for(smtp_server, tmp_path)

    async def inside_a_loop() -> None:
        with transport.session():
            pass

    with pytest.raises(RuntimeError, match="synchronous"):
        asyncio.run(inside_a_loop())


def test_log_lines_mask_addresses_and_never_show_the_password(
    smtp_server: SmtpServer, mailboxes: Mailboxes, tmp_path: Path
) -> None:
    stream = io.StringIO()
    configure_logging(LoggingSettings(level="INFO", format="json"), stream)
    smtp_server.faults.rcpt_refusals = {"gone@supplier.test": 550}
    recipients = ["gone@supplier.test", mailboxes.supplier.address]
    with transport_for(smtp_server, tmp_path).session() as session:
        session.send(envelope_for(survey_message(recipients), recipients))
        smtp_server.faults.refuse_auth = True
        smtp_server.drop_connections()
        session.send(envelope_for(survey_message(recipients), recipients))

    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    events = [line["event"] for line in lines]
    assert events == ["mail.sent_partially", "mail.blocked"]
    assert lines[0]["refused"] == ["g***@supplier.test"]
    assert lines[1]["reason"] == "auth" and lines[1]["code"] == 535
    assert "gone@" not in stream.getvalue() and "supplier@" not in stream.getvalue()
    assert "botpass" not in stream.getvalue()


def test_envelope_refuses_addresses_that_could_inject_commands() -> None:
    with pytest.raises(ValueError, match="envelope address"):
        Envelope(SENDER, ["a@b.test>\r\nRCPT TO:<c@d.test"], b"x")
    with pytest.raises(ValueError, match="recipient"):
        Envelope(SENDER, [], b"x")


# -- classification table (pure) ------------------------------------------------------------


@pytest.mark.parametrize(
    ("stage", "code", "text", "status", "reason"),
    [
        (Stage.AUTH, 535, "5.7.8 Authentication credentials invalid", "circuit", "auth"),
        (Stage.AUTH, 454, "4.7.0 Temporary authentication failure", "transient", "temporary"),
        (Stage.MAIL, 530, "5.7.0 Authentication required", "circuit", "auth"),
        (Stage.MAIL, 554, "5.7.1 Message refused by policy", "circuit", "policy"),
        (Stage.DATA, 550, "5.7.1 Spam detected", "circuit", "policy"),
        (Stage.MAIL, 553, "5.1.8 Sender address rejected", "circuit", "policy"),
        (Stage.RCPT, 452, "4.5.3 Too many recipients", "circuit", "rate_limit"),
        (Stage.MAIL, 421, "4.7.0 Rate limit exceeded, try later", "circuit", "rate_limit"),
        (Stage.MAIL, 550, "5.7.0 Daily sending limits exceeded", "circuit", "rate_limit"),
        (Stage.DATA, 550, "5.4.5 Daily user sending quota exceeded", "circuit", "rate_limit"),
        (Stage.RCPT, 550, "5.7.1 Relaying denied", "circuit", "policy"),
        (Stage.RCPT, 550, "5.1.1 User unknown", "permanent", "recipients_refused"),
        (Stage.RCPT, 552, "5.2.2 Mailbox full, over quota", "permanent", "recipients_refused"),
        (Stage.RCPT, 452, "4.2.2 Mailbox over quota", "transient", "temporary"),
        (Stage.MAIL, 552, "5.3.4 Message size exceeds fixed limit", "permanent",
         "message_refused"),
        (Stage.DATA, 550, "5.6.0 Content refused", "permanent", "message_refused"),
        (Stage.DATA, 451, "4.3.0 Temporary failure", "transient", "temporary"),
        (Stage.MAIL, 452, "4.3.1 Insufficient system storage", "transient", "temporary"),
        (Stage.MAIL, 421, "4.3.2 Service shutting down", "transient", "connection"),
        (Stage.CONNECT, 554, "5.7.1 Your IP is on a blocklist", "circuit", "policy"),
    ],
)
def test_classify_reply(stage: Stage, code: int, text: str, status: str, reason: str) -> None:
    assert classify_reply(stage, code, text) == (DeliveryStatus(status), FailureReason(reason))


# -- local transport ------------------------------------------------------------------------


def test_local_transport_writes_parseable_eml_named_after_the_message_id(tmp_path: Path) -> None:
    outbox = tmp_path / "outbox"
    transport = open_transport(SmtpSettings(), outbox)
    assert isinstance(transport, LocalTransport)
    message = survey_message(["a@supplier.test", "b@supplier.test"], attachment=b"PK\x03\x04zip")
    envelope = envelope_for(message, ["a@supplier.test", "b@supplier.test", "cc@company.test"])
    with transport.session() as session:
        result = session.send(envelope)
        again = session.send(envelope)  # a retry replaces the same file

    assert result.status is DeliveryStatus.SENT and again.path == result.path
    (path,) = outbox.glob("*.eml")
    assert str(path) == result.path
    assert path.name == unfolded(message["Message-ID"]).strip("<>") + ".eml"
    assert list((outbox / ".tmp").iterdir()) == []
    parsed = email.message_from_bytes(path.read_bytes(), policy=default_policy)
    assert unfolded(parsed["Message-ID"]) == unfolded(message["Message-ID"])
    assert parsed["Return-Path"] == f"<{SENDER}>"
    assert parsed["X-Envelope-To"] == "a@supplier.test, b@supplier.test, cc@company.test"
    assert bodies(parsed)[0] == TEXT_BODY
    (attachment,) = list(parsed.iter_attachments())  # type: ignore[attr-defined]
    assert attachment.get_content() == b"PK\x03\x04zip"


def test_local_writes_are_atomic_for_a_concurrent_reader(tmp_path: Path) -> None:
    """A reader polling the outbox never sees a partly written file."""
    outbox = tmp_path / "outbox"
    outbox.mkdir()
    envelopes = [
        envelope_for(survey_message("a@supplier.test", f"n{n}", attachment=os.urandom(400_000)),
                     ["a@supplier.test"])
        for n in range(25)
    ]
    expected: dict[str, int] = {}
    for env in envelopes:
        expected[eml_file_name(env.message_id, env.message)] = len(env.message)
    seen_sizes: list[tuple[str, int]] = []
    done = threading.Event()

    def reader() -> None:
        while not done.is_set():
            for path in outbox.glob("*.eml"):
                seen_sizes.append((path.name, path.stat().st_size))

    watcher = threading.Thread(target=reader)
    watcher.start()
    try:
        with LocalTransport(outbox).session() as session:
            results = [session.send(env) for env in envelopes]
    finally:
        done.set()
        watcher.join()

    assert all(r.status is DeliveryStatus.SENT for r in results)
    assert seen_sizes, "the reader saw nothing"
    header_bytes = len(f"Return-Path: <{SENDER}>\nX-Envelope-To: a@supplier.test\n")
    for name, size in seen_sizes:
        assert size == expected[name] + header_bytes, name
    assert len(list(outbox.glob("*.eml"))) == 25


def test_local_maildir_layout_delivers_into_new(tmp_path: Path) -> None:
    maildir = tmp_path / "maildir"
    message = survey_message("a@supplier.test")
    with LocalTransport(maildir, layout="maildir").session() as session:
        first = session.send(envelope_for(message, ["a@supplier.test"]))
        second = session.send(envelope_for(message, ["a@supplier.test"]))
    assert first.path != second.path
    assert sorted(p.name for p in maildir.iterdir()) == ["cur", "new", "tmp"]
    assert list((maildir / "tmp").iterdir()) == []
    assert len(list((maildir / "new").iterdir())) == 2
    box = mailbox.Maildir(maildir, create=False)
    assert [unfolded(m["Message-ID"]) for m in box] == [unfolded(message["Message-ID"])] * 2


def test_local_transport_that_cannot_write_opens_the_circuit(tmp_path: Path) -> None:
    blocker = tmp_path / "outbox"
    blocker.write_text("a file where the outbox folder should be")
    with LocalTransport(blocker).session() as session:
        result = session.send(envelope_for(survey_message("a@supplier.test"),
                                           ["a@supplier.test"]))
    assert result.status is DeliveryStatus.CIRCUIT and result.reason is FailureReason.LOCAL_IO
    assert "data directory" in result.detail


def test_message_file_names_are_safe() -> None:
    assert eml_file_name("<a.b@x.test>", b"") == "a.b@x.test.eml"
    unsafe = eml_file_name("<../../etc/passwd@x>", b"")
    assert "/" not in unsafe and not unsafe.startswith(".")
    assert eml_file_name(None, b"abc").startswith("no-message-id-")
