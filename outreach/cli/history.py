"""``outreach history SUPPLIER``: the supplier's whole audit trail."""

from __future__ import annotations

from typing import Annotated

import typer

from outreach.cli.context import state
from outreach.cli.output import out, print_json, table, when
from outreach.services.history import supplier_history


def history(
    ctx: typer.Context,
    supplier: Annotated[str, typer.Argument(help="Supplier code")],
    kind: Annotated[str | None, typer.Option(
        "--kind", help="Only events whose kind starts with this (message, inbound, "
                       "submission, request, contact)")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output")] = False,
) -> None:
    """Every event for one supplier: e-mails sent (with Message-ID), replies, verdicts,
    escalations, approvals and manual actions, across campaigns."""
    cli = state(ctx)
    with cli.unit_of_work() as session:
        found, lines = supplier_history(session, supplier)
        name, code = found.name, found.code
    if kind:
        lines = [line for line in lines if line.kind.startswith(kind)]
    if as_json:
        print_json([{"at": line.at, "actor": line.actor, "kind": line.kind,
                     "campaign": line.campaign, "reason": line.reason, "data": line.data}
                    for line in lines])
        return
    tz = cli.settings().campaign.time_zone
    out().print(table(f"{code} {name}: {len(lines)} event(s)",
                      ["when", "campaign", "who", "what", "why", "details"],
                      [(when(line.at, tz), line.campaign or "", line.actor, line.kind,
                        line.reason or "", line.summary) for line in lines]))
