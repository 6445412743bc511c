"""``outreach schedule``: what the ladder will send, when, if nothing else happens."""

from __future__ import annotations

from typing import Annotated

import typer

from outreach.cli.context import state
from outreach.cli.output import out, print_json, table, when
from outreach.services import campaigns
from outreach.services.schedule import Schedule, ScheduleRow, simulate

app = typer.Typer(help="Preview the escalation schedule, honouring the delivery limits.",
                  no_args_is_help=True)

CampaignOption = Annotated[str | None, typer.Option(
    "--campaign", "-c", help="Campaign name or id [default: the only open campaign]")]
DaysOption = Annotated[int, typer.Option("--days", min=1, help="How far ahead to look")]
JsonOption = Annotated[bool, typer.Option("--json", help="Machine-readable output")]


@app.command("preview")
def preview(
    ctx: typer.Context,
    campaign: CampaignOption = None,
    days: DaysOption = 30,
    supplier: Annotated[str | None, typer.Option(
        "--supplier", help="Only this supplier's rows (the limits still count everyone)")
    ] = None,
    limit: Annotated[int, typer.Option(help="Rows to show on a terminal (0: all)")] = 200,
    as_json: JsonOption = False,
) -> None:
    """Who gets which e-mail when, if no one replies and nothing more is approved."""
    cli = state(ctx)
    settings = cli.settings()
    with cli.unit_of_work() as session:
        found = campaigns.get_campaign(session, campaign)
        schedule = simulate(session, cli.app().clock, settings, found, days=days)
    if supplier is not None:
        schedule = schedule.for_supplier(supplier)
    if as_json:
        print_json(schedule.as_json())
        return
    tz = settings.campaign.time_zone
    shown = schedule.rows if limit == 0 else schedule.rows[:limit]
    caption = None if len(shown) == len(schedule.rows) else (
        f"{len(schedule.rows) - len(shown)} more: --limit 0 shows all, --json for machines")
    console = out()
    console.print(f"[bold]{schedule.campaign}[/]: the next {days} days, "
                  f"{when(schedule.start, tz)} to {when(schedule.until, tz)}", highlight=False)
    console.print(table(None, ["when", "supplier", "stage", "to", "note"],
                        ([when(r.at, tz), r.supplier_code, stage_label(schedule, r),
                          recipients(r), r.note] for r in shown), caption=caption))
    console.print(summary(schedule, tz), highlight=False, markup=False)
    console.print("assumes " + "; ".join(schedule.assumptions), highlight=False, markup=False,
                  style="dim")


def stage_label(schedule: Schedule, row: ScheduleRow) -> str:
    try:
        repeats = schedule.ladder.stage(row.stage).repeat
    except KeyError:  # a queued message of a stage the ladder no longer has
        repeats = 1
    return row.stage if repeats == 1 else f"{row.stage} {row.repeat}/{repeats}"


def recipients(row: ScheduleRow) -> str:
    text = ", ".join(row.to)
    return f"{text}; cc {', '.join(row.cc)}" if row.cc else text


def summary(schedule: Schedule, tz: str) -> str:
    per_stage = schedule.per_stage()
    if not per_stage:
        head = "no messages in this period"
    else:
        parts = ", ".join(f"{per_stage[s.name]} {s.name}" for s in schedule.ladder.stages
                          if per_stage[s.name])
        extra = sum(n for name, n in per_stage.items()
                    if name not in {s.name for s in schedule.ladder.stages})
        parts += f", {extra} other" if extra else ""
        head = (f"{len(schedule.messages)} messages ({parts}); the last leaves "
                f"{when(schedule.last_send_at, tz)}")
    waiting = len(schedule.waiting)
    return head + (f"; {waiting} request(s) then await approval" if waiting else "")
