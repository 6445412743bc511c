"""ImapSource and IdleWatcher against a real Dovecot (tests/support/dovecot.py).

Mail is APPENDed with ``flags=()`` so it arrives UNSEEN, as a supplier's reply would.
"""

from __future__ import annotations

import imaplib
import re
import socketserver
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from imapclient import IMAPClient
from imapclient.exceptions import IMAPClientError

from outreach.mail import idle_watcher as idle_module
from outreach.mail.idle_watcher import IdleWatcher, backoff_delay
from outreach.mail.imap_source import ImapSession, ImapSource, to_server_name
from outreach.mail.inbox import open_inbox
from outreach.mail.inbox_source import InboxUnavailable
from outreach.mail.maildir_source import MaildirSource
from outreach.settings import ImapSettings
from tests.support.dovecot import free_loopback_ports
from tests.support.mail_fixtures import Mailboxes

pytestmark = pytest.mark.mail

KEYWORD = "$OutreachProcessed"


def settings_for(mailboxes: Mailboxes, **overrides: Any) -> ImapSettings:
    """The bot's mailbox over IMAPS, verifying the instance's own certificate."""
    values: dict[str, Any] = dict(
        source="imap", host=mailboxes.dovecot.host, port=mailboxes.dovecot.imaps_port,
        security="tls", ca_file=mailboxes.dovecot.cafile, username=mailboxes.bot.login,
        password=mailboxes.bot.password, timeout_seconds=10, reconnect_cap_seconds=2)
    values.update(overrides)
    return ImapSettings(**values)


def message(subject: str, body: str = "Please find our CMRT attached.") -> bytes:
    return (f"From: supplier@supplier.test\r\nTo: bot@outreach.test\r\nSubject: {subject}\r\n"
            f"Message-ID: <{subject.replace(' ', '-')}@supplier.test>\r\n\r\n{body}\r\n"
            ).encode()


def append(mailboxes: Mailboxes, raw: bytes, folder: str = "INBOX",
           flags: tuple[bytes, ...] = ()) -> int:
    uid = mailboxes.dovecot.append(mailboxes.bot.login, folder, raw, flags=flags)
    assert uid is not None
    return uid


def flags_of(mailboxes: Mailboxes, folder: str = "INBOX") -> dict[int, set[bytes]]:
    """Each message's flags, without \\Recent (a session-local flag)."""
    with mailboxes.imap(mailboxes.bot) as client:
        client.select_folder(folder, readonly=True)
        uids = client.search("ALL")
        fetched = client.fetch(uids, ["FLAGS"])
        return {uid: set(data[b"FLAGS"]) - {b"\\Recent"} for uid, data in fetched.items()}


def wait_for(condition: Callable[[], bool], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return condition()


# -- status and search ----------------------------------------------------------------------


def test_status_matches_the_server_and_missing_folder_is_none(mailboxes: Mailboxes) -> None:
    uids = [append(mailboxes, message(f"reply {n}")) for n in range(3)]
    append(mailboxes, message("junk reply"), folder="Junk")
    with mailboxes.imap(mailboxes.bot) as client:
        expected = client.select_folder("INBOX", readonly=True)

    source = ImapSource(settings_for(mailboxes))
    assert source.account == f"imap:bot@{mailboxes.dovecot.host}:{mailboxes.dovecot.imaps_port}"
    with source.open() as inbox:
        assert inbox.account == source.account
        status = inbox.folder_status("INBOX")
        junk = inbox.folder_status("Junk")
        assert inbox.folder_status("No Such Folder") is None
        # the session is still usable after the failed EXAMINE
        assert inbox.search_uids("INBOX") == uids

    assert status is not None and junk is not None
    assert status.uidvalidity == expected[b"UIDVALIDITY"]
    assert status.uidnext == uids[-1] + 1
    assert status.exists == 3
    assert junk.exists == 1 and junk.name == "Junk"


def test_search_filters_min_uid_and_since(mailboxes: Mailboxes) -> None:
    with mailboxes.imap(mailboxes.bot) as client:
        response = client.append("INBOX", message("old reply"), flags=(),
                                 msg_time=datetime(2020, 1, 15, 12, tzinfo=UTC))
    old = int(re.search(rb"APPENDUID \d+ (\d+)", response).group(1))  # type: ignore[union-attr]
    newer = [append(mailboxes, message(f"reply {n}")) for n in range(3)]

    with ImapSource(settings_for(mailboxes)).open() as inbox:
        assert inbox.search_uids("INBOX") == [old, *newer]
        assert inbox.search_uids("INBOX", min_uid=newer[1]) == newer[1:]
        # "UID n:*" matches the highest UID even when it is below n: it must not come back
        assert inbox.search_uids("INBOX", min_uid=newer[-1] + 1) == []
        assert inbox.search_uids("INBOX", since=date(2021, 1, 1)) == newer
        assert inbox.search_uids("INBOX", min_uid=newer[2], since=date(2021, 1, 1)) == newer[2:]


# -- fetch ----------------------------------------------------------------------------------


def test_fetch_returns_exact_bytes_in_batches_and_leaves_mail_unseen(
        mailboxes: Mailboxes) -> None:
    raws = [message(f"reply {n}", body="x" * (n * 100)) for n in range(5)]
    uids = [append(mailboxes, raw) for raw in raws]
    before = datetime.now(UTC)

    source = ImapSource(settings_for(mailboxes, fetch_batch=2))
    with source.open() as inbox:
        status = inbox.folder_status("INBOX")
        fetched = list(inbox.fetch("INBOX", [*reversed(uids), 999], max_bytes=1_000_000))

    assert status is not None
    assert [m.uid for m in fetched] == uids  # ascending, the missing UID left out
    for mail, raw in zip(fetched, raws, strict=True):
        assert mail.raw == raw
        assert mail.size == len(raw)
        assert mail.error is None
        assert mail.folder == "INBOX" and mail.uidvalidity == status.uidvalidity
        assert mail.internal_date is not None and mail.internal_date.tzinfo is not None
        assert mail.internal_date.utcoffset().total_seconds() == 0  # type: ignore[union-attr]
        assert abs((mail.internal_date - before).total_seconds()) < 120
        assert "\\Seen" not in mail.flags
    assert all(b"\\Seen" not in flags for flags in flags_of(mailboxes).values())


def test_too_large_is_reported_without_downloading_it(
        mailboxes: Mailboxes, monkeypatch: pytest.MonkeyPatch) -> None:
    small = message("small reply")
    large = message("large reply", body="y" * 50_000)
    small_uid, large_uid = append(mailboxes, small), append(mailboxes, large)

    with ImapSource(settings_for(mailboxes)).open() as inbox:
        assert isinstance(inbox, ImapSession)
        requested: list[tuple[list[int], list[str]]] = []
        real_fetch = inbox._client.fetch

        def spy(messages: list[int], data: list[str], modifiers: Any = None) -> Any:
            requested.append((list(messages), list(data)))
            return real_fetch(messages, data, modifiers)

        monkeypatch.setattr(inbox._client, "fetch", spy)
        fetched = {m.uid: m for m in inbox.fetch("INBOX", [small_uid, large_uid],
                                                 max_bytes=10_000)}

    assert fetched[small_uid].raw == small
    too_large = fetched[large_uid]
    assert too_large.raw is None and too_large.error == "too_large"
    assert too_large.size == len(large)
    downloads = [uids for uids, data in requested if "BODY.PEEK[]" in data]
    assert downloads == [[small_uid]]


def test_a_message_the_server_refuses_does_not_stop_the_batch(
        mailboxes: Mailboxes, monkeypatch: pytest.MonkeyPatch) -> None:
    raws = [message(f"reply {n}") for n in range(3)]
    uids = [append(mailboxes, raw) for raw in raws]
    with ImapSource(settings_for(mailboxes)).open() as inbox:
        assert isinstance(inbox, ImapSession)
        real_fetch = inbox._client.fetch

        def refuse_middle(messages: list[int], data: list[str], modifiers: Any = None) -> Any:
            if "BODY.PEEK[]" in data and uids[1] in messages:
                raise IMAPClientError("FETCH failed: NO [SERVERBUG] Internal error")
            return real_fetch(messages, data, modifiers)

        monkeypatch.setattr(inbox._client, "fetch", refuse_middle)
        fetched = list(inbox.fetch("INBOX", uids, max_bytes=10_000))
        assert inbox.folder_status("INBOX") is not None  # the session goes on
    assert [m.raw for m in fetched] == [raws[0], None, raws[2]]
    assert fetched[1].error is not None and "SERVERBUG" in fetched[1].error
    assert fetched[1].size == len(raws[1])


# -- mark_processed -------------------------------------------------------------------------


def test_move_creates_nested_folder_and_touches_nothing_else(mailboxes: Mailboxes) -> None:
    raws = [message(f"reply {n}") for n in range(3)]
    uids = [append(mailboxes, raw) for raw in raws]
    theirs = append(mailboxes, message("someone else's, flagged"), flags=(b"\\Flagged",))
    junk = append(mailboxes, message("junk"), folder="Junk")

    settings = settings_for(mailboxes, processed_folder="Outreach/Processed")
    with ImapSource(settings).open() as inbox:
        inbox.mark_processed("INBOX", [uids[0], uids[2]])
        assert inbox.search_uids("INBOX") == [uids[1], theirs]

    left = flags_of(mailboxes)
    assert left == {uids[1]: set(), theirs: {b"\\Flagged"}}
    assert flags_of(mailboxes, "Junk") == {junk: set()}
    moved = mailboxes.dovecot.fetch_raw(mailboxes.bot.login, "Outreach/Processed")
    assert moved == [raws[0], raws[2]]


def test_move_without_move_capability_expunges_only_those_uids(mailboxes: Mailboxes) -> None:
    ours = append(mailboxes, message("ours"))
    # a message someone else marked \Deleted but did not expunge must survive
    deleted_by_them = append(mailboxes, message("theirs, deleted"), flags=(b"\\Deleted",))
    other = append(mailboxes, message("other"))

    with ImapSource(settings_for(mailboxes)).open() as inbox:
        assert isinstance(inbox, ImapSession)
        assert {"MOVE", "UIDPLUS"} <= inbox.capabilities
        inbox.capabilities = inbox.capabilities - {"MOVE"}
        inbox.mark_processed("INBOX", [ours])

    assert flags_of(mailboxes) == {deleted_by_them: {b"\\Deleted"}, other: set()}
    assert mailboxes.dovecot.fetch_raw(mailboxes.bot.login, "Outreach") == [message("ours")]


def test_move_without_move_or_uidplus_falls_back_to_keyword(mailboxes: Mailboxes) -> None:
    ours, other = append(mailboxes, message("ours")), append(mailboxes, message("other"))
    with ImapSource(settings_for(mailboxes)).open() as inbox:
        assert isinstance(inbox, ImapSession)
        inbox.capabilities = inbox.capabilities - {"MOVE", "UIDPLUS"}
        inbox.mark_processed("INBOX", [ours])
        assert inbox.folder_status("Outreach") is None

    assert flags_of(mailboxes) == {ours: {KEYWORD.encode()}, other: set()}


def test_keyword_mode_flags_only_the_given_uids(mailboxes: Mailboxes) -> None:
    uids = [append(mailboxes, message(f"reply {n}")) for n in range(3)]
    settings = settings_for(mailboxes, processed_action="keyword")
    with ImapSource(settings).open() as inbox:
        inbox.mark_processed("INBOX", [uids[1]])
        inbox.mark_processed("INBOX", [])
        fetched = list(inbox.fetch("INBOX", uids, max_bytes=100_000))

    assert flags_of(mailboxes) == {uids[0]: set(), uids[1]: {KEYWORD.encode()}, uids[2]: set()}
    assert [KEYWORD in m.flags for m in fetched] == [False, True, False]


# -- failures -------------------------------------------------------------------------------


def test_wrong_password_is_not_transient(mailboxes: Mailboxes) -> None:
    source = ImapSource(settings_for(mailboxes, password="wrong"))
    with pytest.raises(InboxUnavailable) as caught, source.open():
        pass
    assert caught.value.transient is False
    assert f"{mailboxes.dovecot.host}:{mailboxes.dovecot.imaps_port}" in str(caught.value)
    assert "login" in str(caught.value) and "wrong" not in str(caught.value)


def test_untrusted_certificate_is_refused(mailboxes: Mailboxes) -> None:
    # the system CAs do not know the instance's self-signed certificate
    with pytest.raises(InboxUnavailable) as caught, \
            ImapSource(settings_for(mailboxes, ca_file=None)).open():
        pass
    assert caught.value.transient is False
    assert "certificate" in str(caught.value)
    # verify_tls = false is the explicit way round it
    with ImapSource(settings_for(mailboxes, ca_file=None, verify_tls=False)).open() as inbox:
        assert inbox.folder_status("INBOX") is not None


def test_starttls_on_the_plain_port(mailboxes: Mailboxes) -> None:
    settings = settings_for(mailboxes, port=mailboxes.dovecot.imap_port, security="starttls")
    with ImapSource(settings).open() as inbox:
        assert inbox.folder_status("INBOX") is not None


class _NoStarttlsHandler(socketserver.StreamRequestHandler):
    """An IMAP server that never offers STARTTLS; records every command it receives."""

    commands: list[bytes]

    def handle(self) -> None:
        self.wfile.write(b"* OK [CAPABILITY IMAP4rev1 AUTH=PLAIN] fake ready\r\n")
        for line in self.rfile:
            tag, _, rest = line.strip().partition(b" ")
            type(self).commands.append(rest)
            if rest.upper().startswith(b"CAPABILITY"):
                self.wfile.write(b"* CAPABILITY IMAP4rev1 AUTH=PLAIN\r\n" + tag + b" OK done\r\n")
            elif rest.upper().startswith(b"LOGOUT"):
                self.wfile.write(b"* BYE\r\n" + tag + b" OK bye\r\n")
                return
            else:
                self.wfile.write(tag + b" OK whatever\r\n")


def test_starttls_missing_is_an_error_never_plain_text() -> None:
    _NoStarttlsHandler.commands = []
    with socketserver.ThreadingTCPServer(("127.0.0.1", 0), _NoStarttlsHandler) as server:
        threading.Thread(target=server.serve_forever, daemon=True).start()
        try:
            settings = ImapSettings(source="imap", host="127.0.0.1",
                                    port=server.server_address[1], security="starttls",
                                    username="bot", password="botpass", timeout_seconds=5)
            with pytest.raises(InboxUnavailable) as caught, ImapSource(settings).open():
                pass
        finally:
            server.shutdown()
    assert caught.value.transient is False
    assert "STARTTLS" in str(caught.value)
    assert not any(c.upper().startswith(b"LOGIN") for c in _NoStarttlsHandler.commands)


def test_server_down_is_transient_and_recovers(mailboxes: Mailboxes) -> None:
    uid = append(mailboxes, message("reply"))
    source = ImapSource(settings_for(mailboxes))
    with source.open() as inbox:
        before = inbox.folder_status("INBOX")
        mailboxes.dovecot.stop()  # mid-session: the connection drops under us
        with pytest.raises(InboxUnavailable) as mid:
            inbox.folder_status("INBOX")
    assert mid.value.transient is True

    with pytest.raises(InboxUnavailable) as down, source.open():
        pass
    assert down.value.transient is True
    assert f"{mailboxes.dovecot.host}:{mailboxes.dovecot.imaps_port}" in str(down.value)
    assert "refused" in str(down.value)

    mailboxes.dovecot.start()
    with source.open() as inbox:
        assert inbox.folder_status("INBOX") == before
        assert [m.raw for m in inbox.fetch("INBOX", [uid], max_bytes=10_000)] == [
            message("reply")]


def test_open_inbox_chooses_by_source(mailboxes: Mailboxes, tmp_path: Path) -> None:
    assert isinstance(open_inbox(settings_for(mailboxes), tmp_path), ImapSource)
    maildir = open_inbox(settings_for(mailboxes, source="maildir"), tmp_path)
    assert isinstance(maildir, MaildirSource) and maildir.account == f"maildir:{tmp_path}"


# -- IDLE -----------------------------------------------------------------------------------


@pytest.fixture
def watchers() -> Iterator[list[IdleWatcher]]:
    started: list[IdleWatcher] = []
    yield started
    for watcher in started:
        watcher.stop()


def test_idle_wakes_on_append_and_delivery_and_stops_promptly(
        mailboxes: Mailboxes, watchers: list[IdleWatcher]) -> None:
    woken: list[float] = []

    def on_wake() -> None:
        woken.append(time.monotonic())
        raise RuntimeError("a failing handler must not end the watch")

    watcher = IdleWatcher(settings_for(mailboxes), "INBOX", on_wake)
    watchers.append(watcher)
    watcher.start()
    assert wait_for(lambda: watcher.idles >= 1, 5)
    assert watcher.wakeups == 0

    sent = time.monotonic()
    append(mailboxes, message("appended"))
    assert wait_for(lambda: watcher.wakeups >= 1, 3)
    assert woken[0] - sent < 3

    time.sleep(0.5)  # let any trailing RECENT of the APPEND come in
    count = watcher.wakeups
    mailboxes.dovecot.deliver_lmtp(message("delivered"), mailboxes.bot.address)
    assert wait_for(lambda: watcher.wakeups > count, 3)
    assert watcher.alive and watcher.reconnects == 0

    started = time.monotonic()
    watcher.stop()
    assert time.monotonic() - started < 3
    assert not watcher.alive and watcher.ended == "stopped"


def test_idle_survives_a_dovecot_restart(mailboxes: Mailboxes,
                                         watchers: list[IdleWatcher]) -> None:
    watcher = IdleWatcher(settings_for(mailboxes), "INBOX", lambda: None)
    watchers.append(watcher)
    watcher.start()
    assert wait_for(lambda: watcher.idles >= 1, 5)

    mailboxes.dovecot.restart()
    assert wait_for(lambda: watcher.reconnects >= 1 and watcher.idles >= 2, 10)
    assert watcher.alive
    count = watcher.wakeups  # includes the catch-up wake after reconnecting
    assert count >= 1
    append(mailboxes, message("after restart"))
    assert wait_for(lambda: watcher.wakeups > count, 3)


def test_idle_is_renewed(mailboxes: Mailboxes, watchers: list[IdleWatcher]) -> None:
    watcher = IdleWatcher(settings_for(mailboxes, idle_renew_seconds=5), "INBOX", lambda: None)
    watchers.append(watcher)
    watcher.start()
    assert wait_for(lambda: watcher.idles >= 1, 5)
    first = time.monotonic()
    assert wait_for(lambda: watcher.idles >= 2, 9)
    assert 4 <= time.monotonic() - first <= 9
    assert watcher.reconnects == 0 and watcher.wakeups == 0


def test_reconnect_backoff_doubles_up_to_the_cap() -> None:
    (port,) = free_loopback_ports(1)  # nothing listens there
    delays: list[float] = []
    settings = ImapSettings(source="imap", host="127.0.0.1", port=port, username="bot",
                            password="botpass", reconnect_cap_seconds=5, timeout_seconds=2)
    watcher: IdleWatcher

    def fake_sleep(seconds: float) -> None:
        delays.append(seconds)
        if len(delays) >= 6:
            watcher.stop()  # from inside the thread: sets the event, does not join

    watcher = IdleWatcher(settings, "INBOX", lambda: None, clock_sleep=fake_sleep)
    watcher.start()
    assert wait_for(lambda: not watcher.alive, 10)
    assert delays == [1, 2, 4, 5, 5, 5]
    assert watcher.reconnects == 6
    assert [backoff_delay(n, 300) for n in (0, 3, 8, 9, 100)] == [1, 8, 256, 300, 300]


def test_stop_is_prompt_while_backing_off() -> None:
    (port,) = free_loopback_ports(1)
    settings = ImapSettings(source="imap", host="127.0.0.1", port=port, username="bot",
                            password="botpass", reconnect_cap_seconds=3600)
    watcher = IdleWatcher(settings, "INBOX", lambda: None)
    watcher.start()
    assert wait_for(lambda: watcher.reconnects >= 1, 5)
    started = time.monotonic()
    watcher.stop()
    assert time.monotonic() - started < 2 and not watcher.alive


class _NoIdleClient:
    def __init__(self) -> None:
        self.closed = False

    def has_capability(self, name: str) -> bool:
        return name.upper() != "IDLE"

    def shutdown(self) -> None:
        self.closed = True


def test_server_without_idle_ends_the_loop_once(monkeypatch: pytest.MonkeyPatch) -> None:
    client = _NoIdleClient()
    connects: list[ImapSettings] = []

    def fake_connect(settings: ImapSettings) -> IMAPClient:
        connects.append(settings)
        return client  # type: ignore[return-value]

    monkeypatch.setattr(idle_module, "connect", fake_connect)
    watcher = IdleWatcher(ImapSettings(source="imap"), "INBOX", lambda: None)
    watcher.start()
    assert wait_for(lambda: not watcher.alive, 5)
    assert watcher.ended == "no_idle"
    assert len(connects) == 1 and client.closed and watcher.reconnects == 0


class _DroppingClient(_NoIdleClient):
    """Logs in and selects, then loses the connection as IDLE starts."""

    def has_capability(self, name: str) -> bool:
        return True

    def select_folder(self, folder: str, readonly: bool = False) -> dict[bytes, Any]:
        return {b"EXISTS": 0}

    def idle(self) -> None:
        raise imaplib.IMAP4.abort("socket error: EOF")


def test_backoff_starts_over_after_a_connection_that_worked(
        monkeypatch: pytest.MonkeyPatch) -> None:
    delays: list[float] = []
    monkeypatch.setattr(idle_module, "connect", lambda settings: _DroppingClient())
    watcher: IdleWatcher

    def fake_sleep(seconds: float) -> None:
        delays.append(seconds)
        if len(delays) >= 4:
            watcher.stop()

    woken: list[int] = []
    watcher = IdleWatcher(ImapSettings(source="imap"), "INBOX", lambda: woken.append(1),
                          clock_sleep=fake_sleep)
    watcher.start()
    assert wait_for(lambda: not watcher.alive, 5)
    assert delays == [1, 1, 1, 1]
    assert watcher.reconnects == 4
    assert len(woken) == 3  # one catch-up wake after each reconnect that reached the folder


def test_folder_names_follow_the_server_hierarchy() -> None:
    assert to_server_name("Outreach/Processed", "/") == "Outreach/Processed"
    assert to_server_name("Outreach/Processed", ".") == "Outreach.Processed"
    assert to_server_name("Outreach", None) == "Outreach"
