"""``outreach submission show|add`` and ``outreach contact suggestions|accept|dismiss``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from sqlmodel import col, select

from outreach.cli.context import state
from outreach.cli.output import out, print_json, table, when
from outreach.db.models import (
    Campaign,
    InboundMessage,
    Request,
    Submission,
    SubmissionSmelter,
    Supplier,
)
from outreach.errors import NotFound
from outreach.scheduler import intake_for
from outreach.services import contact_suggestions
from outreach.services.blobs import blob_path
from outreach.services.inbox_review import add_submission

JsonOption = Annotated[bool, typer.Option("--json", help="Machine-readable output")]

app = typer.Typer(help="Look at received workbooks, or add one that came another way.",
                  no_args_is_help=True)


@app.command("show")
def show(
    ctx: typer.Context,
    submission_id: Annotated[int, typer.Argument(metavar="ID", help="Submission number")],
    as_json: JsonOption = False,
) -> None:
    """A submission's verdict, findings by cell, and where the original file is."""
    cli = state(ctx)
    settings = cli.settings()
    with cli.unit_of_work() as session:
        submission = session.get(Submission, submission_id)
        if submission is None:
            raise NotFound(f"no submission #{submission_id}")
        request = session.get(Request, submission.request_id) if submission.request_id \
            else None
        supplier = session.get(Supplier, submission.supplier_id) if submission.supplier_id \
            else None
        campaign = session.get(Campaign, request.campaign_id) if request else None
        inbound = session.get(InboundMessage, submission.inbound_message_id) \
            if submission.inbound_message_id else None
        smelters = session.exec(select(SubmissionSmelter)
                                .where(SubmissionSmelter.submission_id == submission_id)
                                .order_by(col(SubmissionSmelter.row))).all()
        path = blob_path(settings.attachments_dir, submission.sha256) \
            if submission.sha256 else None
        data = {
            "id": submission.id, "filename": submission.filename, "outcome": submission.outcome,
            "template": submission.template, "version": submission.version,
            "supplier": supplier.code if supplier else None,
            "campaign": campaign.name if campaign else None, "request": submission.request_id,
            "received_at": submission.received_at, "source": submission.source,
            "from": inbound.from_address if inbound else None,
            "message_id": inbound.message_id if inbound else None,
            "size": submission.size, "sha256": submission.sha256,
            "file": str(path) if path and path.exists() else None,
            "duplicate_of": submission.duplicate_of, "reused_from": submission.reused_from,
            "required_missing": submission.required_missing,
            "findings": submission.findings,
            "company": (submission.declaration or {}).get("company"),
            "smelters": [dict(row=s.row, metal=s.metal, name=s.name, country=s.country,
                              cid=s.cid, rmap_status=s.rmap_status, red_flags=s.red_flags)
                         for s in smelters],
        }
    if as_json:
        print_json(data)
        return
    tz = settings.campaign.time_zone
    console = out()
    console.print(f"[bold]submission #{data['id']}[/] {data['filename']}: "
                  f"[bold]{data['outcome']}[/] ({data['template'] or '?'} "
                  f"{data['version'] or ''})", highlight=False)
    console.print(f"supplier {data['supplier']} · campaign {data['campaign']} · received "
                  f"{when(data['received_at'], tz)} via {data['source']}"
                  + (f" from {data['from']}" if data['from'] else ""), highlight=False)
    if data["duplicate_of"]:
        console.print(f"the same file as submission #{data['duplicate_of']} (not judged "
                      "again)", highlight=False)
    if data["reused_from"]:
        console.print(f"[yellow]identical to submission #{data['reused_from']} of an earlier "
                      "campaign[/]", highlight=False)
    console.print(f"original file: {data['file'] or 'not kept'}", highlight=False)
    if data["findings"]:
        console.print(table("findings", ["severity", "sheet", "cell", "code", "message"],
                            [(f["severity"], f.get("sheet"), f.get("cell"), f["code"],
                              f["message"]) for f in data["findings"]]))
    if data["smelters"]:
        console.print(f"{len(data['smelters'])} smelter row(s); `--json` lists them")


@app.command("add")
def add(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, readable=True,
                                         help="The workbook")],
    supplier: Annotated[str, typer.Option("--supplier", "-s", help="Supplier code")],
    campaign: Annotated[str | None, typer.Option(
        "--campaign", "-c", help="Campaign name or id [default: the only open campaign]")
    ] = None,
    notify: Annotated[bool, typer.Option(
        "--notify", help="Also e-mail the verdict to the supplier's primary contact")] = False,
    as_json: JsonOption = False,
) -> None:
    """Take in a CMRT that arrived another way: stored, judged and recorded like a mailed
    one (an accepted file ends the supplier's ladder)."""
    cli = state(ctx)
    added = add_submission(intake_for(cli.app()), file, supplier_code=supplier,
                           campaign=campaign, actor=cli.actor, notify=notify)
    data = {"submission": added.submission.id, "outcome": added.submission.outcome,
            "request_state": str(added.request.state), "answer": added.answered}
    if as_json:
        print_json(data)
    else:
        out().print(f"submission #{data['submission']}: {data['outcome']} (request "
                    f"{data['request_state']})"
                    + (f", answer queued {data['answer']}" if data["answer"] else ""),
                    highlight=False)
        out().print(f"details: outreach submission show {data['submission']}",
                    highlight=False)


contact_app = typer.Typer(help="Contacts intake found in replies and CMRTs, for you to take "
                               "or leave.", no_args_is_help=True)


@contact_app.command("suggestions")
def suggestions(
    ctx: typer.Context,
    supplier: Annotated[str | None, typer.Option("--supplier", "-s", help="Supplier code")
                        ] = None,
    as_json: JsonOption = False,
) -> None:
    """List the contacts waiting to be accepted or dismissed."""
    cli = state(ctx)
    with cli.unit_of_work() as session:
        rows = [dict(id=s.id, supplier=sup.code, role=str(s.role), email=s.email,
                     name=s.name, source=s.source, since=s.created_at)
                for s, sup in contact_suggestions.pending(session, supplier)]
    if as_json:
        print_json(rows)
        return
    tz = cli.settings().campaign.time_zone
    out().print(table(f"{len(rows)} contact suggestion(s)",
                      ["#", "supplier", "role", "email", "name", "seen in", "since"],
                      [(r["id"], r["supplier"], r["role"], r["email"], r["name"] or "",
                        r["source"].replace("_", " "), when(r["since"], tz)) for r in rows]))
    if rows:
        out().print("`outreach contact accept #` adds one; `outreach contact dismiss #` "
                    "drops it.", highlight=False)


@contact_app.command("accept")
def accept(ctx: typer.Context,
           suggestion: Annotated[list[int], typer.Argument(help="Suggestion numbers")]) -> None:
    """Add the suggested addresses as contacts in the suggested roles."""
    _decide(ctx, suggestion, accept=True)


@contact_app.command("dismiss")
def dismiss(ctx: typer.Context,
            suggestion: Annotated[list[int], typer.Argument(help="Suggestion numbers")]
            ) -> None:
    """Drop the suggestions."""
    _decide(ctx, suggestion, accept=False)


def _decide(ctx: typer.Context, ids: list[int], *, accept: bool) -> None:
    cli = state(ctx)
    app = cli.app()
    with cli.unit_of_work() as session:  # all or none
        for suggestion_id in ids:
            contact_suggestions.decide(session, app.clock, suggestion_id, accept=accept,
                                       actor=cli.actor)
    verb = "accepted" if accept else "dismissed"
    out().print(f"{verb}: {', '.join(f'#{i}' for i in ids)}", highlight=False)
