"""``outreach request``: what a compliance officer does for one supplier in a campaign.

Each action is recorded in the audit trail with who did it (``--actor`` / login) and why.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

import typer

from outreach.cli.context import state
from outreach.cli.dates import parse_date, parse_instant
from outreach.cli.output import out, print_json, table, when
from outreach.errors import InvalidInput
from outreach.services import requests as svc

app = typer.Typer(help="Show and act on one supplier's request.", no_args_is_help=True)

SupplierArg = Annotated[str, typer.Argument(help="Supplier code")]
CampaignOption = Annotated[str | None, typer.Option(
    "--campaign", "-c", help="Campaign name or id [default: the only open campaign]")]
ReasonOption = Annotated[str | None, typer.Option("--reason", help="Why, for the audit trail")]
JsonOption = Annotated[bool, typer.Option("--json", help="Machine-readable output")]


@app.command("show")
def show(ctx: typer.Context, supplier: SupplierArg, campaign: CampaignOption = None,
         as_json: JsonOption = False) -> None:
    """The request, the supplier's contacts and the request's whole history."""
    cli = state(ctx)
    tz = cli.settings().campaign.time_zone
    with cli.unit_of_work() as session:
        view = svc.view_request(session, svc.find_request(session, supplier, campaign))
    r = view.request
    if as_json:
        print_json({**r.model_dump(mode="json"), "supplier": view.supplier.model_dump(mode="json"),
                    "campaign": view.campaign.name,
                    "contacts": [c.model_dump(mode="json") for c in view.contacts],
                    "events": [e.model_dump(mode="json") for e in view.events]})
        return
    console = out()
    console.print(f"[bold]{view.supplier.code}[/] {view.supplier.name} · campaign "
                  f"{view.campaign.name!r} · request {r.id}", highlight=False)
    lines = [f"state {r.state}" + (f" until {when(r.paused_until, tz)}" if r.paused_until else ""),
             f"stage {r.stage or 'not contacted yet'}"
             + (f" (sent {r.stage_repeat}x, last {when(r.stage_sent_at, tz)})" if r.stage else ""),
             f"due {r.due_date}" + (" (joined late)" if r.joined_late else ""),
             f"next action {when(r.next_action_at, tz) or 'none'}",
             f"reply token {r.reply_token}"]
    if r.exempt_reason:
        lines.append(f"exempt: {r.exempt_reason}")
    console.print(" · ".join(lines), highlight=False, markup=False)
    console.print(table("contacts", ["role", "name", "email", "status"],
                        ([c.role, c.name, c.email, c.status] for c in view.contacts)))
    console.print(table("history", ["when", "who", "what", "why", "details"],
                        ([when(e.at, tz), e.actor, e.kind, e.reason,
                          ", ".join(f"{k}={v}" for k, v in e.data.items())]
                         for e in view.events)))


@app.command("extend")
def extend(
    ctx: typer.Context,
    supplier: SupplierArg,
    until: Annotated[str | None, typer.Option("--until", help="New due date, YYYY-MM-DD")] = None,
    days: Annotated[int | None, typer.Option("--days", min=1,
                                             help="Or: move the due date this many days")] = None,
    reason: ReasonOption = None,
    campaign: CampaignOption = None,
) -> None:
    """Give the supplier a later due date of its own; the ladder re-plans around it."""
    if (until is None) == (days is None):
        raise InvalidInput("give either --until YYYY-MM-DD or --days N")
    cli = state(ctx)
    with cli.unit_of_work() as session:
        request = svc.find_request(session, supplier, campaign)
        new_due = (parse_date(until, "--until") if until is not None
                   else request.due_date + timedelta(days=days or 0))
        previous = svc.extend_request(session, cli.app().clock, request, new_due,
                                      actor=cli.actor, reason=reason)
    out().print(f"{supplier}: due date moved from {previous} to {new_due}", highlight=False)


@app.command("pause")
def pause(
    ctx: typer.Context,
    supplier: SupplierArg,
    reason: ReasonOption = None,
    until: Annotated[str | None, typer.Option(
        "--until", help="Resume by itself then (YYYY-MM-DD or date-time) [default: by hand]")
    ] = None,
    campaign: CampaignOption = None,
) -> None:
    """Stop escalating to this supplier (e.g. it promised an answer), until a date or resume."""
    cli = state(ctx)
    tz = cli.settings().campaign.time_zone
    resume_at = parse_instant(until, "--until", tz) if until else None
    with cli.unit_of_work() as session:
        request = svc.find_request(session, supplier, campaign)
        svc.pause_request(session, cli.app().clock, request, actor=cli.actor, reason=reason,
                          until=resume_at)
    tail = f" until {when(resume_at, tz)}" if resume_at else " until `outreach request resume`"
    out().print(f"{supplier}: paused{tail}", highlight=False)


@app.command("resume")
def resume(ctx: typer.Context, supplier: SupplierArg, reason: ReasonOption = None,
           campaign: CampaignOption = None) -> None:
    """Resume a paused request; the next tick decides what is due."""
    cli = state(ctx)
    with cli.unit_of_work() as session:
        request = svc.find_request(session, supplier, campaign)
        svc.resume_request(session, cli.app().clock, request, actor=cli.actor, reason=reason)
    out().print(f"{supplier}: resumed", highlight=False)


@app.command("note")
def note(ctx: typer.Context, supplier: SupplierArg,
         text: Annotated[str, typer.Argument(help="The note, e.g. what was agreed on the phone")],
         campaign: CampaignOption = None) -> None:
    """Add a note to the request's history."""
    cli = state(ctx)
    with cli.unit_of_work() as session:
        request = svc.find_request(session, supplier, campaign)
        svc.note_request(session, cli.app().clock, request, text, actor=cli.actor)
    out().print(f"{supplier}: note added", highlight=False)


@app.command("exempt")
def exempt(ctx: typer.Context, supplier: SupplierArg, reason: ReasonOption = None,
           campaign: CampaignOption = None) -> None:
    """Take the supplier out of this campaign (e.g. supplies no 3TG); coverage shows it apart."""
    cli = state(ctx)
    with cli.unit_of_work() as session:
        request = svc.find_request(session, supplier, campaign)
        svc.exempt_request(session, cli.app().clock, request, actor=cli.actor, reason=reason)
    out().print(f"{supplier}: exempt ({reason})", highlight=False, markup=False)
