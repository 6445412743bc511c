"""The ``outreach`` command.

Conventions (docs/conventions.md): singular nouns for groups, ``--json`` for machines, one
line per error on stderr (traceback only with ``--debug``), documented exit codes:
0 ok · 1 failed · 2 usage · 3 configuration · 4 database not ready · 5 not found ·
6 invalid input · 7 wrong state · 8 workbook not accepted (validate) · 70 internal error.
"""

from __future__ import annotations

import sys
import traceback
from pathlib import Path
from typing import Annotated

import typer
from rich.text import Text

from outreach.cli import (
    approval,
    campaign,
    config,
    db,
    demo,
    digest,
    export,
    history,
    inbox,
    request,
    schedule,
    service,
    simulate,
    smelter,
    status,
    submission,
    supplier,
    template,
    validate,
)
from outreach.cli.context import CliState
from outreach.cli.output import err
from outreach.errors import OutreachError

INTERNAL_ERROR = 70

app = typer.Typer(
    name="outreach",
    help="Run the annual conflict-minerals (RMI CMRT/EMRT) supplier survey, unattended.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
    context_settings={"help_option_names": ["-h", "--help"]},
)


@app.callback()
def _root(
    ctx: typer.Context,
    config_file: Annotated[
        Path | None,
        typer.Option("--config", envvar="OUTREACH_CONFIG", dir_okay=False,
                     help="TOML settings file [default: config/outreach.toml if present]"),
    ] = None,
    data: Annotated[
        Path | None,
        typer.Option("--data", envvar="OUTREACH_DATA", file_okay=False,
                     help="Data directory: SQLite file, attachments, Maildir, outbox "
                          "[default: ~/.local/share/outreach]"),
    ] = None,
    actor: Annotated[
        str | None,
        typer.Option("--actor", envvar="OUTREACH_ACTOR",
                     help="Who is acting, for the audit trail [default: your login name]"),
    ] = None,
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks")] = False,
) -> None:
    ctx.obj = CliState(config_file=config_file, data=data, debug=debug, actor_name=actor)
    ctx.call_on_close(ctx.obj.close)


app.add_typer(db.app, name="db")
app.add_typer(config.app, name="config")
app.add_typer(supplier.app, name="supplier")
app.add_typer(campaign.app, name="campaign")
app.add_typer(request.app, name="request")
app.add_typer(smelter.app, name="smelter")
app.add_typer(template.app, name="template")
app.add_typer(schedule.app, name="schedule")
app.add_typer(approval.delivery_app, name="delivery")
app.add_typer(inbox.app, name="inbox")
app.add_typer(submission.app, name="submission")
app.add_typer(submission.contact_app, name="contact")
app.add_typer(export.app, name="export")
app.command("approve")(approval.approve)
app.command("status")(status.status)
app.command("digest")(digest.digest)
app.command("demo")(demo.demo)
app.command("simulate")(simulate.simulate)
app.command("run")(service.run)
app.command("tick")(service.tick)
app.command("deliver")(service.deliver)
app.command("poll")(inbox.poll)
app.command("history")(history.history)
app.command("validate")(validate.validate_cmd)


def main(argv: list[str] | None = None) -> int:
    """Entry point: run the command, turn every failure into one line and an exit code."""
    args = sys.argv[1:] if argv is None else argv
    debug = "--debug" in args
    try:
        result = app(args=args, prog_name="outreach", standalone_mode=False)
    except typer.Exit as exc:
        return exc.exit_code
    except typer.TyperException as exc:  # usage errors, bad parameters
        show = getattr(exc, "show", None)
        if callable(show):
            show()
        else:
            err().print(Text.assemble(("error: ", "bold red"), exc.format_message()))
        return exc.exit_code
    except (typer.Abort, KeyboardInterrupt):
        err().print("aborted")
        return 130
    except OutreachError as exc:
        if debug:
            traceback.print_exc()
        err().print(Text.assemble(("error: ", "bold red"), str(exc)))
        return exc.exit_code
    except Exception as exc:
        if debug:
            traceback.print_exc()
        err().print(Text.assemble(
            ("internal error: ", "bold red"),
            f"{type(exc).__name__}: {exc} (run again with --debug for the traceback)",
        ))
        return INTERNAL_ERROR
    return result if isinstance(result, int) else 0


def run() -> None:
    """Console-script wrapper."""
    raise SystemExit(main())
