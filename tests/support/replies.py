"""Builders of realistic inbound e-mails (raw bytes) for intake tests.

Each builder returns the message as an IMAP FETCH would give it (CRLF line ends), built with
the stdlib ``email`` package (``EmailMessage``, ``policy.default``) except where the point
is bytes no well-behaved library writes (``bounce_dsn`` is laid out exactly like Postfix's
RFC 3464 report, ``non_utf8`` carries raw Latin-1 headers). Defaults are fixed, so the same
call gives the same bytes; the token travels as our services write it: the plus-address of
the Reply-To we set (``token_address``) and the subject tag (``tagged_subject``).

    raw = supplier_reply(sender="Hans Müller <hans@supplier.de>", to=token_address(TOKEN),
                         subject=tagged_subject(TOKEN), attachments=[("CMRT.xlsx", data)])
"""

from __future__ import annotations

import email
import hashlib
import io
import random
import zipfile
from collections.abc import Sequence
from datetime import UTC, datetime
from email import policy
from email.message import EmailMessage
from email.utils import parseaddr
from functools import cache
from pathlib import Path
from typing import Any, Literal

from outreach.demo.replies import deterministic_bytes, tiny_pdf
from outreach.intake.kinds import TNEF_SIGNATURE
from outreach.mail.compose import (
    Attachment,
    Mailbox,
    Outgoing,
    compose,
    message_id_for,
    plus_address,
)
from outreach.mail.template_context import subject_tag

MAILBOX = "conflict-minerals@company.example"
DATE = "Tue, 03 Mar 2026 10:15:00 +0100"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
_TYPES = {
    ".xlsx": XLSX,
    ".xlsm": "application/vnd.ms-excel.sheet.macroEnabled.12",
    ".xls": "application/vnd.ms-excel",
    ".pdf": "application/pdf",
    ".zip": "application/zip",
    ".dat": "application/ms-tnef",
    ".png": "image/png",
    ".jpg": "image/jpeg",
}
_SHIPPED_BLANK = Path(__file__).parents[2] / "templates" / "cmrt" / "RMI_CMRT_6.5.xlsx"

#: (filename, bytes) or (filename, bytes, "type/subtype")
AttachmentSpec = tuple[str, bytes] | tuple[str, bytes, str]


def token_address(token: str, mailbox: str = MAILBOX) -> str:
    """``conflict-minerals+TOKEN@company.example``: where a reply to our request goes."""
    return plus_address(mailbox, token)


def tagged_subject(token: str, *, family: str = "CMRT", year: int = 2026,
                   prefix: str = "Re: ") -> str:
    """``Re: [CMRT 2026 · ref TOKEN] Conflict minerals declaration``."""
    return f"{prefix}{subject_tag(family, year, token)} Conflict minerals declaration"


def our_request(*, to: str, token: str, key: str = "request-1:first:1",
                attachment: bytes | None = None) -> bytes:
    """Our own outbound request, composed by ``outreach.mail.compose`` (what a bounce
    returns and what a supplier replies to): Reply-To carries the token, the subject its
    tag, the Message-ID is ``our_message_id(key)``."""
    name, address = parseaddr(to)
    out = Outgoing(
        sender=Mailbox(MAILBOX, "Compliance"), to=[Mailbox(address, name)],
        subject=tagged_subject(token, prefix="").replace("declaration", "request"),
        text="Dear supplier,\n\nplease return the attached CMRT by 31 March 2027.\n",
        message_id=our_message_id(key),
        date=datetime(2026, 3, 2, 9, 0, tzinfo=UTC),
        reply_to=token_address(token),
        attachment=Attachment("CMRT_2026_SUP-01.xlsx", attachment) if attachment else None,
    )
    return deterministic_bytes(compose(out))


def our_message_id(key: str = "request-1:first:1") -> str:
    return message_id_for(key, MAILBOX.rpartition("@")[2])


# --------------------------------------------------------------------------- common case


def supplier_reply(
    *,
    sender: str,
    to: str,
    subject: str,
    in_reply_to: str | None = None,
    references: Sequence[str] = (),
    attachments: Sequence[AttachmentSpec] = (),
    text: str = "Hello,\n\nplease find our completed CMRT attached.\n\nBest regards",
    html: str | None = None,
    date: str | None = None,
    message_id: str | None = None,
    cc: Sequence[str] = (),
    headers: Sequence[tuple[str, str]] = (),
) -> bytes:
    """A supplier's answer: text (and optionally HTML) with files attached."""
    message = _message(sender=sender, to=to, subject=subject, in_reply_to=in_reply_to,
                       references=references, date=date, message_id=message_id, cc=cc,
                       headers=headers, text=text, html=html)
    for spec in attachments:
        _attach(message, spec)
    return deterministic_bytes(message)


def forwarded(inner_raw: bytes, *, sender: str, to: str, subject: str,
              text: str = "FYI, see the message below.", date: str | None = None,
              message_id: str | None = None) -> bytes:
    """``inner_raw`` forwarded as an attachment (message/rfc822), as Outlook and Thunderbird
    forward "as attachment"."""
    message = _message(sender=sender, to=to, subject=subject, date=date,
                       message_id=message_id, text=text)
    message.add_attachment(email.message_from_bytes(inner_raw, policy=policy.default))
    return deterministic_bytes(message)


def zipped(files: Sequence[tuple[str, bytes]]) -> bytes:
    """A zip of ``files`` (name, bytes), deflated, with fixed timestamps."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, content in files:
            archive.writestr(zipfile.ZipInfo(name, (2026, 3, 2, 16, 40, 0)), content,
                             compress_type=zipfile.ZIP_DEFLATED)
    return buffer.getvalue()


# --------------------------------------------------------------------------- automatic mail

AutoReplyVariant = Literal["auto_submitted", "x_autoreply", "precedence", "subject", "german"]


def auto_reply(*, sender: str, to: str = MAILBOX, subject: str = "CMRT request",
               variant: AutoReplyVariant = "auto_submitted", in_reply_to: str | None = None,
               date: str | None = None) -> bytes:
    """An out-of-office answer; each variant carries exactly one signal: the RFC 3834
    ``Auto-Submitted: auto-replied`` header, ``X-Autoreply: yes``, ``Precedence:
    auto_reply``, an English subject ("Out of Office: …") or a German one
    ("Abwesenheitsnotiz: …", Lotus Notes, German text) with no header at all."""
    headers: list[tuple[str, str]] = []
    text = ("Thank you for your message. I am out of the office until 20 March with limited "
            "access to e-mail. For urgent matters please contact our quality team.")
    reply_subject = f"Re: {subject}"
    if variant == "auto_submitted":
        headers.append(("Auto-Submitted", "auto-replied"))
    elif variant == "x_autoreply":
        headers.append(("X-Autoreply", "yes"))
    elif variant == "precedence":
        headers.append(("Precedence", "auto_reply"))
    elif variant == "subject":
        reply_subject = f"Out of Office: {subject}"
    else:
        reply_subject = f"Abwesenheitsnotiz: {subject}"
        text = ("Ich bin bis einschließlich 20.03.2026 nicht im Büro und habe keinen Zugriff "
                "auf meine E-Mails. In dringenden Fällen wenden Sie sich bitte an "
                "qualitaet@lieferant.de.")
    message = _message(sender=sender, to=to, subject=reply_subject, in_reply_to=in_reply_to,
                       references=(in_reply_to,) if in_reply_to else (), date=date,
                       headers=headers, text=text)
    return deterministic_bytes(message)


def bounce_dsn(
    *,
    original_raw: bytes,
    failed_recipient: str,
    status: str = "5.1.1",
    reporting_mta: str = "mail.company.example",
    sender: str = "MAILER-DAEMON@mail.company.example",
    to: str = MAILBOX,
    remote_mta: str | None = None,
    diagnostic: str | None = None,
    action: str = "failed",
    returned: Literal["message", "headers"] = "message",
    date: str | None = None,
) -> bytes:
    """A Postfix delivery-status notification (RFC 3464 multipart/report,
    report-type=delivery-status): a human notice, the message/delivery-status part with
    Reporting-MTA, Final-Recipient, Action, Status, Remote-MTA and Diagnostic-Code, and the
    original returned as message/rfc822 or (``returned="headers"``) text/rfc822-headers."""
    remote = remote_mta or f"mx.{failed_recipient.rpartition('@')[2]}"
    reason = diagnostic or (f"550 {status} <{failed_recipient}>: Recipient address rejected: "
                            "User unknown in virtual mailbox table")
    boundary = "4F2A81C0A3.1772529300/" + reporting_mta
    header_end = _header_end(original_raw)
    if returned == "message":
        original_type = "message/rfc822"
        original = original_raw if original_raw.endswith(b"\n") else original_raw + b"\r\n"
    else:
        original_type = "text/rfc822-headers"
        original = original_raw[:header_end].rstrip(b"\r\n") + b"\r\n"
    delayed = action == "delayed"
    notice = (
        f"This is the mail system at host {reporting_mta}.\r\n\r\n"
        + ("####################################################################\r\n"
           "# THIS IS A WARNING ONLY.  YOU DO NOT NEED TO RESEND YOUR MESSAGE. #\r\n"
           "####################################################################\r\n\r\n"
           "Your message could not be delivered for 4 hours.\r\n"
           "It will be retried until it is 5 days old.\r\n\r\n" if delayed else
           "I'm sorry to have to inform you that your message could not\r\n"
           "be delivered to one or more recipients. It's attached below.\r\n\r\n"
           "For further assistance, please send mail to postmaster.\r\n\r\n")
        + "                   The mail system\r\n\r\n"
        f"<{failed_recipient}>: host {remote}[203.0.113.25] said: {reason} (in reply to "
        "RCPT TO command)\r\n"
    )
    report = (
        f"Reporting-MTA: dns; {reporting_mta}\r\n"
        "X-Postfix-Queue-ID: 4F2A81C0A3\r\n"
        f"X-Postfix-Sender: rfc822; {MAILBOX}\r\n"
        "Arrival-Date: Tue,  3 Mar 2026 09:14:58 +0100 (CET)\r\n\r\n"
        f"Final-Recipient: rfc822; {failed_recipient}\r\n"
        f"Original-Recipient: rfc822;{failed_recipient}\r\n"
        f"Action: {action}\r\n"
        f"Status: {status}\r\n"
        f"Remote-MTA: dns; {remote}\r\n"
        f"Diagnostic-Code: smtp; {reason}\r\n"
    )
    subject = ("Delayed Mail (still being retried)" if delayed
               else "Undelivered Mail Returned to Sender")
    head = (
        f"Return-Path: <>\r\n"
        f"Date: {date or DATE}\r\n"
        f"From: {sender} (Mail Delivery System)\r\n"
        f"Subject: {subject}\r\n"
        f"To: {to}\r\n"
        "Auto-Submitted: auto-replied\r\n"
        "MIME-Version: 1.0\r\n"
        f'Content-Type: multipart/report; report-type=delivery-status;\r\n\tboundary="{boundary}"'
        "\r\nContent-Transfer-Encoding: 8bit\r\n"
        f"Message-Id: <20260303091500.4F2A81C0A3@{reporting_mta}>\r\n\r\n"
        "This is a MIME-encapsulated message.\r\n\r\n"
    )
    return (
        head.encode()
        + f"--{boundary}\r\nContent-Description: Notification\r\n"
          f"Content-Type: text/plain; charset=us-ascii\r\n\r\n{notice}\r\n".encode()
        + f"--{boundary}\r\nContent-Description: Delivery report\r\n"
          f"Content-Type: message/delivery-status\r\n\r\n{report}\r\n".encode()
        + f"--{boundary}\r\nContent-Description: Undelivered "
          f"{'Message' if returned == 'message' else 'Message Headers'}\r\n"
          f"Content-Type: {original_type}\r\nContent-Transfer-Encoding: 8bit\r\n\r\n".encode()
        + original
        + f"\r\n--{boundary}--\r\n".encode()
    )


# --------------------------------------------------------------------------- odd replies


def winmail(*, sender: str, to: str, subject: str, **extra: Any) -> bytes:
    """Outlook's rich-text send: the workbook wrapped in an application/ms-tnef winmail.dat."""
    body = (TNEF_SIGNATURE + b"\x01\x00"  # signature, legacy key
            + b"\x01\x06\x90\x08\x00\x04\x00\x00\x00\x00\x00\x01\x00\x01\x00"  # TNEF version
            + hashlib.sha256(b"winmail").digest() * 8)
    return supplier_reply(sender=sender, to=to, subject=subject,
                          attachments=[("winmail.dat", body, "application/ms-tnef")], **extra)


def pdf_instead(*, sender: str, to: str, subject: str, **extra: Any) -> bytes:
    """The CMRT printed to PDF (signed), instead of the workbook."""
    extra.setdefault("text", "Hello,\n\nattached is our signed conflict minerals declaration."
                             "\n\nRegards")
    return supplier_reply(sender=sender, to=to, subject=subject,
                          attachments=[("CMRT_2026_signed.pdf", tiny_pdf())], **extra)


LinkService = Literal["sharepoint", "wetransfer", "onedrive", "dropbox", "google_drive"]
_LINKS: dict[str, str] = {
    "sharepoint": "https://supplier-my.sharepoint.com/:x:/g/personal/hans_supplier_de/"
                  "EaBcD1234efGhIjKlMnOpQ?e=4xYz9k",
    "wetransfer": "https://we.tl/t-Zx8Kp3LmQ2",
    "onedrive": "https://1drv.ms/x/s!AkT9mQ2pLxYzgQ7",
    "dropbox": "https://www.dropbox.com/scl/fi/8h2k3l/CMRT_2026.xlsx?rlkey=q2w3e4&dl=0",
    "google_drive": "https://drive.google.com/file/d/1A2b3C4d5E6f7G8h9I0j/view?usp=sharing",
}


def link_only(*, sender: str, to: str, subject: str, service: LinkService = "sharepoint",
              **extra: Any) -> bytes:
    """The file shared on a file host: the link in the text and as an HTML anchor."""
    url = _LINKS[service]
    text = f"Hello,\n\nour CMRT is too large for e-mail, you can download it here:\n{url}\n\nBR"
    html = (f'<html><body><p>Hello,</p><p>our CMRT is too large for e-mail, you can download it '
            f'<a href="{url}">here</a>.</p><p>BR</p></body></html>')
    return supplier_reply(sender=sender, to=to, subject=subject, text=text, html=html, **extra)


def question(*, sender: str, to: str, subject: str,
             text: str = "Hello,\n\nwhich reporting period do you need: calendar year 2025 or "
                         "2026? And do you need one CMRT per plant?\n\nThanks",
             logo: bool = True, **extra: Any) -> bytes:
    """A question and no file (the signature logo, shown inline, is not a file)."""
    message = _message(sender=sender, to=to, subject=subject, text=text,
                       html=f"<html><body><p>{text.replace(chr(10), '<br>')}</p>"
                            '<img src="cid:logo@supplier"></body></html>' if logo else None,
                       **extra)
    if logo:
        html_part = message.get_body(("html",))
        assert html_part is not None
        html_part.add_related(tiny_png(), "image", "png", cid="<logo@supplier>",
                              filename="logo.png", disposition="inline")
    return deterministic_bytes(message)


def non_utf8(*, sender: str = "Jürgen Schön <j.schoen@lieferant.de>", to: str,
             subject: str = "AW: Erklärung zu Konfliktmineralien", text: str | None = None,
             attachments: Sequence[AttachmentSpec] = (), broken_encoded_word: bool = False,
             message_id: str = "<b7e1.lieferant@lieferant.de>") -> bytes:
    """A German mail from an old client: headers with raw ISO-8859-1 bytes (no encoded
    words), a Latin-1 body, optionally a broken encoded word in the subject."""
    body = text or "Sehr geehrte Damen und Herren,\n\nanbei unsere Erklärung für 2026.\n\nGrüße"
    name, address = parseaddr(sender)
    subject_bytes = subject.encode("latin-1")
    if broken_encoded_word:
        subject_bytes += b" =?utf-8?B?kaputt!!?="
    head = (b"From: " + name.encode("latin-1") + b" <" + address.encode() + b">\r\n"
            b"To: " + to.encode() + b"\r\n"
            b"Subject: " + subject_bytes + b"\r\n"
            b"Date: " + DATE.encode() + b"\r\n"
            b"Message-ID: " + message_id.encode() + b"\r\n"
            b"MIME-Version: 1.0\r\n"
            b"X-Mailer: Lotus Notes Release 8.5.3\r\n")
    text_part = (b"Content-Type: text/plain; charset=iso-8859-1\r\n"
                 b"Content-Transfer-Encoding: 8bit\r\n\r\n"
                 + body.replace("\n", "\r\n").encode("latin-1") + b"\r\n")
    if not attachments:
        return head + text_part
    carrier = EmailMessage(policy=policy.default)
    carrier.set_content("x")
    for spec in attachments:
        _attach(carrier, spec)
    files = [part.as_bytes(policy=policy.SMTP) for part in carrier.iter_attachments()]
    boundary = b"=_alternative 0031E7A5C1257F3B_="
    parts = b"".join(b"--" + boundary + b"\r\n" + part + b"\r\n" for part in [text_part, *files])
    return (head + b'Content-Type: multipart/mixed; boundary="' + boundary + b'"\r\n\r\n'
            + parts + b"--" + boundary + b"--\r\n")


def unrelated(*, sender: str = "Petra Lange <petra.lange@company.example>", to: str = MAILBOX,
              subject: str = "Lunch on Friday?", photo: bool = False) -> bytes:
    """A colleague's personal mail to the shared mailbox: no token, nothing to do with us."""
    text = ("Hi all,\n\nshall we try the new Italian place on Friday? I can book a table "
            "for 12:30.\n\nPetra")
    attachments: list[AttachmentSpec] = [("IMG_2041.jpg", tiny_jpeg())] if photo else []
    return supplier_reply(sender=sender, to=to, subject=subject, text=text,
                          attachments=attachments)


# --------------------------------------------------------------------------- files


@cache
def filled_workbook(seed: int = 0) -> bytes:
    """A complete CMRT 6.5 (the shipped blank, filled by ``outreach.cmrt.fill``)."""
    from outreach.cmrt.fill import fill_cmrt, sample_filing, smelter_lookup

    blank = _SHIPPED_BLANK.read_bytes()
    return fill_cmrt(blank, sample_filing(random.Random(seed), smelter_lookup(blank)))


def big_attachment(size_mb: float = 30, workbook: bytes | None = None, seed: int = 0) -> bytes:
    """A valid workbook of about ``size_mb`` MB: ``workbook`` (a filled CMRT by default)
    with an extra, unreferenced, stored zip member of incompressible random bytes
    (``xl/media/padding.png``, a type the package already declares). Cheap to build."""
    base = workbook if workbook is not None else filled_workbook()
    padding = max(0, int(size_mb * 1024 * 1024) - len(base))
    with zipfile.ZipFile(io.BytesIO(base)) as source:
        infos = source.infolist()
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w") as target:
            for info in infos:
                target.writestr(info, source.read(info), compress_type=info.compress_type)
            target.writestr(zipfile.ZipInfo("xl/media/padding.png", (2026, 3, 2, 16, 40, 0)),
                            random.Random(seed).randbytes(padding),
                            compress_type=zipfile.ZIP_STORED)
    return buffer.getvalue()


def tiny_png() -> bytes:
    return (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00"
            b"\x00\x00\x1f\x15\xc4\x89\x00\x00\x00\rIDATx\x9cc\xf8\x0f\x00\x00\x01\x01\x00\x05"
            b"\x18\xd8N\x00\x00\x00\x00IEND\xaeB`\x82")


def tiny_jpeg() -> bytes:
    return b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00" + bytes(64) \
        + b"\xff\xd9"


# --------------------------------------------------------------------------- helpers


def _message(*, sender: str, to: str, subject: str, text: str, html: str | None = None,
             in_reply_to: str | None = None, references: Sequence[str] = (),
             date: str | None = None, message_id: str | None = None, cc: Sequence[str] = (),
             headers: Sequence[tuple[str, str]] = ()) -> EmailMessage:
    message = EmailMessage(policy=policy.default)
    message["From"] = sender
    message["To"] = to
    if cc:
        message["Cc"] = ", ".join(cc)
    message["Subject"] = subject
    message["Date"] = date or DATE
    message["Message-ID"] = message_id or _message_id(sender, subject, text)
    if in_reply_to:
        message["In-Reply-To"] = in_reply_to
    chain = list(dict.fromkeys([*references, *([in_reply_to] if in_reply_to else [])]))
    if chain:
        message["References"] = " ".join(chain)
    message["MIME-Version"] = "1.0"
    for name, value in headers:
        message[name] = value
    message.set_content(text)
    if html is not None:
        message.add_alternative(html, subtype="html")
    return message


def _attach(message: EmailMessage, spec: AttachmentSpec) -> None:
    filename, content = spec[0], spec[1]
    declared = spec[2] if len(spec) == 3 else _TYPES.get(
        Path(filename).suffix.lower(), "application/octet-stream")
    maintype, _, subtype = declared.partition("/")
    message.add_attachment(content, maintype, subtype, filename=filename)


def _message_id(sender: str, subject: str, text: str) -> str:
    digest = hashlib.sha256(f"{sender}\0{subject}\0{text}".encode()).hexdigest()[:20]
    domain = parseaddr(sender)[1].rpartition("@")[2] or "supplier.example"
    return f"<{digest}@{domain}>"


def _header_end(raw: bytes) -> int:
    ends = [at + len(sep) for sep in (b"\r\n\r\n", b"\n\n") if (at := raw.find(sep)) != -1]
    return min(ends) if ends else len(raw)


__all__ = [
    "DATE", "MAILBOX", "XLSX", "auto_reply", "big_attachment", "bounce_dsn", "filled_workbook",
    "forwarded", "link_only", "non_utf8", "our_message_id", "our_request", "pdf_instead",
    "question",
    "supplier_reply", "tagged_subject", "tiny_pdf", "token_address", "unrelated", "winmail",
    "zipped",
]
