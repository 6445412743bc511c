"""Delivery-status notifications: RFC 3464 reports and the common non-standard bounces."""

from __future__ import annotations

import re
from dataclasses import dataclass

from outreach.intake.model import ParsedMessage

_STATUS = re.compile(r"\b([245]\.\d{1,3}\.\d{1,3})\b")
_REPORT_TYPE = re.compile(r"report-type\s*=\s*\"?([A-Za-z0-9._-]+)", re.IGNORECASE)
_DAEMONS = frozenset({"mailer-daemon", "postmaster", "mail-daemon", "mailerdaemon"})
_BOUNCE_SUBJECTS = (
    "undeliverable", "undelivered mail", "delivery status notification", "mail delivery failed",
    "delivery failure", "returned mail", "failure notice", "unzustellbar",
    "nicht zustellbar", "non remis", "no se puede entregar", "退信", "配信不能",
)


@dataclass(frozen=True)
class Recipient:
    address: str
    #: failed, delayed, delivered, relayed or expanded (RFC 3464); "failed" when guessed
    action: str
    #: the enhanced status code (RFC 3463), e.g. "5.1.1"; "" when none was given
    status: str
    diagnostic: str = ""

    @property
    def permanent(self) -> bool:
        return self.action == "failed" or self.status.startswith("5")


@dataclass(frozen=True)
class Bounce:
    recipients: tuple[Recipient, ...]
    #: True for a multipart/report delivery-status notification, False for a heuristic one
    standard: bool
    #: Message-IDs of the returned original (ours, when it was one of our sends)
    original_message_ids: tuple[str, ...] = ()

    @property
    def failed(self) -> tuple[Recipient, ...]:
        return tuple(r for r in self.recipients if r.permanent)


def report_type(parsed: ParsedMessage) -> str | None:
    if parsed.content_type != "multipart/report":
        return None
    match = _REPORT_TYPE.search(parsed.header("Content-Type") or "")
    return match.group(1).lower() if match else ""


def detect(parsed: ParsedMessage) -> Bounce | None:
    """The bounce, or None when the message is not one."""
    originals = tuple(e.message_id for e in parsed.embedded if e.message_id)
    kind = report_type(parsed)
    if kind == "delivery-status" or (kind == "" and parsed.delivery_status):
        return Bounce(_from_report(parsed), standard=True, original_message_ids=originals)
    if not _from_daemon(parsed):
        return None
    failed = parsed.header_all("X-Failed-Recipients")
    subject = parsed.subject.casefold()
    if not failed and not any(word in subject for word in _BOUNCE_SUBJECTS):
        return None
    status_match = _STATUS.search(parsed.text)
    status = status_match.group(1) if status_match else ""
    addresses = [a.strip().strip("<>") for value in failed for a in value.split(",")]
    recipients = tuple(Recipient(a, "failed", status) for a in dict.fromkeys(addresses) if a)
    return Bounce(recipients, standard=False, original_message_ids=originals)


def _from_daemon(parsed: ParsedMessage) -> bool:
    sender = parsed.sender.address.split("@")[0].lower() if parsed.sender else ""
    return sender in _DAEMONS


def _from_report(parsed: ParsedMessage) -> tuple[Recipient, ...]:
    found: list[Recipient] = []
    for block in parsed.delivery_status:
        fields = {name.lower(): value for name, value in block}
        where = fields.get("final-recipient") or fields.get("original-recipient")
        if not where:
            continue
        address = where.split(";", 1)[-1].strip().strip("<>")
        status_match = _STATUS.search(fields.get("status", ""))
        found.append(Recipient(
            address=address,
            action=fields.get("action", "").strip().lower(),
            status=status_match.group(1) if status_match else "",
            diagnostic=fields.get("diagnostic-code", "").split(";", 1)[-1].strip()[:500],
        ))
    return tuple(found)
