"""``outreach db``: the schema."""

from __future__ import annotations

from typing import Annotated

import typer

from outreach.cli.context import state
from outreach.cli.output import out, print_json
from outreach.db.migrate import current_revision, head_revision, upgrade

app = typer.Typer(help="Create or migrate the database schema.", no_args_is_help=True)


@app.command("upgrade")
def upgrade_cmd(ctx: typer.Context) -> None:
    """Migrate the database to this version's schema (creates it on first run)."""
    engine = state(ctx).app(check_schema=False).engine
    before, after = upgrade(engine)
    where = engine.url.render_as_string(hide_password=True)
    if before == after:
        out().print(f"database {where} is up to date (revision {after})")
    else:
        out().print(f"database {where} migrated from {before or 'empty'} to {after}")


@app.command("status")
def status_cmd(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output")] = False,
) -> None:
    """Show the database's schema revision and the one this version needs (exit 4 if behind)."""
    engine = state(ctx).app(check_schema=False).engine
    current, head = current_revision(engine), head_revision()
    info = {"database": engine.url.render_as_string(hide_password=True), "current": current,
            "head": head, "up_to_date": current == head}
    if as_json:
        print_json(info)
    else:
        verdict = "up to date" if current == head else "behind: run `outreach db upgrade`"
        out().print(f"{info['database']}: revision {current or 'none'}, code needs {head} "
                    f"({verdict})")
    if current != head:
        raise typer.Exit(4)
