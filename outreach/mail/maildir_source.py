"""The inbox as a local Maildir (the embedded default), behind the same interface as IMAP.

Layout (Maildir++, as Dovecot and most MTAs write it): ``INBOX`` is the root Maildir; any
other folder ``F`` is the subfolder ``.F``, with the hierarchy separator ``/`` written as
``.`` (``Outreach/Processed`` -> ``.Outreach.Processed``). Messages in both ``new/`` and
``cur/`` count; reading never renames a message (no new -> cur) nor changes its flags.

UIDs: a Maildir has none, so each folder keeps ``outreach-uidlist.json`` (like Dovecot's
``dovecot-uidlist``): the UIDVALIDITY chosen when the file is created (its creation time in
seconds) and, per message key, the integer UID given the first time the key was seen. UIDs
are stable across processes and runs, new mail gets higher ones, and a deleted state file
means a new UIDVALIDITY, as on a real server. The file is updated under an ``flock`` and
written atomically (temp file + rename).

``mark_processed`` moves the message file into the processed folder's Maildir (created
when missing), bytes, flags and mtime unchanged — in both ``processed_action`` modes: a
Maildir has no keywords a person's mail client would show, so "keyword" also means "move".

A message that vanished between listing and reading (a mail client or MTA moved or deleted
it) is skipped. Files are listed and stat'ed directly rather than through
``mailbox.Maildir.get_message``, which would read whole messages just to learn their size
and date.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime
from pathlib import Path

import structlog

from outreach.mail.inbox_source import FetchedMail, FolderStatus, InboxUnavailable
from outreach.settings import ImapSettings

log = structlog.get_logger(__name__)

STATE_FILE = "outreach-uidlist.json"
LOCK_FILE = "outreach-uidlist.lock"
INBOX = "INBOX"
#: how long the UID of a message no longer listed is kept (see ``UidList.missing``)
FORGET_AFTER_SECONDS = 24 * 3600.0
#: Maildir info flags -> IMAP system flags
_FLAGS = {"D": "\\Draft", "F": "\\Flagged", "R": "\\Answered", "S": "\\Seen", "T": "\\Deleted"}


@dataclass(frozen=True)
class Entry:
    """One message file as listed: its key (name before ``:``) and where it is now."""

    key: str
    path: Path
    subdir: str  # "new" or "cur"
    size: int
    mtime: float

    @property
    def flags(self) -> tuple[str, ...]:
        info = self.path.name.partition(":")[2]
        if not info.startswith("2,"):
            return ()
        return tuple(_FLAGS[c] for c in info[2:] if c in _FLAGS)


@dataclass
class UidList:
    uidvalidity: int
    next_uid: int = 1
    uids: dict[str, int] = field(default_factory=dict)
    #: keys not listed by a sync, and since when: kept a while with their UIDs, because a
    #: directory listing can miss a file a mail client renames meanwhile (cur/K:2, ->
    #: cur/K:2,S), and forgetting it would give the same message a second UID
    missing: dict[str, float] = field(default_factory=dict)


def folder_dir(root: Path, folder: str) -> Path:
    """``INBOX`` -> root, ``Outreach/Processed`` -> ``root/.Outreach.Processed``."""
    if folder.upper() == INBOX:
        return root
    parts = folder.split("/")
    if any(not p or p.startswith(".") or os.sep in p or "\0" in p for p in parts):
        raise InboxUnavailable(f"maildir {root}: invalid folder name {folder!r}",
                               transient=False)
    return root / ("." + ".".join(parts))


def is_maildir(path: Path) -> bool:
    return (path / "cur").is_dir() and (path / "new").is_dir()


def list_entries(path: Path) -> dict[str, Entry]:
    """Every message in ``new/`` and ``cur/``; files vanishing while listed are left out."""
    entries: dict[str, Entry] = {}
    for subdir in ("new", "cur"):
        try:
            listing = list(os.scandir(path / subdir))
        except FileNotFoundError:
            continue
        for item in listing:
            if item.name.startswith("."):
                continue
            try:
                stat = item.stat()
            except FileNotFoundError:
                continue
            if not item.is_file():
                continue
            key = item.name.partition(":")[0]
            entries[key] = Entry(key=key, path=Path(item.path), subdir=subdir,
                                 size=stat.st_size, mtime=stat.st_mtime)
    return entries


def read_uidlist(path: Path) -> UidList | None:
    try:
        data = json.loads((path / STATE_FILE).read_text(encoding="utf-8"))
        return UidList(uidvalidity=int(data["uidvalidity"]), next_uid=int(data["next_uid"]),
                       uids={str(k): int(v) for k, v in data["uids"].items()},
                       missing={str(k): float(v) for k, v in data.get("missing", {}).items()})
    except FileNotFoundError:
        return None
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        log.warning("mail.maildir_uidlist_unreadable", folder=str(path), error=str(exc),
                    detail="starting a new UIDVALIDITY")
        return None


def write_uidlist(path: Path, state: UidList) -> None:
    payload = json.dumps({"uidvalidity": state.uidvalidity, "next_uid": state.next_uid,
                          "uids": state.uids, "missing": state.missing},
                         separators=(",", ":"), sort_keys=True)
    fd, tmp = tempfile.mkstemp(dir=path, prefix=f".{STATE_FILE}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(payload)
        Path(tmp).replace(path / STATE_FILE)
    except BaseException:
        with contextlib.suppress(OSError):
            Path(tmp).unlink()
        raise


@contextlib.contextmanager
def locked(path: Path) -> Iterator[None]:
    with (path / LOCK_FILE).open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def sync(path: Path, clock: Callable[[], float]) -> tuple[UidList, dict[str, Entry]]:
    """The folder's UID list brought up to date with its files (new keys get new UIDs)."""
    with locked(path):
        state = read_uidlist(path)
        entries = list_entries(path)
        changed = state is None
        if state is None:
            state = UidList(uidvalidity=max(1, int(clock()) % 2**32))
        fresh = sorted((e for k, e in entries.items() if k not in state.uids),
                       key=lambda e: (e.mtime, e.key))
        for entry in fresh:
            state.uids[entry.key] = state.next_uid
            state.next_uid += 1
            changed = True
        now = clock()
        for key in [k for k in state.uids if k not in entries]:
            if key not in state.missing:
                state.missing[key] = now
            elif now - state.missing[key] > FORGET_AFTER_SECONDS:
                del state.uids[key], state.missing[key]
            else:
                continue
            changed = True
        for key in [k for k in state.missing if k in entries]:
            del state.missing[key]
            changed = True
        if changed:
            write_uidlist(path, state)
    return state, entries


class MaildirSession:
    def __init__(self, root: Path, settings: ImapSettings, clock: Callable[[], float]) -> None:
        self.root = root
        self.settings = settings
        self.account = f"maildir:{root}"
        self._clock = clock

    def _existing(self, folder: str) -> Path | None:
        path = folder_dir(self.root, folder)
        return path if is_maildir(path) else None

    def _sync(self, folder: str) -> tuple[UidList, dict[str, Entry]] | None:
        path = self._existing(folder)
        if path is None:
            return None
        return sync(path, self._clock)

    def folder_status(self, folder: str) -> FolderStatus | None:
        with translated(self.root, f"status of {folder}"):
            synced = self._sync(folder)
        if synced is None:
            log.info("mail.maildir_folder_missing", account=self.account, folder=folder)
            return None
        state, entries = synced
        return FolderStatus(name=folder, uidvalidity=state.uidvalidity,
                            uidnext=state.next_uid, exists=len(entries))

    def search_uids(self, folder: str, *, min_uid: int = 1,
                    since: date | None = None) -> list[int]:
        with translated(self.root, f"search in {folder}"):
            synced = self._sync(folder)
        if synced is None:
            return []
        state, entries = synced
        found = []
        for key, entry in entries.items():
            uid = state.uids[key]
            if uid < min_uid:
                continue
            if since is not None and mtime_utc(entry.mtime).date() < since:
                continue
            found.append(uid)
        return sorted(found)

    def fetch(self, folder: str, uids: Sequence[int], *,
              max_bytes: int) -> Iterator[FetchedMail]:
        with translated(self.root, f"fetch from {folder}"):
            synced = self._sync(folder)
        if synced is None:
            return
        state, entries = synced
        by_uid = {state.uids[key]: entry for key, entry in entries.items()}
        for uid in sorted(set(uids)):
            entry = by_uid.get(uid)
            if entry is None:
                continue
            mail = self._read(folder, state.uidvalidity, uid, entry, max_bytes)
            if mail is not None:
                yield mail

    def _read(self, folder: str, uidvalidity: int, uid: int, entry: Entry,
              max_bytes: int) -> FetchedMail | None:
        """The message as it is now; a mail client may rename it (new -> cur) meanwhile."""
        for _attempt in range(2):
            current = refreshed(entry)
            if current is None:
                break
            mail = FetchedMail(folder=folder, uidvalidity=uidvalidity, uid=uid, raw=None,
                               size=current.size, internal_date=mtime_utc(current.mtime),
                               flags=current.flags)
            if current.size > max_bytes:
                log.info("mail.maildir_too_large", account=self.account, folder=folder,
                         uid=uid, size=current.size, max_bytes=max_bytes)
                return replace(mail, error="too_large")
            try:
                raw = current.path.read_bytes()
            except FileNotFoundError:
                entry = current
                continue
            except OSError as exc:
                return replace(mail, error=f"read failed: {exc.strerror}")
            return replace(mail, raw=raw, size=len(raw))
        log.info("mail.maildir_vanished", account=self.account, folder=folder, uid=uid)
        return None

    def mark_processed(self, folder: str, uids: Sequence[int]) -> None:
        wanted = set(uids)
        if not wanted:
            return
        target_name = self.settings.processed_folder
        with translated(self.root, f"move to {target_name}"):
            source = self._existing(folder)
            target = folder_dir(self.root, target_name)
            if source is None or source == target:
                return
            ensure_maildir(self.root, target_name)
            state, entries = sync(source, self._clock)
            moved = 0
            for key, entry in entries.items():
                if state.uids[key] not in wanted:
                    continue
                if self._move(entry, target, folder, state.uids[key]):
                    moved += 1
        log.info("mail.maildir_processed", account=self.account, folder=folder,
                 uids=len(wanted), moved=moved, target=target_name,
                 action=self.settings.processed_action)

    def _move(self, entry: Entry, target: Path, folder: str, uid: int) -> bool:
        """Rename into ``target`` (same subdir and name), following a new -> cur rename."""
        for _attempt in range(2):
            current = refreshed(entry)
            if current is None:
                return False  # deleted meanwhile
            destination = target / current.subdir / current.path.name
            if destination.exists():
                log.warning("mail.maildir_move_conflict", account=self.account, folder=folder,
                            uid=uid, target=str(destination))
                return False
            try:
                current.path.rename(destination)
            except FileNotFoundError:
                entry = current
                continue
            return True
        return False


def refreshed(entry: Entry) -> Entry | None:
    """``entry`` as it is now (a mail client may have moved it new -> cur), or None."""
    try:
        stat = entry.path.stat()
        return Entry(key=entry.key, path=entry.path, subdir=entry.subdir,
                     size=stat.st_size, mtime=stat.st_mtime)
    except FileNotFoundError:
        pass
    return list_entries(entry.path.parent.parent).get(entry.key)


def mtime_utc(mtime: float) -> datetime:
    return datetime.fromtimestamp(mtime, tz=UTC)


def ensure_maildir(root: Path, folder: str) -> Path:
    """The folder's Maildir, created (with ``maildirfolder`` for subfolders) when missing.

    Not ``mailbox.Maildir(create=True)``: it creates nothing when the directory already
    exists (an empty data directory's ``maildir/``), leaving a Maildir without new/ cur/.
    """
    path = folder_dir(root, folder)
    created = not is_maildir(path)
    for directory in {root, path}:
        for sub in ("tmp", "new", "cur"):
            (directory / sub).mkdir(mode=0o700, parents=True, exist_ok=True)
    if path != root:
        (path / "maildirfolder").touch(exist_ok=True)
    if created:
        log.info("mail.maildir_folder_created", root=str(root), folder=folder)
    return path


@contextlib.contextmanager
def translated(root: Path, action: str) -> Iterator[None]:
    try:
        yield
    except OSError as exc:
        raise InboxUnavailable(f"maildir {root}: {action} failed: {exc}",
                               transient=not isinstance(exc, PermissionError)) from exc


class MaildirSource:
    """A local Maildir; ``open()`` creates the root Maildir when missing."""

    def __init__(self, root: Path, settings: ImapSettings, *,
                 clock: Callable[[], float] = time.time) -> None:
        self.root = root
        self.settings = settings
        self.account = f"maildir:{root}"
        self._clock = clock

    @contextlib.contextmanager
    def open(self) -> Iterator[MaildirSession]:
        with translated(self.root, "open"):
            ensure_maildir(self.root, INBOX)
        yield MaildirSession(self.root, self.settings, self._clock)
