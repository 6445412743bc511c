"""``outreach status``: where every open campaign stands."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from sqlmodel import Session, col, func, select

from outreach.cli.context import state
from outreach.cli.output import out, print_json, table
from outreach.core.enums import CampaignState
from outreach.db.models import Campaign, DeliveryState, OutboundMessage, Request, Supplier
from outreach.services.campaigns import get_campaign, request_counts
from outreach.services.delivery import FAILED, QUEUED, UNCERTAIN


def status(
    ctx: typer.Context,
    campaign_ref: Annotated[str | None, typer.Argument(
        help="Campaign name or id [default: every campaign not closed]")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output")] = False,
) -> None:
    """Suppliers, campaigns, and each campaign's requests by state and by stage."""
    cli = state(ctx)
    settings = cli.settings()
    with cli.unit_of_work() as session:
        if campaign_ref is not None:
            campaigns = [get_campaign(session, campaign_ref)]
        else:
            campaigns = list(session.exec(select(Campaign).where(
                Campaign.state != CampaignState.CLOSED).order_by(Campaign.id)).all())
        suppliers = session.exec(select(func.count()).select_from(Supplier)
                                 .where(Supplier.active)).one()
        report = []
        for c in campaigns:
            stages = dict(session.exec(
                select(Request.stage, func.count()).where(Request.campaign_id == c.id)
                .group_by(Request.stage)).all())
            states = request_counts(session, c.id or 0)
            total = sum(states.values())
            accepted = states.get("accepted", 0)
            exempt = states.get("exempt", 0)
            in_scope = total - exempt
            report.append({
                "campaign": c.name, "state": c.state, "due_date": c.due_date.isoformat(),
                "requests": total, "by_state": dict(states),
                "by_stage": {(k or "not contacted"): v for k, v in stages.items()},
                "coverage": round(accepted / in_scope, 4) if in_scope else None,
            })
        attention = _attention(session)
    if as_json:
        print_json({"data": str(settings.data), "active_suppliers": suppliers,
                    "campaigns": report, "attention": attention})
        return
    console = out()
    console.print(f"data {settings.data} · {suppliers} active suppliers", highlight=False)
    if attention["delivery_paused"]:
        console.print(f"[bold red]delivery paused[/]: {attention['delivery_paused']} "
                      "(`outreach delivery resume` once fixed)", highlight=False)
    for key, what, command in (
            ("awaiting_approval", "request(s) wait for approval", "outreach approve --list"),
            ("uncertain", "message(s) may or may not have arrived",
             "outreach deliver --retry ID --reason …"),
            ("failed", "message(s) failed", "outreach delivery status"),
            ("queued", "message(s) wait in the outbox", "outreach schedule preview")):
        if attention[key]:
            console.print(f"{attention[key]} {what} ({command})", highlight=False)
    if not report:
        console.print("no open campaign: `outreach campaign create NAME --year Y --due DATE`")
    for r in report:
        coverage = "n/a" if r["coverage"] is None else f"{r['coverage']:.0%}"
        console.print(table(
            f"{r['campaign']} · {r['state']} · due {r['due_date']} · coverage {coverage}",
            ["", "count"],
            [*(("state: " + k, v) for k, v in sorted(r["by_state"].items())),
             *(("stage: " + k, v) for k, v in sorted(r["by_stage"].items()))],
        ))


def _attention(session: Session) -> dict[str, Any]:
    """What needs a person: paused delivery, approvals, messages in doubt or failed."""
    state = session.get(DeliveryState, 1)
    counts = dict(session.exec(select(OutboundMessage.status, func.count())
                               .group_by(OutboundMessage.status)).all())
    waiting = session.exec(select(func.count()).select_from(Request)
                           .where(col(Request.awaiting_approval).is_not(None))).one()
    return {"delivery_paused": state.reason if state is not None and state.paused else None,
            "awaiting_approval": waiting, "uncertain": counts.get(UNCERTAIN, 0),
            "failed": counts.get(FAILED, 0), "queued": counts.get(QUEUED, 0)}
