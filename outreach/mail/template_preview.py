"""A rendered message as an RFC 5322 ``.eml`` a person can open in a mail program."""

from __future__ import annotations

from datetime import datetime
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid

from outreach.mail.templates import Rendered


def preview_message(rendered: Rendered, *, from_name: str, from_address: str, to: str,
                    to_name: str | None, reply_to: str, at: datetime) -> EmailMessage:
    """text/plain, plus text/html as a multipart/alternative when the kind has HTML."""
    message = EmailMessage()
    local, _, domain = from_address.partition("@")
    message["From"] = Address(from_name, local, domain)
    to_local, _, to_domain = to.partition("@")
    message["To"] = Address(to_name or "", to_local, to_domain)
    message["Reply-To"] = reply_to
    message["Subject"] = rendered.subject
    message["Date"] = format_datetime(at)
    message["Message-ID"] = make_msgid(domain=domain or None)
    message["Auto-Submitted"] = "auto-generated"
    message["X-Outreach-Template"] = f"{rendered.kind} ({rendered.language})"
    message["X-Outreach-Template-Hash"] = rendered.template_hash
    message.set_content(rendered.text)
    if rendered.html is not None:
        message.add_alternative(rendered.html, subtype="html")
    return message
