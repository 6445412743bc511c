"""``outreach template``: check the e-mail templates, and preview what a supplier receives."""

from __future__ import annotations

import re
from dataclasses import replace
from email import policy
from pathlib import Path
from typing import Annotated

import typer
from sqlmodel import Session, select

from outreach.bootstrap import clock_from
from outreach.cli.context import CliState, state
from outreach.cli.output import err, out, print_json
from outreach.core.clock import local_date
from outreach.db.models import Contact, Request, Submission, Supplier
from outreach.errors import InvalidInput, NotFound, OutreachError
from outreach.mail.blank_template import blank_template
from outreach.mail.template_check import check
from outreach.mail.template_context import (
    MessageContext,
    company_info,
    message_context,
)
from outreach.mail.template_preview import preview_message
from outreach.mail.template_samples import INTAKE_KINDS, sample_context
from outreach.mail.templates import TemplateSet
from outreach.services.campaigns import frozen_template_kinds, get_campaign
from outreach.settings import Settings

app = typer.Typer(help="Check and preview the e-mail templates.", no_args_is_help=True)

#: exit code when the template set has problems
INVALID = InvalidInput.exit_code

DirOption = Annotated[Path | None, typer.Option(
    "--dir", file_okay=False,
    help="Template folder [default: mail.templates_dir, else the shipped templates/email]")]


def _directory(given: Path | None, settings: Settings) -> Path:
    directory = given or settings.email_templates_dir
    if not directory.is_dir():
        raise InvalidInput(f"template folder {directory} does not exist")
    return directory


@app.command("check")
def check_cmd(
    ctx: typer.Context,
    directory: DirOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output")] = False,
) -> None:
    """Render every template in every language with sample data; list each problem.

    Exit codes: 0 no problem, 6 at least one (each printed as file:line: message).
    """
    cli = state(ctx)
    settings = cli.settings()
    folder = _directory(directory, cli.settings())
    problems = check(folder, ladder=settings.ladder, company=company_info(settings.company),
                     from_address=str(settings.mail.from_address),
                     required_kinds=(*INTAKE_KINDS, *sorted(_frozen_kinds(cli))))
    if as_json:
        print_json({"directory": str(folder), "hash": TemplateSet.load(folder).hash,
                    "problems": [{"file": p.file, "line": p.line, "message": p.message}
                                 for p in problems]})
    else:
        for problem in problems:
            out().print(str(problem), highlight=False, markup=False)
        if problems:
            err().print(f"{len(problems)} problem(s) in {folder}")
        else:
            templates = TemplateSet.load(folder)
            out().print(f"templates OK: {len(templates.kinds)} kinds "
                        f"({', '.join(templates.kinds)}), languages: en "
                        f"{' '.join(templates.languages)} · sha256 {templates.hash[:12]} "
                        f"· {folder}", highlight=False, markup=False)
    if problems:
        raise typer.Exit(INVALID)


@app.command("preview")
def preview_cmd(
    ctx: typer.Context,
    kind: Annotated[str, typer.Argument(help="Message kind, e.g. request, reminder, correction")],
    language: Annotated[str | None, typer.Option(
        "--language", help="Language variant [default: the supplier's, or en]")] = None,
    supplier: Annotated[str | None, typer.Option(
        "--supplier", help="Render for this supplier (code) from the database, not samples")
    ] = None,
    campaign: Annotated[str | None, typer.Option(
        "--campaign", help="Campaign name or id, with --supplier [default: the open one]")
    ] = None,
    out_dir: Annotated[Path, typer.Option(
        "--out", file_okay=False, help="Where to write the .eml and .html")] = Path(),
    directory: DirOption = None,
) -> None:
    """Write KIND as an .eml (text + HTML) and an .html file to look at."""
    cli = state(ctx)
    settings = cli.settings()
    templates = TemplateSet.load(_directory(directory, cli.settings()))
    if kind not in templates.kinds:
        raise NotFound(f"there is no template kind {kind!r} (kinds: {', '.join(templates.kinds)})")
    if kind == "digest":
        raise InvalidInput("the digest is for compliance, not a supplier: preview it with "
                           "`outreach digest --preview FILE` (real figures, chart included)")
    context = (_supplier_context(cli, settings, kind, supplier, campaign) if supplier
               else sample_context(kind, company_info(settings.company),
                                   str(settings.mail.from_address), language))
    rendered = templates.render(kind, language or context.supplier.language, context)
    at = clock_from(settings.clock).now()
    message = preview_message(
        rendered, from_name=settings.mail.from_name, from_address=str(settings.mail.from_address),
        to=context.contact.email, to_name=context.contact.name,
        reply_to=context.reply_address, at=at)
    out_dir.mkdir(parents=True, exist_ok=True)
    stem = "-".join(x for x in (kind, rendered.language,
                                _safe(context.supplier.code) if supplier else None) if x)
    eml = out_dir / f"{stem}.eml"
    eml.write_bytes(message.as_bytes(policy=policy.SMTP))
    written = [eml]
    page = out_dir / f"{stem}.html"
    if rendered.html is not None:
        page.write_text(rendered.html, encoding="utf-8")
        written.append(page)
    text = out_dir / f"{stem}.txt"
    text.write_text(rendered.text, encoding="utf-8")
    written.append(text)
    out().print(f"Subject: {rendered.subject}", highlight=False, markup=False)
    for path in written:
        out().print(f"wrote {path}", highlight=False, markup=False)


def _safe(code: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", code).strip("-.") or "supplier"


def _supplier_context(cli: CliState, settings: Settings, kind: str, code: str,
                      campaign_ref: str | None) -> MessageContext:
    """The context the outbox would build for this supplier's request in the campaign."""
    today = local_date(cli.app().clock, settings.campaign.time_zone)
    with cli.unit_of_work() as session:
        found = session.exec(select(Supplier).where(Supplier.code == code)).first()
        if found is None:
            raise NotFound(f"no supplier with code {code!r}")
        contact = _contact(session, found)
        chosen = get_campaign(session, campaign_ref)
        request = session.exec(select(Request).where(Request.campaign_id == chosen.id,
                                                     Request.supplier_id == found.id)).first()
        if request is None:
            raise NotFound(f"supplier {found.code} has no request in campaign {chosen.name!r}")
        submission = session.exec(
            select(Submission).where(Submission.request_id == request.id)
            .order_by(Submission.received_at.desc())  # type: ignore[attr-defined]
        ).first() if kind in INTAKE_KINDS else None
        family = str(chosen.template_family)
        context = message_context(
            supplier=found, contact=contact, campaign=chosen, request=request,
            company=settings.company, from_address=str(settings.mail.from_address),
            today=today, stage=None if kind in INTAKE_KINDS else kind,
            attachment_name=(blank_template(family).filename_for(found.code)
                             if kind == "request" else None),
            submission=submission, findings=submission.findings if submission else ())
    if kind in INTAKE_KINDS and context.submission is None:  # nothing received yet: a sample
        sample = sample_context(kind, context.company, str(settings.mail.from_address))
        context = replace(context, submission=sample.submission, findings=sample.findings)
    return context


def _contact(session: Session, supplier: Supplier) -> Contact:
    contacts = session.exec(select(Contact).where(Contact.supplier_id == supplier.id)
                            .order_by(Contact.role, Contact.email)).all()
    if not contacts:
        raise NotFound(f"supplier {supplier.code} has no contact")
    return next((c for c in contacts if c.role == "primary"), contacts[0])


def _frozen_kinds(cli: CliState) -> set[str]:
    """Kinds the running campaigns' frozen ladders send, when there is a database to ask."""
    try:
        with cli.unit_of_work() as session:
            return frozen_template_kinds(session)
    except OutreachError:  # no database yet (or not migrated): the configured ladder only
        return set()
