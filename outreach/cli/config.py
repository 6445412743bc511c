"""``outreach config``: what the service will run with."""

from __future__ import annotations

import tomllib
from typing import Annotated, Any

import typer
from rich.syntax import Syntax

from outreach.cli.context import state
from outreach.cli.output import out, print_json
from outreach.settings import masked

app = typer.Typer(help="Inspect the configuration.", no_args_is_help=True)


def _toml_value(value: Any) -> str:
    if value is None:
        return '""  # unset'
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    return '"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"'


def _as_toml(data: dict[str, Any], prefix: str = "") -> list[str]:
    scalars = {k: v for k, v in data.items() if not isinstance(v, dict)}
    lines = [f"{k} = {_toml_value(v)}" for k, v in scalars.items()]
    for key, value in data.items():
        if isinstance(value, dict):
            name = f"{prefix}{key}"
            lines += ["", f"[{name}]", *_as_toml(value, prefix=f"{name}.")]
    return lines


@app.command("check")
def check(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output")] = False,
) -> None:
    """Validate the configuration and print the effective values, secrets masked."""
    settings = state(ctx).settings()
    data = masked(settings)
    if as_json:
        print_json(data)
        return
    source = str(settings.config_file) if settings.config_file else "none (embedded defaults)"
    ladder = data.pop("ladder")
    info = {"config_file": data.pop("config_file"), "database_url": data.pop("database_url")}
    text = "\n".join(_as_toml(data))
    stages = "\n".join(
        f"  {i}. {s['name']}: {s['template'] or 'hand-over'}, {s['after_days']} "
        f"{'business ' if s['business_days'] else ''}days after {s['relative_to']}"
        f"{', x' + str(s['repeat']) if s['repeat'] > 1 else ''}"
        f"{', needs approval' if s['requires_approval'] else ''}"
        + (f"; to {', '.join(s['to'])}{'; cc ' + ', '.join(s['cc']) if s['cc'] else ''}"
           if s["template"] else "")
        for i, s in enumerate(ladder["stages"], start=1)
    )
    tomllib.loads(text.replace('""  # unset', '""'))  # what we print must itself be valid TOML
    console = out()
    console.print(f"# configuration is valid\n# config file: {source}\n"
                  f"# database: {info['database_url']}", highlight=False, markup=False)
    console.print(Syntax(text, "toml", background_color="default"))
    console.print(f"\n# escalation ladder (messages leave at {ladder['send_hour']}:00 the "
                  f"supplier's time; after a rejected workbook the ladder waits "
                  f"{ladder['rejection_grace_days']} days)\n{stages}",
                  highlight=False, markup=False)
