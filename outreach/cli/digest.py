"""``outreach digest``: the status digest on demand — send it now, or preview it as files."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from outreach.cli.context import state
from outreach.cli.output import out, print_json
from outreach.errors import InvalidInput
from outreach.services.campaigns import get_campaign
from outreach.services.digest import preview_digest, recipients, send_digest_now


def digest(
    ctx: typer.Context,
    campaign_ref: Annotated[str | None, typer.Option(
        "--campaign", help="Campaign name or id [default: the open campaign]")] = None,
    send: Annotated[bool, typer.Option(
        "--send", help="Queue the digest now (the service or `outreach deliver` sends it)")
    ] = False,
    preview: Annotated[Path | None, typer.Option(
        "--preview", dir_okay=False,
        help="Write the digest to FILE (.eml), FILE's .html (chart inlined) and .png")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output")] = False,
) -> None:
    """The status digest compliance reads: coverage, what changed, what needs a person."""
    if send == (preview is not None):
        raise InvalidInput("say what to do: --send, or --preview FILE")
    cli = state(ctx)
    settings = cli.settings()
    app = cli.app()
    templates = app.templates()
    templates.refresh()
    with cli.unit_of_work() as session:
        campaign = get_campaign(session, campaign_ref)
        session.expunge(campaign)
    if preview is not None:
        with cli.unit_of_work() as session:
            current = session.get(type(campaign), campaign.id)
            assert current is not None
            composed = preview_digest(session, app.clock, settings, templates, current)
        eml = preview if preview.suffix == ".eml" else preview.with_suffix(".eml")
        eml.parent.mkdir(parents=True, exist_ok=True)
        eml.write_bytes(composed.raw)
        html = eml.with_suffix(".html")
        html.write_text(composed.html_with_inline_image(), encoding="utf-8")
        png = eml.with_suffix(".png")
        png.write_bytes(composed.png)
        if as_json:
            print_json({"eml": str(eml), "html": str(html), "png": str(png),
                        "subject": composed.rendered.subject})
        else:
            out().print(f"wrote {eml}, {html} and {png}\nsubject: {composed.rendered.subject}",
                        highlight=False)
        return
    message = send_digest_now(app.sessions, app.clock, settings, templates, campaign)
    if as_json:
        print_json({"outbound_id": message.id, "idempotency_key": message.idempotency_key,
                    "to": message.to_addresses, "subject": message.subject})
        return
    out().print(f"digest queued as message {message.id} to {', '.join(recipients(settings))}"
                " (`outreach deliver` sends it now; the service within a minute)",
                highlight=False)
