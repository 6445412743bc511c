"""Launch: 5,000 suppliers under a 30/minute and 10,000/day account limit, delivered in simulation.

    .venv/bin/python bench/bench_launch.py [--suppliers 5000] [--transport smtp|local]
                                           [--baseline 200]

On a fresh SQLite database in a temp dir (suppliers and contacts by bulk INSERT, a campaign
started through the services, as in ``bench_tick.py``), with ``delivery.per_minute = 30``
and ``delivery.per_day = 10000``:

1. the launch: ``tick_once(app)`` until it queues nothing (one tick for up to 5,000);
2. delivery as ``outreach run`` does it, on a ``FixedClock``: one ``deliver_once(app)`` per
   scheduler tick (``scheduler.tick_seconds``, 60 s), the clock then stepped one tick
   forward (or straight to the next ``next_attempt_at`` when nothing is due before it),
   until the outbox is empty. The transport is the real one: ``smtp`` (default) to a bare
   in-process aiosmtpd on loopback that counts and discards (``security = "none"``), or
   ``local``, the embedded default writing ``.eml`` files (deleted after every pass, as
   5,000 messages with the 1.5 MB workbook are ~10 GB);
3. reports the simulated time from the first send to the last against the limits'
   expectation (``suppliers / per_minute`` minutes at a steady rate; with bursts of 30 at
   the top of each minute the last one leaves ``ceil(n / 30) - 1`` minutes after the
   first), the wall time of the simulation and messages per wall second;
4. baseline, same run: bare aiosmtplib sending ``--baseline`` of the very messages (the
   composed bytes, attachment included) over one connection to the same server;
5. if ``outreach.services.schedule`` (``outreach schedule preview``) exists: its
   ``simulate()`` (what the command prints) asked before the launch tick and again after it
   (messages in the outbox), over a 1-day horizon, and its last ``request`` send against
   the simulated delivery's last ``sent_at``.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import importlib.util
import math
import shutil
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path

import aiosmtplib
from bench_delivery import HOST, SENDER, CountingHandler, self_signed, start_server
from bench_tick import make_app, populate, timed
from sqlalchemy import func, select

from outreach.bootstrap import App
from outreach.core.clock import FixedClock
from outreach.db.models import Campaign, OutboundMessage
from outreach.scheduler import deliver_once, tick_once
from outreach.services.delivery import _envelope
from outreach.settings import Settings


def queued_next(app: App) -> tuple[int, datetime | None]:
    with app.engine.connect() as conn:
        row = conn.execute(select(func.count(), func.min(OutboundMessage.next_attempt_at))
                           .where(OutboundMessage.status == "queued")).one()
    return int(row[0]), row[1]


def sent_span(app: App) -> tuple[int, datetime, datetime]:
    with app.engine.connect() as conn:
        row = conn.execute(select(func.count(), func.min(OutboundMessage.sent_at),
                                  func.max(OutboundMessage.sent_at))
                           .where(OutboundMessage.status == "sent")).one()
    return int(row[0]), row[1], row[2]


def simulate(app: App, clock: FixedClock, outbox: Path | None) -> tuple[float, int, dict[str, int]]:
    """Deliver until the outbox is empty; return wall seconds, passes and summed counters."""
    step = timedelta(seconds=app.settings.scheduler.tick_seconds)
    totals: dict[str, int] = {}
    passes = 0
    started = time.perf_counter()
    while True:
        result = deliver_once(app)
        passes += 1
        for key, value in result.items():
            totals[key] = totals.get(key, 0) + value
        if result["paused"]:
            raise SystemExit(f"delivery paused after {passes} passes: {result}")
        if outbox is not None:
            shutil.rmtree(outbox, ignore_errors=True)
        left, next_at = queued_next(app)
        if not left:
            break
        clock.advance(step)
        if next_at is not None and next_at > clock.now():
            clock.set(next_at)  # nothing due before then: skip the idle ticks
    return time.perf_counter() - started, passes, totals


def bare_baseline(app: App, settings: Settings, port: int, count: int) -> tuple[float, int]:
    """Bare aiosmtplib, one connection, the first ``count`` outbound messages as composed."""
    with app.sessions() as session:
        messages = session.exec(select(OutboundMessage)  # type: ignore[call-overload]
                                .order_by(OutboundMessage.id).limit(count)).scalars().all()
        envelopes = [_envelope(m, settings) for m in messages]

    async def run() -> None:
        smtp = aiosmtplib.SMTP(hostname=HOST, port=port, start_tls=False)
        await smtp.connect()
        for envelope in envelopes:
            await smtp.sendmail(SENDER, list(envelope.recipients), envelope.message)
        await smtp.quit()

    return timed(lambda: asyncio.run(run())), len(envelopes)


def preview_last_send(app: App) -> tuple[datetime | None, float] | str:
    """``schedule preview``'s last first-stage send and its wall time, or why there is none."""
    if importlib.util.find_spec("outreach.services.schedule") is None:
        return "not available (no outreach/services/schedule.py)"
    try:
        schedule = importlib.import_module("outreach.services.schedule")
        started = time.perf_counter()
        with app.sessions() as session:
            campaign = session.exec(select(Campaign)).scalar_one()  # type: ignore[call-overload]
            result = schedule.simulate(session, app.clock, app.settings, campaign, days=1)
        seconds = time.perf_counter() - started
    except Exception as exc:  # another agent's work in progress: report, do not fail
        return f"failed: {type(exc).__name__}: {exc}"
    first_stage = app.settings.ladder.stages[0].name
    return max((r.at for r in result.messages if r.stage == first_stage), default=None), seconds


def describe(preview: tuple[datetime | None, float] | str, first: datetime,
             last: datetime) -> str:
    if isinstance(preview, str):
        return preview
    at, seconds = preview
    if at is None:
        return f"no {first:%H:%M} launch messages in the preview ({seconds:.2f} s)"
    return (f"last send {at:%H:%M:%S} = {(at - first).total_seconds() / 60:.1f} min after the "
            f"first real send, off by {(at - last).total_seconds():+.0f} s ({seconds:.2f} s)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--suppliers", type=int, default=5000)
    parser.add_argument("--transport", choices=("smtp", "local"), default="smtp")
    parser.add_argument("--baseline", type=int, default=200,
                        help="messages the bare aiosmtplib baseline sends")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-launch-"))
    handler = CountingHandler()
    cert, key = self_signed(work)
    controller = start_server(handler, cert, key)
    smtp = ({"transport": "smtp", "host": HOST, "port": controller.port, "security": "none"}
            if args.transport == "smtp" else {"transport": "local"})
    app = make_app(work / "data", f"sqlite:///{work / 'outreach.sqlite3'}", smtp=smtp,
                   delivery={"per_minute": 30, "per_day": 10_000})
    clock = app.clock
    assert isinstance(clock, FixedClock)
    try:
        setup = populate(app, args.suppliers, args.suppliers)
        preview_before = preview_last_send(app)
        ticks, started = 0, time.perf_counter()
        while True:
            ticks += 1
            if not tick_once(app)["queued"]:
                break
        launch = time.perf_counter() - started
        queued, _ = queued_next(app)
        preview_after = preview_last_send(app)
        outbox = app.settings.outbox_dir if args.transport == "local" else None
        wall, passes, totals = simulate(app, clock, outbox)
        sent, first, last = sent_span(app)
        server_before = handler.messages
        base, base_count = bare_baseline(app, app.settings, controller.port, args.baseline)
        assert handler.messages == server_before + base_count
    finally:
        app.close()
        controller.stop()
    limits = app.settings.delivery
    steady = args.suppliers / limits.per_minute
    bursts = math.ceil(args.suppliers / limits.per_minute) - 1
    span = (last - first).total_seconds() / 60
    print(f"{args.suppliers} suppliers, per_minute={limits.per_minute}, "
          f"per_day={limits.per_day}, batch_size={limits.batch_size}, "
          f"tick={app.settings.scheduler.tick_seconds:.0f} s, transport={args.transport}")
    print(f"set-up: {setup['suppliers']:.2f} s bulk INSERT, {setup['campaign']:.2f} s "
          f"start_campaign; launch: {ticks - 1} tick(s) queuing {queued} messages in "
          f"{launch:.2f} s (plus one empty tick)")
    print(f"simulated: first send {first:%Y-%m-%d %H:%M:%S}, last {last:%H:%M:%S}: "
          f"{span:.1f} min after the first (expected {steady:.1f} min at a steady "
          f"{limits.per_minute}/min, {bursts} min in bursts of {limits.per_minute}); "
          f"{sent} sent, {passes} delivery passes, counters {totals}")
    if args.transport == "smtp":
        assert handler.messages - base_count == sent, (handler.messages, sent)
    print(f"wall: {wall:.1f} s for {sent} messages = {sent / wall:.1f} msg/s "
          f"({wall / sent * 1000:.1f} ms each); baseline bare aiosmtplib, one connection, "
          f"{base_count} of the same messages: {base_count / base:.1f} msg/s "
          f"(deliver_once takes {wall / sent / (base / base_count):.1f}x its time per message)")
    print(f"schedule preview before the launch tick: {describe(preview_before, first, last)}")
    print(f"schedule preview after it (all queued): {describe(preview_after, first, last)}")
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
