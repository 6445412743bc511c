"""Delivery transports: hand rendered messages to an SMTP server or to a local folder.

The outbox's worker threads call this synchronous API; nothing here touches the database::

    transport = open_transport(settings.smtp, settings.outbox_dir)
    with transport.session() as session:          # one connection, reused
        for row in claimed_rows:
            result = session.send(Envelope(sender, recipients, message_bytes))
            ...                                    # act on result.status (SendResult)

Concurrency model: a session belongs to the thread that opened it. An SMTP session owns a
private asyncio event loop, created when the session opens and closed with it, and drives
aiosmtplib on it with ``loop.run_until_complete`` in the calling thread, one command at a
time; between sends nothing runs. So N worker threads = N sessions = N connections, with no
shared state but the (immutable) :class:`Transport`. Opening a session in a thread that is
already running an event loop is refused (``RuntimeError``). ``send`` never raises for a
delivery outcome: connection, TLS, login and server refusals all come back as a
:class:`SendResult` (see :mod:`outreach.mail.delivery_errors` for the classes); it raises
only for a programming error (e.g. an envelope without recipients).

Connections are opened lazily by the first ``send``, reused for the following ones, and
reopened transparently when the server dropped an idle connection (see
:class:`~outreach.mail.smtp_transport.SmtpSession`).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from email.parser import BytesHeaderParser
from email.policy import compat32
from pathlib import Path
from typing import Protocol

from outreach.mail.delivery_errors import (
    DeliveryStatus,
    FailureReason,
    RecipientOutcome,
    SendResult,
    Stage,
    classify_reply,
)
from outreach.mail.local_transport import LocalTransport, deliver_to_maildir, write_eml
from outreach.mail.smtp_transport import SmtpTransport
from outreach.settings import SmtpSettings

__all__ = [
    "DeliverySession",
    "DeliveryStatus",
    "Envelope",
    "FailureReason",
    "LocalTransport",
    "RecipientOutcome",
    "SendResult",
    "SmtpTransport",
    "Stage",
    "Transport",
    "classify_reply",
    "deliver_to_maildir",
    "message_id_of",
    "open_transport",
    "write_eml",
]

# Envelope addresses go into SMTP commands and headers verbatim: no spaces, brackets or
# line breaks (header / command injection), exactly one "@" with something on both sides.
_ADDRESS = re.compile(r"^[^\s<>@,;:\"]+@[^\s<>@,;:\"]+$")
_HEADER_PARSER = BytesHeaderParser(policy=compat32)


def message_id_of(message: bytes) -> str | None:
    """The ``Message-ID`` header of raw message bytes (headers only are parsed)."""
    head, sep, _ = message.partition(b"\r\n\r\n")
    if not sep:
        head, _, _ = message.partition(b"\n\n")
    value = _HEADER_PARSER.parsebytes(head + b"\n\n").get("Message-ID")
    return " ".join(str(value).split()) if value else None


@dataclass(frozen=True)
class Envelope:
    """One message to hand over: SMTP envelope sender and recipients, and the bytes.

    ``recipients`` are the envelope recipients (To and Cc and any Bcc), in order; the
    headers inside ``message`` are sent as they are.
    """

    sender: str
    recipients: Sequence[str]
    message: bytes
    message_id: str | None = field(default=None)

    def __post_init__(self) -> None:
        recipients = tuple(self.recipients)
        if not recipients:
            raise ValueError("an envelope needs at least one recipient")
        for address in (self.sender, *recipients):
            if not _ADDRESS.match(address):
                raise ValueError(f"not a usable envelope address: {address!r}")
        if not isinstance(self.message, bytes | bytearray | memoryview):
            raise TypeError("Envelope.message must be the message's bytes")
        object.__setattr__(self, "recipients", recipients)
        object.__setattr__(self, "message", bytes(self.message))
        if self.message_id is None:
            object.__setattr__(self, "message_id", message_id_of(self.message))


class DeliverySession(Protocol):
    def send(self, envelope: Envelope) -> SendResult: ...


class Transport(Protocol):
    """Immutable configuration of where mail goes; ``session()`` opens a delivery session."""

    @property
    def description(self) -> str: ...

    def session(self) -> AbstractContextManager[DeliverySession]: ...


def open_transport(
    settings: SmtpSettings,
    outbox_dir: Path,
    *,
    idle_probe_seconds: float = 30.0,
) -> Transport:
    """The transport ``settings.transport`` names.

    ``"local"``: :class:`LocalTransport` writing ``<Message-ID>.eml`` files into
    ``outbox_dir`` (``Settings.outbox_dir``). ``"smtp"``: :class:`SmtpTransport`; the TLS
    context is built here, so a missing ``ca_file`` fails now with a ``ConfigError``.
    ``idle_probe_seconds``: a connection idle that long is checked with NOOP before reuse.
    """
    if settings.transport == "local":
        return LocalTransport(outbox_dir)
    return SmtpTransport(settings, idle_probe_seconds=idle_probe_seconds)
