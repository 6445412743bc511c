"""``outreach supplier``: the supplier master data, imported from the company's file."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from sqlmodel import select

from outreach.cli.context import state
from outreach.cli.output import err, out, print_json, table, when
from outreach.db.models import Campaign, Contact, Request, Supplier
from outreach.errors import InvalidInput, NotFound
from outreach.imports.supplier_file import SupplierFileError, read_supplier_file
from outreach.services.import_suppliers import ImportReport, SupplierFileRejected, import_suppliers

app = typer.Typer(help="Import and inspect suppliers and their contacts.", no_args_is_help=True)

JsonOption = Annotated[bool, typer.Option("--json", help="Machine-readable output")]


class _DryRun(Exception):
    """Raised inside the transaction to roll a dry run back."""


def _progress() -> Progress:
    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                    TimeElapsedColumn(), console=err(), transient=True)


@app.command("import")
def import_cmd(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(
        exists=True, dir_okay=False, help="CSV or XLSX in the layout of docs/supplier-file.md")],
    prune: Annotated[bool, typer.Option(
        help="Deactivate suppliers the file does not list")] = False,
    skip_invalid: Annotated[bool, typer.Option(
        help="Import the valid rows even when others are bad")] = False,
    dry_run: Annotated[bool, typer.Option(help="Check and report, change nothing")] = False,
    as_json: JsonOption = False,
) -> None:
    """Create or update suppliers from FILE. Idempotent: re-importing updates, never duplicates.

    A file with any bad row imports nothing (each problem is listed by line) unless
    --skip-invalid. Suppliers added while a campaign runs join it with their own due date.
    """
    cli = state(ctx)
    settings = cli.settings()
    with _progress() as progress:
        reading = progress.add_task(f"reading {file.name}", total=None)
        try:
            parsed = read_supplier_file(
                file, on_progress=lambda done, total: progress.update(reading, completed=done,
                                                                      total=total))
        except SupplierFileError as exc:
            raise InvalidInput(f"{file.name}: {exc}; nothing was imported") from exc
        progress.remove_task(reading)
        applying = progress.add_task("importing", total=len(parsed.rows))
        report: ImportReport | None = None
        try:
            with cli.unit_of_work() as session:
                report = import_suppliers(
                    session, cli.app().clock, parsed, actor=cli.actor, prune=prune,
                    skip_invalid=skip_invalid,
                    late_joiner_days=settings.campaign.late_joiner_days,
                    company_time_zone=settings.campaign.time_zone,
                    on_progress=lambda done, total: progress.update(applying, completed=done),
                )
                if dry_run:
                    raise _DryRun
        except _DryRun:
            pass
        except SupplierFileRejected as rejected:
            progress.stop()
            _print_problems(rejected.problems, as_json)
            raise
    assert report is not None
    if as_json:
        print_json({**report.as_dict(), "dry_run": dry_run})
        return
    if report.problems:
        _print_problems(report.problems, False)
    verb = "would import" if dry_run else "imported"
    parts = [f"{report.created} new", f"{report.updated} updated", f"{report.unchanged} unchanged"]
    if report.reactivated:
        parts.append(f"{report.reactivated} reactivated")
    if prune:
        parts.append(f"{report.deactivated} deactivated")
    if report.skipped_invalid:
        parts.append(f"{report.skipped_invalid} invalid rows skipped")
    out().print(f"{verb} {report.rows} suppliers from {file.name}: {', '.join(parts)}; "
                f"contacts +{report.contacts_added} -{report.contacts_deactivated}",
                highlight=False)
    for campaign, count in report.joined_campaigns.items():
        out().print(f"{count} supplier(s) joined running campaign {campaign!r}", highlight=False)


def _print_problems(problems: tuple, as_json: bool) -> None:  # type: ignore[type-arg]
    if as_json:
        print_json({"problems": [p.__dict__ for p in problems]})
        return
    console = err()
    for p in problems:
        where = f"line {p.line}" + (f", {p.column}" if p.column else "")
        who = f" ({p.code})" if p.code else ""
        console.print(f"{where}{who}: {p.message}", highlight=False, markup=False)


@app.command("list")
def list_cmd(
    ctx: typer.Context,
    inactive: Annotated[bool, typer.Option(help="Include deactivated suppliers")] = False,
    as_json: JsonOption = False,
) -> None:
    """List suppliers."""
    cli = state(ctx)
    with cli.unit_of_work() as session:
        query = select(Supplier).order_by(Supplier.code)
        if not inactive:
            query = query.where(Supplier.active)
        suppliers = session.exec(query).all()
        counts: dict[int, int] = {}
        for contact in session.exec(select(Contact)).all():
            if contact.status != "inactive":
                counts[contact.supplier_id] = counts.get(contact.supplier_id, 0) + 1
    if as_json:
        print_json([s.model_dump(mode="json") for s in suppliers])
        return
    out().print(table(
        f"{len(suppliers)} suppliers",
        ["code", "name", "country", "language", "contacts", "tags", "active"],
        ([s.code, s.name, s.country, s.language, counts.get(s.id or 0, 0),
          ", ".join(s.scope_tags), "yes" if s.active else "no"] for s in suppliers),
    ))


@app.command("show")
def show_cmd(ctx: typer.Context, code: str, as_json: JsonOption = False) -> None:
    """One supplier: master data, contacts, and its requests."""
    cli = state(ctx)
    tz = cli.settings().campaign.time_zone
    with cli.unit_of_work() as session:
        supplier = session.exec(select(Supplier).where(Supplier.code == code)).first()
        if supplier is None:
            raise NotFound(f"no supplier with code {code!r}")
        contacts = session.exec(select(Contact).where(Contact.supplier_id == supplier.id)
                                .order_by(Contact.role, Contact.email)).all()
        requests = session.exec(
            select(Request, Campaign.name).join(Campaign, Campaign.id == Request.campaign_id)
            .where(Request.supplier_id == supplier.id).order_by(Request.id)).all()
    if as_json:
        print_json({**supplier.model_dump(mode="json"),
                    "contacts": [c.model_dump(mode="json") for c in contacts],
                    "requests": [{**r.model_dump(mode="json"), "campaign": name}
                                 for r, name in requests]})
        return
    console = out()
    console.print(f"[bold]{supplier.code}[/] {supplier.name}", highlight=False)
    console.print(f"country {supplier.country or '-'} · zone {supplier.time_zone or '-'} · "
                  f"language {supplier.language} · domains {', '.join(supplier.email_domains)} · "
                  f"buyer {supplier.buyer or '-'} · tags {', '.join(supplier.scope_tags) or '-'}"
                  f" · {'active' if supplier.active else 'inactive'}", highlight=False,
                  markup=False)
    console.print(table("contacts", ["role", "name", "email", "status"],
                        ([c.role, c.name, c.email, c.status] for c in contacts)))
    console.print(table("requests", ["id", "campaign", "state", "stage", "due", "next action"],
                        ([r.id, name, r.state, r.stage or "-", r.due_date,
                          when(r.next_action_at, tz)] for r, name in requests)))
