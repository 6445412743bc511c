"""An in-process SMTP server (aiosmtpd) that delivers into a private Dovecot over LMTP.

Why: the service sends through SMTP and later reads replies over IMAP; with this server the
whole path is real (STARTTLS, AUTH, Dovecot writing the Maildir) while tests keep control of
what the SMTP side answers.

Listeners (both on 127.0.0.1, same certificate as Dovecot, so clients verify with
``cafile=dovecot.cafile``):

- ``server.port``: plain SMTP offering STARTTLS; AUTH PLAIN/LOGIN only after STARTTLS.
- ``server.tls_port``: implicit TLS (SMTPS), AUTH allowed at once (``implicit_tls=True``, the
  default; ``None`` when turned off).

AUTH is checked against the Dovecot users table (``bot`` / ``bot@outreach.test`` are the same
login). With ``auth_required=False`` (default) unauthenticated mail is accepted too; each
recorded message says who logged in (``auth_user``), so a test can assert the service did.

Delivery: recipients that are Dovecot users get the message over LMTP before ``250`` is sent,
so once the client's ``send`` returns, the mail is in the Maildir. Other recipients (e.g.
``acme@supplier.example``) are accepted and only recorded, as a relay to the outside world
would. When Dovecot is down (or refuses), DATA answers ``451 4.3.0`` like a real MTA.

Recorded (cleared by ``reset()``):

- ``server.messages``: one ``ReceivedMessage(mail_from, rcpt_tos, data, auth_user, tls)`` per
  accepted message, in order.
- ``server.replies``: one ``SmtpReply(command, argument, code)`` per MAIL, RCPT, DATA and AUTH,
  including refusals (code 0 = connection reset), e.g. to count how often the service retried.
- ``server.connections``: how many client connections were opened (a STARTTLS upgrade is
  not a new one), e.g. to prove a sender reused one connection for many messages.

``server.drop_connections()`` closes every open client connection, as a server does with
idle ones; ``SmtpServer(dovecot, starttls=False)`` is a server that does not offer STARTTLS.

Fault injection: set attributes on ``server.faults`` (an ``SmtpFaults``) in the test; the
fixture resets them before each test. Lists are consumed one entry per command, so
``[451, 451]`` means "fail twice, then behave".

================================  ==========================================================
``faults.mail_failures = [554]``  next MAIL FROM(s) answered 554 5.7.1 (policy block) or any
                                  code given
``faults.rcpt_refusals``          ``{"x@y": 550}``: RCPT for that address (case-insensitive)
                                  answered 550 5.1.1 or 451 4.2.0, every time
``faults.data_failures = [451]``  next DATA(s) answered with these codes, message not kept
``faults.reset_during_data = 1``  next N DATA: the connection is reset (RST) instead of a reply
``faults.stall_data_seconds``     every DATA waits this long before answering
``faults.refuse_auth = True``     every AUTH answered 535 5.7.8, even with a good password
================================  ==========================================================

Any 421 code given above (``mail_failures = [421]``, ``data_failures = [421]``,
``rcpt_refusals = {"x@y": 421}``) also closes the connection after the reply, as RFC 5321
says and as aiosmtpd does not do by itself.

How each surfaces in aiosmtplib: 451/421 at DATA -> ``SMTPDataError``/disconnect; RCPT
refusals -> ``SMTPRecipientsRefused``; 554 or 421 at MAIL -> ``SMTPSenderRefused``;
reset -> ``SMTPServerDisconnected``; stall -> ``SMTPReadTimeoutError`` (client timeout shorter
than the stall); 535 -> ``SMTPAuthenticationError``; Dovecot down -> ``SMTPDataError(451)``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import smtplib
import socket
import ssl
import struct
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

from tests.support.dovecot import HOST, DovecotInstance, free_loopback_ports

DATA_SIZE_LIMIT = 64 * 1024 * 1024
SERVER_HOSTNAME = "localhost"
START_ATTEMPTS = 3

REPLY_TEXT: dict[int, str] = {
    421: "421 4.3.2 Service shutting down, closing channel",
    450: "450 4.2.1 Mailbox temporarily unavailable",
    451: "451 4.3.0 Temporary failure, try again later",
    452: "452 4.3.1 Insufficient system storage",
    550: "550 5.1.1 Recipient address rejected: user unknown",
    552: "552 5.3.4 Message too big",
    553: "553 5.1.3 Bad address syntax",
    554: "554 5.7.1 Message refused by policy",
}
RCPT_REPLY_TEXT: dict[int, str] = {
    451: "451 4.2.0 Recipient temporarily unavailable, try again later",
}
DOVECOT_DOWN_REPLY = "451 4.3.0 Local mail store unavailable, try again later"
AUTH_FAILED_REPLY = "535 5.7.8 Authentication credentials invalid"


def reply_for(code: int, texts: dict[int, str] | None = None) -> str:
    """Full reply line for a bare code (``550`` -> ``550 5.1.1 ...``)."""
    if texts and code in texts:
        return texts[code]
    return REPLY_TEXT.get(code, f"{code} Injected failure")


def reply_code(reply: str) -> int:
    return int(reply[:3])


@dataclass
class SmtpFaults:
    """What the server should get wrong; see the module docstring for the table."""

    mail_failures: list[int] = field(default_factory=list)
    rcpt_refusals: dict[str, int] = field(default_factory=dict)
    data_failures: list[int] = field(default_factory=list)
    reset_during_data: int = 0
    stall_data_seconds: float = 0.0
    refuse_auth: bool = False

    def take_mail_failure(self) -> int | None:
        return self.mail_failures.pop(0) if self.mail_failures else None

    def take_data_failure(self) -> int | None:
        return self.data_failures.pop(0) if self.data_failures else None

    def take_reset(self) -> bool:
        if self.reset_during_data > 0:
            self.reset_during_data -= 1
            return True
        return False

    def rcpt_refusal(self, address: str) -> int | None:
        wanted = address.lower()
        for refused, code in self.rcpt_refusals.items():
            if refused.lower() == wanted:
                return code
        return None


@dataclass(frozen=True)
class ReceivedMessage:
    """One message the server accepted (answered 250 to DATA)."""

    mail_from: str
    rcpt_tos: tuple[str, ...]
    data: bytes
    auth_user: str | None
    tls: bool


@dataclass(frozen=True)
class SmtpReply:
    """What the server answered to one command, refusals included."""

    command: str
    argument: str
    code: int


class _Handler:
    """aiosmtpd hooks: apply faults, record, deliver to Dovecot over LMTP."""

    def __init__(self, server: SmtpServer) -> None:
        self.server = server

    async def handle_MAIL(
        self, smtp: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        code = self.server.faults.take_mail_failure()
        if code is not None:
            return self.server.refuse(smtp, "MAIL", address, reply_for(code))
        envelope.mail_from = address
        envelope.mail_options.extend(options)
        self.server.record_reply("MAIL", address, 250)
        return "250 2.1.0 OK"

    async def handle_RCPT(
        self, smtp: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        code = self.server.faults.rcpt_refusal(address)
        if code is not None:
            return self.server.refuse(smtp, "RCPT", address, reply_for(code, RCPT_REPLY_TEXT))
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(options)
        self.server.record_reply("RCPT", address, 250)
        return "250 2.1.5 OK"

    async def handle_DATA(self, smtp: SMTP, session: Session, envelope: Envelope) -> str:
        generation = self.server.generation
        faults = self.server.faults
        if faults.stall_data_seconds > 0:
            await asyncio.sleep(faults.stall_data_seconds)
        if generation != self.server.generation:
            # The test that set the stall is over; never deliver into the next test's mailboxes.
            return reply_for(451)
        if faults.take_reset():
            self.server.record_reply("DATA", "", 0)
            reset_connection(smtp)
            return reply_for(451)
        code = faults.take_data_failure()
        if code is not None:
            return self.server.refuse(smtp, "DATA", "", reply_for(code))
        reply = await self.server.deliver(envelope)
        if reply_code(reply) != 250:
            return self.server.refuse(smtp, "DATA", "", reply)
        self.server.record_message(envelope, session, tls=smtp_is_tls(smtp))
        self.server.record_reply("DATA", "", 250)
        return reply


def smtp_is_tls(smtp: SMTP) -> bool:
    """STARTTLS done, or the listener itself is TLS (implicit TLS)."""
    transport = smtp.transport
    return smtp._tls_protocol is not None or (
        transport is not None and transport.get_extra_info("sslcontext") is not None
    )


def reset_connection(smtp: SMTP) -> None:
    """Send a TCP RST (SO_LINGER 0, then abort), like a crashed or firewalled server."""
    transport = smtp._original_transport or smtp.transport
    if transport is None:
        return
    sock = transport.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    transport.abort()


def close_after_reply(smtp: SMTP) -> None:
    """Hang up once the pending reply is written (aiosmtpd does not after a 421)."""
    transport = smtp.transport
    if transport is not None:
        smtp.loop.call_soon(transport.close)


class _CountingSMTP(SMTP):
    """aiosmtpd's SMTP, telling the server when a client connects and goes."""

    def __init__(self, server: SmtpServer, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._outreach_server = server

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        first = self._original_transport is None  # not the STARTTLS re-entry
        super().connection_made(transport)
        if first:
            self._outreach_server.connection_opened(self)

    def connection_lost(self, error: Exception | None) -> None:
        self._outreach_server.connection_closed(self)
        super().connection_lost(error)


class _CountingController(Controller):
    def __init__(self, server: SmtpServer, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._outreach_server = server

    def factory(self) -> SMTP:
        return _CountingSMTP(self._outreach_server, self.handler, **self.SMTP_kwargs)


class _DropLoginDataDeprecation(logging.Filter):
    """aiosmtpd warns about its own legacy ``login_data`` on every AUTH: noise in test logs."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "login_data is deprecated" not in record.getMessage()


_AIOSMTPD_LOG = logging.getLogger("mail.log")
if not any(isinstance(f, _DropLoginDataDeprecation) for f in _AIOSMTPD_LOG.filters):
    _AIOSMTPD_LOG.addFilter(_DropLoginDataDeprecation())


def server_ssl_context(dovecot: DovecotInstance) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(str(dovecot.cafile), str(dovecot.keyfile))
    return context


def lmtp_deliver(dovecot: DovecotInstance, envelope: Envelope, recipients: list[str]) -> str:
    """Blocking LMTP hand-off; returns the SMTP reply to give the client."""
    content = envelope.original_content or b""
    try:
        with smtplib.LMTP(str(dovecot.lmtp_socket), timeout=30) as lmtp:
            lmtp.ehlo(SERVER_HOSTNAME)
            options = [o for o in envelope.mail_options if lmtp.has_extn(o.split("=")[0])]
            # one transaction per recipient: LMTP answers DATA once per recipient, and
            # smtplib's sendmail reads only one reply
            for recipient in recipients:
                if lmtp.sendmail(envelope.mail_from or "", [recipient], content, options):
                    return DOVECOT_DOWN_REPLY
    except (OSError, smtplib.SMTPException):
        return DOVECOT_DOWN_REPLY
    return "250 2.0.0 OK: delivered"


class SmtpServer:
    """aiosmtpd Controllers (STARTTLS and implicit TLS) sharing one handler, faults and log."""

    def __init__(
        self,
        dovecot: DovecotInstance,
        *,
        implicit_tls: bool = True,
        auth_required: bool = False,
        starttls: bool = True,
    ) -> None:
        self.dovecot = dovecot
        self.implicit_tls = implicit_tls
        self.starttls = starttls
        self.connections = 0
        self._open: set[_CountingSMTP] = set()
        self.auth_required = auth_required
        self.faults = SmtpFaults()
        self.messages: list[ReceivedMessage] = []
        self.replies: list[SmtpReply] = []
        self.generation = 0
        self._lock = threading.Lock()
        self._handler = _Handler(self)
        self._controllers: list[Controller] = []
        self.port = 0
        self.tls_port: int | None = None

    # -- lifecycle ----------------------------------------------------------------------

    @property
    def host(self) -> str:
        return HOST

    @property
    def cafile(self) -> str:
        return str(self.dovecot.cafile)

    def start(self) -> None:
        """Start the listeners on ports found free by binding first (a busy port costs 5 s)."""
        tls_context = server_ssl_context(self.dovecot)
        starttls_context = tls_context if self.starttls else None
        self._controllers.append(self._start_controller(tls_context=starttls_context))
        self.port = self._controllers[0].port
        if self.implicit_tls:
            self._controllers.append(self._start_controller(ssl_context=tls_context))
            self.tls_port = self._controllers[1].port

    def _start_controller(self, **tls: Any) -> Controller:
        implicit = "ssl_context" in tls
        for attempt in range(START_ATTEMPTS):
            (port,) = free_loopback_ports(1)
            controller = _CountingController(
                self,
                self._handler,
                hostname=HOST,
                port=port,
                server_hostname=SERVER_HOSTNAME,
                data_size_limit=DATA_SIZE_LIMIT,
                authenticator=self._authenticate,
                auth_required=self.auth_required,
                auth_require_tls=not implicit,
                ready_timeout=5.0,
                **tls,
            )
            try:
                controller.start()
            except OSError:
                if attempt == START_ATTEMPTS - 1:
                    raise
                continue
            return controller
        raise AssertionError("unreachable")

    def stop(self) -> None:
        for controller in self._controllers:
            with contextlib.suppress(Exception):
                controller.stop()
        self._controllers.clear()

    def reset(self) -> None:
        """Forget recorded traffic and clear every fault (called before each test)."""
        with self._lock:
            self.generation += 1
            self.faults = SmtpFaults()
            self.messages.clear()
            self.replies.clear()
            self.connections = 0

    # -- what tests read ----------------------------------------------------------------

    def wait_for_messages(self, count: int, timeout: float = 5.0) -> list[ReceivedMessage]:
        """Block until at least ``count`` messages were accepted (for background senders)."""
        deadline = time.monotonic() + timeout
        while len(self.messages) < count:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{len(self.messages)} of {count} messages after {timeout}s")
            time.sleep(0.01)
        return list(self.messages)

    def drop_connections(self, timeout: float = 5.0) -> int:
        """Close every open client connection (FIN), as a server drops idle clients."""
        with self._lock:
            open_now = list(self._open)
        for smtp in open_now:
            transport = smtp._original_transport or smtp.transport
            if transport is not None:
                smtp.loop.call_soon_threadsafe(transport.close)
        deadline = time.monotonic() + timeout
        while any(smtp in self._open for smtp in open_now):
            if time.monotonic() > deadline:
                raise TimeoutError("connections still open after drop_connections()")
            time.sleep(0.005)
        return len(open_now)

    def replies_to(self, command: str) -> list[SmtpReply]:
        return [reply for reply in self.replies if reply.command == command]

    # -- used by the handler ------------------------------------------------------------

    def _authenticate(
        self,
        smtp: SMTP,
        session: Session,
        envelope: Envelope,
        mechanism: str,
        auth_data: Any,
    ) -> AuthResult:
        login = ""
        ok = False
        if isinstance(auth_data, LoginPassword):
            login = auth_data.login.decode("utf-8", "replace")
            password = auth_data.password.decode("utf-8", "replace")
            ok = not self.faults.refuse_auth and self.dovecot.check_password(login, password)
        self.record_reply("AUTH", login, 235 if ok else 535)
        if not ok:
            return AuthResult(success=False, handled=False, message=AUTH_FAILED_REPLY)
        # auth_data must be returned, or aiosmtpd does not record who logged in.
        return AuthResult(success=True, auth_data=auth_data)

    async def deliver(self, envelope: Envelope) -> str:
        """LMTP to Dovecot for its users, off the event loop; others are only recorded."""
        local = [rcpt for rcpt in envelope.rcpt_tos if self.dovecot.has_user(rcpt)]
        if not local:
            return "250 2.0.0 OK: queued"
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(None, lmtp_deliver, self.dovecot, envelope, local)

    def refuse(self, smtp: SMTP, command: str, argument: str, reply: str) -> str:
        code = reply_code(reply)
        self.record_reply(command, argument, code)
        if code == 421:
            close_after_reply(smtp)
        return reply

    def connection_opened(self, smtp: _CountingSMTP) -> None:
        with self._lock:
            self.connections += 1
            self._open.add(smtp)

    def connection_closed(self, smtp: _CountingSMTP) -> None:
        with self._lock:
            self._open.discard(smtp)

    def record_reply(self, command: str, argument: str, code: int) -> None:
        with self._lock:
            self.replies.append(SmtpReply(command, argument, code))

    def record_message(self, envelope: Envelope, session: Session, *, tls: bool) -> None:
        auth = session.auth_data
        auth_user = (
            auth.login.decode("utf-8", "replace") if isinstance(auth, LoginPassword) else None
        )
        message = ReceivedMessage(
            mail_from=envelope.mail_from or "",
            rcpt_tos=tuple(envelope.rcpt_tos),
            data=envelope.original_content or b"",
            auth_user=auth_user,
            tls=tls,
        )
        with self._lock:
            self.messages.append(message)
