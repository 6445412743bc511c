"""Supplier import against a real database: idempotent, all-or-nothing, prune, late joiners."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import pytest
from sqlmodel import Session, func, select

from outreach.core.clock import FixedClock
from outreach.core.enums import ContactStatus, RequestState
from outreach.db.models import Contact, Event, Request, Supplier
from outreach.services.import_suppliers import SupplierFileRejected
from tests.support.factories import import_lines, running_campaign, supplier_line, tx

LINES = [supplier_line("A1"), supplier_line("B2", "Bärbel Präzision GmbH"),
         supplier_line("C3", contacts="primary: c@c3.example; senior_officer: ceo@c3.example")]


def _count(session: Session, model: type) -> int:
    return session.exec(select(func.count()).select_from(model)).one()


def test_import_creates_suppliers_and_contacts(session: Session, clock: FixedClock,
                                               tmp_path: Path) -> None:
    with tx(session):
        report = import_lines(session, clock, tmp_path / "s.csv", LINES)
    assert (report.created, report.updated, report.contacts_added) == (3, 0, 6)
    b2 = session.exec(select(Supplier).where(Supplier.code == "B2")).one()
    assert b2.name == "Bärbel Präzision GmbH" and b2.email_domains == ["b2.example"]
    assert b2.created_at == clock.now()
    roles = sorted(c.role for c in session.exec(select(Contact).where(
        Contact.supplier_id == b2.id)))
    assert roles == ["escalation", "primary"]
    kinds = [e.kind for e in session.exec(select(Event).order_by(Event.id))]
    assert kinds == ["supplier.created"] * 3 + ["suppliers.imported"]


def test_reimport_is_idempotent(session: Session, clock: FixedClock, tmp_path: Path) -> None:
    with tx(session):
        import_lines(session, clock, tmp_path / "s.csv", LINES)
    with tx(session):
        report = import_lines(session, clock, tmp_path / "s.csv", LINES)
    assert (report.created, report.updated, report.unchanged) == (0, 0, 3)
    assert _count(session, Supplier) == 3 and _count(session, Contact) == 6


def test_reimport_updates_fields_and_contacts(session: Session, clock: FixedClock,
                                              tmp_path: Path) -> None:
    with tx(session):
        import_lines(session, clock, tmp_path / "s.csv", LINES)
        bounced = session.exec(select(Contact).where(Contact.email == "pat@a1.example")).one()
        bounced.status = ContactStatus.BOUNCED
    clock.advance(timedelta(days=1))
    changed = [supplier_line("A1", "A1 Renamed Ltd", contacts="primary: pat@a1.example"),
               *LINES[1:]]
    with tx(session):
        report = import_lines(session, clock, tmp_path / "s.csv", changed)
    assert (report.updated, report.unchanged, report.contacts_deactivated) == (1, 2, 1)
    a1 = session.exec(select(Supplier).where(Supplier.code == "A1")).one()
    assert a1.name == "A1 Renamed Ltd" and a1.updated_at == clock.now()
    statuses = {c.email: c.status for c in session.exec(select(Contact).where(
        Contact.supplier_id == a1.id))}
    # a bounced address stays bounced; the contact dropped from the file becomes inactive
    assert statuses == {"pat@a1.example": "bounced", "boss@a1.example": "inactive"}
    update = session.exec(select(Event).where(Event.kind == "supplier.updated")).one()
    assert update.data["changes"]["name"] == ["Supplier A1", "A1 Renamed Ltd"]
    assert update.actor == "cli:test" and "s.csv" in (update.reason or "")


def test_bad_rows_import_nothing(session: Session, clock: FixedClock, tmp_path: Path) -> None:
    bad = [*LINES, supplier_line("D4", contacts="primary: not-an-address"),
           supplier_line("E5", contacts="cfo: cfo@e5.example"), supplier_line("A1")]
    with pytest.raises(SupplierFileRejected) as info, tx(session):
        import_lines(session, clock, tmp_path / "s.csv", bad)
    lines = sorted({p.line for p in info.value.problems})
    assert lines == [5, 6, 7]
    assert "--skip-invalid" in str(info.value)
    assert _count(session, Supplier) == 0 and _count(session, Event) == 0


def test_skip_invalid_imports_the_valid_rows(session: Session, clock: FixedClock,
                                             tmp_path: Path) -> None:
    bad = [*LINES, supplier_line("D4", contacts="primary: not-an-address")]
    with tx(session):
        report = import_lines(session, clock, tmp_path / "s.csv", bad, skip_invalid=True)
    assert (report.created, report.skipped_invalid) == (3, 1)
    assert _count(session, Supplier) == 3


def test_prune_deactivates_absent_suppliers_and_closes_their_requests(
    session: Session, clock: FixedClock, tmp_path: Path
) -> None:
    with tx(session):
        import_lines(session, clock, tmp_path / "s.csv", LINES)
        running_campaign(session, clock)
    with tx(session):
        report = import_lines(session, clock, tmp_path / "s.csv", LINES[:2], prune=True)
    assert (report.deactivated, report.requests_closed) == (1, 1)
    c3 = session.exec(select(Supplier).where(Supplier.code == "C3")).one()
    assert not c3.active and c3.deactivated_at == clock.now()
    request = session.exec(select(Request).where(Request.supplier_id == c3.id)).one()
    assert request.state == RequestState.CLOSED and request.next_action_at is None
    # without --prune an absent supplier stays; back in the file, it is reactivated
    with tx(session):
        report = import_lines(session, clock, tmp_path / "s.csv", LINES)
    assert report.reactivated == 1
    assert session.get(Supplier, c3.id).active  # type: ignore[union-attr]


def test_late_joiners_get_their_own_due_date(session: Session, clock: FixedClock,
                                             tmp_path: Path) -> None:
    with tx(session):
        import_lines(session, clock, tmp_path / "s.csv", LINES)
        campaign = running_campaign(session, clock, due=date(2027, 2, 1))
    clock.advance(timedelta(days=14))  # 2027-01-25: 30 days from now is past the due date
    with tx(session):
        report = import_lines(session, clock, tmp_path / "s.csv", [*LINES, supplier_line("F6")])
    assert report.joined_campaigns == {campaign.name: 1}
    f6 = session.exec(select(Supplier).where(Supplier.code == "F6")).one()
    request = session.exec(select(Request).where(Request.supplier_id == f6.id)).one()
    assert request.joined_late and request.due_date == date(2027, 2, 24)
    assert request.next_action_at == clock.now()
    others = session.exec(select(Request).where(Request.supplier_id != f6.id)).all()
    assert {r.due_date for r in others} == {date(2027, 2, 1)}
