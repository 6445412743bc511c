"""One outgoing e-mail as suppliers receive it: headers, both bodies, the workbook.

Pure (no I/O): the outbox renders a message's parts once, stores them, and delivery builds
the bytes from the stored row with ``compose`` — so a retried send is byte-for-byte the
message that was decided, with the same ``Message-ID``.

What every message carries (issue 4, "What suppliers receive"):

* ``From`` the one configured compliance mailbox, never a person's own;
* ``Reply-To`` the same mailbox with the request token as a plus-address
  (``conflict-minerals+k3j9x2@company.example``), so a reply finds its request even when
  the subject was rewritten; the token is also in the subject tag;
* ``Message-ID`` derived from the idempotency key (request, stage, repeat): deciding twice
  can never produce two different messages;
* ``In-Reply-To``/``References`` pointing at the original request, so every stage threads
  under it in the supplier's mail client;
* ``Auto-Submitted: auto-generated`` (RFC 3834) and ``X-Auto-Response-Suppress`` so
  auto-responders stay quiet and no mail loop starts;
* the workbook attached under a name with the supplier's code.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from email.headerregistry import Address
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime

XLSX_TYPE = ("application", "vnd.openxmlformats-officedocument.spreadsheetml.sheet")


@dataclass(frozen=True)
class Mailbox:
    address: str
    name: str = ""

    def header(self) -> Address:
        local, _, domain = self.address.rpartition("@")
        return Address(display_name=self.name, username=local, domain=domain)


@dataclass(frozen=True)
class Attachment:
    filename: str
    content: bytes
    maintype: str = XLSX_TYPE[0]
    subtype: str = XLSX_TYPE[1]


@dataclass(frozen=True)
class Outgoing:
    sender: Mailbox
    to: Sequence[Mailbox]
    subject: str
    text: str
    message_id: str
    date: datetime
    cc: Sequence[Mailbox] = ()
    reply_to: str | None = None
    html: str | None = None
    #: the Message-ID of the request this message follows up (threading); None for the first
    thread_root: str | None = None
    attachment: Attachment | None = None
    #: our own headers (``X-Outreach-Request`` …), for support and for matching replies
    extra_headers: Sequence[tuple[str, str]] = field(default_factory=tuple)


def message_id_for(idempotency_key: str, domain: str) -> str:
    """A stable Message-ID for one decided send: the same key always gives the same id."""
    digest = hashlib.sha256(idempotency_key.encode("utf-8")).hexdigest()[:32]
    return f"<{digest}.outreach@{domain}>"


def plus_address(address: str, token: str) -> str:
    """``box@example.com`` + ``k3j9`` → ``box+k3j9@example.com``."""
    local, _, domain = address.rpartition("@")
    if not local or not domain:
        raise ValueError(f"not an e-mail address: {address!r}")
    return f"{local}+{token}@{domain}"


def compose(out: Outgoing) -> EmailMessage:
    """The message, ready for ``bytes(message)`` / ``message.as_bytes(policy=SMTP)``."""
    if "\n" in out.subject or "\r" in out.subject:
        raise ValueError("a subject is one line")
    if not out.to:
        raise ValueError("a message needs at least one recipient")
    message = EmailMessage(policy=SMTP)
    message["From"] = out.sender.header()
    message["To"] = [m.header() for m in out.to]
    if out.cc:
        message["Cc"] = [m.header() for m in out.cc]
    if out.reply_to:
        message["Reply-To"] = Mailbox(out.reply_to, out.sender.name).header()
    message["Subject"] = out.subject
    message["Date"] = format_datetime(out.date)
    message["Message-ID"] = out.message_id
    if out.thread_root and out.thread_root != out.message_id:
        message["In-Reply-To"] = out.thread_root
        message["References"] = out.thread_root
    message["Auto-Submitted"] = "auto-generated"
    message["X-Auto-Response-Suppress"] = "OOF, AutoReply"
    for name, value in out.extra_headers:
        message[name] = value
    message.set_content(out.text, subtype="plain", charset="utf-8")
    if out.html is not None:
        message.add_alternative(out.html, subtype="html", charset="utf-8")
    if out.attachment is not None:
        message.add_attachment(out.attachment.content, maintype=out.attachment.maintype,
                               subtype=out.attachment.subtype,
                               filename=out.attachment.filename)
    return message


def unique_addresses(*groups: Sequence[str]) -> list[str]:
    """Every address of ``groups`` once, in order; the first spelling of each wins (mail
    systems treat addresses case-insensitively)."""
    seen: dict[str, str] = {}
    for group in groups:
        for address in group:
            seen.setdefault(address.lower(), address)
    return list(seen.values())


def recipients(out: Outgoing) -> list[str]:
    """Envelope recipients: To and Cc, each address once, in order."""
    return unique_addresses([m.address for m in out.to], [m.address for m in out.cc])
