"""MaildirSource on plain files: UIDs that survive processes, new/ and cur/, races, moves."""

from __future__ import annotations

import json
import mailbox
import os
import subprocess
import sys
import threading
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from outreach.mail.inbox_source import InboxUnavailable
from outreach.mail.maildir_source import STATE_FILE, MaildirSource
from outreach.settings import ImapSettings

SETTINGS = ImapSettings(processed_folder="Outreach/Processed")


class Clock:
    """Seconds for UIDVALIDITY, advanced by hand."""

    def __init__(self, now: float = 1_760_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def raw_message(subject: str, body: str = "CMRT attached.") -> bytes:
    return (f"From: supplier@supplier.test\nTo: bot@outreach.test\nSubject: {subject}\n\n"
            f"{body}\n").encode()


def deliver(root: Path, raw: bytes, folder: str | None = None, *, seen: bool = False,
            mtime: float | None = None) -> Path:
    """Write like an MTA (tmp -> new) or, with ``seen``, like a mail client that read it."""
    for sub in ("tmp", "new", "cur"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    box = mailbox.Maildir(root, create=True)
    if folder is not None:
        box = box.add_folder(folder)
    msg = mailbox.MaildirMessage(raw)
    if seen:
        msg.set_subdir("cur")
        msg.set_flags("S")
    key = box.add(msg)
    path = Path(box._path) / box._lookup(key)  # the test needs the file
    if mtime is not None:
        os.utime(path, (mtime, mtime))
    return path


def files_of(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes()
            for sub in ("new", "cur") for p in sorted((folder / sub).iterdir())}


def test_uids_are_stable_across_instances_and_new_mail_gets_higher_ones(tmp_path: Path) -> None:
    for n in range(3):
        deliver(tmp_path, raw_message(f"reply {n}"), mtime=1_700_000_000 + n)
    first = MaildirSource(tmp_path, SETTINGS)
    assert first.account == f"maildir:{tmp_path}"
    with first.open() as inbox:
        status = inbox.folder_status("INBOX")
        uids = inbox.search_uids("INBOX")
        subjects = {m.uid: m.raw for m in inbox.fetch("INBOX", uids, max_bytes=10_000)}
    assert status is not None and status.exists == 3 and status.uidnext == 4
    assert uids == [1, 2, 3]
    assert subjects == {1 + n: raw_message(f"reply {n}") for n in range(3)}  # mtime order

    deliver(tmp_path, raw_message("later"))
    with MaildirSource(tmp_path, SETTINGS).open() as inbox:
        again = inbox.folder_status("INBOX")
        assert inbox.search_uids("INBOX") == [1, 2, 3, 4]
        assert inbox.search_uids("INBOX", min_uid=4) == [4]
        assert [m.raw for m in inbox.fetch("INBOX", [4], max_bytes=10_000)] == [
            raw_message("later")]
    assert again is not None and again.uidvalidity == status.uidvalidity
    assert again.uidnext == 5 and again.exists == 4


def test_uids_agree_between_processes(tmp_path: Path) -> None:
    for n in range(5):
        deliver(tmp_path, raw_message(f"reply {n}"))
    script = (
        "import sys; from pathlib import Path\n"
        "from outreach.mail.maildir_source import MaildirSource\n"
        "from outreach.settings import ImapSettings\n"
        "with MaildirSource(Path(sys.argv[1]), ImapSettings()).open() as inbox:\n"
        "    s = inbox.folder_status('INBOX')\n"
        "    print(s.uidvalidity, [(m.uid, m.raw.decode().split(chr(10))[2]) for m in "
        "inbox.fetch('INBOX', inbox.search_uids('INBOX'), max_bytes=10**6)])\n")
    outputs = {subprocess.run([sys.executable, "-c", script, str(tmp_path)], check=True,
                              capture_output=True, text=True).stdout.splitlines()[-1]
               for _ in range(2)}
    with MaildirSource(tmp_path, SETTINGS).open() as inbox:
        status = inbox.folder_status("INBOX")
        here = [(m.uid, m.raw.decode().split("\n")[2])  # type: ignore[union-attr]
                for m in inbox.fetch("INBOX", inbox.search_uids("INBOX"), max_bytes=10**6)]
    assert status is not None
    assert outputs == {f"{status.uidvalidity} {here}"}


def test_reading_new_and_cur_changes_nothing(tmp_path: Path) -> None:
    unread = deliver(tmp_path, raw_message("unread"), mtime=1_700_000_000)
    read = deliver(tmp_path, raw_message("read"), seen=True, mtime=1_700_000_100)
    before = files_of(tmp_path)
    stats = {p: p.stat().st_mtime for p in (unread, read)}

    with MaildirSource(tmp_path, SETTINGS).open() as inbox:
        fetched = list(inbox.fetch("INBOX", inbox.search_uids("INBOX"), max_bytes=10_000))

    assert [(m.raw, m.flags) for m in fetched] == [
        (raw_message("unread"), ()), (raw_message("read"), ("\\Seen",))]
    assert fetched[0].internal_date == datetime.fromtimestamp(1_700_000_000, UTC)
    assert fetched[1].size == len(raw_message("read"))
    assert files_of(tmp_path) == before  # nothing moved new -> cur, no flag added
    assert unread.parent.name == "new" and read.parent.name == "cur"
    assert {p: p.stat().st_mtime for p in (unread, read)} == stats


def test_since_uses_the_file_date(tmp_path: Path) -> None:
    deliver(tmp_path, raw_message("old"), mtime=datetime(2020, 1, 1, tzinfo=UTC).timestamp())
    deliver(tmp_path, raw_message("new"), mtime=datetime(2026, 2, 1, tzinfo=UTC).timestamp())
    with MaildirSource(tmp_path, SETTINGS).open() as inbox:
        assert inbox.search_uids("INBOX") == [1, 2]
        assert inbox.search_uids("INBOX", since=date(2026, 1, 1)) == [2]
        assert inbox.search_uids("INBOX", since=date(2026, 2, 1)) == [2]
        assert inbox.search_uids("INBOX", since=date(2026, 2, 2)) == []


def test_message_vanished_between_listing_and_reading_is_skipped(tmp_path: Path) -> None:
    gone = deliver(tmp_path, raw_message("gone"), mtime=1_700_000_000)
    moved = deliver(tmp_path, raw_message("moved by a client"), mtime=1_700_000_001)
    deliver(tmp_path, raw_message("kept"), mtime=1_700_000_002)
    with MaildirSource(tmp_path, SETTINGS).open() as inbox:
        uids = inbox.search_uids("INBOX")
        gone.unlink()
        # a mail client reads it meanwhile: new/KEY -> cur/KEY:2,S, same UID
        moved.rename(tmp_path / "cur" / f"{moved.name}:2,S")
        fetched = list(inbox.fetch("INBOX", uids, max_bytes=10_000))
    assert [(m.uid, m.raw, m.flags) for m in fetched] == [
        (2, raw_message("moved by a client"), ("\\Seen",)), (3, raw_message("kept"), ())]


def test_too_large_is_not_read(tmp_path: Path) -> None:
    deliver(tmp_path, raw_message("big", body="z" * 5000))
    with MaildirSource(tmp_path, SETTINGS).open() as inbox:
        (mail,) = inbox.fetch("INBOX", [1], max_bytes=1000)
    assert mail.raw is None and mail.error == "too_large" and mail.size > 5000


def test_deleted_state_file_means_new_uidvalidity(tmp_path: Path) -> None:
    clock = Clock()
    deliver(tmp_path, raw_message("a"))
    source = MaildirSource(tmp_path, SETTINGS, clock=clock)
    with source.open() as inbox:
        first = inbox.folder_status("INBOX")
    (tmp_path / STATE_FILE).unlink()
    clock.now += 60
    with source.open() as inbox:
        second = inbox.folder_status("INBOX")
    assert first is not None and second is not None
    assert first.uidvalidity == int(Clock().now)
    assert second.uidvalidity == first.uidvalidity + 60
    assert json.loads((tmp_path / STATE_FILE).read_text())["uidvalidity"] == second.uidvalidity


def test_junk_subfolder_and_missing_folder(tmp_path: Path) -> None:
    deliver(tmp_path, raw_message("inbox"))
    deliver(tmp_path, raw_message("junk"), folder="Junk")
    assert (tmp_path / ".Junk" / "maildirfolder").exists()
    with MaildirSource(tmp_path, SETTINGS).open() as inbox:
        junk = inbox.folder_status("Junk")
        assert junk is not None and junk.exists == 1
        assert [m.raw for m in inbox.fetch("Junk", inbox.search_uids("Junk"),
                                           max_bytes=10_000)] == [raw_message("junk")]
        assert inbox.folder_status("Spam") is None
        assert inbox.search_uids("Spam") == []
        assert list(inbox.fetch("Spam", [1], max_bytes=10_000)) == []
        with pytest.raises(InboxUnavailable):
            inbox.folder_status("../escape")
    assert not (tmp_path / ".Spam").exists()


@pytest.mark.parametrize("action", ["move", "keyword"])
def test_mark_processed_moves_only_those_preserving_bytes(tmp_path: Path, action: str) -> None:
    paths = [deliver(tmp_path, raw_message(f"reply {n}"), mtime=1_700_000_000 + n)
             for n in range(3)]
    read = deliver(tmp_path, raw_message("read reply"), seen=True, mtime=1_700_000_010)
    paths[1].write_bytes(b"Subject: reply 1\r\n\r\nodd \x00 bytes \xff\r\n")
    os.utime(paths[1], (1_700_000_001, 1_700_000_001))
    originals = {p.name: p.read_bytes() for p in [*paths, read]}
    settings = SETTINGS.model_copy(update={"processed_action": action})

    with MaildirSource(tmp_path, settings).open() as inbox:
        inbox.mark_processed("INBOX", [2, 4])
        assert inbox.search_uids("INBOX") == [1, 3]
        processed = inbox.folder_status("Outreach/Processed")
        moved = list(inbox.fetch("Outreach/Processed", [1, 2], max_bytes=10_000))

    target = tmp_path / ".Outreach.Processed"
    assert (target / "maildirfolder").exists()
    assert processed is not None and processed.exists == 2
    assert files_of(target) == {f"new/{paths[1].name}": originals[paths[1].name],
                                f"cur/{read.name}": originals[read.name]}
    assert (target / "new" / paths[1].name).stat().st_mtime == 1_700_000_001
    assert [m.flags for m in moved] == [(), ("\\Seen",)]
    assert files_of(tmp_path) == {f"new/{p.name}": originals[p.name]
                                  for p in (paths[0], paths[2])}


def test_concurrent_delivery_while_reading(tmp_path: Path) -> None:
    """An MTA writing while we list and read: every message gets one UID, none is torn."""
    count = 150
    expected = {raw_message(f"reply {n}", body="b" * n) for n in range(count)}
    deliver(tmp_path, raw_message("first"))
    expected.add(raw_message("first"))

    def mta() -> None:
        for n in range(count):
            deliver(tmp_path, raw_message(f"reply {n}", body="b" * n))

    writer = threading.Thread(target=mta)
    seen: dict[int, bytes] = {}
    source = MaildirSource(tmp_path, SETTINGS)
    writer.start()
    while True:
        done = not writer.is_alive()
        with source.open() as inbox:
            for mail in inbox.fetch("INBOX", inbox.search_uids("INBOX"), max_bytes=10_000):
                assert mail.raw in expected
                assert seen.setdefault(mail.uid, mail.raw) == mail.raw
        if done:
            break
    writer.join()
    assert sorted(seen) == list(range(1, count + 2))
    assert set(seen.values()) == expected


@pytest.mark.parametrize("existing", [True, False])
def test_open_creates_the_maildir(tmp_path: Path, existing: bool) -> None:
    root = tmp_path / "data" / "maildir"
    if existing:
        root.mkdir(parents=True)  # an empty directory is not yet a Maildir
    with MaildirSource(root, SETTINGS).open() as inbox:
        status = inbox.folder_status("INBOX")
        assert status is not None and status.exists == 0 and status.uidnext == 1
    assert all((root / sub).is_dir() for sub in ("tmp", "new", "cur"))
    deliver(root, raw_message("first"))
    with MaildirSource(root, SETTINGS).open() as inbox:
        assert inbox.search_uids("INBOX") == [1]


def test_a_message_missing_from_one_listing_keeps_its_uid(tmp_path: Path) -> None:
    clock = Clock()
    path = deliver(tmp_path, raw_message("flapping"), mtime=1_700_000_000)
    deliver(tmp_path, raw_message("other"), mtime=1_700_000_001)
    raw = path.read_bytes()
    source = MaildirSource(tmp_path, SETTINGS, clock=clock)
    with source.open() as inbox:
        assert inbox.search_uids("INBOX") == [1, 2]
        path.unlink()  # e.g. missed by a listing while a mail client renamed it
        assert inbox.search_uids("INBOX") == [2]
        clock.now += 3600
        (tmp_path / "cur" / f"{path.name}:2,S").write_bytes(raw)
        assert inbox.search_uids("INBOX") == [1, 2]  # the same UID, not a new one
        status = inbox.folder_status("INBOX")
        assert status is not None and status.uidnext == 3
        # gone for longer than a day: forgotten (its UID is never given again)
        (tmp_path / "cur" / f"{path.name}:2,S").unlink()
        inbox.search_uids("INBOX")
        clock.now += 2 * 86400
        inbox.search_uids("INBOX")
    state = json.loads((tmp_path / STATE_FILE).read_text())
    (other,) = (tmp_path / "new").iterdir()
    assert state["uids"] == {other.name: 2}
    assert state["missing"] == {} and state["next_uid"] == 3
