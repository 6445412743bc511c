"""``outreach export``: the files compliance works from (docs/exports.md)."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Annotated
from zoneinfo import ZoneInfo

import typer

from outreach.cli.context import state
from outreach.cli.output import err, out, print_json
from outreach.reports.exports import Format
from outreach.reports.runner import KINDS, default_out, run_exports
from outreach.services import campaigns as campaign_svc

app = typer.Typer(help="Export a campaign's status, smelters, countries, disclosure figures, "
                       "original workbooks and the company's own CMRT.",
                  no_args_is_help=True)

CampaignOption = Annotated[str | None, typer.Option(
    "--campaign", "-c", help="Campaign name or id [default: the only open campaign]")]
FormatOption = Annotated[str, typer.Option(
    "--format", help="xlsx, csv or both", case_sensitive=False)]
OutOption = Annotated[Path | None, typer.Option(
    "--out", file_okay=False,
    help="Folder to write to [default: <data>/exports/<campaign-name-slug>]")]
JsonOption = Annotated[bool, typer.Option("--json", help="Machine-readable output")]


def _format(value: str) -> Format:
    lowered = value.lower()
    if lowered not in ("xlsx", "csv", "both"):
        raise typer.BadParameter("--format must be xlsx, csv or both")
    return lowered  # type: ignore[return-value]


def _run(ctx: typer.Context, kinds: tuple[str, ...], campaign_ref: str | None,
         fmt: str, out_dir: Path | None, as_json: bool) -> None:
    cli = state(ctx)
    settings = cli.settings()
    chosen = _format(fmt)
    today: date = cli.app().clock.now().astimezone(ZoneInfo(settings.campaign.time_zone)).date()
    with cli.unit_of_work() as session:
        campaign = campaign_svc.get_campaign(session, campaign_ref)
        target = out_dir or default_out(settings, campaign)
        run = run_exports(session, settings, campaign, kinds, target, fmt=chosen, today=today)
    if as_json:
        print_json({"campaign": campaign.name, "out": str(target),
                    "paths": {k: [str(p) for p in v] for k, v in run.paths.items()},
                    "notes": run.notes})
        return
    for path in run.all_paths():
        out().print(str(path), highlight=False, markup=False, soft_wrap=True)
    originals = run.notes.get("originals")
    if originals and originals["missing"]:
        err().print(f"note: {originals['missing']} file(s) not in the attachment store: "
                    "see originals/index.csv", markup=False)
    company = run.notes.get("company-cmrt")
    if company:
        err().print(f"company CMRT {company['version']}: {company['smelters']} smelters "
                    f"({company['not_listed']} as 'Smelter not listed'), metals "
                    f"{', '.join(company['metals']) or 'none'}; our validator: "
                    f"{company['verdict']}", markup=False)
        if company["left_out"]:
            err().print(f"warning: {company['left_out']} smelter(s) left out (not a CMRT "
                        "metal, or beyond the template's 2,500 rows)", markup=False)


@app.command("status")
def status(ctx: typer.Context, campaign: CampaignOption = None, fmt: FormatOption = "both",
           out_dir: OutOption = None, as_json: JsonOption = False) -> None:
    """One row per supplier: stage, dates, last verdict and its findings."""
    _run(ctx, ("status",), campaign, fmt, out_dir, as_json)


@app.command("smelters")
def smelters(ctx: typer.Context, campaign: CampaignOption = None, fmt: FormatOption = "both",
             out_dir: OutOption = None, as_json: JsonOption = False) -> None:
    """The consolidated smelter list of the accepted submissions (Appendix A shape)."""
    _run(ctx, ("smelters",), campaign, fmt, out_dir, as_json)


@app.command("countries")
def countries(ctx: typer.Context, campaign: CampaignOption = None, fmt: FormatOption = "both",
              out_dir: OutOption = None, as_json: JsonOption = False) -> None:
    """The countries of the smelters and refiners reported."""
    _run(ctx, ("countries",), campaign, fmt, out_dir, as_json)


@app.command("disclosure")
def disclosure(ctx: typer.Context, campaign: CampaignOption = None, fmt: FormatOption = "both",
               out_dir: OutOption = None, as_json: JsonOption = False) -> None:
    """Disclosure figures: surveyed, responded, valid, escalated, handed over, over time."""
    _run(ctx, ("disclosure",), campaign, fmt, out_dir, as_json)


@app.command("originals")
def originals(ctx: typer.Context, campaign: CampaignOption = None, out_dir: OutOption = None,
              as_json: JsonOption = False) -> None:
    """Copy the original workbooks under readable names, with an index (sha256)."""
    _run(ctx, ("originals",), campaign, "both", out_dir, as_json)


@app.command("company-cmrt")
def company_cmrt(ctx: typer.Context, campaign: CampaignOption = None,
                 out_dir: OutOption = None, as_json: JsonOption = False) -> None:
    """The company's own CMRT: RMI's blank with our Declaration and the smelters' union."""
    _run(ctx, ("company-cmrt",), campaign, "both", out_dir, as_json)


@app.command("all")
def all_exports(ctx: typer.Context, campaign: CampaignOption = None,
                fmt: FormatOption = "both", out_dir: OutOption = None,
                as_json: JsonOption = False) -> None:
    """Every export above into one folder."""
    _run(ctx, KINDS, campaign, fmt, out_dir, as_json)
