"""``classify``: what a parsed message is and what it carries.

Kinds: ``bounce`` (a delivery-status notification, standard or not), ``auto_reply``
(out-of-office, vacation, read receipt) and ``supplier_reply`` (everything else, to be
matched later). Bounces are decided first because DSNs carry ``Auto-Submitted`` too.
Auto-replies and bounces never count as responses and never get an answer.

What the message carries is computed for every kind: ``workbooks`` (attachments whose
bytes are xlsx/xlsm/xls, zipped ones included; an encrypted package Excel's default
password opens counts as one), ``other_files`` (each with why it is not a workbook:
pdf, image, winmail, password_protected, too_large, archive, empty, other), ``links`` to
file hosts, and ``carries`` naming the most useful of these, or ``nothing`` (a question).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from outreach.cmrt.opening import Opened, open_workbook
from outreach.intake import autoreply, bounce
from outreach.intake.bounce import Bounce
from outreach.intake.model import WORKBOOK_KINDS, Attachment, Link, ParsedMessage
from outreach.intake.tokens import Token, our_message_ids, referenced_ids, tokens

MessageKind = Literal["supplier_reply", "auto_reply", "bounce"]
Carries = Literal["workbooks", "other_files", "links", "nothing"]

__all__ = ["Bounce", "Classification", "OtherFile", "Token", "classify"]


@dataclass(frozen=True)
class OtherFile:
    attachment: Attachment
    #: pdf, image, winmail, password_protected, too_large, archive, empty, other, or the
    #: ``Unreadable`` code ``open_workbook`` gave an encrypted package
    reason: str


@dataclass(frozen=True)
class Classification:
    kind: MessageKind
    #: why: the headers or subject that made it an auto-reply or a bounce
    reasons: tuple[str, ...]
    workbooks: tuple[Attachment, ...]
    other_files: tuple[OtherFile, ...]
    links: tuple[Link, ...]
    tokens: tuple[Token, ...]
    #: every Message-ID in In-Reply-To/References, and those shaped like ours
    referenced_ids: tuple[str, ...]
    our_message_ids: tuple[str, ...]
    bounce: Bounce | None = None

    @property
    def carries(self) -> Carries:
        if self.workbooks:
            return "workbooks"
        if self.other_files:
            return "other_files"
        return "links" if self.links else "nothing"

    @property
    def token(self) -> str | None:
        return self.tokens[0].value if self.tokens else None

    @property
    def counts_as_response(self) -> bool:
        return self.kind == "supplier_reply"


def classify(parsed: ParsedMessage, mailbox: str | None = None) -> Classification:
    """Classify one message; ``mailbox`` limits plus-address tokens to our own address."""
    found_bounce = bounce.detect(parsed)
    kind: MessageKind
    if found_bounce is not None:
        kind, why = "bounce", [_bounce_reason(found_bounce)]
    else:
        why = autoreply.reasons(parsed)
        if bounce.report_type(parsed) == "disposition-notification":
            why.append("read receipt (disposition-notification report)")
        kind = "auto_reply" if why else "supplier_reply"
    workbooks, others = _files(parsed.attachments)
    return Classification(
        kind=kind,
        reasons=tuple(why),
        workbooks=workbooks,
        other_files=others,
        links=parsed.links,
        tokens=tokens(parsed, mailbox),
        referenced_ids=referenced_ids(parsed),
        our_message_ids=our_message_ids(parsed, include_embedded=kind == "bounce"),
        bounce=found_bounce,
    )


def _bounce_reason(found: Bounce) -> str:
    what = "delivery-status report" if found.standard else "non-standard bounce"
    failed = ", ".join(f"{r.address} {r.status}".strip() for r in found.failed)
    return f"{what}: {failed}" if failed else what


def _files(attachments: tuple[Attachment, ...]) -> tuple[tuple[Attachment, ...],
                                                         tuple[OtherFile, ...]]:
    unpacked = {a.archive for a in attachments if a.archive}
    workbooks: list[Attachment] = []
    others: list[OtherFile] = []
    for attachment in attachments:
        if attachment.status == "too_large":
            others.append(OtherFile(attachment, "too_large"))
        elif attachment.kind in WORKBOOK_KINDS:
            workbooks.append(attachment)
        elif attachment.kind == "encrypted":
            reason = _encrypted(attachment)
            if reason is None:
                workbooks.append(attachment)
            else:
                others.append(OtherFile(attachment, reason))
        elif attachment.kind == "zip":
            if attachment.filename not in unpacked:
                others.append(OtherFile(attachment, "archive"))
        elif attachment.kind == "image" and attachment.inline:
            continue  # a signature logo, not something sent to us
        else:
            others.append(OtherFile(attachment, _REASONS.get(attachment.kind, "other")))
    return tuple(workbooks), tuple(others)


_REASONS = {"pdf": "pdf", "image": "image", "winmail": "winmail", "empty": "empty"}


def _encrypted(attachment: Attachment) -> str | None:
    """None when Excel's default password opens it (a workbook), else why it cannot be read."""
    if attachment.content is None:
        return "password_protected"
    opened = open_workbook(attachment.content)
    if isinstance(opened, Opened):
        return None
    return opened.code
