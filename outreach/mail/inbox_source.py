"""Where replies are read from: the small interface intake polls (IMAP server or Maildir).

``services.poll`` drives one :class:`InboxSession` at a time, synchronously, from the thread
that opened it::

    with open_inbox(settings.imap, settings.maildir_path) as inbox:   # connects
        status = inbox.folder_status("INBOX")          # None: no such folder
        uids = inbox.search_uids("INBOX", min_uid=status_row.baseline_uid + 1)
        for mail in inbox.fetch("INBOX", uids):        # BODY.PEEK[]: nothing marked \\Seen
            ...                                        # record, process, commit
        inbox.mark_processed("INBOX", [mail.uid])      # only for mail that is ours

Nothing here touches the database or decides what is ours. Every failure to reach or use
the mailbox raises :class:`InboxUnavailable` (``transient`` says whether retrying later can
help); a single message that cannot be fetched is reported by ``fetch`` as a
:class:`FetchedMail` with ``raw`` None and ``error`` set, never by stopping the batch.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import date, datetime
from typing import Protocol


class InboxUnavailable(Exception):
    """The mailbox cannot be reached or used now (connection, TLS, login, server error)."""

    def __init__(self, message: str, *, transient: bool = True) -> None:
        super().__init__(message)
        self.transient = transient


@dataclass(frozen=True)
class FolderStatus:
    name: str
    uidvalidity: int
    #: the UID the next arriving message will get (None when the server does not say)
    uidnext: int | None
    #: how many messages the folder holds
    exists: int


@dataclass(frozen=True)
class FetchedMail:
    folder: str
    uidvalidity: int
    uid: int
    #: the whole message as stored; None when it was not downloaded (too large, or an error)
    raw: bytes | None
    #: the server's size of the message (RFC822.SIZE), known even when ``raw`` is None
    size: int
    #: when the server received it (INTERNALDATE, aware UTC), None when unknown
    internal_date: datetime | None
    flags: tuple[str, ...] = ()
    #: why ``raw`` is None: "too_large" or a description of the fetch error
    error: str | None = None


class InboxSession(Protocol):
    #: stable name of the mailbox ("imap:bot@mail.example:993", "maildir:/data/maildir"),
    #: part of every message's identity
    account: str

    def folder_status(self, folder: str) -> FolderStatus | None:
        """The folder's UIDVALIDITY, UIDNEXT and size; None when the folder does not exist."""
        ...

    def search_uids(self, folder: str, *, min_uid: int = 1,
                    since: date | None = None) -> list[int]:
        """UIDs ≥ ``min_uid`` (and received on or after ``since``), ascending."""
        ...

    def fetch(self, folder: str, uids: Sequence[int], *,
              max_bytes: int) -> Iterator[FetchedMail]:
        """Each message of ``uids`` still there, without marking it read; one larger than
        ``max_bytes`` comes back with ``raw`` None and ``error`` "too_large"."""
        ...

    def mark_processed(self, folder: str, uids: Sequence[int]) -> None:
        """Apply the configured action (move to the processed folder, created when missing,
        or add the keyword) to these messages, and to no other."""
        ...


class InboxSource(Protocol):
    account: str

    def open(self) -> AbstractContextManager[InboxSession]:
        """Connect (log in) and return a session; closing it logs out."""
        ...
