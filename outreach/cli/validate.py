"""``outreach validate``: the verdict on workbooks, without a campaign (and by default no DB)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

from outreach.bootstrap import clock_from
from outreach.cli.context import CliState, state
from outreach.cli.output import err, out, print_json, table
from outreach.cmrt.findings import Severity
from outreach.cmrt.opening import Unreadable, open_workbook
from outreach.cmrt.redflags import RedFlagFileError, RedFlagLists, read_red_flags
from outreach.cmrt.reference import (
    SmelterReference,
    StatusFileError,
    StatusRow,
    read_rmap_status,
    reference_from_workbook,
)
from outreach.cmrt.validate import Outcome, Result, ValidationContext, validate
from outreach.core.clock import local_date
from outreach.errors import InvalidInput
from outreach.services.smelters import SmelterData, load_smelter_context
from outreach.services.validation_context import validation_context

#: exit code when at least one file is rejected or unreadable (all accepted: 0)
NOT_ALL_ACCEPTED = 8
WORKBOOK_SUFFIXES = {".xlsx", ".xlsm", ".xls"}


def _files(paths: list[Path]) -> list[Path]:
    found: list[Path] = []
    for path in paths:
        if path.is_dir():
            found += sorted(p for p in path.rglob("*")
                            if p.is_file() and p.suffix.lower() in WORKBOOK_SUFFIXES)
        elif path.is_file():
            found.append(path)
        else:
            raise InvalidInput(f"{path} does not exist")
    if not found:
        raise InvalidInput("no workbook (.xlsx, .xlsm, .xls) found in "
                           + ", ".join(str(p) for p in paths))
    return found


def validate_cmd(
    ctx: typer.Context,
    paths: Annotated[list[Path], typer.Argument(help="Workbooks, or folders to search")],
    family: Annotated[str, typer.Option(
        "--family", help="Template the survey asks for: CMRT, EMRT, or any")] = "CMRT",
    min_version: Annotated[str | None, typer.Option(
        "--min-version", help="Oldest version accepted [default: CMRT 6.01, EMRT 1.1]")] = None,
    reporting_year: Annotated[int | None, typer.Option(
        "--reporting-year", min=2007, max=2100,
        help="Reporting year the declarations are for: flags effective dates more than 12 "
             "months before it [default: no stale-date check]")] = None,
    rmap_status: Annotated[Path | None, typer.Option(
        "--rmap-status", help="RMAP status CSV (cid,status,as_of) to classify smelters")] = None,
    red_flags: Annotated[Path | None, typer.Option(
        "--red-flags", help="Red-flag list CSV (list,cid,name,country,reason)")] = None,
    reference: Annotated[Path | None, typer.Option(
        "--reference", help="A newer RMI template whose Smelter Look-up lists more smelters")
    ] = None,
    imported: Annotated[bool, typer.Option(
        "--imported", help="Use the smelter lists imported into the database "
                           "(`outreach smelter import`) instead of files")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output")] = False,
) -> None:
    """Validate returned CMRT/EMRT workbooks like RMI's Checker, and stricter.

    Exit codes: 0 every file accepted (possibly with warnings), 8 at least one rejected or
    unreadable, 6 no workbook found or a bad option/list file.
    """
    wanted = family.strip().upper()
    if wanted not in {"CMRT", "EMRT", "ANY"}:
        raise InvalidInput(f"--family {family!r}: use CMRT, EMRT or any")
    cli = state(ctx)
    settings = cli.settings()
    chosen = None if wanted == "ANY" else wanted
    context = validation_context(
        settings.validation, family=chosen,
        min_versions={chosen or "CMRT": min_version} if min_version else None,
        reporting_year=reporting_year,
        today=local_date(clock_from(settings.clock), settings.campaign.time_zone),
        smelters=_smelter_lists(cli, imported, rmap_status, red_flags, reference))
    files = _files(paths)
    results: list[tuple[Path, Result]] = []
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                  console=err(), transient=True, disable=len(files) < 3) as progress:
        task = progress.add_task("validating", total=len(files))
        for path in files:
            results.append((path, _validate_file(path, context)))
            progress.advance(task)
    if as_json:
        print_json([{"file": str(path), **result.as_dict()} for path, result in results])
    else:
        for path, result in results:
            _report(path, result)
        if len(results) > 1:
            _summary(results)
    if any(r.outcome not in (Outcome.ACCEPTED, Outcome.ACCEPTED_WITH_WARNINGS)
           for _, r in results):
        raise typer.Exit(NOT_ALL_ACCEPTED)


def _validate_file(path: Path, context: ValidationContext) -> Result:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InvalidInput(f"{path}: cannot be read ({exc.strerror or exc})") from exc
    return validate(data, context)


def _smelter_lists(cli: CliState, imported: bool, rmap: Path | None, flags: Path | None,
                   reference: Path | None) -> SmelterData | None:
    """The lists to classify smelters with: the database's, or the files given."""
    if imported:
        if rmap or flags or reference:
            raise InvalidInput("--imported uses the database's lists; leave out --rmap-status, "
                               "--red-flags and --reference (or drop --imported)")
        with cli.unit_of_work() as session:
            return load_smelter_context(session)
    if not (rmap or flags or reference):
        return None
    return SmelterData(reference=_reference(reference), status=_status(rmap),
                       red_flags=_red_flags(flags))


def _bad_rows(option: str, path: Path, problems: tuple) -> InvalidInput:
    lines = "; ".join(f"line {p.line}: {p.message}" for p in problems[:5])
    return InvalidInput(f"{option} {path}: {len(problems)} bad row(s): {lines}")


def _status(path: Path | None) -> dict[str, StatusRow]:
    if path is None:
        return {}
    try:
        parsed = read_rmap_status(path)
    except (OSError, StatusFileError) as exc:
        raise InvalidInput(f"--rmap-status {path}: {exc}") from exc
    if parsed.problems:
        raise _bad_rows("--rmap-status", path, parsed.problems)
    return parsed.by_cid()


def _red_flags(path: Path | None) -> RedFlagLists:
    if path is None:
        return RedFlagLists(())
    try:
        parsed = read_red_flags(path)
    except (OSError, RedFlagFileError) as exc:
        raise InvalidInput(f"--red-flags {path}: {exc}") from exc
    if parsed.problems:
        raise _bad_rows("--red-flags", path, parsed.problems)
    return parsed.lists()


def _reference(path: Path | None) -> SmelterReference:
    if path is None:
        return SmelterReference({}, {}, "")
    try:
        opened = open_workbook(path.read_bytes())
    except OSError as exc:
        raise InvalidInput(f"--reference {path}: cannot be read ({exc.strerror or exc})") from exc
    if isinstance(opened, Unreadable):
        raise InvalidInput(f"--reference {path}: {opened.message}")
    found = reference_from_workbook(opened.workbook, path.name)
    if not len(found):
        raise InvalidInput(f"--reference {path}: has no Smelter Look-up sheet with smelters; "
                           "give a blank RMI template")
    return found


_STYLE = {Outcome.ACCEPTED: "green", Outcome.ACCEPTED_WITH_WARNINGS: "yellow",
          Outcome.REJECTED: "red", Outcome.UNREADABLE: "red"}
_SEVERITY_STYLE = {Severity.ERROR: "red", Severity.WARNING: "yellow", Severity.INFO: "dim"}


def _report(path: Path, result: Result) -> None:
    console = out()
    what = f"{result.template} {result.version}" if result.template else "not identified"
    count = ("" if result.required_missing is None
             else f" · {result.required_missing} required field(s) missing")
    company = f" · {result.company.name}" if result.company and result.company.name else ""
    smelters = f" · {len(result.smelters)} smelter row(s)" if result.smelters else ""
    console.print(f"[bold]{path.name}[/] · {what}{company}{count}{smelters} · "
                  f"[{_STYLE[result.outcome]}]{result.outcome}[/]", highlight=False)
    if result.findings:
        console.print(table(None, ["severity", "where", "code", "finding"],
                            ([f"[{_SEVERITY_STYLE[f.severity]}]{f.severity}[/]",
                              " ".join(x for x in (f.sheet, f.cell) if x), f.code, f.message]
                             for f in result.findings)))


def _summary(results: list[tuple[Path, Result]]) -> None:
    counts = Counter(str(r.outcome) for _, r in results)
    out().print(table("Summary", ["outcome", "files"],
                      ([outcome, str(n)] for outcome, n in sorted(counts.items()))))
