"""``outreach status``: where every open campaign stands, and its coverage (accepted CMRTs /
suppliers in scope, responded beside it, by stage, country and metal, the projected date of
100%): the same figures the digest reports (``services.coverage``)."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from sqlmodel import Session, col, func, select

from outreach.cli.context import state
from outreach.cli.output import out, print_json, table, when
from outreach.core.clock import local_date
from outreach.core.enums import CampaignState
from outreach.db.models import Campaign, DeliveryState, OutboundMessage, Request, Supplier
from outreach.services.campaigns import get_campaign, request_counts
from outreach.services.coverage import CampaignCoverage, campaign_coverage
from outreach.services.delivery import FAILED, QUEUED, UNCERTAIN
from outreach.services.digest import next_digest_times


def status(
    ctx: typer.Context,
    campaign_ref: Annotated[str | None, typer.Argument(
        help="Campaign name or id [default: every campaign not closed]")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output")] = False,
) -> None:
    """Suppliers, campaigns, and each campaign's requests by state and by stage."""
    cli = state(ctx)
    settings = cli.settings()
    tz = settings.campaign.time_zone
    today = local_date(cli.app().clock, tz)
    coverages: list[CampaignCoverage] = []
    with cli.unit_of_work() as session:
        if campaign_ref is not None:
            campaigns = [get_campaign(session, campaign_ref)]
        else:
            campaigns = list(session.exec(select(Campaign).where(
                Campaign.state != CampaignState.CLOSED).order_by(Campaign.id)).all())
        suppliers = session.exec(select(func.count()).select_from(Supplier)
                                 .where(Supplier.active)).one()
        report = []
        digests = next_digest_times(session)
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
            picture = campaign_coverage(session, c, today=today, tz=tz)
            coverages.append(picture)
            detail = picture.as_json()
            report[-1].update({
                key: detail[key] for key in (
                    "in_scope", "accepted", "responded", "responded_ratio", "complete",
                    "exempt", "by_country", "by_metal", "series", "rate_per_day",
                    "projected_complete")})
            report[-1]["coverage_by_stage"] = detail["by_stage"]
            due = digests.get(c.id or 0)
            report[-1]["next_digest_at"] = due.isoformat() if due else None
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
    for r, picture in zip(report, coverages, strict=True):
        coverage = "n/a" if r["coverage"] is None else f"{r['coverage']:.0%}"
        console.print(table(
            f"{r['campaign']} · {r['state']} · due {r['due_date']} · coverage {coverage}",
            ["", "count"],
            [*(("state: " + k, v) for k, v in sorted(r["by_state"].items())),
             *(("stage: " + k, v) for k, v in sorted(r["by_stage"].items()))],
        ))
        _print_coverage(console, picture, r["next_digest_at"], tz)


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.1%}"


def _print_coverage(console: Any, c: CampaignCoverage, next_digest: str | None,
                    tz: str) -> None:
    projected = c.projection.complete_on
    lines = [
        ("accepted CMRTs / in scope", f"{c.accepted} / {c.in_scope}", _pct(c.coverage)),
        ("responded (any reply) / in scope", f"{c.responded} / {c.in_scope}",
         _pct(c.responded_ratio)),
        ("exempt (not counted)", str(len(c.exempt)), ""),
        ("rate, last 14 days", f"{c.projection.rate_per_day * 7:.1f} a week", ""),
        ("projected 100%", "complete" if c.complete else
         (projected.isoformat() if projected else "no acceptance in 14 days"), ""),
    ]
    if next_digest:
        from datetime import datetime

        lines.append(("next digest", when(datetime.fromisoformat(next_digest), tz), ""))
    console.print(table(f"{c.campaign} · coverage", ["", "count", "%"], lines))
    if c.exempt:
        console.print(table("exempt", ["supplier", "name", "reason"],
                            [(e.code, e.name, e.reason) for e in c.exempt[:50]]))
    for title, groups in (("by stage", c.by_stage), ("by supplier country", c.by_country[:30])):
        console.print(table(f"coverage {title}", ["", "in scope", "accepted", "responded",
                                                   "coverage", "exempt"],
                            [(g.key, g.in_scope, g.accepted, g.responded, _pct(g.coverage),
                              g.exempt) for g in groups]))
    if c.by_metal:
        console.print(table("metals in scope (accepted declarations)",
                            ["metal", "suppliers", "smelter rows"],
                            [(m.metal, m.suppliers, m.smelters) for m in c.by_metal]))
    weeks = [p for p in c.series if p.day.weekday() == c.today.weekday()][-8:]
    if weeks:
        console.print(table("coverage over time (weekly)", ["day", "accepted", "coverage"],
                            [(p.day.isoformat(), p.accepted, _pct(p.coverage)) for p in weeks]))


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
