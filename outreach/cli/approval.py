"""``outreach approve`` and ``outreach delivery``: the two places a person holds the reins.

Stages that threaten the business relationship (the senior-officer notice, the hand-over)
wait for ``approve``; ``delivery pause|resume|status`` stops and restarts all sending
(the circuit breaker stops it too, and only a person restarts it).
"""

from __future__ import annotations

from typing import Annotated

import typer

from outreach.cli.context import state
from outreach.cli.output import out, print_json, table, when
from outreach.services import approvals as svc
from outreach.services import delivery_state as delivery
from outreach.services.campaigns import get_campaign
from outreach.services.requests import find_request

ReasonOption = Annotated[str | None, typer.Option("--reason", help="Why, for the audit trail")]
CampaignOption = Annotated[str | None, typer.Option(
    "--campaign", "-c", help="Campaign name or id [default: the only open campaign]")]
JsonOption = Annotated[bool, typer.Option("--json", help="Machine-readable output")]


def approve(
    ctx: typer.Context,
    suppliers: Annotated[list[str] | None, typer.Argument(help="Supplier codes")] = None,
    stage: Annotated[str | None, typer.Option(
        "--stage", help="Stage to approve [default: the one each request waits on]")] = None,
    list_only: Annotated[bool, typer.Option("--list", help="Only list what waits")] = False,
    reason: ReasonOption = None,
    campaign: CampaignOption = None,
    as_json: JsonOption = False,
) -> None:
    """Approve the senior-officer notice or hand-over for suppliers (or --list what waits)."""
    cli = state(ctx)
    if list_only or not suppliers:
        with cli.unit_of_work() as session:
            chosen = get_campaign(session, campaign) if campaign else None
            waiting = svc.pending_approvals(session, chosen.id if chosen else None)
            rows = [(p.supplier.code, p.supplier.name, p.campaign.name, p.stage,
                     p.request.due_date.isoformat()) for p in waiting]
        if as_json:
            print_json([dict(zip(("supplier", "name", "campaign", "stage", "due_date"), r,
                                 strict=True)) for r in rows])
        else:
            out().print(table(f"{len(rows)} request(s) waiting for approval",
                              ["supplier", "name", "campaign", "stage", "due"], rows))
        return
    app = cli.app()
    done: list[tuple[str, str]] = []
    with cli.unit_of_work() as session:  # all or none: one bad code approves nothing
        for code in suppliers:
            request = find_request(session, code, campaign)
            done.append((code, svc.approve(session, app.clock, request, actor=cli.actor,
                                           reason=reason, stage=stage)))
    for code, name in done:
        out().print(f"approved {name} for {code}", highlight=False)


delivery_app = typer.Typer(help="Pause, resume and inspect e-mail delivery.",
                           no_args_is_help=True)


@delivery_app.command("status")
def status(ctx: typer.Context, as_json: JsonOption = False) -> None:
    """Whether delivery runs, and if not since when and why."""
    cli = state(ctx)
    tz = cli.settings().campaign.time_zone
    with cli.unit_of_work() as session:
        current = delivery.delivery_state(session, cli.app().clock)
        data = {"paused": current.paused, "reason": current.reason,
                "paused_by": current.paused_by, "paused_at": current.paused_at,
                "connection_failures": current.connection_failures}
    if as_json:
        print_json(data)
    elif data["paused"]:
        out().print(f"[red]delivery paused[/] since {when(data['paused_at'], tz)} by "
                    f"{data['paused_by']}: {data['reason']}", highlight=False)
    else:
        out().print("[green]delivery runs[/]", highlight=False)


@delivery_app.command("pause")
def pause(ctx: typer.Context, reason: ReasonOption = None) -> None:
    """Stop sending any e-mail until `outreach delivery resume` (deciding goes on)."""
    cli = state(ctx)
    with cli.unit_of_work() as session:
        delivery.pause(session, cli.app().clock, actor=cli.actor, reason=reason)
    out().print("delivery paused", highlight=False)


@delivery_app.command("resume")
def resume(ctx: typer.Context, reason: ReasonOption = None) -> None:
    """Start sending again (after fixing what paused it)."""
    cli = state(ctx)
    with cli.unit_of_work() as session:
        delivery.resume(session, cli.app().clock, actor=cli.actor, reason=reason)
    out().print("delivery resumed", highlight=False)
