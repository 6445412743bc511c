"""SMTP delivery with aiosmtplib, driven synchronously (see :mod:`outreach.mail.transport`).

Security (``smtp.security``):

* ``"starttls"`` (default, port 587): the server MUST offer STARTTLS; one that does not is a
  circuit failure (reason ``tls``), never a silent fall-back to plain text.
* ``"tls"``: implicit TLS from the first byte (port 465).
* ``"none"``: plain text, only because the configuration says so (a warning is logged once
  per transport when credentials would cross the network unencrypted).

Certificates are verified against the system CAs, or only against ``smtp.ca_file`` when set;
``verify_tls = false`` turns checking off (logged as a warning). TLS 1.2 is the minimum.
AUTH is done when ``smtp.username`` is set; the password is read from its ``SecretStr`` only
to hand it to aiosmtplib and is never logged.

One transaction per message (MAIL, one RCPT per recipient, DATA) so each recipient's answer
is kept: a 5xx at RCPT for one of two recipients still sends to the other and reports the
refused one; RSET after any refusal leaves the connection ready for the next message.

Reuse: the connection is kept between sends. Before reusing one idle for at least
``idle_probe_seconds`` a NOOP checks it; and when a reused connection turns out to be closed
at MAIL FROM (the first command of a message, so nothing of it was accepted) — disconnect,
timeout or a ``421`` — the session reconnects once and sends the message on the new
connection. A broken connection is never reused.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import threading
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING

import aiosmtplib
import structlog

from outreach.errors import ConfigError
from outreach.mail.delivery_errors import (
    DeliveryStatus,
    FailureReason,
    RecipientOutcome,
    SendResult,
    Stage,
    classify_reply,
    enhanced_status,
    reply_summary,
)
from outreach.settings import SmtpSettings

if TYPE_CHECKING:
    from outreach.mail.transport import Envelope

log = structlog.get_logger(__name__)

QUIT_TIMEOUT_SECONDS = 5.0
PROBE_TIMEOUT_SECONDS = 10.0


def build_tls_context(settings: SmtpSettings) -> ssl.SSLContext:
    """Client context: system CAs, or only ``ca_file``; hostname checked unless verify is off."""
    if settings.ca_file is not None and not settings.ca_file.is_file():
        raise ConfigError(f"smtp.ca_file = {settings.ca_file} does not exist or is not a file: "
                          "name the PEM file of the CA that signed the SMTP server's "
                          "certificate (OUTREACH_SMTP__CA_FILE)")
    try:
        context = ssl.create_default_context(
            cafile=str(settings.ca_file) if settings.ca_file is not None else None)
    except ssl.SSLError as exc:
        raise ConfigError(f"smtp.ca_file = {settings.ca_file} is not a PEM certificate file "
                          f"({exc.reason or exc})") from exc
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    if not settings.verify_tls:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


class _Refused(Exception):
    """Internal: a connection step failed; carries the finished result."""

    def __init__(self, result: SendResult) -> None:
        super().__init__(result.detail)
        self.result = result


def _root_ssl_error(exc: BaseException) -> ssl.SSLError | None:
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, ssl.SSLError):
            return seen
        seen = seen.__cause__ or seen.__context__
    return None


class SmtpTransport:
    """Where and how to connect; immutable, shareable between threads. ``session()`` sends."""

    def __init__(self, settings: SmtpSettings, *, idle_probe_seconds: float = 30.0) -> None:
        self.settings = settings
        self.idle_probe_seconds = idle_probe_seconds
        self.tls_context = build_tls_context(settings) if settings.security != "none" else None
        where = f"{settings.host}:{settings.port}"
        self.description = f"smtp {where} ({settings.security})"
        if not settings.verify_tls and settings.security != "none":
            log.warning("mail.tls_unverified", server=where,
                        detail="smtp.verify_tls = false: the server's certificate is not checked")
        if settings.security == "none" and settings.username is not None:
            log.warning("mail.plaintext_login", server=where,
                        detail="smtp.security = none with credentials: the password crosses "
                               "the network unencrypted")

    @contextlib.contextmanager
    def session(self) -> Iterator[SmtpSession]:
        session = SmtpSession(self)
        try:
            yield session
        finally:
            session.close()


class SmtpSession:
    """One SMTP connection (reopened when needed) and its private event loop; one thread."""

    def __init__(self, transport: SmtpTransport) -> None:
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            pass  # no loop running in this thread: good
        else:
            raise RuntimeError("SmtpSession is synchronous: open it from a worker thread, "
                               "not from inside a running event loop")
        self.transport = transport
        self.settings = transport.settings
        self._thread = threading.get_ident()
        self._loop = asyncio.new_event_loop()
        self._smtp: aiosmtplib.SMTP | None = None
        self._messages_on_connection = 0
        self._last_used = 0.0
        self._stage = Stage.CONNECT
        #: connections opened by this session (1 when every message reused the first)
        self.connections_opened = 0
        self.closed = False

    # -- public -------------------------------------------------------------------------

    def send(self, envelope: Envelope) -> SendResult:
        """Deliver one message; never raises for a delivery outcome (see ``SendResult``)."""
        self._check_usable()
        started = time.monotonic()
        result = self._loop.run_until_complete(self._send(envelope))
        result = _with(result, seconds=time.monotonic() - started)
        self._log(result, envelope)
        return result

    def probe(self) -> SendResult:
        """Connect, TLS, AUTH and NOOP without sending: "would delivery work right now?"."""
        self._check_usable()
        result = self._loop.run_until_complete(self._probe())
        self._log(result, None)
        return result

    def close(self) -> None:
        """QUIT politely (short timeout), close the connection and the loop. Idempotent."""
        if self.closed:
            return
        self.closed = True
        try:
            if self._smtp is not None:
                self._loop.run_until_complete(self._quit())
        finally:
            self._loop.run_until_complete(self._loop.shutdown_asyncgens())
            self._loop.close()

    # -- the steps ----------------------------------------------------------------------

    def _check_usable(self) -> None:
        if self.closed:
            raise RuntimeError("this SMTP session is closed; open a new one")
        if threading.get_ident() != self._thread:
            raise RuntimeError("an SMTP session belongs to the thread that opened it; "
                               "open one session per worker thread")

    @property
    def _where(self) -> str:
        return f"{self.settings.host}:{self.settings.port}"

    async def _probe(self) -> SendResult:
        try:
            smtp = await self._connection()
            self._stage = Stage.MAIL
            response = await smtp.noop()
        except _Refused as refused:
            return refused.result
        except Exception as exc:
            return self._exception_result(exc, None, reused=False)
        return SendResult(status=DeliveryStatus.SENT, code=response.code,
                          detail=f"{self.transport.description}: connected and ready",
                          reply=response.message)

    async def _send(self, envelope: Envelope) -> SendResult:
        reused = self._smtp is not None and self._smtp.is_connected
        if reused and time.monotonic() - self._last_used >= self.transport.idle_probe_seconds:
            reused = await self._still_alive()
        try:
            smtp = await self._connection()
        except _Refused as refused:
            return _with(refused.result, message_id=envelope.message_id)
        except Exception as exc:
            return self._exception_result(exc, envelope, reused=False)
        try:
            result = await self._transaction(smtp, envelope)
        except Exception as exc:
            if not (reused and self._stage is Stage.MAIL):
                return self._exception_result(exc, envelope, reused=reused)
            # The server closed the idle connection under us: reconnect once, transparently.
            log.debug("mail.reconnecting", server=self._where, error=type(exc).__name__)
            self._discard()
            return await self._send_fresh(envelope)
        if reused and result.stage is Stage.MAIL and result.code == 421:
            log.debug("mail.reconnecting", server=self._where, reply=result.reply)
            self._discard()
            return await self._send_fresh(envelope)
        return _with(result, reused_connection=reused)

    async def _send_fresh(self, envelope: Envelope) -> SendResult:
        try:
            smtp = await self._connection()
            return await self._transaction(smtp, envelope)
        except _Refused as refused:
            return _with(refused.result, message_id=envelope.message_id)
        except Exception as exc:
            return self._exception_result(exc, envelope, reused=False)

    async def _still_alive(self) -> bool:
        assert self._smtp is not None
        try:
            response = await self._smtp.noop(timeout=min(PROBE_TIMEOUT_SECONDS,
                                                         self.settings.timeout_seconds))
        except Exception:
            self._discard()
            return False
        if response.code != 250:
            self._discard()
            return False
        return True

    async def _connection(self) -> aiosmtplib.SMTP:
        if self._smtp is not None and self._smtp.is_connected:
            return self._smtp
        self._discard()
        s = self.settings
        smtp = aiosmtplib.SMTP(
            hostname=s.host,
            port=s.port,
            use_tls=s.security == "tls",
            start_tls=False,  # done below, so a missing STARTTLS is ours to refuse
            tls_context=self.transport.tls_context,
            timeout=s.timeout_seconds,
        )
        self._stage = Stage.TLS if s.security == "tls" else Stage.CONNECT
        try:
            await smtp.connect()
            self.connections_opened += 1
            self._stage = Stage.CONNECT
            await smtp.ehlo()
            if s.security == "starttls":
                self._stage = Stage.TLS
                if not smtp.supports_extension("starttls"):
                    raise _Refused(self._starttls_missing())
                await smtp.starttls()
                await smtp.ehlo()
            if s.username is not None:
                self._stage = Stage.AUTH
                await self._login(smtp)
        except BaseException:
            smtp.close()
            raise
        self._smtp = smtp
        self._messages_on_connection = 0
        self._last_used = time.monotonic()
        return smtp

    async def _login(self, smtp: aiosmtplib.SMTP) -> None:
        s = self.settings
        assert s.username is not None
        if not smtp.supports_extension("auth"):
            raise _Refused(SendResult(
                status=DeliveryStatus.CIRCUIT, reason=FailureReason.AUTH, stage=Stage.AUTH,
                detail=(f"the SMTP server {self._where} does not offer AUTH on this connection, "
                        "but OUTREACH_SMTP__USERNAME is set: check smtp.security and smtp.port "
                        "(most servers offer AUTH only after STARTTLS or on port 465)")))
        password = s.password.get_secret_value() if s.password is not None else ""
        try:
            await smtp.login(s.username.get_secret_value(), password)
        except aiosmtplib.SMTPAuthenticationError as exc:
            raise _Refused(self._reply_result(Stage.AUTH, exc.code, exc.message)) from None

    async def _transaction(self, smtp: aiosmtplib.SMTP, envelope: Envelope) -> SendResult:
        self._stage = Stage.MAIL
        try:
            await smtp.mail(envelope.sender, options=self._mail_options(smtp, envelope))
        except aiosmtplib.SMTPSenderRefused as exc:
            await self._rset(smtp)
            return self._reply_result(Stage.MAIL, exc.code, exc.message, envelope)
        self._stage = Stage.RCPT
        outcomes: list[RecipientOutcome] = []
        for address in envelope.recipients:
            try:
                response = await smtp.rcpt(address)
            except aiosmtplib.SMTPRecipientRefused as exc:
                outcomes.append(RecipientOutcome(address, accepted=False, code=exc.code,
                                                 enhanced_status=enhanced_status(exc.message),
                                                 reply=exc.message))
                status, _ = classify_reply(Stage.RCPT, exc.code, exc.message)
                if status is DeliveryStatus.CIRCUIT or exc.code == 421:
                    await self._rset(smtp)
                    return self._reply_result(Stage.RCPT, exc.code, exc.message, envelope,
                                              tuple(outcomes))
                continue
            outcomes.append(RecipientOutcome(address, accepted=True, code=response.code,
                                             reply=response.message))
        if not any(o.accepted for o in outcomes):
            await self._rset(smtp)
            return self._all_refused(envelope, tuple(outcomes))
        self._stage = Stage.DATA
        try:
            response = await smtp.data(envelope.message)
        except aiosmtplib.SMTPDataError as exc:
            await self._rset(smtp)
            return self._reply_result(Stage.DATA, exc.code, exc.message, envelope,
                                      tuple(outcomes))
        self._messages_on_connection += 1
        self._last_used = time.monotonic()
        return self._delivered(envelope, tuple(outcomes), response.code, response.message)

    @staticmethod
    def _mail_options(smtp: aiosmtplib.SMTP, envelope: Envelope) -> list[str]:
        options: list[str] = []
        if smtp.supports_extension("size"):
            options.append(f"SIZE={len(envelope.message)}")
        if smtp.supports_extension("8bitmime") and not envelope.message.isascii():
            options.append("BODY=8BITMIME")
        return options

    async def _rset(self, smtp: aiosmtplib.SMTP) -> None:
        if not smtp.is_connected:
            return
        try:
            await smtp.rset()
        except Exception:
            self._discard()

    async def _quit(self) -> None:
        smtp, self._smtp = self._smtp, None
        if smtp is None:
            return
        if smtp.is_connected:
            with contextlib.suppress(Exception):
                await smtp.quit(timeout=QUIT_TIMEOUT_SECONDS)
        smtp.close()

    def _discard(self) -> None:
        smtp, self._smtp = self._smtp, None
        if smtp is not None:
            smtp.close()

    # -- results ------------------------------------------------------------------------

    def _delivered(self, envelope: Envelope, outcomes: tuple[RecipientOutcome, ...],
                   code: int, reply: str) -> SendResult:
        refused = [o for o in outcomes if not o.accepted]
        accepted = len(outcomes) - len(refused)
        if not refused:
            return SendResult(status=DeliveryStatus.SENT, stage=Stage.DATA, code=code,
                              enhanced_status=enhanced_status(reply), reply=reply,
                              recipients=outcomes, message_id=envelope.message_id,
                              detail=f"accepted for {accepted} recipient(s) by {self._where}")
        listed = "; ".join(
            f"{o.address}: {reply_summary(o.code, o.enhanced_status, o.reply)}" for o in refused)
        return SendResult(
            status=DeliveryStatus.PARTIAL, reason=FailureReason.RECIPIENTS_REFUSED,
            stage=Stage.RCPT, code=code, enhanced_status=enhanced_status(reply), reply=reply,
            recipients=outcomes, message_id=envelope.message_id,
            detail=(f"sent to {accepted} of {len(outcomes)} recipients; refused: {listed}. "
                    "Mark the permanently refused (5xx) contacts bounced and check their "
                    "addresses with the supplier"))

    def _all_refused(self, envelope: Envelope,
                     outcomes: tuple[RecipientOutcome, ...]) -> SendResult:
        permanent = all(o.permanent for o in outcomes)
        first = next((o for o in outcomes if o.permanent == permanent), outcomes[0])
        listed = "; ".join(
            f"{o.address}: {reply_summary(o.code, o.enhanced_status, o.reply)}"
            for o in outcomes)
        if permanent:
            detail = (f"every recipient was refused ({listed}): the message was not sent; "
                      "mark these contacts bounced and ask the supplier for a working address")
        else:
            detail = f"no recipient accepted for now ({listed}): will retry later"
        return SendResult(
            status=DeliveryStatus.PERMANENT if permanent else DeliveryStatus.TRANSIENT,
            reason=FailureReason.RECIPIENTS_REFUSED if permanent else FailureReason.TEMPORARY,
            stage=Stage.RCPT, code=first.code, enhanced_status=first.enhanced_status,
            reply=first.reply, recipients=outcomes, message_id=envelope.message_id,
            detail=detail)

    def _reply_result(self, stage: Stage, code: int, text: str, envelope: Envelope | None = None,
                      outcomes: tuple[RecipientOutcome, ...] = ()) -> SendResult:
        status, reason = classify_reply(stage, code, text)
        enhanced = enhanced_status(text)
        said = reply_summary(code, enhanced, text)
        where = f"the SMTP server {self._where}"
        sender = envelope.sender if envelope is not None else "our sender address"
        if reason is FailureReason.AUTH and stage is Stage.AUTH:
            detail = (f"{where} refused our login ({said}): check OUTREACH_SMTP__USERNAME/"
                      "PASSWORD (or their *_FILE secrets); delivery is paused until fixed")
        elif reason is FailureReason.AUTH:
            detail = (f"{where} requires a login ({said}): set OUTREACH_SMTP__USERNAME and "
                      "OUTREACH_SMTP__PASSWORD; delivery is paused until fixed")
        elif reason is FailureReason.RATE_LIMIT:
            detail = (f"{where} says our account is over a sending limit at {stage} ({said}): "
                      "delivery is paused; resume later, and lower the per-minute/per-day "
                      "limits to what the provider allows")
        elif reason is FailureReason.POLICY and stage is Stage.MAIL:
            detail = (f"{where} refused mail from {sender} ({said}): delivery is paused; "
                      "check mail.from_address is allowed to send through this account and "
                      "ask the mail administrator")
        elif reason is FailureReason.POLICY:
            detail = (f"{where} blocked the message by policy at {stage} ({said}): delivery "
                      "is paused; ask the mail administrator why (spam filter, blocklist, "
                      "relay not allowed)")
        elif reason is FailureReason.MESSAGE_REFUSED:
            detail = (f"{where} refused this message at {stage} ({said}): it will not be sent "
                      "as it is (too big or refused content); it needs a person")
        elif status is DeliveryStatus.TRANSIENT:
            detail = f"{where} answered {said} at {stage}: temporary, will retry later"
        else:
            detail = f"{where} refused at {stage} ({said})"
        return SendResult(status=status, reason=reason, stage=stage, code=code,
                          enhanced_status=enhanced, reply=text, recipients=outcomes,
                          message_id=envelope.message_id if envelope is not None else None,
                          detail=detail)

    def _starttls_missing(self) -> SendResult:
        return SendResult(
            status=DeliveryStatus.CIRCUIT, reason=FailureReason.TLS, stage=Stage.TLS,
            detail=(f"the SMTP server {self._where} does not offer STARTTLS and "
                    "smtp.security = starttls requires it: outreach never falls back to plain "
                    "text. Use the server's submission port with STARTTLS, or "
                    "smtp.security = \"tls\" for implicit TLS (port 465); only for a trusted "
                    "local relay set smtp.security = \"none\""))

    def _exception_result(self, exc: BaseException, envelope: Envelope | None, *,
                          reused: bool) -> SendResult:
        """Connection-level trouble (no SMTP reply to classify), after which we reconnect."""
        stage = self._stage
        self._discard()
        message_id = envelope.message_id if envelope is not None else None
        maybe_delivered = stage is Stage.DATA
        where = self._where
        ssl_error = _root_ssl_error(exc)
        if ssl_error is not None:
            if isinstance(ssl_error, ssl.SSLCertVerificationError):
                why = ssl_error.verify_message or str(ssl_error)
                detail = (f"the TLS certificate of the SMTP server {where} is not trusted "
                          f"({why}): delivery is paused; set smtp.ca_file "
                          "(OUTREACH_SMTP__CA_FILE) to the CA that signed it, or fix the "
                          "server's certificate")
            else:
                why = ssl_error.reason or str(ssl_error)
                detail = (f"TLS with the SMTP server {where} failed ({why}): delivery is "
                          "paused; check smtp.security and smtp.port (465 = \"tls\", "
                          "587 = \"starttls\")")
            return SendResult(status=DeliveryStatus.CIRCUIT, reason=FailureReason.TLS,
                              stage=Stage.TLS, detail=detail, message_id=message_id,
                              reply=str(ssl_error), reused_connection=reused)
        if isinstance(exc, aiosmtplib.SMTPResponseException):
            # e.g. a 554 greeting (our IP is blocked) or a refused EHLO
            return self._reply_result(stage, exc.code, exc.message, envelope)
        if isinstance(exc, aiosmtplib.SMTPTimeoutError | TimeoutError):
            detail = (f"the SMTP server {where} did not answer within "
                      f"{self.settings.timeout_seconds:g} s at {stage}: will retry later"
                      + ("; it may have accepted the message already" if maybe_delivered
                         else ""))
            reason = FailureReason.TIMEOUT
        elif isinstance(exc, aiosmtplib.SMTPConnectError):
            detail = (f"could not connect to the SMTP server {where} ({_describe(exc)}): "
                      "will retry later; check smtp.host/smtp.port and that the server is up")
            reason = FailureReason.CONNECTION
        elif isinstance(exc, aiosmtplib.SMTPException | OSError):
            detail = (f"the connection to the SMTP server {where} broke at {stage} "
                      f"({_describe(exc)}): will retry later"
                      + ("; it may have accepted the message already" if maybe_delivered
                         else ""))
            reason = FailureReason.CONNECTION
        else:
            raise exc
        return SendResult(status=DeliveryStatus.TRANSIENT, reason=reason, stage=stage,
                          detail=detail, message_id=message_id, reply=_describe(exc),
                          maybe_delivered=maybe_delivered, reused_connection=reused)

    # -- logging ------------------------------------------------------------------------

    def _log(self, result: SendResult, envelope: Envelope | None) -> None:
        fields: dict[str, object] = {
            "transport": "smtp", "server": self._where, "message_id": result.message_id,
            "status": str(result.status), "seconds": round(result.seconds, 4),
        }
        if result.code is not None:
            fields["code"] = result.code
        if result.enhanced_status:
            fields["enhanced_status"] = result.enhanced_status
        if result.reason is not None:
            fields["reason"] = str(result.reason)
            fields["stage"] = str(result.stage)
            fields["detail"] = result.detail
        if envelope is not None:
            fields["recipients"] = list(result.accepted)
        if result.refused or result.deferred:
            fields["refused"] = list(result.refused)
            fields["deferred"] = list(result.deferred)
        if result.maybe_delivered:
            fields["maybe_delivered"] = True
        if envelope is None:
            event = "mail.probe_ok" if result.delivered else "mail.probe_failed"
        else:
            event = {
                DeliveryStatus.SENT: "mail.sent",
                DeliveryStatus.PARTIAL: "mail.sent_partially",
                DeliveryStatus.TRANSIENT: "mail.deferred",
                DeliveryStatus.PERMANENT: "mail.failed",
                DeliveryStatus.CIRCUIT: "mail.blocked",
            }[result.status]
        if result.status is DeliveryStatus.CIRCUIT:
            log.error(event, **fields)
        elif result.delivered and result.status is DeliveryStatus.SENT:
            log.info(event, **fields)
        else:
            log.warning(event, **fields)


def _describe(exc: BaseException) -> str:
    text = str(exc).strip()
    cause = exc.__cause__
    if cause is not None and str(cause).strip() and str(cause).strip() not in text:
        text = f"{text}: {str(cause).strip()}" if text else str(cause).strip()
    return text or type(exc).__name__


def _with(result: SendResult, **changes: object) -> SendResult:
    from dataclasses import replace

    return replace(result, **changes)  # type: ignore[arg-type]
