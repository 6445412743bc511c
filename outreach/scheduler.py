"""``outreach run``: the long-running service. APScheduler only ticks; state is in the database.

Concurrency model: one process runs a ``BlockingScheduler`` whose jobs execute in a small
thread pool. Each job calls one synchronous service in its own short transaction (no
transaction is held across network I/O). Jobs coalesce and never overlap themselves
(``max_instances=1``), and since every due time lives in a row, a missed, late or doubled
run does no harm. SIGTERM and SIGINT stop the scheduler after the running job finishes.

Jobs: ``tick`` (decide what is due), ``deliver`` (send the outbox), ``digest`` (queue the
status digests that are due), ``poll`` (read the mailbox every
``imap.poll_interval_seconds``). With an IMAP server that offers IDLE, an
:class:`~outreach.mail.idle_watcher.IdleWatcher` thread (not a job: it blocks on the
server) waits for new mail and only brings the next ``poll`` forward; the poll itself always
runs on its interval, so a lost IDLE connection costs at most one interval.
"""

from __future__ import annotations

import signal
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from types import FrameType

import structlog
from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.blocking import BlockingScheduler

from outreach.bootstrap import App
from outreach.db.engine import write_transaction
from outreach.mail.idle_watcher import IdleWatcher
from outreach.mail.inbox import open_inbox
from outreach.mail.transport import open_transport
from outreach.services.delivery import deliver_due
from outreach.services.digest import send_due_digests
from outreach.services.intake import Intake
from outreach.services.poll import poll_once
from outreach.services.tick import tick

log = structlog.get_logger(__name__)


def _job(name: str, app: App, fn: Callable[[App], dict[str, int]]) -> Callable[[], None]:
    def run() -> None:
        try:
            result = fn(app)
        except Exception:  # one failing run must not stop the service; the next run retries
            log.exception(f"{name}.failed")
            return
        if any(result.values()):
            log.info(f"{name}.done", **result)

    return run


def tick_once(app: App) -> dict[str, int]:
    templates = app.templates()
    templates.refresh()
    with write_transaction(app.sessions) as session:
        return tick(session, app.clock, settings=app.settings, templates=templates).as_dict()


def deliver_once(app: App) -> dict[str, int]:
    """One delivery pass through the configured transport (``outreach deliver``)."""
    transport = open_transport(app.settings.smtp, app.settings.outbox_dir)
    report = deliver_due(app.sessions, app.clock, transport, app.settings)
    return {"sent": report.sent, "partial": report.partial, "retried": report.retried,
            "failed": report.failed, "deferred": report.deferred,
            "uncertain": report.uncertain, "paused": int(report.paused is not None)}


def intake_for(app: App) -> Intake:
    templates = app.templates()
    templates.refresh()
    return Intake(app.sessions, app.clock, app.settings, templates)


def poll_mailbox(app: App, backfill_since: date | None = None) -> dict[str, int]:
    """One pass over the mailbox (``outreach poll``)."""
    source = open_inbox(app.settings.imap, app.settings.maildir_path)
    return poll_once(intake_for(app), source, backfill_since=backfill_since).as_dict()


def digest_once(app: App) -> dict[str, int]:
    """Queue every status digest that is due, once (``services.digest``)."""
    templates = app.templates()
    templates.refresh()
    return send_due_digests(app.sessions, app.clock, app.settings, templates).as_dict()


def build_scheduler(app: App) -> BlockingScheduler:
    settings = app.settings.scheduler
    scheduler = BlockingScheduler(
        executors={"default": ThreadPoolExecutor(settings.worker_threads)},
        job_defaults={"coalesce": True, "max_instances": 1,
                      "misfire_grace_time": int(settings.tick_seconds)},
        timezone="UTC",
    )
    scheduler.add_job(_job("tick", app, tick_once), "interval", id="tick",
                      seconds=settings.tick_seconds,
                      next_run_time=_wall_now(), replace_existing=True)
    # delivery runs in its own job: a slow mail server never delays deciding
    scheduler.add_job(_job("deliver", app, deliver_once), "interval", id="deliver",
                      seconds=settings.tick_seconds,
                      next_run_time=_wall_now(), replace_existing=True)
    # digest due times live in the database: this only asks which are due
    scheduler.add_job(_job("digest", app, digest_once), "interval", id="digest",
                      seconds=settings.tick_seconds,
                      next_run_time=_wall_now(), replace_existing=True)
    scheduler.add_job(_job("poll", app, poll_mailbox), "interval", id="poll",
                      seconds=app.settings.imap.poll_interval_seconds,
                      next_run_time=_wall_now(), replace_existing=True)
    return scheduler


def _supervise(watcher: IdleWatcher) -> None:
    """Restart the IDLE thread if it died (it ends by itself only when there is no IDLE)."""
    if not watcher.alive and watcher.ended is None:
        log.warning("service.idle_restarted", folder=watcher.folder)
        watcher.start()


def idle_watcher(app: App, scheduler: BlockingScheduler) -> IdleWatcher | None:
    """The IDLE thread for an IMAP mailbox (None for a Maildir or with ``imap.idle`` off):
    new mail brings the ``poll`` job forward to now."""
    settings = app.settings.imap
    if settings.source != "imap" or not settings.idle:
        return None

    def wake() -> None:
        scheduler.modify_job("poll", next_run_time=_wall_now())

    return IdleWatcher(settings, settings.folders[0], wake)


def _wall_now() -> datetime:
    # APScheduler schedules in wall-clock time; the services read the injected clock.
    return datetime.now(UTC) + timedelta(milliseconds=10)


def run_forever(app: App) -> None:
    scheduler = build_scheduler(app)

    def stop(signum: int, _frame: FrameType | None) -> None:
        log.info("service.stopping", signal=signal.Signals(signum).name)
        scheduler.shutdown(wait=True)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    watcher = idle_watcher(app, scheduler)
    log.info("service.started", jobs=[job.id for job in scheduler.get_jobs()],
             tick_seconds=app.settings.scheduler.tick_seconds, idle=watcher is not None)
    if watcher is not None:
        watcher.start()
        scheduler.add_job(_supervise, "interval", args=[watcher], id="idle-supervisor",
                          seconds=60, replace_existing=True)
    try:
        scheduler.start()
    finally:
        if watcher is not None:
            watcher.stop()
    log.info("service.stopped")
