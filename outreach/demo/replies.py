"""What simulated suppliers send back: real e-mails (raw bytes) with real files.

Workbooks are made from the RMI blank shipped with the service (``templates/cmrt``) by
patching cells (``outreach.cmrt.fill``), with smelter rows from the template's own Smelter
Look-up; the legacy template is a CMRT 3.01 shipped in ``outreach/demo/data``. The mails are
what a mail client makes of "Reply": To the Reply-To we set (which carries the request
token), In-Reply-To/References our Message-ID, a quoted subject.
"""

from __future__ import annotations

import hashlib
import random
from datetime import date, datetime
from email import policy
from email.message import EmailMessage
from email.utils import format_datetime, parseaddr
from functools import cache
from pathlib import Path

from outreach.cmrt.fill import Defect, fill_cmrt, flawed, sample_filing, smelter_lookup
from outreach.mail.blank_template import blank_template

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
LEGACY_FILE = Path(__file__).parent / "data" / "CMRT_3.01_legacy.xlsx"


# --------------------------------------------------------------------------- files


@cache
def _blank() -> bytes:
    return blank_template("CMRT").data


@cache
def _lookup() -> dict:  # type: ignore[type-arg]
    return smelter_lookup(_blank())


def complete_cmrt(rng: random.Random, *, company: str, contact_email: str,
                  dated_between: tuple[date, date]) -> bytes:
    """A complete CMRT: the shipped blank with a realistic filing patched in."""
    filing = sample_filing(rng, _lookup(), company_name=company, contact_email=contact_email,
                           smelter_rows=(3, 15), dated_between=dated_between)
    return fill_cmrt(_blank(), filing)


def incomplete_cmrt(rng: random.Random, *, company: str, contact_email: str,
                    dated_between: tuple[date, date]) -> bytes:
    """A CMRT with one thing missing that the validator rejects (no authorizer, ...)."""
    filing = sample_filing(rng, _lookup(), company_name=company, contact_email=contact_email,
                           smelter_rows=(3, 15), dated_between=dated_between)
    defect = rng.choice([Defect.NO_AUTHORIZER, Defect.NO_EFFECTIVE_DATE, Defect.BLANK_ANSWER])
    return fill_cmrt(_blank(), flawed(filing, rng, defect).filing)


@cache
def legacy_cmrt() -> bytes:
    return LEGACY_FILE.read_bytes()


def tiny_pdf() -> bytes:
    """A one-page PDF (valid structure): "the CMRT printed and signed"."""
    objects = [b"<< /Type /Catalog /Pages 2 0 R >>",
               b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
               b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] >>"]
    out = bytearray(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += f"{number} 0 obj\n".encode() + body + b"\nendobj\n"
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    out += b"".join(f"{o:010d} 00000 n \n".encode() for o in offsets)
    out += (f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n"
            "%%EOF\n").encode()
    return bytes(out)


# --------------------------------------------------------------------------- mails


def reply(original: EmailMessage, *, sender: str, at: datetime, text: str,
          attachment: tuple[str, bytes, str] | None = None,
          headers: tuple[tuple[str, str], ...] = (), subject_prefix: str = "RE: ") -> bytes:
    """``original`` answered by ``sender``, optionally with one file."""
    message = EmailMessage(policy=policy.default)
    message["From"] = sender
    message["To"] = str(original["Reply-To"] or original["From"])
    message["Subject"] = subject_prefix + str(original["Subject"])
    message["Date"] = format_datetime(at)
    root = str(original["Message-ID"])
    message["Message-ID"] = _message_id(sender, root, text, at)
    message["In-Reply-To"] = root
    message["References"] = " ".join(filter(None, [str(original["References"] or ""), root]))
    message["MIME-Version"] = "1.0"
    for name, value in headers:
        message[name] = value
    quoted = "\n".join("> " + line for line in _body(original).splitlines()[:12])
    message.set_content(f"{text}\n\n{quoted}\n")
    if attachment is not None:
        filename, data, declared = attachment
        maintype, _, subtype = declared.partition("/")
        message.add_attachment(data, maintype, subtype, filename=filename)
    return deterministic_bytes(message)


def auto_reply(original: EmailMessage, *, sender: str, at: datetime) -> bytes:
    """An out-of-office answer (RFC 3834 ``Auto-Submitted: auto-replied``)."""
    return reply(original, sender=sender, at=at, subject_prefix="Out of Office: ",
                 headers=(("Auto-Submitted", "auto-replied"), ("X-Autoreply", "yes")),
                 text="Thank you for your message. I am out of the office with limited access "
                      "to e-mail and will answer when I am back.")


def bounce(original_raw: bytes, *, failed_recipient: str, our_address: str,
           at: datetime) -> bytes:
    """A Postfix-style delivery-status notification (RFC 3464) for ``failed_recipient``."""
    domain = failed_recipient.rpartition("@")[2]
    mta = f"mx.{domain}"
    reason = (f"550 5.1.1 <{failed_recipient}>: Recipient address rejected: "
              "User unknown in virtual mailbox table")
    tag = hashlib.sha256(original_raw + failed_recipient.encode()).hexdigest()[:12].upper()
    boundary = f"{tag}.{int(at.timestamp())}/{mta}"
    original = original_raw if original_raw.endswith(b"\n") else original_raw + b"\r\n"
    notice = ("This is the mail system at host " + mta + ".\r\n\r\n"
              "I'm sorry to have to inform you that your message could not\r\n"
              "be delivered to one or more recipients. It's attached below.\r\n\r\n"
              f"<{failed_recipient}>: {reason}\r\n")
    report = (f"Reporting-MTA: dns; {mta}\r\n"
              f"X-Postfix-Queue-ID: {tag}\r\n"
              f"Arrival-Date: {format_datetime(at)}\r\n\r\n"
              f"Final-Recipient: rfc822; {failed_recipient}\r\n"
              f"Original-Recipient: rfc822;{failed_recipient}\r\n"
              "Action: failed\r\nStatus: 5.1.1\r\n"
              f"Remote-MTA: dns; {mta}\r\nDiagnostic-Code: smtp; {reason}\r\n")
    head = ("Return-Path: <>\r\n"
            f"Date: {format_datetime(at)}\r\n"
            f"From: MAILER-DAEMON@{mta} (Mail Delivery System)\r\n"
            "Subject: Undelivered Mail Returned to Sender\r\n"
            f"To: {our_address}\r\n"
            "Auto-Submitted: auto-replied\r\nMIME-Version: 1.0\r\n"
            "Content-Type: multipart/report; report-type=delivery-status;\r\n"
            f'\tboundary="{boundary}"\r\n'
            f"Message-Id: <{tag}@{mta}>\r\n\r\n"
            "This is a MIME-encapsulated message.\r\n\r\n")
    return (head.encode()
            + f"--{boundary}\r\nContent-Description: Notification\r\n"
              f"Content-Type: text/plain; charset=us-ascii\r\n\r\n{notice}\r\n".encode()
            + f"--{boundary}\r\nContent-Description: Delivery report\r\n"
              f"Content-Type: message/delivery-status\r\n\r\n{report}\r\n".encode()
            + f"--{boundary}\r\nContent-Description: Undelivered Message\r\n"
              "Content-Type: message/rfc822\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"
              .encode()
            + original + f"\r\n--{boundary}--\r\n".encode())


def _body(message: EmailMessage) -> str:
    part = message.get_body(("plain",))
    try:
        return part.get_content() if part is not None else ""  # type: ignore[union-attr]
    except (LookupError, ValueError):
        return ""


def _message_id(sender: str, root: str, text: str, at: datetime) -> str:
    digest = hashlib.sha256(f"{sender}\0{root}\0{text}\0{at.isoformat()}".encode()).hexdigest()
    domain = parseaddr(sender)[1].rpartition("@")[2] or "supplier.example"
    return f"<{digest[:24]}@{domain}>"


def deterministic_bytes(message: EmailMessage) -> bytes:
    """CRLF bytes with fixed MIME boundaries (the stdlib draws random ones): deterministic."""
    seed = hashlib.sha256(str(message["Message-ID"]).encode()).hexdigest()[:12]
    for index, part in enumerate(message.walk()):
        if part.is_multipart() and part.get_boundary() is None:
            part.set_boundary(f"===============_{seed}_{index}==")
    return message.as_bytes(policy=policy.SMTP)


__all__ = ["LEGACY_FILE", "XLSX", "auto_reply", "bounce", "complete_cmrt", "incomplete_cmrt",
           "legacy_cmrt", "reply", "tiny_pdf"]
