"""Small builders for test data: supplier files as real CSV, campaigns through the services."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path

from sqlmodel import Session

from outreach.core.clock import Clock
from outreach.core.enums import TemplateFamily
from outreach.core.ladder import default_ladder
from outreach.db.models import Campaign
from outreach.imports.supplier_file import SupplierFile, read_supplier_file
from outreach.services.campaigns import NewCampaign, create_campaign, start_campaign
from outreach.services.import_suppliers import ImportReport, import_suppliers

HEADER = "code,name,country,time_zone,language,email_domains,buyer,scope_tags,contacts"


def supplier_line(code: str, name: str | None = None, *, contacts: str | None = None,
                  tags: str = "", country: str = "DE") -> str:
    domain = f"{code.lower()}.example"
    contacts = contacts or f"primary: Pat {code} <pat@{domain}>; escalation: boss@{domain}"
    return f'{code},"{name or "Supplier " + code}",{country},,,,,"{tags}","{contacts}"'


def supplier_csv(path: Path, lines: list[str]) -> SupplierFile:
    path.write_text("\n".join([HEADER, *lines]) + "\n", encoding="utf-8")
    return read_supplier_file(path)


def import_lines(session: Session, clock: Clock, path: Path, lines: list[str],
                 **kwargs: object) -> ImportReport:
    return import_suppliers(session, clock, supplier_csv(path, lines), actor="cli:test",
                            **kwargs)  # type: ignore[arg-type]


def running_campaign(session: Session, clock: Clock, *, name: str = "CMRT 2026",
                     due: date = date(2027, 3, 31), scope: tuple[str, ...] = ()) -> Campaign:
    campaign = create_campaign(
        session, clock,
        NewCampaign(name=name, reporting_year=2026, due_date=due,
                    template_family=TemplateFamily.CMRT, min_version="6.01", scope_tags=scope),
        actor="cli:test", company_time_zone="UTC")
    start_campaign(session, clock, campaign, default_ladder(), actor="cli:test",
                   late_joiner_days=30, company_time_zone="UTC")
    return campaign


def fresh(session: Session) -> None:
    """End the test's read transaction (SQLite keeps its snapshot) and forget loaded rows,
    so the next query sees what the service committed."""
    session.rollback()
    session.expire_all()


@contextmanager
def tx(session: Session) -> Iterator[None]:
    """A write transaction on a test's session, ending whatever reads auto-began."""
    if session.in_transaction():
        session.commit()
    with session.begin():
        yield
