"""The frozen results of parsing one message (``parse.parse_message``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

MiB = 1024 * 1024

Kind = Literal[
    "xlsx", "xlsm", "xls", "encrypted", "zip", "pdf", "image", "winmail", "empty", "other"
]
"""What an attachment is, from its bytes: ``encrypted`` is an OLE2 package holding an
encrypted Office document (a password-protected workbook, usually)."""

WORKBOOK_KINDS: frozenset[str] = frozenset({"xlsx", "xlsm", "xls"})
#: what the validator is given: workbooks, and encrypted packages (Excel's default password)
JUDGED_KINDS: frozenset[str] = WORKBOOK_KINDS | {"encrypted"}


@dataclass(frozen=True)
class ParseLimits:
    """Caps on what one message may cost; the defaults admit a 30 MB workbook."""

    max_message_bytes: int = 64 * MiB
    max_attachment_bytes: int = 40 * MiB
    max_total_bytes: int = 96 * MiB
    max_parts: int = 500
    max_depth: int = 8
    max_zip_entries: int = 100
    max_zip_uncompressed_bytes: int = 200 * MiB
    max_zip_ratio: float = 200.0
    max_body_chars: int = 1_000_000
    max_links: int = 50
    max_headers: int = 1_000


@dataclass(frozen=True)
class Problem:
    """Something odd about the message; ``code`` is stable, ``message`` is for people."""

    code: str
    message: str


@dataclass(frozen=True)
class Address:
    address: str
    name: str = ""

    @property
    def domain(self) -> str:
        return self.address.rpartition("@")[2].lower()


@dataclass(frozen=True)
class Attachment:
    """One file found in the message; ``content`` is None when it was not kept (too large)."""

    filename: str
    content_type: str
    kind: Kind
    size: int
    content: bytes | None
    #: MIME position ("1.2.1"); a member of a zip adds "/<index>"
    path: str
    #: how many forwarded messages (message/rfc822) it sits in
    depth: int = 0
    #: the sanitised name of the zip it was unpacked from
    archive: str | None = None
    #: ok or too_large (not kept)
    status: str = "ok"
    #: shown in the body (a signature logo), not attached as a file
    inline: bool = False


@dataclass(frozen=True)
class Link:
    url: str
    host: str
    #: sharepoint, onedrive, dropbox, google_drive, wetransfer, box or direct
    service: str


@dataclass(frozen=True)
class EmbeddedMessage:
    """The headers of a forwarded or returned message (message/rfc822, text/rfc822-headers)."""

    path: str
    message_id: str | None
    subject: str
    sender: Address | None
    reply_to: tuple[Address, ...] = ()
    to: tuple[Address, ...] = ()


@dataclass(frozen=True)
class ParsedMessage:
    message_id: str | None
    in_reply_to: tuple[str, ...]
    references: tuple[str, ...]
    sender: Address | None
    to: tuple[Address, ...]
    cc: tuple[Address, ...]
    delivered_to: tuple[Address, ...]
    reply_to: tuple[Address, ...]
    subject: str
    date: datetime | None
    content_type: str
    #: every top-level header, decoded, in order (name as written)
    headers: tuple[tuple[str, str], ...]
    attachments: tuple[Attachment, ...]
    text: str
    links: tuple[Link, ...]
    embedded: tuple[EmbeddedMessage, ...] = ()
    #: message/delivery-status blocks: each a tuple of (field, value)
    delivery_status: tuple[tuple[tuple[str, str], ...], ...] = ()
    size: int = 0
    problems: tuple[Problem, ...] = field(default_factory=tuple)

    def header(self, name: str) -> str | None:
        """The first header called ``name`` (case-insensitive), decoded; None if absent."""
        wanted = name.lower()
        return next((value for key, value in self.headers if key.lower() == wanted), None)

    def header_all(self, name: str) -> tuple[str, ...]:
        wanted = name.lower()
        return tuple(value for key, value in self.headers if key.lower() == wanted)

    @property
    def problem_codes(self) -> frozenset[str]:
        return frozenset(p.code for p in self.problems)
