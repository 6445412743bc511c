"""``outreach run`` and ``outreach tick``: the service, and one tick of it for cron users."""

from __future__ import annotations

from typing import Annotated

import typer

from outreach.cli.context import state
from outreach.cli.output import out, print_json
from outreach.scheduler import deliver_once, run_forever, tick_once
from outreach.services.delivery import retry_message


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


def deliver(
    ctx: typer.Context,
    retry: Annotated[int | None, typer.Option(
        "--retry", help="Queue this uncertain or failed message again (after checking)")] = None,
    reason: Annotated[str | None, typer.Option("--reason", help="Why, for the audit trail")
                      ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output")] = False,
) -> None:
    """Send what the outbox holds now (for cron instead of `outreach run`)."""
    cli = state(ctx)
    app = cli.app()
    if retry is not None:
        with cli.unit_of_work() as session:
            retry_message(session, app.clock, retry, actor=cli.actor, reason=reason)
    result = deliver_once(app)
    if as_json:
        print_json(result)
    else:
        out().print(", ".join(f"{k}: {v}" for k, v in result.items()), highlight=False)
