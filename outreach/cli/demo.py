"""``outreach demo``: a whole survey season in one command, on the embedded defaults.

A fresh data directory (SQLite), an in-process SMTP server the service really sends through,
the local Maildir the service really polls, simulated suppliers with behaviour profiles
answering with real workbooks, and a stepped clock driving the same jobs ``outreach run``
schedules: months pass in a minute. See ``outreach.demo.season``.
"""

from __future__ import annotations

import shutil
import sys
from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console, Group
from rich.live import Live
from rich.panel import Panel
from rich.progress_bar import ProgressBar
from rich.table import Table
from rich.text import Text

from outreach.cli.context import state
from outreach.cli.output import out
from outreach.core.ladder import Ladder
from outreach.demo.profiles import PROFILES, Profile, load_profiles
from outreach.demo.season import SeasonConfig, SeasonResult, Snapshot, profile_table, run_season
from outreach.logs import configure_logging
from outreach.settings import LoggingSettings

#: our answers to what a supplier sent, after the ladder's own templates
ANSWER_KINDS = ("receipt", "receipt_with_warnings", "correction", "unreadable")


def demo(
    ctx: typer.Context,
    suppliers: Annotated[int, typer.Option("--suppliers", min=1, max=5000,
                                           help="How many simulated suppliers")] = 60,
    seed: Annotated[int, typer.Option(help="Seed: the same seed gives the same season")] = 0,
    profiles_file: Annotated[Path | None, typer.Option(
        "--profiles", exists=True, dir_okay=False,
        help="Behaviour profiles (TOML or CSV) instead of the built-in ones")] = None,
) -> None:
    """Run a whole survey season (months in a minute) on a fresh data directory
    [default: a new folder here], with a local mail server and simulated suppliers."""
    cli = state(ctx)
    if cli.data is None:
        stamp = datetime.now().astimezone().strftime("%Y%m%d-%H%M%S")
        cli.data = Path.cwd() / f"outreach-demo-{stamp}"
    if cli.data.exists() and any(cli.data.iterdir()):
        raise typer.BadParameter(f"{cli.data} is not empty: the demo needs a fresh folder",
                                 param_hint="--data")
    settings = cli.settings()
    if not cli.debug:  # the demo narrates; the service's own log lines would drown it
        settings = settings.model_copy(update={"logging": LoggingSettings(level="WARNING")})
        configure_logging(settings.logging)
    profiles = load_profiles(profiles_file) if profiles_file else list(PROFILES.values())
    console = out()
    console.rule("outreach demo: a survey season on embedded defaults")
    console.print(f"data directory {settings.data}\n"
                  f"{suppliers} simulated suppliers, seed {seed}; mail really goes through an "
                  "in-process SMTP server and replies through the local Maildir; the clock is "
                  "simulated. Approval-gated stages are approved by the demo itself.",
                  highlight=False, markup=False)
    ladder = settings.ladder
    with Live(_view(None, ladder), console=console, refresh_per_second=8,
              transient=not console.is_terminal) as live:
        result = run_season(settings, SeasonConfig(suppliers=suppliers, seed=seed,
                                                   profiles=profiles),
                            progress=lambda snap: live.update(_view(snap, ladder)))
    if not console.is_terminal:
        console.print(_view(result.snapshot, result.ladder))
    summary(console, result, profiles)


# --------------------------------------------------------------------------- the live display


def _view(snap: Snapshot | None, ladder: Ladder) -> Panel:
    if snap is None:
        return Panel("setting up: database, suppliers, campaign, mail server …",
                     title="season")
    head = Table.grid(padding=(0, 2))
    head.add_row(Text(f"simulated date {snap.now:%a %d %b %Y}", style="bold"),
                 Text(f"day {snap.day}"))
    bar = ProgressBar(total=max(snap.in_scope, 1), completed=snap.accepted, width=40)
    coverage = Table.grid(padding=(0, 2))
    coverage.add_row("coverage", bar, f"{snap.coverage:.0%} ({snap.accepted}/{snap.in_scope})")
    states = "  ".join(f"{k} {v}" for k, v in sorted(snap.by_state.items()))
    sent = Table("e-mails sent, by stage", "", box=None, padding=(0, 2))
    for stage in ladder.stages:
        if stage.handover:
            count = snap.by_state.get("handed_over", 0)
            sent.add_row(f"{stage.name} (no e-mail: handed over)", str(count))
        else:
            sent.add_row(stage.name, str(snap.sent_by_kind.get(stage.template or stage.name, 0)))
    for kind in ANSWER_KINDS:
        if snap.sent_by_kind.get(kind):
            sent.add_row(f"answer: {kind}", str(snap.sent_by_kind[kind]))
    if snap.sent_by_kind.get("digest"):
        sent.add_row("status digest (to compliance)", str(snap.sent_by_kind["digest"]))
    replies = Table("replies, by verdict", "", box=None, padding=(0, 2))
    for key, value in sorted(snap.replies.items()):
        replies.add_row(key, str(value))
    approved = ", ".join(f"{k} ×{v}" for k, v in sorted(snap.approved.items())) or "none yet"
    columns = Table.grid(padding=(0, 4))
    columns.add_row(sent, replies)
    return Panel(Group(head, coverage, Text(f"requests: {states}"), columns,
                       Text(f"approved by the demo itself: {approved}", style="dim")),
                 title="season")


# --------------------------------------------------------------------------- the summary


def summary(console: Console, result: SeasonResult, profiles: list[Profile]) -> None:
    labels = {p.name: p.label for p in profiles}
    table = Table(title=f"{result.campaign}: final coverage by behaviour profile")
    for column in ("profile", "behaviour", "suppliers", "accepted", "handed over",
                   "e-mails / supplier"):
        table.add_column(column, justify="right" if column != "behaviour" else "left")
    for name, count, accepted, handed, emails in profile_table(result):
        table.add_row(name, labels.get(name, name), str(count), str(accepted), str(handed),
                      emails)
    snap = result.snapshot
    table.add_section()
    table.add_row("all", "", str(len(result.outcomes)), str(snap.accepted),
                  str(snap.by_state.get("handed_over", 0)),
                  f"{sum(o.emails for o in result.outcomes) / max(len(result.outcomes), 1):.1f}")
    console.print(table)
    covered = "every responsive supplier covered" if result.responsive_covered else \
        "NOT every responsive supplier is covered"
    handed = "the never-answering ones handed over to procurement" \
        if result.unresponsive_handed_over else "some never-answering ones NOT handed over"
    console.print(f"coverage {snap.coverage:.0%} ({snap.accepted} of {snap.in_scope}): "
                  f"{covered}; {handed}. "
                  f"{snap.day} simulated days in {result.seconds:.0f} s"
                  + (f", {result.smtp_messages} messages through the SMTP server"
                     if result.smtp_messages is not None else "") + ".",
                  highlight=False, markup=False)
    data = result.settings.data
    console.print(f"\n{'data directory':<18} {data}", highlight=False, markup=False)
    for path in result.reports:
        label = _label(path)
        console.print(f"{label:<18} {path}", highlight=False, markup=False)
    for line in result.missing:
        console.print(f"{'not written':<18} {line}", highlight=False, markup=False)
    prog = f"{_command()} --data {data}"
    example = _example(result)
    console.print("\nnext, look around:\n"
                  f"  {prog} status\n"
                  f"  {prog} campaign show\n"
                  f"  {prog} history {example}      # one supplier's whole history\n"
                  f"  {prog} inbox review             # the questions waiting for a person",
                  highlight=False, markup=False)


def _label(path: Path) -> str:
    name = path.name.lower()
    if name.startswith("digest"):
        return "digest"
    if "cmrt" in name:
        return "consolidated CMRT"
    return "export"


def _example(result: SeasonResult) -> str:
    """A supplier whose history shows much: a corrected CMRT, else any."""
    for wanted in ("incomplete", "after_notice", "never"):
        for outcome in result.outcomes:
            if outcome.profile == wanted:
                return outcome.code
    return result.outcomes[0].code if result.outcomes else "CODE"


def _command() -> str:
    """How the person can run outreach again: by name if it is on PATH, else by path."""
    which = shutil.which("outreach")
    here = Path(sys.argv[0]).resolve() if sys.argv and sys.argv[0] else None
    if which and here and Path(which).resolve() == here:
        return "outreach"
    return str(here) if here and here.name == "outreach" else "outreach"
