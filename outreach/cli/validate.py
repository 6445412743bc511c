"""``outreach validate``: the verdict on workbooks, without a database or a campaign."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

from outreach.cli.output import err, out, print_json, table
from outreach.cmrt.validate import Outcome, Result, ValidationContext, validate
from outreach.errors import InvalidInput

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
    paths: Annotated[list[Path], typer.Argument(help="Workbooks, or folders to search")],
    family: Annotated[str, typer.Option(
        "--family", help="Template the survey asks for: CMRT, EMRT, or any")] = "CMRT",
    min_version: Annotated[str | None, typer.Option(
        "--min-version", help="Oldest version accepted [default: CMRT 6.01, EMRT 1.1]")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output")] = False,
) -> None:
    """Validate returned CMRT/EMRT workbooks like RMI's Checker, and stricter.

    Exit codes: 0 every file accepted (possibly with warnings), 8 at least one rejected or
    unreadable, 6 no workbook found.
    """
    wanted = family.strip().upper()
    if wanted not in {"CMRT", "EMRT", "ANY"}:
        raise InvalidInput(f"--family {family!r}: use CMRT, EMRT or any")
    context = ValidationContext(family=None if wanted == "ANY" else wanted)
    if min_version:
        context = ValidationContext(
            family=context.family,
            min_versions={**context.min_versions, (context.family or "CMRT"): min_version})
    files = _files(paths)
    results: list[tuple[Path, Result]] = []
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                  console=err(), transient=True, disable=len(files) < 3) as progress:
        task = progress.add_task("validating", total=len(files))
        for path in files:
            results.append((path, validate(path.read_bytes(), context)))
            progress.advance(task)
    if as_json:
        print_json([{"file": str(path), **result.as_dict()} for path, result in results])
    else:
        for path, result in results:
            _report(path, result)
    if any(r.outcome not in (Outcome.ACCEPTED, Outcome.ACCEPTED_WITH_WARNINGS)
           for _, r in results):
        raise typer.Exit(NOT_ALL_ACCEPTED)


_STYLE = {Outcome.ACCEPTED: "green", Outcome.ACCEPTED_WITH_WARNINGS: "yellow",
          Outcome.REJECTED: "red", Outcome.UNREADABLE: "red"}


def _report(path: Path, result: Result) -> None:
    console = out()
    what = f"{result.template} {result.version}" if result.template else "not identified"
    count = ("" if result.required_missing is None
             else f" · {result.required_missing} required field(s) missing")
    company = f" · {result.company}" if result.company else ""
    console.print(f"[bold]{path.name}[/] · {what}{company}{count} · "
                  f"[{_STYLE[result.outcome]}]{result.outcome}[/]", highlight=False)
    if result.findings:
        console.print(table(None, ["severity", "where", "finding"],
                            ([f.severity, " ".join(x for x in (f.sheet, f.cell) if x),
                              f.message] for f in result.findings)))
