"""One pass over the mailbox: record every new mail, process it, then act on ours only.

For each configured folder (INBOX and Junk by default):

* the folder's UIDVALIDITY epoch is looked up (``InboxFolder``). On the very first poll of
  the account, each folder's highest UID becomes its baseline: older mail is ignored
  (``--backfill SINCE`` takes it in). A folder that appears later, and a new epoch after a
  UIDVALIDITY change (every UID is new), are read from the installation date on, and
  ``intake.process`` recognises mail it already had by hash and Message-ID;
* UIDs above the baseline that are not recorded yet are fetched with ``BODY.PEEK[]``
  (nothing is marked read), recorded (the unique identity makes a second poller skip them),
  and processed; a processing error is recorded and retried by the next pass;
* then the mail action (move to the processed folder, or the keyword) is applied to the
  messages recognised as ours, and to no other; a failed action is retried next pass.

No transaction is open while the mailbox is being read.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta

import structlog
from sqlmodel import Session, col, select

from outreach.db.engine import write_transaction
from outreach.db.models import InboundMessage, InboxFolder
from outreach.mail.inbox_source import FolderStatus, InboxSession, InboxSource, InboxUnavailable
from outreach.services.intake import OURS, Identity, Intake, failed, process, record, stored_raw
from outreach.services.intake_prepare import (
    POOL_THRESHOLD,
    Prepared,
    PreparePool,
    PrepareSettings,
)

log = structlog.get_logger(__name__)

#: recorded mails handed to processing at a time (bounds the bytes held in memory)
CHUNK = 32


@dataclass
class PollReport:
    fetched: int = 0
    recorded: int = 0
    statuses: dict[str, int] = field(default_factory=dict)
    retried: int = 0
    actioned: int = 0
    missing_folders: list[str] = field(default_factory=list)
    #: why the mailbox could not be read (the pass stopped there)
    error: str | None = None

    def count(self, status: str) -> None:
        self.statuses[status] = self.statuses.get(status, 0) + 1

    def as_dict(self) -> dict[str, int]:
        return {"fetched": self.fetched, "recorded": self.recorded, "retried": self.retried,
                "actioned": self.actioned, **self.statuses,
                "unavailable": int(self.error is not None)}


def poll_once(intake: Intake, source: InboxSource, *,
              backfill_since: date | None = None) -> PollReport:
    """One pass; a mailbox that cannot be reached is reported, not raised."""
    report = PollReport()
    try:
        with source.open() as inbox:
            for folder in intake.settings.imap.folders:
                _poll_folder(intake, inbox, folder, report, backfill_since)
    except InboxUnavailable as exc:
        report.error = str(exc)
        log.warning("poll.unavailable", account=source.account, error=str(exc),
                    transient=exc.transient)
    report.retried += retry_pending(intake, report)
    return report


def _poll_folder(intake: Intake, inbox: InboxSession, folder: str, report: PollReport,
                 backfill_since: date | None) -> None:
    status = inbox.folder_status(folder)
    if status is None:
        report.missing_folders.append(folder)
        log.info("poll.folder_missing", account=inbox.account, folder=folder)
        return
    epoch = _epoch(intake, inbox.account, status)
    uids = inbox.search_uids(folder, min_uid=epoch.baseline_uid + 1, since=epoch.since)
    if backfill_since is not None:
        uids = sorted(set(uids) | set(inbox.search_uids(folder, since=backfill_since)))
    with intake.sessions() as session:
        known = set(session.exec(select(InboundMessage.uid)
                                 .where(InboundMessage.account == inbox.account)
                                 .where(InboundMessage.folder == folder)
                                 .where(InboundMessage.uidvalidity == status.uidvalidity)
                                 ).all())
    new = [uid for uid in uids if uid not in known]
    max_bytes = int(intake.settings.imap.max_message_mb * 1024 * 1024)
    pool = PreparePool() if len(new) >= POOL_THRESHOLD else None
    prepare_settings = None
    if pool is not None:
        with intake.sessions() as session:  # once per pass: the campaigns' contexts
            prepare_settings = intake.prepare_settings(session)
    try:
        chunk: list[tuple[int, bytes]] = []
        for mail in inbox.fetch(folder, new, max_bytes=max_bytes):
            report.fetched += 1
            identity = Identity(inbox.account, folder, mail.uidvalidity, mail.uid)
            error = None if mail.raw is not None else _not_downloaded(mail.error, mail.size,
                                                                       max_bytes)
            inbound_id = record(intake, identity, raw=mail.raw, size=mail.size,
                                internal_date=mail.internal_date, error=error)
            if inbound_id is None:
                continue  # recorded already (another poller)
            report.recorded += 1
            if mail.raw is None:
                report.count("failed")
                continue
            chunk.append((inbound_id, mail.raw))
            if len(chunk) >= CHUNK:
                _process_chunk(intake, chunk, pool, prepare_settings, report)
                chunk = []
        _process_chunk(intake, chunk, pool, prepare_settings, report)
    finally:
        if pool is not None:
            pool.close()
    _apply_actions(intake, inbox, folder, status.uidvalidity, report)
    with write_transaction(intake.sessions) as session:
        row = session.get(InboxFolder, epoch.id)
        if row is not None:
            row.last_polled_at = intake.clock.now()


def _process_chunk(intake: Intake, chunk: list[tuple[int, bytes]], pool: PreparePool | None,
                   settings: PrepareSettings | None, report: PollReport) -> None:
    """Process recorded mails; with a pool, the workers parse and judge the next ones
    while this process writes."""
    if not chunk:
        return
    if pool is None or settings is None:
        for inbound_id, raw in chunk:
            report.count(_process_safely(intake, inbound_id, raw))
        return
    outcomes = pool.map((raw for _, raw in chunk), settings)
    for (inbound_id, raw), prepared in zip(chunk, outcomes, strict=True):
        if isinstance(prepared, BaseException):
            log.error("inbound.prepare_error", inbound=inbound_id, error=repr(prepared))
            report.count(failed(intake, inbound_id, raw, prepared))
            continue
        report.count(_process_safely(intake, inbound_id, raw, prepared))


def _process_safely(intake: Intake, inbound_id: int, raw: bytes,
                    prepared: Prepared | None = None) -> str:
    try:
        return process(intake, inbound_id, raw, prepared=prepared)
    except Exception as exc:  # one bad mail never stops the others
        log.exception("inbound.process_error", inbound=inbound_id)
        return failed(intake, inbound_id, raw, exc)


def retry_pending(intake: Intake, report: PollReport | None = None) -> int:
    """Process again the mail an earlier pass failed on (kept until ``max_attempts``)."""
    with intake.sessions() as session:
        pending = session.exec(select(InboundMessage)
                               .where(InboundMessage.status == "received")
                               .where(col(InboundMessage.raw_stored).is_(True))
                               .order_by(col(InboundMessage.id))).all()
    for inbound in pending:
        assert inbound.id is not None
        try:
            raw = stored_raw(intake, inbound)
        except LookupError as exc:
            failed(intake, inbound.id, None, exc)
            continue
        if raw is None:
            continue
        status = _process_safely(intake, inbound.id, raw)
        if report is not None:
            report.count(status)
    return len(pending)


def _apply_actions(intake: Intake, inbox: InboxSession, folder: str, uidvalidity: int,
                   report: PollReport) -> None:
    with intake.sessions() as session:
        rows = session.exec(select(InboundMessage.id, InboundMessage.uid)
                            .where(InboundMessage.account == inbox.account)
                            .where(InboundMessage.folder == folder)
                            .where(InboundMessage.uidvalidity == uidvalidity)
                            .where(col(InboundMessage.status).in_(OURS))
                            .where(col(InboundMessage.actioned_at).is_(None))).all()
    if not rows:
        return
    inbox.mark_processed(folder, [uid for _, uid in rows])
    with write_transaction(intake.sessions) as session:
        now = intake.clock.now()
        for inbound_id, _ in rows:
            inbound = session.get(InboundMessage, inbound_id)
            if inbound is not None:
                inbound.actioned_at = now
    report.actioned += len(rows)


def _epoch(intake: Intake, account: str, status: FolderStatus) -> InboxFolder:
    """This UIDVALIDITY epoch of the folder, created on first sight."""
    with write_transaction(intake.sessions) as session:
        row = _find_epoch(session, account, status.name, status.uidvalidity)
        if row is not None:
            return row
        earlier = session.exec(select(InboxFolder).where(InboxFolder.account == account)
                               .order_by(col(InboxFolder.first_seen_at))).all()
        same_folder = [row for row in earlier if row.folder == status.name]
        now = intake.clock.now()
        if earlier:
            # installed before: a new epoch (or a folder that appeared since, like a Junk
            # folder the server creates later) is read from the installation date on
            # a day's margin: IMAP SINCE compares dates in the server's time zone
            installed = earlier[0].first_seen_at.date() - timedelta(days=1)
            row = InboxFolder(account=account, folder=status.name,
                              uidvalidity=status.uidvalidity, baseline_uid=0,
                              since=installed, first_seen_at=now)
            if same_folder:
                log.warning("poll.uidvalidity_changed", account=account, folder=status.name,
                            old=same_folder[-1].uidvalidity, new=status.uidvalidity,
                            rescan_since=installed.isoformat())
            else:
                log.info("poll.folder_appeared", account=account, folder=status.name,
                         since=installed.isoformat())
        else:
            baseline = (status.uidnext - 1) if status.uidnext else 0
            row = InboxFolder(account=account, folder=status.name,
                              uidvalidity=status.uidvalidity, baseline_uid=max(0, baseline),
                              first_seen_at=now)
            log.info("poll.folder_first_seen", account=account, folder=status.name,
                     ignoring_uids_up_to=row.baseline_uid, messages=status.exists)
        session.add(row)
        session.flush()
        session.expunge(row)
        return row


def _find_epoch(session: Session, account: str, folder: str,
                uidvalidity: int) -> InboxFolder | None:
    row = session.exec(select(InboxFolder).where(InboxFolder.account == account)
                       .where(InboxFolder.folder == folder)
                       .where(InboxFolder.uidvalidity == uidvalidity)).first()
    if row is not None:
        session.expunge(row)
    return row


def _not_downloaded(error: str | None, size: int, max_bytes: int) -> str:
    if error == "too_large":
        return (f"the message is {size / 1_048_576:.1f} MB, more than the "
                f"{max_bytes / 1_048_576:.0f} MB imap.max_message_mb allows: not downloaded")
    return f"the message could not be downloaded: {error or 'unknown error'}"
