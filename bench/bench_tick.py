"""Tick speed: one scheduler tick over 20,000 active requests with 2,000 due.

    .venv/bin/python bench/bench_tick.py [--requests 20000] [--due 2000] [--postgres URL]
                                         [--profile]

For each database (a fresh SQLite file in a temp dir; with ``--postgres``, also a fresh
schema on that server) it builds the data set, then reports in one run (shared machines are
noisy, so compare ratios):

* set-up: ``--requests`` suppliers with two contacts each (primary, escalation), written by
  two bulk Core INSERTs (not the import service: ``bench_import.py`` measures that), and one
  campaign created and started through the services (``start_campaign`` enrolls every
  supplier: one request and one event each); then ``--due`` requests keep
  ``next_action_at = now`` and the rest are moved 1 to 30 days later;
* ``tick_once(app)`` (what ``outreach run`` calls): decides, renders and queues the due
  requests (goal <= 2 s on SQLite for 2,000), with the outbound rows it wrote;
* a second tick right after (nothing due; goal <= 50 ms), which must write nothing, and the
  median of five more;
* baselines: rendering the same messages with the same ``TemplateStore`` and no database,
  and a bare bulk INSERT (one Core executemany, one commit) of as many outbound rows copied
  from the ones the tick wrote (same sizes, new keys), deleted again afterwards.

``--profile`` runs the first tick under cProfile and prints the top 25 by cumulative time
(everything, then the project's own functions) and the top 15 by own time.
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from _pg import pg_schema  # bench/_pg.py: the scripts run from this folder
from sqlalchemy import delete, func, insert, select, update

from outreach.bootstrap import App, build
from outreach.core.clock import FixedClock, local_date
from outreach.core.enums import ContactRole, ContactStatus, TemplateFamily
from outreach.db.engine import transaction
from outreach.db.migrate import upgrade
from outreach.db.models import Campaign, Contact, OutboundMessage, Request, Supplier
from outreach.mail.blank_template import blank_template
from outreach.mail.template_context import message_context
from outreach.scheduler import tick_once
from outreach.services.campaigns import NewCampaign, create_campaign, start_campaign
from outreach.settings import load_settings

#: a Monday, 09:00 UTC, in the survey season (as in the tests)
T0 = datetime(2027, 1, 11, 9, 0, tzinfo=UTC)
COUNTRIES = ("DE", "US", "CN", "JP", "FR", "IT", "MX", "KR")


def timed(fn: Callable[[], object]) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def make_app(work: Path, url: str, **overrides: object) -> App:
    """A migrated app on ``url`` with its data dir in ``work`` and a FixedClock at T0."""
    settings = load_settings(data=work, env={}, overrides={
        "database": {"url": url}, "logging": {"level": "WARNING", "format": "json"},
        **overrides})
    app = build(settings, clock=FixedClock(T0), check_schema=False)
    upgrade(app.engine)
    return app


def populate(app: App, count: int, due: int) -> dict[str, float]:
    """Suppliers and contacts by bulk INSERT, a started campaign, ``due`` requests due now."""
    now = app.clock.now()
    seconds: dict[str, float] = {}
    started = time.perf_counter()
    with app.engine.begin() as conn:
        ids = conn.execute(insert(Supplier).returning(Supplier.id), [
            {"code": f"S{i:06d}", "name": f"Supplier {i} GmbH", "country": COUNTRIES[i % 8],
             "time_zone": None, "language": "de" if i % 4 == 0 else "en",
             "email_domains": [f"s{i}.example"], "buyer": "Bea Buyer <bea@company.example>",
             "scope_tags": [], "active": True, "created_at": now, "updated_at": now}
            for i in range(count)]).scalars().all()
        conn.execute(insert(Contact), [
            {"supplier_id": sid, "role": role, "name": name, "email": f"{local}@s{i}.example",
             "status": ContactStatus.ACTIVE, "created_at": now, "updated_at": now}
            for i, sid in enumerate(ids)
            for role, name, local in ((ContactRole.PRIMARY, f"Pat Contact {i}", "pat"),
                                      (ContactRole.ESCALATION, None, "boss"))])
    seconds["suppliers"] = time.perf_counter() - started
    started = time.perf_counter()
    with transaction(app.sessions) as session:
        campaign = create_campaign(
            session, app.clock,
            NewCampaign(name="CMRT 2026", reporting_year=2026, due_date=date(2027, 3, 31),
                        template_family=TemplateFamily.CMRT, min_version="6.01"),
            actor="bench", company_time_zone="UTC")
        start_campaign(session, app.clock, campaign, app.settings.ladder, actor="bench",
                       late_joiner_days=30, company_time_zone="UTC")
    seconds["campaign"] = time.perf_counter() - started
    with app.engine.begin() as conn:
        first = conn.execute(select(func.min(Request.id))).scalar_one()
        # the rest: due 1..30 days later, spread like a season in progress
        for day in range(1, 31):
            conn.execute(update(Request)
                         .where(Request.id >= first + due, (Request.id - first) % 30 == day - 1)
                         .values(next_action_at=now + timedelta(days=day)))
    return seconds


def count_outbound(app: App) -> int:
    with app.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(OutboundMessage)).scalar_one())


def render_baseline(app: App, due: int) -> float:
    """Render the due requests' first messages with the same store, all rows pre-loaded."""
    store = app.templates()
    settings = app.settings
    stage = app.settings.ladder.stages[0]
    assert stage.template is not None
    with app.sessions() as session:
        campaign = session.exec(select(Campaign)).scalar_one()  # type: ignore[call-overload]
        rows = session.exec(  # type: ignore[call-overload]
            select(Request, Supplier, Contact)
            .join(Supplier, Supplier.id == Request.supplier_id)
            .join(Contact, Contact.supplier_id == Supplier.id)
            .where(Contact.role == ContactRole.PRIMARY)
            .order_by(Request.id).limit(due)).all()
        session.expunge_all()
    blank = blank_template(str(campaign.template_family))
    today = local_date(app.clock, settings.campaign.time_zone)

    def run() -> None:
        for request, supplier, contact in rows:
            context = message_context(
                supplier=supplier, contact=contact, campaign=campaign, request=request,
                company=settings.company, from_address=settings.mail.from_address,
                today=today, stage=stage.name, repeat=1,
                attachment_name=blank.filename_for(supplier.code))
            store.render(stage.template, supplier.language, context)

    return timed(run)


def insert_baseline(app: App) -> float:
    """A bare executemany of as many outbound rows as the tick wrote, same sizes."""
    with app.engine.connect() as conn:
        rows = [dict(r._mapping) for r in conn.execute(select(OutboundMessage.__table__))]
    tag = uuid.uuid4().hex[:8]
    for row in rows:
        row.pop("id")
        row["idempotency_key"] += f":{tag}"
        row["message_id"] = row["message_id"].replace("@", f".{tag}@", 1)

    def run() -> None:
        with app.engine.begin() as conn:
            conn.execute(insert(OutboundMessage), rows)

    seconds = timed(run)
    with app.engine.begin() as conn:
        conn.execute(delete(OutboundMessage)
                     .where(OutboundMessage.idempotency_key.endswith(f":{tag}")))  # type: ignore[attr-defined]
    return seconds


def run_one(name: str, work: Path, url: str, args: argparse.Namespace) -> dict[str, Any]:
    app = make_app(work, url)
    try:
        setup = populate(app, args.requests, args.due)
        app.templates()  # checked once at first use, as in `outreach run`
        before = count_outbound(app)
        if args.profile:
            profiler = cProfile.Profile()
            started = time.perf_counter()
            result = profiler.runcall(tick_once, app)
            first = time.perf_counter() - started
        else:
            started = time.perf_counter()
            result = tick_once(app)
            first = time.perf_counter() - started
        written = count_outbound(app) - before
        started = time.perf_counter()
        again = tick_once(app)
        empty = time.perf_counter() - started
        written_again = count_outbound(app) - before - written
        idle = statistics.median(timed(lambda: tick_once(app)) for _ in range(5))
        render = render_baseline(app, args.due)
        bulk = insert_baseline(app)
    finally:
        app.close()
    if args.profile:
        print(f"--- cProfile of the first tick ({name}), top 25 by cumulative time")
        pstats.Stats(profiler).sort_stats("cumulative").print_stats(25)
        print(f"--- cProfile of the first tick ({name}), outreach's own functions, cumulative")
        pstats.Stats(profiler).sort_stats("cumulative").print_stats(r"/outreach/", 30)
        print(f"--- cProfile of the first tick ({name}), top 15 by own time")
        pstats.Stats(profiler).sort_stats("tottime").print_stats(15)
    assert not any(v for k, v in again.items()), again
    return {"name": name, "setup": setup, "first": first, "result": result,
            "written": written, "empty": empty, "written_again": written_again, "idle": idle,
            "render": render, "bulk": bulk}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=20_000)
    parser.add_argument("--due", type=int, default=2000)
    parser.add_argument("--postgres", help="e.g. postgresql://root@127.0.0.1:5432/test")
    parser.add_argument("--profile", action="store_true", help="cProfile the first tick")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-tick-"))
    results = [run_one("sqlite", work / "sqlite",
                       f"sqlite:///{work / 'outreach.sqlite3'}", args)]
    if args.postgres:
        url, drop = pg_schema(args.postgres)
        try:
            results.append(run_one("postgresql", work / "postgresql", url, args))
        finally:
            drop()
    print(f"{args.requests} requests (suppliers with 2 contacts each), {args.due} due now")
    for r in results:
        print(f"{r['name']}: set-up {r['setup']['suppliers']:.2f} s bulk INSERT of suppliers "
              f"and contacts, {r['setup']['campaign']:.2f} s start_campaign")
    print(f"{'database':<11} {'tick s':>7} {'written':>7} {'render s':>8} {'ratio':>6} "
          f"{'INSERT s':>8} {'ratio':>6} {'2nd tick ms':>11} {'writes':>6} {'idle ms':>7}")
    for r in results:
        print(f"{r['name']:<11} {r['first']:>7.3f} {r['written']:>7} {r['render']:>8.3f} "
              f"{r['first'] / r['render']:>5.1f}x {r['bulk']:>8.3f} "
              f"{r['first'] / r['bulk']:>5.1f}x {r['empty'] * 1000:>11.1f} "
              f"{r['written_again']:>6} {r['idle'] * 1000:>7.1f}")
        print(f"{'':<11} tick: {r['result']}")


if __name__ == "__main__":
    main()
