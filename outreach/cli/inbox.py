"""``outreach poll`` and ``outreach inbox``: read the mailbox once, and what a person does
with the mail intake could not settle on its own (quarantined, needing attention, failed)."""

from __future__ import annotations

from datetime import date
from typing import Annotated

import typer

from outreach.cli.context import state
from outreach.cli.dates import parse_date
from outreach.cli.output import out, print_json, table, when
from outreach.scheduler import intake_for, poll_mailbox
from outreach.services import inbox_review as svc

JsonOption = Annotated[bool, typer.Option("--json", help="Machine-readable output")]
CampaignOption = Annotated[str | None, typer.Option(
    "--campaign", "-c", help="Campaign name or id, with a supplier code "
                             "[default: the only open campaign]")]


def poll(
    ctx: typer.Context,
    backfill: Annotated[str | None, typer.Option(
        "--backfill", metavar="SINCE",
        help="Also take in mail received on or after this date (YYYY-MM-DD) that was in "
             "the mailbox before outreach first looked at it")] = None,
    as_json: JsonOption = False,
) -> None:
    """Read the mailbox once: record, match, judge and answer every new reply."""
    since: date | None = parse_date(backfill, "--backfill") if backfill else None
    result = poll_mailbox(state(ctx).app(), backfill_since=since)
    if as_json:
        print_json(result)
    else:
        out().print(", ".join(f"{k}: {v}" for k, v in result.items() if v) or
                    "nothing new", highlight=False)


app = typer.Typer(help="Review, assign and retry the replies intake could not settle.",
                  no_args_is_help=True)


@app.command("review")
def review(
    ctx: typer.Context,
    status: Annotated[list[str] | None, typer.Option(
        "--status", help="Only these: quarantined, attention, failed [default: all three]")
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """List the replies that wait for a person, with why."""
    cli = state(ctx)
    wanted = tuple(status or svc.FOR_REVIEW)
    unknown = set(wanted) - set(svc.FOR_REVIEW)
    if unknown:
        raise typer.BadParameter(f"unknown status {', '.join(sorted(unknown))}",
                                 param_hint="--status")
    tz = cli.settings().campaign.time_zone
    with cli.unit_of_work() as session:
        rows = [dict(id=m.id, status=m.status, received=m.received_at,
                     sender=m.from_address, subject=m.subject, folder=m.folder,
                     request=m.request_id, why=m.error if m.status == "failed" else m.note)
                for m in svc.for_review(session, wanted)]
    if as_json:
        print_json(rows)
        return
    out().print(table(f"{len(rows)} repl(ies) waiting for a person",
                      ["#", "status", "received", "from", "subject", "why"],
                      [(r["id"], r["status"], when(r["received"], tz), r["sender"] or "",
                        (r["subject"] or "")[:60], r["why"] or "") for r in rows]))
    if rows:
        out().print("`outreach inbox assign # SUPPLIER` files a reply under a supplier's "
                    "request; `outreach inbox retry #` processes a failed one again; "
                    "`outreach inbox dismiss #` takes one off this list.", highlight=False)


@app.command("assign")
def assign(
    ctx: typer.Context,
    message: Annotated[int, typer.Argument(help="The reply's number (from `inbox review`)")],
    request: Annotated[str, typer.Argument(help="Request number, or supplier code")],
    campaign: CampaignOption = None,
) -> None:
    """File a quarantined (or other) reply under a request: it is judged and answered as
    the supplier's own. Logged with who did it."""
    cli = state(ctx)
    status = svc.assign(intake_for(cli.app()), message, request, campaign=campaign,
                        actor=cli.actor)
    out().print(f"message #{message} assigned: {status}", highlight=False)


@app.command("retry")
def retry(
    ctx: typer.Context,
    message: Annotated[int, typer.Argument(help="The failed reply's number")],
) -> None:
    """Process a failed reply again (after fixing what made it fail)."""
    cli = state(ctx)
    status = svc.retry(intake_for(cli.app()), message, actor=cli.actor)
    out().print(f"message #{message}: {status}", highlight=False)


@app.command("dismiss")
def dismiss(
    ctx: typer.Context,
    message: Annotated[int, typer.Argument(help="The reply's number")],
    reason: Annotated[str | None, typer.Option("--reason", help="Why, for the audit trail")
                      ] = None,
) -> None:
    """Take a reply off the review list (you dealt with it yourself)."""
    cli = state(ctx)
    svc.dismiss(intake_for(cli.app()), message, actor=cli.actor, reason=reason)
    out().print(f"message #{message} dismissed", highlight=False)
