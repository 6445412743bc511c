"""``outreach run`` and ``outreach tick``: the service, and one tick of it for cron users."""

from __future__ import annotations

from typing import Annotated

import typer

from outreach.cli.context import state
from outreach.cli.output import out, print_json
from outreach.scheduler import run_forever, tick_once


def run(ctx: typer.Context) -> None:
    """Run the service until SIGTERM/SIGINT: the scheduler ticks, the database holds the state."""
    run_forever(state(ctx).app())


def tick(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output")] = False,
) -> None:
    """Do once what is due now (for cron instead of `outreach run`)."""
    result = tick_once(state(ctx).app())
    if as_json:
        print_json(result)
    else:
        out().print(", ".join(f"{k}: {v}" for k, v in result.items()), highlight=False)
