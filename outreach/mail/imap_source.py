"""The inbox on an IMAP server, with IMAPClient (see :mod:`outreach.mail.inbox_source`).

Security (``imap.security``): ``"tls"`` is implicit TLS from the first byte (port 993);
``"starttls"`` upgrades a plain connection (port 143) and the server MUST offer STARTTLS —
one that does not is an error, never a fall-back to plain text. Certificates are checked
against the system CAs, or only against ``imap.ca_file`` when set; ``verify_tls = false``
turns checking off (logged as a warning). TLS 1.2 is the minimum.

Reading never marks anything read: messages are downloaded with ``BODY.PEEK[]`` after a
first FETCH of their sizes, so one larger than ``max_bytes`` is reported, not downloaded.
``mark_processed`` touches exactly the UIDs it is given: UID MOVE where offered, else UID
COPY + ``\\Deleted`` + UID EXPUNGE of those UIDs (needs UIDPLUS; a plain EXPUNGE would
also remove other people's deleted mail), else the keyword.

Every failure (socket, TLS, login, IMAP protocol, a server restarted mid-session) is raised
as :class:`InboxUnavailable` naming host and port; ``transient`` is False only where waiting
cannot help (rejected login, certificate not trusted, STARTTLS missing, bad configuration).
"""

from __future__ import annotations

import contextlib
import dataclasses
import imaplib
import ssl
from collections.abc import Iterator, Sequence
from datetime import UTC, date, datetime
from typing import Any

import structlog
from imapclient import IMAPClient
from imapclient.exceptions import CapabilityError, IMAPClientError, LoginError

from outreach.mail.inbox_source import FetchedMail, FolderStatus, InboxUnavailable
from outreach.settings import ImapSettings

log = structlog.get_logger(__name__)

#: the hierarchy separator folder names use in the settings ("Outreach/Processed")
SETTINGS_DELIMITER = "/"
_DELETED = b"\\Deleted"


def imap_account(settings: ImapSettings) -> str:
    username = settings.username.get_secret_value() if settings.username else ""
    return f"imap:{username}@{settings.host}:{settings.port}"


def build_tls_context(settings: ImapSettings) -> ssl.SSLContext:
    """Client context: system CAs, or only ``ca_file``; hostname checked unless verify is off."""
    where = f"{settings.host}:{settings.port}"
    if settings.ca_file is not None and not settings.ca_file.is_file():
        raise InboxUnavailable(
            f"IMAP {where}: imap.ca_file = {settings.ca_file} does not exist or is not a file "
            "(OUTREACH_IMAP__CA_FILE)", transient=False)
    try:
        context = ssl.create_default_context(
            cafile=str(settings.ca_file) if settings.ca_file is not None else None)
    except ssl.SSLError as exc:
        raise InboxUnavailable(
            f"IMAP {where}: imap.ca_file = {settings.ca_file} is not a PEM certificate file "
            f"({exc.reason or exc})", transient=False) from exc
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    if not settings.verify_tls:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


def describe_failure(settings: ImapSettings, action: str, exc: BaseException) -> InboxUnavailable:
    """The one translation of a low-level failure into :class:`InboxUnavailable`."""
    where = f"IMAP {settings.host}:{settings.port}"
    transient = True
    if isinstance(exc, InboxUnavailable):
        return exc
    if isinstance(exc, LoginError):
        user = settings.username.get_secret_value() if settings.username else ""
        detail = f"login as {user!r} rejected: {exc}"
        transient = "UNAVAILABLE" in str(exc).upper()
    elif isinstance(exc, ssl.SSLCertVerificationError):
        detail = f"TLS certificate not trusted: {exc.verify_message or exc}"
        transient = False
    elif isinstance(exc, ssl.SSLError):
        detail = f"TLS failed: {exc.reason or exc}"
    elif isinstance(exc, ConnectionRefusedError):
        detail = "connection refused (is the server running?)"
    elif isinstance(exc, TimeoutError):
        detail = f"no answer within {settings.timeout_seconds:g} s"
    elif isinstance(exc, imaplib.IMAP4.abort):
        detail = f"connection lost: {exc}"
    elif isinstance(exc, OSError):
        detail = f"network error: {exc.strerror or exc}"
    else:
        detail = f"server error: {exc}"
    return InboxUnavailable(f"{where}: {action} failed: {detail}", transient=transient)


@contextlib.contextmanager
def translated(settings: ImapSettings, action: str) -> Iterator[None]:
    try:
        yield
    except (IMAPClientError, OSError) as exc:  # imaplib abort/error, ssl, socket
        raise describe_failure(settings, action, exc) from exc


def connect(settings: ImapSettings) -> IMAPClient:
    """A logged-in IMAPClient for ``settings`` (TLS or STARTTLS, verified by default).

    Raises :class:`InboxUnavailable`; the caller logs out (``logout``/``shutdown``).
    """
    where = f"IMAP {settings.host}:{settings.port}"
    if settings.username is None or settings.password is None:
        raise InboxUnavailable(
            f"{where}: imap.username and imap.password must be set for imap.source = imap "
            "(OUTREACH_IMAP__USERNAME, OUTREACH_IMAP__PASSWORD or ..._FILE)", transient=False)
    context = build_tls_context(settings)
    if not settings.verify_tls:
        log.warning("mail.imap_tls_unverified", server=where,
                    detail="imap.verify_tls = false: the server's certificate is not checked")
    with translated(settings, "connect"):
        client = IMAPClient(settings.host, port=settings.port, ssl=settings.security == "tls",
                            ssl_context=context, timeout=settings.timeout_seconds)
    try:
        with translated(settings, "connect"):
            if settings.security == "starttls":
                try:
                    client.starttls(context)
                except CapabilityError as exc:
                    raise InboxUnavailable(
                        f"{where}: the server does not offer STARTTLS; refusing to log in over "
                        "plain text (use imap.security = tls if it speaks implicit TLS)",
                        transient=False) from exc
        with translated(settings, "login"):
            client.login(settings.username.get_secret_value(),
                         settings.password.get_secret_value())
        client.normalise_times = False  # INTERNALDATE as aware datetimes
    except BaseException:
        with contextlib.suppress(Exception):
            client.shutdown()
        raise
    return client


def to_server_name(folder: str, delimiter: str | None) -> str:
    """``Outreach/Processed`` in the server's hierarchy (``Outreach.Processed`` for ".")."""
    if not delimiter or delimiter == SETTINGS_DELIMITER:
        return folder
    return folder.replace(SETTINGS_DELIMITER, delimiter)


def as_utc(value: Any) -> datetime | None:
    if not isinstance(value, datetime):
        return None
    if value.tzinfo is None:  # the server gave no zone: take it as UTC
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def flag_names(flags: Any) -> tuple[str, ...]:
    return tuple(f.decode("utf-8", "replace") if isinstance(f, bytes) else str(f)
                 for f in (flags or ()))


class ImapSession:
    """One logged-in connection; used from the thread that opened it."""

    def __init__(self, settings: ImapSettings, client: IMAPClient) -> None:
        self.settings = settings
        self.account = imap_account(settings)
        self._client = client
        self._selected: tuple[str, bool] | None = None  # (folder, writable)
        self._uidvalidity: dict[str, int] = {}
        self._delimiter: str | None = None
        with translated(settings, "CAPABILITY"):
            #: the server's capabilities (upper-case names); what the session relies on
            self.capabilities: frozenset[str] = frozenset(
                c.decode("ascii", "replace").upper() for c in client.capabilities())

    # -- helpers ------------------------------------------------------------------------

    def _select(self, folder: str, *, writable: bool = False) -> dict[bytes, Any]:
        """SELECT (or EXAMINE when reading) ``folder`` unless it already is."""
        if self._selected is not None and self._selected[0] == folder and (
                self._selected[1] or not writable):
            return {}
        self._selected = None
        response = self._client.select_folder(folder, readonly=not writable)
        self._selected = (folder, writable)
        if b"UIDVALIDITY" in response:
            self._uidvalidity[folder] = int(response[b"UIDVALIDITY"])
        return response

    def _folder_uidvalidity(self, folder: str) -> int:
        """Recorded by the SELECT/EXAMINE that made ``folder`` the selected one."""
        return self._uidvalidity.get(folder, 0)

    def _server_delimiter(self) -> str | None:
        if self._delimiter is None:
            listed = self._client.list_folders("", "INBOX")
            delimiter = listed[0][1] if listed else None
            if isinstance(delimiter, bytes):
                delimiter = delimiter.decode("ascii", "replace")
            self._delimiter = delimiter or SETTINGS_DELIMITER
        return self._delimiter

    # -- the interface ------------------------------------------------------------------

    def folder_status(self, folder: str) -> FolderStatus | None:
        with translated(self.settings, f"EXAMINE {folder}"):
            self._selected = None
            try:
                response = self._select(folder)
            except IMAPClientError as exc:
                if isinstance(exc, imaplib.IMAP4.abort):
                    raise
                self._selected = None
                if not self._client.folder_exists(folder):
                    log.info("mail.imap_folder_missing", account=self.account, folder=folder)
                    return None
                raise
        uidnext = response.get(b"UIDNEXT")
        return FolderStatus(name=folder, uidvalidity=int(response[b"UIDVALIDITY"]),
                            uidnext=int(uidnext) if uidnext is not None else None,
                            exists=int(response[b"EXISTS"]))

    def search_uids(self, folder: str, *, min_uid: int = 1,
                    since: date | None = None) -> list[int]:
        criteria: list[Any] = ["UID", f"{max(1, min_uid)}:*"]
        if since is not None:
            criteria += ["SINCE", since]
        with translated(self.settings, f"UID SEARCH in {folder}"):
            self._select(folder)
            found = self._client.search(criteria)
        # "n:*" always matches the highest UID, even when it is below n
        return sorted(uid for uid in found if uid >= min_uid)

    def fetch(self, folder: str, uids: Sequence[int], *,
              max_bytes: int) -> Iterator[FetchedMail]:
        batch = self.settings.fetch_batch
        wanted = sorted(set(uids))
        for start in range(0, len(wanted), batch):
            yield from self._fetch_batch(folder, wanted[start:start + batch], max_bytes)

    def _fetch_batch(self, folder: str, uids: list[int],
                     max_bytes: int) -> Iterator[FetchedMail]:
        with translated(self.settings, f"UID FETCH in {folder}"):
            self._select(folder)
            uidvalidity = self._folder_uidvalidity(folder)
            meta = self._client.fetch(uids, ["RFC822.SIZE", "INTERNALDATE", "FLAGS"])
            small = [uid for uid in uids
                     if uid in meta and int(meta[uid].get(b"RFC822.SIZE", 0)) <= max_bytes]
            bodies = self._download(folder, small)
        for uid in uids:
            if uid not in meta:
                continue  # expunged meanwhile
            info = meta[uid]
            mail = FetchedMail(folder=folder, uidvalidity=uidvalidity, uid=uid, raw=None,
                               size=int(info.get(b"RFC822.SIZE", 0)),
                               internal_date=as_utc(info.get(b"INTERNALDATE")),
                               flags=flag_names(info.get(b"FLAGS")))
            if mail.size > max_bytes:
                log.info("mail.imap_too_large", account=self.account, folder=folder, uid=uid,
                         size=mail.size, max_bytes=max_bytes)
                yield dataclasses.replace(mail, error="too_large")
                continue
            raw = bodies.get(uid, "the server sent no body")
            if isinstance(raw, str):
                yield dataclasses.replace(mail, error=raw)
                continue
            yield dataclasses.replace(mail, raw=raw)

    def _download(self, folder: str, uids: list[int]) -> dict[int, bytes | str]:
        """``BODY.PEEK[]`` of ``uids``; when the server refuses the batch (NO/BAD), one at a
        time, so a single broken message comes back as its error and the rest as bytes."""
        if not uids:
            return {}
        try:
            fetched = self._client.fetch(uids, ["BODY.PEEK[]"])
        except IMAPClientError as exc:
            if isinstance(exc, imaplib.IMAP4.abort):
                raise
            if len(uids) > 1:
                return {uid: body for one in uids
                        for uid, body in self._download(folder, [one]).items()}
            log.warning("mail.imap_fetch_failed", account=self.account, folder=folder,
                        uid=uids[0], error=str(exc))
            return {uids[0]: f"fetch failed: {exc}"}
        out: dict[int, bytes | str] = {}
        for uid, data in fetched.items():
            raw = data.get(b"BODY[]")
            if isinstance(raw, bytes):
                out[uid] = raw
        return out

    def mark_processed(self, folder: str, uids: Sequence[int]) -> None:
        wanted = sorted(set(uids))
        if not wanted:
            return
        action = self.settings.processed_action
        with translated(self.settings, f"mark processed in {folder}"):
            if action == "move" and self._move(folder, wanted):
                return
            self._select(folder, writable=True)
            self._client.add_flags(wanted, [self.settings.processed_keyword], silent=True)
        log.info("mail.imap_processed", account=self.account, folder=folder, uids=len(wanted),
                 action="keyword", keyword=self.settings.processed_keyword)

    def _move(self, folder: str, uids: list[int]) -> bool:
        """Move to the processed folder; False when the server can only take the keyword."""
        target = to_server_name(self.settings.processed_folder, self._server_delimiter())
        if target == folder:
            return True
        if "MOVE" not in self.capabilities and "UIDPLUS" not in self.capabilities:
            log.warning("mail.imap_move_unsupported", account=self.account, folder=folder,
                        detail="the server offers neither MOVE nor UIDPLUS: adding the keyword "
                               "instead, so no one else's deleted mail is expunged",
                        keyword=self.settings.processed_keyword)
            return False
        if not self._client.folder_exists(target):
            self._client.create_folder(target)
            log.info("mail.imap_folder_created", account=self.account, folder=target)
        self._select(folder, writable=True)
        if "MOVE" in self.capabilities:
            self._client.move(uids, target)
            how = "move"
        else:
            self._client.copy(uids, target)
            self._client.add_flags(uids, [_DELETED], silent=True)
            self._client.uid_expunge(uids)
            how = "copy+expunge"
        log.info("mail.imap_processed", account=self.account, folder=folder, uids=len(uids),
                 action=how, target=target)
        return True

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self._client.logout()
        with contextlib.suppress(Exception):
            self._client.shutdown()


class ImapSource:
    """Opens :class:`ImapSession` s on the server ``settings`` names."""

    def __init__(self, settings: ImapSettings) -> None:
        self.settings = settings
        self.account = imap_account(settings)

    @contextlib.contextmanager
    def open(self) -> Iterator[ImapSession]:
        client = connect(self.settings)
        try:
            session = ImapSession(self.settings, client)
        except BaseException:
            with contextlib.suppress(Exception):
                client.shutdown()
            raise
        try:
            yield session
        finally:
            session.close()
