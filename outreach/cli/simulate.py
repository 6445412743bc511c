"""``outreach simulate``: compare escalation ladders on simulated suppliers (no mail servers)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from outreach.cli.context import state
from outreach.cli.output import err, out, print_json
from outreach.core.ladder import Ladder
from outreach.demo.profiles import PROFILES, load_profiles
from outreach.demo.simulate import ILLUSTRATIVE, load_ladder
from outreach.demo.simulate import simulate as run_simulation
from outreach.logs import configure_logging
from outreach.settings import LoggingSettings


def simulate(
    ctx: typer.Context,
    ladder_files: Annotated[list[Path] | None, typer.Option(
        "--ladder", exists=True, dir_okay=False,
        help="A ladder (TOML, [ladder] as in config/outreach.toml); repeat to compare "
             "[default: the configured ladder]")] = None,
    suppliers: Annotated[int, typer.Option("--suppliers", min=1, max=5000,
                                           help="How many simulated suppliers")] = 60,
    seed: Annotated[int, typer.Option(help="Seed: the same seed gives the same season")] = 0,
    profiles_file: Annotated[Path | None, typer.Option(
        "--profiles", exists=True, dir_okay=False,
        help="Last season's suppliers as behaviour profiles (TOML or CSV)")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output")] = False,
) -> None:
    """Run a season per ladder on simulated suppliers, without mail servers: days to 100% of
    the responsive suppliers, e-mails per supplier, how many reached the senior officer."""
    cli = state(ctx)
    settings = cli.settings()
    if not cli.debug:
        settings = settings.model_copy(update={"logging": LoggingSettings(level="WARNING")})
        configure_logging(settings.logging)
    ladders: list[tuple[str, Ladder]] = (
        [(path.name, load_ladder(path)) for path in ladder_files] if ladder_files
        else [("configured ladder", settings.ladder)])
    profiles = load_profiles(profiles_file) if profiles_file else list(PROFILES.values())
    if not as_json:
        err().print(f"simulating {len(ladders)} ladder(s), {suppliers} suppliers, seed {seed} …",
                    markup=False)
    results = run_simulation(settings, ladders, suppliers=suppliers, seed=seed,
                             profiles=profiles)
    if as_json:
        print_json({"note": ILLUSTRATIVE, "suppliers": suppliers, "seed": seed,
                    "profiles": [p.name for p in profiles],
                    "ladders": [r.as_json() for r in results]})
        return
    table = Table(title=f"{suppliers} simulated suppliers, seed {seed}")
    for column in ("ladder", "days to 100% of responsive", "e-mails / supplier",
                   "ladder e-mails / supplier", "reached senior notice", "handed over",
                   "season days"):
        table.add_column(column, justify="left" if column == "ladder" else "right")
    for r in results:
        days = str(r.days_to_full) if r.days_to_full is not None else \
            f"not reached ({r.responsive_accepted}/{r.responsive})"
        table.add_row(r.name, days, f"{r.emails_per_supplier:.1f}",
                      f"{r.ladder_emails_per_supplier:.1f}", str(r.senior_notice),
                      str(r.handed_over), str(r.season_days))
    console = out()
    console.print(table)
    console.print(ILLUSTRATIVE, highlight=False, markup=False)
