"""The digest as one MIME message, composed whole (it is stored and sent as these bytes)::

    multipart/alternative
      text/plain                      (the text part, for clients that show no HTML)
      multipart/related
        text/html                     (references the chart as <img src="cid:...">)
        image/png  Content-ID: <...>  (the coverage chart, inline)

Pure: no I/O. ``chart_content_id`` gives the id the HTML template references (bare, as
``cid:`` URLs want it); the part's header carries it in angle brackets.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import datetime
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime

from outreach.mail.compose import Mailbox


def chart_content_id(key: str, domain: str) -> str:
    """A stable Content-ID (without brackets) for the chart of the digest ``key``."""
    digest = hashlib.sha256(key.encode("utf-8")).hexdigest()[:24]
    return f"coverage-chart.{digest}@{domain}"


def compose_digest_message(*, sender: Mailbox, to: Sequence[Mailbox], subject: str,
                           text: str, html: str, png: bytes, content_id: str,
                           message_id: str, date: datetime) -> EmailMessage:
    if "\n" in subject or "\r" in subject:
        raise ValueError("a subject is one line")
    if not to:
        raise ValueError("a digest needs at least one recipient")
    if f"cid:{content_id}" not in html:
        raise ValueError("the digest HTML does not reference its chart (cid:"
                         f"{content_id}): keep {{{{ chart_cid }}}} in body.html")
    message = EmailMessage(policy=SMTP)
    message["From"] = sender.header()
    message["To"] = [m.header() for m in to]
    message["Subject"] = subject
    message["Date"] = format_datetime(date)
    message["Message-ID"] = message_id
    message["Auto-Submitted"] = "auto-generated"
    message["X-Auto-Response-Suppress"] = "OOF, AutoReply"
    message.set_content(text, subtype="plain", charset="utf-8")
    message.add_alternative(html, subtype="html", charset="utf-8")
    html_part = message.get_payload()[1]  # type: ignore[index]
    html_part.add_related(png, maintype="image", subtype="png", cid=f"<{content_id}>",
                          filename="coverage.png", disposition="inline")
    return message
