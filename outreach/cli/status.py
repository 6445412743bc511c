"""``outreach status``: where every open campaign stands."""

from __future__ import annotations

from typing import Annotated

import typer
from sqlmodel import func, select

from outreach.cli.context import state
from outreach.cli.output import out, print_json, table
from outreach.core.enums import CampaignState
from outreach.db.models import Campaign, Request, Supplier
from outreach.services.campaigns import get_campaign, request_counts


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
    if as_json:
        print_json({"data": str(settings.data), "active_suppliers": suppliers,
                    "campaigns": report})
        return
    console = out()
    console.print(f"data {settings.data} · {suppliers} active suppliers", highlight=False)
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
