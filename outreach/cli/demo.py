"""``outreach demo``: the most complete flow available, on embedded defaults.

It builds a fresh data directory (SQLite), migrates it, generates and imports a supplier
file, creates and starts a campaign, and exercises the per-request actions a compliance
officer uses, then shows the result. Later parts of the service (sending, intake, the
season simulation) extend this same command.
"""

from __future__ import annotations

import shutil
import sys
from datetime import datetime, timedelta
from pathlib import Path
from typing import Annotated

import typer

from outreach.bootstrap import build
from outreach.cli.context import state
from outreach.cli.output import out, table
from outreach.core.clock import local_date
from outreach.db.engine import transaction
from outreach.db.migrate import upgrade
from outreach.imports.sample_suppliers import generate_suppliers, write_supplier_file
from outreach.imports.supplier_file import read_supplier_file
from outreach.logs import configure_logging
from outreach.services import campaigns, requests
from outreach.services.campaigns import NewCampaign, request_counts
from outreach.services.import_suppliers import import_suppliers
from outreach.settings import LoggingSettings


def demo(
    ctx: typer.Context,
    suppliers: Annotated[int, typer.Option("--suppliers", min=3, max=20000,
                                           help="How many simulated suppliers")] = 60,
    seed: Annotated[int, typer.Option(help="Seed for the generated supplier file")] = 0,
) -> None:
    """Run the whole available flow on a fresh data directory (default: a new folder here)."""
    cli = state(ctx)
    if cli.data is None:
        stamp = datetime.now().astimezone().strftime("%Y%m%d-%H%M%S")
        cli.data = Path.cwd() / f"outreach-demo-{stamp}"
    if cli.data.exists() and any(cli.data.iterdir()):
        raise typer.BadParameter(f"{cli.data} is not empty: the demo needs a fresh folder",
                                 param_hint="--data")
    settings = cli.settings()
    console = out()
    app = build(settings, check_schema=False)
    if not cli.debug:  # the demo narrates; the service's own log lines would drown it
        configure_logging(LoggingSettings(level="WARNING"))
    try:
        clock, actor, tz = app.clock, "demo", settings.campaign.time_zone
        console.rule("outreach demo")
        console.print(f"data directory {settings.data}", highlight=False)
        before, after = upgrade(app.engine)
        console.print(f"1. database created and migrated ({before or 'empty'} → {after})")

        supplier_file = settings.data / "suppliers.csv"
        rows = generate_suppliers(suppliers, seed=seed)
        write_supplier_file(rows[:-1], supplier_file)
        with transaction(app.sessions) as session:
            report = import_suppliers(session, clock, read_supplier_file(supplier_file),
                                      actor=actor, company_time_zone=tz)
        console.print(f"2. imported {report.created} suppliers from {supplier_file}",
                      highlight=False)

        today = local_date(clock, tz)
        # a season surveys the calendar year that just ended (or is ending, from October)
        year = today.year if today.month >= 10 else today.year - 1
        spec = NewCampaign(name=f"CMRT {year}", reporting_year=year,
                           due_date=today + timedelta(days=60),
                           template_family=settings.campaign.template_family,
                           min_version=settings.campaign.min_version)
        with transaction(app.sessions) as session:
            campaign = campaigns.create_campaign(session, clock, spec, actor=actor,
                                                 company_time_zone=tz)
            started = campaigns.start_campaign(
                session, clock, campaign, settings.ladder, actor=actor,
                late_joiner_days=settings.campaign.late_joiner_days, company_time_zone=tz)
        console.print(f"3. campaign {campaign.name!r} created and started: {len(started)} "
                      f"requests due {campaign.due_date}", highlight=False)

        codes = [r["code"] for r in rows]
        with transaction(app.sessions) as session:
            first = requests.find_request(session, codes[0], campaign.name)
            requests.extend_request(session, clock, first, first.due_date + timedelta(days=14),
                                    actor=actor, reason="asked for two more weeks by phone")
            second = requests.find_request(session, codes[1], campaign.name)
            requests.pause_request(session, clock, second, actor=actor,
                                   reason="supplier is migrating its ERP",
                                   until=clock.now() + timedelta(days=10))
            third = requests.find_request(session, codes[2], campaign.name)
            requests.exempt_request(session, clock, third, actor=actor,
                                    reason="supplies packaging only: no 3TG")
            requests.note_request(session, clock, first, "buyer confirmed the new contact",
                                  actor=actor)
        console.print(f"4. {codes[0]}: due date extended by 14 days; {codes[1]}: paused for 10 "
                      f"days; {codes[2]}: exempt", highlight=False)

        write_supplier_file(rows, supplier_file)
        with transaction(app.sessions) as session:
            report = import_suppliers(session, clock, read_supplier_file(supplier_file),
                                      actor=actor, company_time_zone=tz)
        joined = report.joined_campaigns.get(campaign.name, 0)
        console.print(f"5. re-imported the file with one new supplier: {report.created} new, "
                      f"{report.unchanged} unchanged; {joined} joined the running campaign "
                      f"with its own due date", highlight=False)

        with transaction(app.sessions) as session:
            counts = request_counts(session, campaign.id or 0)
        console.print(table(f"{campaign.name}: requests by state", ["state", "requests"],
                            sorted(counts.items())))
        prog = f"{_command()} --data {settings.data}"
        console.print("next, look around:\n"
                      f"  {prog} status\n"
                      f"  {prog} campaign show\n"
                      f"  {prog} request show {codes[0]}\n"
                      f"  {prog} supplier show {codes[0]}",
                      highlight=False, markup=False)
    finally:
        app.close()


def _command() -> str:
    """How the person can run outreach again: by name if it is on PATH, else by path."""
    which = shutil.which("outreach")
    here = Path(sys.argv[0]).resolve() if sys.argv and sys.argv[0] else None
    if which and here and Path(which).resolve() == here:
        return "outreach"
    return str(here) if here and here.name == "outreach" else "outreach"
