"""``outreach run``: the long-running service. APScheduler only ticks; state is in the database.

Concurrency model: one process runs a ``BlockingScheduler`` whose jobs execute in a small
thread pool. Each job calls one synchronous service in its own short transaction (no
transaction is held across network I/O). Jobs coalesce and never overlap themselves
(``max_instances=1``), and since every due time lives in a row, a missed, late or doubled
run does no harm. SIGTERM and SIGINT stop the scheduler after the running job finishes.
"""

from __future__ import annotations

import signal
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from types import FrameType

import structlog
from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.blocking import BlockingScheduler

from outreach.bootstrap import App
from outreach.db.engine import write_transaction
from outreach.mail.transport import open_transport
from outreach.services.delivery import deliver_due
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
    return scheduler


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
    log.info("service.started", jobs=[job.id for job in scheduler.get_jobs()],
             tick_seconds=app.settings.scheduler.tick_seconds)
    scheduler.start()
    log.info("service.stopped")
