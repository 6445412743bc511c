"""``outreach campaign``: a survey season, from draft to closed."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from sqlmodel import select

from outreach.cli.context import state
from outreach.cli.dates import parse_date
from outreach.cli.output import out, print_json, table, when
from outreach.cli.schedule import stage_label
from outreach.core.enums import RequestState, TemplateFamily
from outreach.core.ladder import Ladder
from outreach.db.models import Campaign, Request, Supplier
from outreach.services import campaigns as svc
from outreach.services.ladder_preview import LadderPreview, preview_ladder_update
from outreach.services.schedule import Schedule, ScheduleRow

app = typer.Typer(help="Create, start, pause, resume, close and inspect campaigns.",
                  no_args_is_help=True)

JsonOption = Annotated[bool, typer.Option("--json", help="Machine-readable output")]
CampaignArg = Annotated[str | None, typer.Argument(
    help="Campaign name or id [default: the only open campaign]")]
ReasonOption = Annotated[str | None, typer.Option("--reason", help="Why, for the audit trail")]


@app.command("create")
def create(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="A name people recognise, e.g. 'CMRT 2026'")],
    year: Annotated[int, typer.Option("--year", help="Reporting year (calendar year surveyed)")],
    due: Annotated[str, typer.Option("--due", help="Due date for suppliers, YYYY-MM-DD")],
    family: Annotated[TemplateFamily | None, typer.Option(
        "--family", help="Template asked for [default: campaign.template_family]")] = None,
    min_version: Annotated[str | None, typer.Option(
        "--min-version", help="Oldest template version accepted [default: campaign.min_version]",
    )] = None,
    scope: Annotated[list[str] | None, typer.Option(
        "--scope", help="Only suppliers with this scope tag (repeatable) [default: all]")] = None,
    as_json: JsonOption = False,
) -> None:
    """Create a campaign in draft; nothing is sent until `outreach campaign start`."""
    cli = state(ctx)
    defaults = cli.settings().campaign
    spec = svc.NewCampaign(
        name=name, reporting_year=year, due_date=parse_date(due, "--due"),
        template_family=family or defaults.template_family,
        min_version=min_version or defaults.min_version, scope_tags=tuple(scope or ()),
    )
    with cli.unit_of_work() as session:
        campaign = svc.create_campaign(session, cli.app().clock, spec, actor=cli.actor,
                                       company_time_zone=defaults.time_zone)
    if as_json:
        print_json(campaign.model_dump(mode="json"))
    else:
        out().print(f"created campaign {campaign.name!r} (id {campaign.id}, draft): "
                    f"{campaign.template_family} {campaign.min_version}+ for {year}, "
                    f"due {campaign.due_date}. Start it with `outreach campaign start`",
                    highlight=False, markup=False)


@app.command("start")
def start(ctx: typer.Context, campaign_ref: CampaignArg = None) -> None:
    """Freeze the escalation ladder and create one request per active supplier in scope."""
    cli = state(ctx)
    settings = cli.settings()
    with cli.unit_of_work() as session:
        campaign = svc.get_campaign(session, campaign_ref)
        requests = svc.start_campaign(
            session, cli.app().clock, campaign, Ladder.model_validate(settings.ladder),
            actor=cli.actor, late_joiner_days=settings.campaign.late_joiner_days,
            company_time_zone=settings.campaign.time_zone,
        )
    out().print(f"started campaign {campaign.name!r}: {len(requests)} requests, ladder "
                f"{' → '.join(s.name for s in settings.ladder.stages)}", highlight=False,
                markup=False)


def _simple(action: str, ctx: typer.Context, ref: str | None, reason: str | None) -> None:
    cli = state(ctx)
    with cli.unit_of_work() as session:
        campaign = svc.get_campaign(session, ref)
        fn = {"pause": svc.pause_campaign, "resume": svc.resume_campaign,
              "close": svc.close_campaign}[action]
        closed = fn(session, cli.app().clock, campaign, actor=cli.actor, reason=reason)
    extra = f"; {closed} open request(s) closed" if action == "close" else ""
    out().print(f"campaign {campaign.name!r} is {campaign.state}{extra}", highlight=False,
                markup=False)


@app.command("pause")
def pause(ctx: typer.Context, campaign_ref: CampaignArg = None,
          reason: ReasonOption = None) -> None:
    """Stop all escalation for the campaign until resumed (replies are still taken in)."""
    _simple("pause", ctx, campaign_ref, reason)


@app.command("resume")
def resume(ctx: typer.Context, campaign_ref: CampaignArg = None,
           reason: ReasonOption = None) -> None:
    """Resume a paused campaign; what fell due meanwhile is sent on the next tick."""
    _simple("resume", ctx, campaign_ref, reason)


@app.command("close")
def close(ctx: typer.Context, campaign_ref: CampaignArg = None,
          reason: ReasonOption = None) -> None:
    """End the campaign; requests still waiting for an answer close with it."""
    _simple("close", ctx, campaign_ref, reason)


@app.command("list")
def list_cmd(ctx: typer.Context, as_json: JsonOption = False) -> None:
    """List campaigns with their request counts."""
    cli = state(ctx)
    with cli.unit_of_work() as session:
        campaigns = session.exec(select(Campaign).order_by(Campaign.id)).all()
        counts = {c.id: svc.request_counts(session, c.id or 0) for c in campaigns}
    if as_json:
        print_json([{**c.model_dump(mode="json", exclude={"ladder"}),
                     "requests": dict(counts[c.id])} for c in campaigns])
        return
    out().print(table(
        "campaigns", ["id", "name", "template", "year", "due", "state", "requests", "open"],
        ([c.id, c.name, f"{c.template_family} {c.min_version}+", c.reporting_year, c.due_date,
          c.state, sum(counts[c.id].values()), counts[c.id].get("open", 0)]
         for c in campaigns),
    ))


@app.command("show")
def show(
    ctx: typer.Context,
    campaign_ref: CampaignArg = None,
    request_state: Annotated[RequestState | None, typer.Option(
        "--state", help="Only requests in this state")] = None,
    limit: Annotated[int, typer.Option(help="Rows to show on a terminal (0: all)")] = 50,
    as_json: JsonOption = False,
) -> None:
    """A campaign and its requests: who is at which stage, due when, next action when."""
    cli = state(ctx)
    tz = cli.settings().campaign.time_zone
    with cli.unit_of_work() as session:
        campaign = svc.get_campaign(session, campaign_ref)
        query = (select(Request, Supplier).join(Supplier, Supplier.id == Request.supplier_id)
                 .where(Request.campaign_id == campaign.id).order_by(Supplier.code))
        if request_state:
            query = query.where(Request.state == request_state)
        rows = session.exec(query).all()
        counts = svc.request_counts(session, campaign.id or 0)
    if as_json:
        print_json({**campaign.model_dump(mode="json"), "request_counts": dict(counts),
                    "requests": [{**r.model_dump(mode="json"), "supplier_code": s.code,
                                  "supplier_name": s.name} for r, s in rows]})
        return
    console = out()
    console.print(f"[bold]{campaign.name}[/] (id {campaign.id}) · {campaign.state} · "
                  f"{campaign.template_family} {campaign.min_version}+ · reporting year "
                  f"{campaign.reporting_year} · due {campaign.due_date}", highlight=False)
    if campaign.scope_tags:
        console.print(f"scope: {', '.join(campaign.scope_tags)}", highlight=False)
    console.print("requests: " + (", ".join(f"{n} {s}" for s, n in sorted(counts.items()))
                                  or "none yet"), highlight=False)
    shown = rows if limit == 0 else rows[:limit]
    caption = None if len(shown) == len(rows) else (
        f"{len(rows) - len(shown)} more: --limit 0 shows all, --json for machines")
    console.print(table(
        None, ["supplier", "name", "state", "stage", "due", "next action", "late"],
        ([s.code, s.name, r.state, f"{r.stage} ({r.stage_repeat})" if r.stage else "-",
          r.due_date, when(r.next_action_at, tz), "yes" if r.joined_late else ""]
         for r, s in shown),
        caption=caption,
    ))


@app.command("update-ladder")
def update_ladder(
    ctx: typer.Context,
    campaign_ref: Annotated[str | None, typer.Option(
        "--campaign", "-c", help="Campaign name or id [default: the only open campaign]")
    ] = None,
    dry_run: Annotated[bool, typer.Option(
        "--dry-run", help="Only show how the schedule would change")] = False,
    reason: ReasonOption = None,
    days: Annotated[int, typer.Option("--days", min=1,
                                      help="How far ahead the dry run compares")] = 30,
    as_json: JsonOption = False,
) -> None:
    """Replace a running campaign's frozen ladder with the configured one ([ladder])."""
    cli = state(ctx)
    settings = cli.settings()
    new = Ladder.model_validate(settings.ladder)
    with cli.unit_of_work() as session:
        campaign = svc.get_campaign(session, campaign_ref)
        if dry_run:
            preview = preview_ladder_update(session, cli.app().clock, settings,
                                                         campaign, new, days=days)
        else:
            done = svc.update_ladder(session, cli.app().clock, campaign, new, actor=cli.actor,
                                     reason=reason)
    if dry_run:
        _print_ladder_preview(preview, settings.campaign.time_zone, days, as_json)
        return
    if as_json:
        print_json({"campaign": campaign.name, "changes": done.changes,
                    "replanned": done.replanned})
        return
    out().print(f"campaign {campaign.name!r}: ladder updated ({_describe(done.changes)}); "
                f"{done.replanned} open request(s) re-plan on the next tick", highlight=False,
                markup=False)


def _describe(changes: dict[str, Any]) -> str:
    parts = [f"{key} {', '.join(changes[key])}" for key in ("added", "removed")
             if changes.get(key)]
    for stage, fields in changes.get("changed", {}).items():
        parts.append(f"{stage}: " + ", ".join(f"{k} {a} → {b}" for k, (a, b) in fields.items()))
    parts += [f"{k} {a} → {b}" for k, (a, b) in changes.get("settings", {}).items()]
    if changes.get("reordered"):
        parts.append("stages reordered")
    return "; ".join(parts) or "no change"


def _print_ladder_preview(preview: LadderPreview, tz: str, days: int, as_json: bool) -> None:
    if as_json:
        print_json(preview.as_json())
        return

    def step(row: ScheduleRow | None, schedule: Schedule) -> str:
        if row is None:
            return "nothing"
        waits = " (awaits approval)" if row.kind == "awaits_approval" else ""
        return f"{stage_label(schedule, row)} {when(row.at, tz)}{waits}"

    console = out()
    console.print(f"[bold]{preview.before.campaign}[/]: the configured ladder would change "
                  f"{_describe(preview.changes)}", highlight=False)
    console.print(table(
        f"the next {days} days, before → after", ["stage", "rows", "first", "last"],
        ([s.stage + ("" if s.changed else " (unchanged)"), f"{s.before} → {s.after}",
          f"{when(s.before_first, tz) or '-'} → {when(s.after_first, tz) or '-'}",
          f"{when(s.before_last, tz) or '-'} → {when(s.after_last, tz) or '-'}"]
         for s in preview.stages)))
    steps = preview.next_steps
    console.print(f"{len(steps)} request(s) whose next step changes", highlight=False)
    if steps:
        console.print(table(None, ["supplier", "before", "after"],
                            ([n.supplier_code, step(n.before, preview.before),
                              step(n.after, preview.after)]
                             for n in steps[:50]),
                            caption=None if len(steps) <= 50 else
                            f"{len(steps) - 50} more: --json lists all"))
    console.print("dry run: nothing was changed; assumes "
                  + "; ".join(preview.before.assumptions), highlight=False, markup=False)
