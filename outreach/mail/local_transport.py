"""The embedded transport for local runs: messages become files instead of SMTP traffic.

* :func:`write_eml` writes one message as ``<Message-ID>.eml`` into a folder (the data
  directory's ``outbox/``), atomically: the bytes go to ``.tmp/`` in the same folder, are
  fsynced, then renamed into place, so a reader never sees half a message. A retry of the
  same message (same Message-ID) replaces the file with the same content: no duplicates.
* :func:`deliver_to_maildir` delivers one message into a Maildir (``tmp/`` -> ``new/``, the
  Maildir protocol), e.g. ``Settings.maildir_path``, where a mail client or the inbox
  poller can read it. ``LocalTransport(folder, layout="maildir")`` uses it.

Both prepend the envelope as ``Return-Path`` and ``X-Envelope-To`` header lines (what an MTA
records on delivery), so the file shows who it was for even when a recipient was a Bcc.
"""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import os
import re
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import structlog

from outreach.mail.delivery_errors import (
    DeliveryStatus,
    FailureReason,
    RecipientOutcome,
    SendResult,
    Stage,
)

if TYPE_CHECKING:
    from outreach.mail.transport import Envelope

log = structlog.get_logger(__name__)

_UNSAFE = re.compile(r"[^A-Za-z0-9._@+=-]")
_MAX_NAME = 180
_counter = itertools.count()
_counter_lock = threading.Lock()


def eml_file_name(message_id: str | None, message: bytes) -> str:
    """``<a.b@outreach.test>`` -> ``a.b@outreach.test.eml``; safe on any file system.

    Characters other than letters, digits and ``._@+=-`` become ``_``; a long or missing
    Message-ID is replaced or suffixed by a hash, so distinct messages never share a name.
    """
    if not message_id:
        return f"no-message-id-{hashlib.sha256(message).hexdigest()[:32]}.eml"
    core = _UNSAFE.sub("_", message_id.strip().strip("<>")).lstrip(".") or "_"
    if core != message_id.strip().strip("<>") or len(core) > _MAX_NAME:
        digest = hashlib.sha256(message_id.encode("utf-8", "surrogateescape")).hexdigest()[:12]
        core = f"{core[:_MAX_NAME]}-{digest}"
    return f"{core}.eml"


def with_envelope_headers(sender: str, recipients: tuple[str, ...], message: bytes) -> bytes:
    """Prepend ``Return-Path`` and ``X-Envelope-To``, in the message's own line ending."""
    eol = b"\r\n" if b"\r\n" in message[:4096] or not message else b"\n"
    head = f"Return-Path: <{sender}>".encode() + eol
    head += b"X-Envelope-To: " + ", ".join(recipients).encode("utf-8") + eol
    return head + message


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write(target: Path, data: bytes, tmp_dir: Path) -> None:
    """Write ``data`` to ``tmp_dir`` (same file system), fsync, rename onto ``target``."""
    tmp_dir.mkdir(parents=True, exist_ok=True)
    with _counter_lock:
        serial = next(_counter)
    tmp = tmp_dir / f"{target.name}.{os.getpid()}.{threading.get_ident()}.{serial}.tmp"
    try:
        with tmp.open("xb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        tmp.replace(target)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    _fsync_dir(target.parent)


def write_eml(outbox_dir: Path, envelope: Envelope) -> Path:
    """Write ``envelope`` as ``outbox_dir/<Message-ID>.eml`` atomically; returns the path."""
    outbox_dir.mkdir(parents=True, exist_ok=True)
    target = outbox_dir / eml_file_name(envelope.message_id, envelope.message)
    data = with_envelope_headers(envelope.sender, tuple(envelope.recipients), envelope.message)
    atomic_write(target, data, outbox_dir / ".tmp")
    return target


def deliver_to_maildir(maildir: Path, envelope: Envelope) -> Path:
    """Deliver into a Maildir (created if missing) and return the file in ``new/``.

    The Maildir protocol: a unique name ``<seconds>.M<micro>P<pid>Q<n>.<host>`` is written
    and fsynced in ``tmp/``, then renamed into ``new/``; readers (Dovecot, mutt, the
    ``imap.source = "maildir"`` poller) only ever look at ``new/`` and ``cur/``. Unlike
    :func:`write_eml` every call adds a message: a retry delivers a second copy.
    """
    for sub in ("tmp", "new", "cur"):
        (maildir / sub).mkdir(parents=True, exist_ok=True)
    now = time.time()
    with _counter_lock:
        serial = next(_counter)
    host = socket.gethostname().replace("/", "\\057").replace(":", "\\072")
    name = f"{int(now)}.M{int(now * 1_000_000) % 1_000_000}P{os.getpid()}Q{serial}.{host}"
    target = maildir / "new" / name
    data = with_envelope_headers(envelope.sender, tuple(envelope.recipients), envelope.message)
    atomic_write(target, data, maildir / "tmp")
    return target


class LocalTransport:
    """Delivers into a folder: ``.eml`` files (``layout="eml"``) or a Maildir."""

    def __init__(self, directory: Path, layout: Literal["eml", "maildir"] = "eml") -> None:
        self.directory = Path(directory)
        self.layout = layout

    @property
    def description(self) -> str:
        return f"local {self.layout} folder {self.directory}"

    @contextlib.contextmanager
    def session(self) -> Iterator[LocalSession]:
        yield LocalSession(self)


class LocalSession:
    def __init__(self, transport: LocalTransport) -> None:
        self.transport = transport

    def send(self, envelope: Envelope) -> SendResult:
        started = time.monotonic()
        writer = write_eml if self.transport.layout == "eml" else deliver_to_maildir
        try:
            path = writer(self.transport.directory, envelope)
        except OSError as exc:
            result = SendResult(
                status=DeliveryStatus.CIRCUIT,
                reason=FailureReason.LOCAL_IO,
                stage=Stage.WRITE,
                detail=(f"could not write the message into {self.transport.directory} "
                        f"({exc.strerror or exc}): check that the data directory is writable "
                        "and not full"),
                message_id=envelope.message_id,
                seconds=time.monotonic() - started,
            )
            log.error("mail.blocked", transport="local", message_id=envelope.message_id,
                      reason=result.reason, detail=result.detail)
            return result
        result = SendResult(
            status=DeliveryStatus.SENT,
            detail=f"written to {path}",
            recipients=tuple(RecipientOutcome(r, accepted=True) for r in envelope.recipients),
            message_id=envelope.message_id,
            seconds=time.monotonic() - started,
            path=str(path),
        )
        log.info("mail.sent", transport="local", message_id=envelope.message_id,
                 recipients=list(envelope.recipients), path=str(path))
        return result
