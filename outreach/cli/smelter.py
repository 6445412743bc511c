"""``outreach smelter``: the smelter reference, RMAP status and red-flag lists.

Layouts and rules in docs/smelter-reference.md.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape

from outreach.cli.context import state
from outreach.cli.output import err, out, print_json, table
from outreach.cmrt.reference import CID_PATTERN, RmapStatus, Smelter
from outreach.db.models import SmelterListKind
from outreach.errors import InvalidInput, NotFound
from outreach.services.revalidate import revalidate_accepted
from outreach.services.smelters import (
    Problem,
    SmelterData,
    SmelterFileRejected,
    import_smelter_file,
    load_smelter_context,
    read_smelter_file,
)

app = typer.Typer(help="Import and inspect the smelter reference, RMAP status and red flags.",
                  no_args_is_help=True)

JsonOption = Annotated[bool, typer.Option("--json", help="Machine-readable output")]
UNKNOWN = "unknown"
_WHAT = {SmelterListKind.LOOKUP: "smelters", SmelterListKind.RMAP: "RMAP statuses",
         SmelterListKind.RED_FLAGS: "red-flag entries"}


@app.command("import")
def import_cmd(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(
        exists=True, dir_okay=False,
        help="An RMI template (its Smelter Look-up), an RMAP status CSV or a red-flag CSV")],
    kind: Annotated[SmelterListKind | None, typer.Option(
        "--kind", help="What FILE is [default: a workbook is a look-up, a CSV is told by its "
                       "header]")] = None,
    skip_invalid: Annotated[bool, typer.Option(
        help="Import the valid rows even when others are bad")] = False,
    dry_run: Annotated[bool, typer.Option(help="Show what would change, change nothing")
                       ] = False,
    as_json: JsonOption = False,
) -> None:
    """Replace the stored list of FILE's kind with FILE, in one transaction.

    A file with any bad row imports nothing (each problem is listed by line) unless
    --skip-invalid. Re-importing the same file changes nothing but records the import.
    """
    cli = state(ctx)
    parsed = read_smelter_file(file.name, file.read_bytes(), kind)
    try:
        with cli.unit_of_work() as session:
            report = import_smelter_file(session, cli.app().clock, parsed, actor=cli.actor,
                                         skip_invalid=skip_invalid, dry_run=dry_run)
            checked = None if dry_run else revalidate_accepted(
                session, cli.app().clock, actor=cli.actor, import_id=report.import_id,
                reason=f"re-checked after importing {file.name}")
    except SmelterFileRejected as rejected:
        _print_problems(parsed.kind, rejected.problems, as_json)
        raise
    if as_json:
        print_json({**report.as_dict(),
                    "revalidation": checked.as_dict() if checked is not None else None})
        return
    if report.problems:
        _print_problems(parsed.kind, report.problems, False)
    verb = "would import" if dry_run else "imported"
    template = f" ({report.template})" if report.template else ""
    parts = [f"{report.added} added", f"{report.removed} removed", f"{report.changed} changed",
             f"{report.unchanged} unchanged"]
    if report.skipped_invalid:
        parts.append(f"{report.skipped_invalid} invalid rows skipped")
    out().print(f"{verb} {report.rows} {_WHAT[parsed.kind]} from {file.name}{template}: "
                f"{', '.join(parts)}", highlight=False, markup=False)
    if checked is not None and checked.submissions:
        found = ", ".join(f"{n} {kind.replace('_', ' ')}" for kind, n in
                          sorted(checked.counts.items())) or "no differences"
        out().print(f"re-checked {checked.submissions} accepted submission(s), "
                    f"{checked.smelter_rows} smelter rows: {found}"
                    + (f" (suppliers {', '.join(checked.affected_suppliers[:20])})"
                       if checked.differences else "")
                    + "; verdicts are unchanged, the next digest lists the differences",
                    highlight=False, markup=False)


def _print_problems(kind: SmelterListKind, problems: tuple[Problem, ...], as_json: bool
                    ) -> None:
    if as_json:
        print_json({"problems": [p.__dict__ for p in problems]})
        return
    where = "row" if kind is SmelterListKind.LOOKUP else "line"
    console = err()
    for p in problems:
        console.print(f"{where} {p.line}: {p.message}", highlight=False, markup=False)


def _status_filter(value: str) -> RmapStatus | str:
    word = "_".join(value.strip().casefold().replace("-", " ").split())
    if word == UNKNOWN:
        return UNKNOWN
    try:
        return RmapStatus(word)
    except ValueError:
        raise InvalidInput(f"--status {value!r}: use conformant, active, not-participating "
                           "or unknown") from None


def _entry(data: SmelterData, smelter: Smelter) -> dict[str, Any]:
    status = data.status.get(smelter.cid)
    return {"cid": smelter.cid, "metal": smelter.metal, "name": smelter.standard_name,
            "country": smelter.country, "aliases": list(smelter.aliases),
            "status": str(status.status) if status else UNKNOWN,
            "as_of": status.as_of if status else None,
            "red_flags": [{"list": f.list_name, "reason": f.reason}
                          for f in data.flags(smelter.cid)]}


def _sources(data: SmelterData) -> str:
    reference = {"imported": f"reference {data.reference.source}",
                 "bundled": f"reference {data.reference.source} (shipped template)",
                 "none": "no reference: `outreach smelter import TEMPLATE.xlsx`"}
    status = (f"status as of {data.status_as_of}" if data.status_as_of
              else "no RMAP status imported")
    return f"{reference[data.reference_origin]} · {status} · {len(data.red_flags)} red flag(s)"


@app.command("list")
def list_cmd(
    ctx: typer.Context,
    metal: Annotated[str | None, typer.Option(help="Only this metal, e.g. Tin")] = None,
    status: Annotated[str | None, typer.Option(
        help="Only this RMAP status: conformant, active, not-participating, unknown")] = None,
    red_flagged: Annotated[bool, typer.Option(
        "--red-flagged", help="Only smelters on a red-flag list")] = False,
    as_json: JsonOption = False,
) -> None:
    """The smelters of the reference, with RMAP status and red flags."""
    wanted = _status_filter(status) if status else None
    cli = state(ctx)
    with cli.unit_of_work() as session:
        data = load_smelter_context(session)
    entries = [_entry(data, s) for s in sorted(
        data.reference.smelters.values(), key=lambda s: (s.metal, s.standard_name.casefold()))]
    entries = [e for e in entries
               if (metal is None or e["metal"].casefold() == metal.strip().casefold())
               and (wanted is None or e["status"] == wanted)
               and (not red_flagged or e["red_flags"])]
    if as_json:
        print_json(entries)
        return
    out().print(table(
        f"{len(entries)} smelters", ["cid", "metal", "name", "country", "status", "as of",
                                     "red flags"],
        ([e["cid"], e["metal"], e["name"], e["country"], e["status"], e["as_of"] or "",
          ", ".join(sorted({f["list"] for f in e["red_flags"]}))] for e in entries),
        caption=_sources(data)))


@app.command("show")
def show_cmd(ctx: typer.Context, cid: str, as_json: JsonOption = False) -> None:
    """One smelter: the reference entry and its aliases, RMAP status, red flags."""
    wanted = cid.strip().upper()
    if not CID_PATTERN.match(wanted):
        raise InvalidInput(f"{cid!r} is not a smelter ID like CID001234")
    cli = state(ctx)
    with cli.unit_of_work() as session:
        data = load_smelter_context(session)
    smelter = data.reference.get(wanted)
    status = data.status.get(wanted)
    flags = data.flags(wanted)
    if smelter is None and status is None and not flags:
        raise NotFound(f"{wanted} is not in the smelter reference, the RMAP status list or a "
                       f"red-flag list ({_sources(data)})")
    shown = (_entry(data, smelter) if smelter else
             {"cid": wanted, "metal": None, "name": None, "country": None, "aliases": [],
              "status": str(status.status) if status else UNKNOWN,
              "as_of": status.as_of if status else None,
              "red_flags": [{"list": f.list_name, "reason": f.reason} for f in flags]})
    if as_json:
        print_json({**shown, "in_reference": smelter is not None})
        return
    console = out()
    if smelter is None:
        console.print(f"[bold]{wanted}[/] is not in the smelter reference", highlight=False)
    else:
        console.print(f"[bold]{wanted}[/] {escape(smelter.standard_name)} · "
                      f"{escape(smelter.metal)} · {escape(smelter.country)}", highlight=False)
        console.print(table("aliases", ["name"], ([a] for a in smelter.aliases)))
    as_of = f" (as of {shown['as_of']})" if shown["as_of"] else ""
    console.print(f"RMAP status: {shown['status']}{as_of}", highlight=False, markup=False)
    console.print(table("red flags", ["list", "reason"],
                        ([f["list"], f["reason"]] for f in shown["red_flags"])))
