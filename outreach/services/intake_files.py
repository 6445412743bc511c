"""The files of a reply, judged: each workbook opened, identified and validated; every other
file given the reason it cannot be used, in words for the supplier. No database.

Opening comes first (``open_files``): the template family decides which of a supplier's
requests the reply answers, and only then is the campaign's context known for
``judge``. Both steps never raise for bad input.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

from outreach.cmrt.findings import Finding, Severity
from outreach.cmrt.identify import identify
from outreach.cmrt.opening import Opened, OpenLimits, Unreadable, open_workbook
from outreach.cmrt.validate import Outcome, Result, ValidationContext, validate_workbook
from outreach.cmrt.workbook import SheetUnreadable
from outreach.intake.classify import Classification
from outreach.intake.model import JUDGED_KINDS, Attachment, Link

#: why a file that is not a workbook cannot be used, for the answer to the supplier
_WHY = {
    "pdf": "{name} is a PDF. We need the Excel workbook itself, not a PDF export, scan or "
           "printout.",
    "image": "{name} is a picture. We need the Excel workbook itself, not a screenshot or "
             "scan.",
    "winmail": "{name} is Outlook's winmail.dat wrapper, which hides the real attachment. "
               "Please send the workbook again from an e-mail in HTML or plain-text format.",
    "password_protected": "{name} is protected with a password. Please remove the password "
                          "(File > Info > Protect Workbook) and send it again.",
    "too_large": "{name} is too large for us to accept ({size}).",
    "archive": "{name} is an archive without a workbook we can open (archives protected "
               "with a password cannot be opened). Please attach the workbook itself.",
    "empty": "{name} is empty (0 bytes).",
    "other": "{name} is not an Excel workbook.",
}


@dataclass
class IncomingFile:
    """One file of a reply (or given at the command line), opened when it is a workbook."""

    filename: str
    size: int
    content_type: str | None
    #: what the bytes are: xlsx, xlsm, xls, encrypted, pdf, zip, ...
    kind: str
    content: bytes | None
    #: None for a workbook; else why it is not one (pdf, too_large, password_protected, ...)
    problem: str | None = None
    sha256: str | None = None
    opened: Opened | Unreadable | None = field(default=None, repr=False)
    family: str | None = None
    version: str | None = None

    @property
    def is_workbook(self) -> bool:
        return self.problem is None


def files_of(classification: Classification) -> list[IncomingFile]:
    """The workbooks first, then the other files, each hashed."""
    files = [_file(a, None) for a in classification.workbooks]
    files += [_file(o.attachment, o.reason) for o in classification.other_files]
    return files


def file_from_bytes(filename: str, data: bytes, kind: str) -> IncomingFile:
    """A file given at the command line (``outreach submission add``)."""
    problem = None if kind in JUDGED_KINDS else (
        "archive" if kind == "zip" else kind if kind in _WHY else "other")
    return IncomingFile(filename=filename, size=len(data), content_type=None, kind=kind,
                        content=data, problem=problem, sha256=hashlib.sha256(data).hexdigest())


def _file(attachment: Attachment, problem: str | None) -> IncomingFile:
    content = attachment.content
    return IncomingFile(
        filename=attachment.filename, size=attachment.size,
        content_type=attachment.content_type, kind=attachment.kind, content=content,
        problem=problem, sha256=hashlib.sha256(content).hexdigest() if content else None)


def open_files(files: list[IncomingFile], limits: OpenLimits) -> None:
    """Open each workbook once and note its family and version (for matching)."""
    for item in files:
        if not item.is_workbook or item.content is None:
            continue
        item.opened = open_workbook(item.content, limits)
        if isinstance(item.opened, Opened):
            try:
                template = identify(item.opened.workbook)
            except SheetUnreadable:
                continue  # judged later: the validator names the damage
            if template is not None:
                item.family, item.version = template.family, template.version


def families(files: list[IncomingFile]) -> frozenset[str]:
    return frozenset(f.family for f in files if f.family)


def judge(item: IncomingFile, context: ValidationContext) -> Result:
    """The verdict on one file: the validator's for a workbook, unreadable with the reason
    for anything else."""
    if item.problem is not None:
        return Result(Outcome.UNREADABLE, findings=(Finding(
            f"unreadable.{item.problem}", Severity.ERROR, why_not_usable(item)),))
    if item.opened is None and item.content is not None:
        item.opened = open_workbook(item.content, context.limits)
    if isinstance(item.opened, Opened):
        return validate_workbook(item.opened.workbook, context)
    if isinstance(item.opened, Unreadable):
        return Result(Outcome.UNREADABLE, findings=(Finding(
            f"unreadable.{item.opened.code}", Severity.ERROR, item.opened.message),))
    return Result(Outcome.UNREADABLE, findings=(Finding(
        "unreadable.too_large", Severity.ERROR, why_not_usable(item)),))


def why_not_usable(item: IncomingFile) -> str:
    template = _WHY.get(item.problem or "other", _WHY["other"])
    return template.format(name=item.filename, size=_size(item.size))


def link_findings(links: tuple[Link, ...]) -> list[dict[str, Any]]:
    """The answer to a reply that only links to a file: we do not download from links."""
    hosts = ", ".join(dict.fromkeys(link.host for link in links))
    return [{"code": "unreadable.link_only", "severity": "error", "sheet": None, "cell": None,
             "message": f"Your e-mail links to a file ({hosts}) instead of attaching it. "
                        "For security we do not download files from links: please attach "
                        "the workbook to your reply."}]


def _size(size: int) -> str:
    return f"{size / 1_000_000:.1f} MB" if size >= 100_000 else f"{size:,} bytes"
