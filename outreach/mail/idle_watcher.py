"""Wake the poll early when new mail arrives: IMAP IDLE on one folder, in a daemon thread.

A wake-up only: the periodic poll always runs, so a missed wake costs at most one interval.
The thread connects (with :func:`outreach.mail.imap_source.connect`), EXAMINEs the folder and
waits in IDLE, calling ``on_wake()`` when the server reports EXISTS or RECENT. IDLE is
re-issued after ``idle_renew_seconds`` (servers drop idle clients after 30 minutes). Any
failure is logged as one line and followed by a reconnect after 1, 2, 4 ... seconds, at most
``reconnect_cap_seconds``; after a reconnect ``on_wake()`` is called once, since mail may have
arrived while the connection was down. A server without IDLE is logged once and the thread
ends. Exceptions raised by ``on_wake`` are logged and ignored.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Callable
from typing import Any

import structlog
from imapclient import IMAPClient
from imapclient.exceptions import IMAPClientError

from outreach.mail.imap_source import connect, describe_failure
from outreach.mail.inbox_source import InboxUnavailable
from outreach.settings import ImapSettings

log = structlog.get_logger(__name__)

#: longest single wait inside IDLE, so ``stop()`` is honoured promptly
CHECK_SLICE_SECONDS = 1.0
JOIN_TIMEOUT_SECONDS = 5.0
_WAKE_RESPONSES = (b"EXISTS", b"RECENT")


def backoff_delay(attempt: int, cap: float) -> float:
    """1, 2, 4 ... seconds for attempts 0, 1, 2 ..., at most ``cap``."""
    return float(min(cap, 2 ** min(attempt, 30)))


def is_wake(response: Any) -> bool:
    return (isinstance(response, tuple) and len(response) >= 2
            and isinstance(response[1], bytes) and response[1].upper() in _WAKE_RESPONSES)


class IdleWatcher:
    """A supervised IDLE loop; ``start()`` once, ``stop()`` returns within a few seconds."""

    def __init__(self, settings: ImapSettings, folder: str, on_wake: Callable[[], None],
                 clock_sleep: Callable[[float], None] | None = None) -> None:
        self.settings = settings
        self.folder = folder
        self.on_wake = on_wake
        #: waits between reconnects; the default waits on the stop event (tests pass a fake)
        self._sleep = clock_sleep
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._client: IMAPClient | None = None
        self._lock = threading.Lock()
        #: counters for tests and health: on_wake calls, reconnect attempts after a failure,
        #: IDLE commands issued
        self.wakeups = 0
        self.reconnects = 0
        self.idles = 0
        self._established = False  # the current connection got as far as the folder
        #: why the loop ended: "no_idle" (by itself, for good) or "stopped"; None while it
        #: runs or if it died (a supervisor may then ``start()`` it again)
        self.ended: str | None = None

    # -- lifecycle ----------------------------------------------------------------------

    def start(self) -> None:
        if self._thread is not None and self._thread.is_alive():
            return
        self._stop.clear()
        self.ended = None
        self._thread = threading.Thread(target=self._run, name=f"imap-idle-{self.folder}",
                                        daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Ask the loop to end, cut a connection it is blocked on, wait a few seconds."""
        self._stop.set()
        if self.ended is None:
            self.ended = "stopped"
        with self._lock:
            client = self._client
        if client is not None:
            with contextlib.suppress(Exception):
                client.socket().shutdown(socket.SHUT_RDWR)
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=JOIN_TIMEOUT_SECONDS)

    @property
    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    # -- the loop -----------------------------------------------------------------------

    def _run(self) -> None:
        attempt = 0
        failed_before = False
        while not self._stop.is_set():
            self._established = False
            try:
                outcome = self._session(catch_up=failed_before)
            except Exception as exc:  # nothing may kill the thread
                error = exc if isinstance(exc, InboxUnavailable) else describe_failure(
                    self.settings, f"IDLE on {self.folder}", exc)
                if self._stop.is_set():
                    break
                if self._established:  # it worked until now: start again from 1 s
                    attempt = 0
                delay = backoff_delay(attempt, self.settings.reconnect_cap_seconds)
                log.warning("mail.imap_idle_reconnect", host=self.settings.host,
                            port=self.settings.port, folder=self.folder, error=str(error),
                            attempt=attempt + 1, delay_seconds=delay)
                attempt += 1
                self.reconnects += 1
                failed_before = True
                self._wait(delay)
                continue
            if outcome == "no_idle":
                self.ended = outcome
                log.info("mail.imap_idle_unsupported", host=self.settings.host,
                         port=self.settings.port, folder=self.folder,
                         detail="the server does not offer IDLE; the periodic poll covers it")
                return
            attempt = 0  # a clean end (renewal or stop): start over without delay

    def _wait(self, seconds: float) -> None:
        if self._sleep is None:
            self._stop.wait(seconds)
        else:
            self._sleep(seconds)

    def _session(self, *, catch_up: bool) -> str:
        """One connection: returns "no_idle", or "stopped"; raises on any failure."""
        client = connect(self.settings)
        with self._lock:
            self._client = client
        try:
            if self._stop.is_set():
                return "stopped"
            if not client.has_capability("IDLE"):
                return "no_idle"
            client.select_folder(self.folder, readonly=True)
            self._established = True
            if catch_up:
                self._wake()
            while not self._stop.is_set():
                self._idle_once(client)
            return "stopped"
        except (IMAPClientError, OSError) as exc:
            raise describe_failure(self.settings, f"IDLE on {self.folder}", exc) from exc
        finally:
            with self._lock:
                self._client = None
            with contextlib.suppress(Exception):
                client.shutdown()

    def _idle_once(self, client: IMAPClient) -> None:
        """IDLE until renewal time or stop; waking on EXISTS/RECENT."""
        client.idle()
        self.idles += 1
        renew_at = time.monotonic() + self.settings.idle_renew_seconds
        while not self._stop.is_set():
            remaining = renew_at - time.monotonic()
            if remaining <= 0:
                break
            wait = min(CHECK_SLICE_SECONDS, remaining)
            asked_at = time.monotonic()
            responses = client.idle_check(timeout=wait)
            if any(is_wake(r) for r in responses):
                self._wake()
            elif not responses and time.monotonic() - asked_at < wait / 2:
                # idle_check hides EOF as "no responses": end IDLE, which fails on a
                # closed connection and simply restarts IDLE on a live one
                break
        if self._stop.is_set():
            return
        done = client.idle_done()
        if any(is_wake(r) for r in done[1]):
            self._wake()

    def _wake(self) -> None:
        self.wakeups += 1
        try:
            self.on_wake()
        except Exception as exc:  # a wake-up handler must not end the watch
            log.warning("mail.imap_idle_wake_failed", folder=self.folder, error=repr(exc))
