"""``outreach supplier import``: bring the database in line with the supplier file.

Idempotent by supplier code: a re-import updates, never duplicates. A file with any bad row
changes nothing unless the caller skips invalid rows. ``prune`` deactivates suppliers the
file no longer lists (their open requests close). Contacts follow the file: new ones are
added, missing ones become inactive, a bounced address stays bounced.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import structlog
from sqlalchemy import insert
from sqlmodel import Session, select

from outreach.core.clock import Clock
from outreach.core.enums import ACTIVE_REQUEST_STATES, ContactStatus, RequestState
from outreach.db.audit import record_event, record_events
from outreach.db.models import Contact, Request, Supplier
from outreach.errors import InvalidInput
from outreach.imports.supplier_file import ContactRow, RowProblem, SupplierFile, SupplierRow
from outreach.services.enrollment import enroll_late_joiners

log = structlog.get_logger(__name__)

_SUPPLIER_FIELDS = ("name", "country", "time_zone", "language", "buyer")


class SupplierFileRejected(InvalidInput):
    """The file has bad rows and the caller did not ask to skip them."""

    def __init__(self, path: str, problems: Sequence[RowProblem]) -> None:
        self.problems = tuple(problems)
        rows = len({p.line for p in problems})
        super().__init__(
            f"{path}: {rows} row(s) with {len(problems)} problem(s); nothing was imported. "
            "Fix them, or pass --skip-invalid to import the valid rows only"
        )


@dataclass
class ImportReport:
    file: str
    rows: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    reactivated: int = 0
    deactivated: int = 0
    skipped_invalid: int = 0
    contacts_added: int = 0
    contacts_deactivated: int = 0
    requests_closed: int = 0
    joined_campaigns: dict[str, int] = field(default_factory=dict)
    problems: tuple[RowProblem, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        data = dict(self.__dict__)
        data["problems"] = [p.__dict__ for p in self.problems]
        return data


def import_suppliers(
    session: Session,
    clock: Clock,
    parsed: SupplierFile,
    *,
    actor: str,
    prune: bool = False,
    skip_invalid: bool = False,
    late_joiner_days: int = 30,
    company_time_zone: str = "UTC",
    on_progress: Callable[[int, int], None] | None = None,
) -> ImportReport:
    """Apply ``parsed`` in the caller's transaction (which commits or rolls back)."""
    if parsed.problems and not skip_invalid:
        raise SupplierFileRejected(parsed.path.name, parsed.problems)
    report = ImportReport(
        file=parsed.path.name, rows=len(parsed.rows), problems=parsed.problems,
        skipped_invalid=len({p.line for p in parsed.problems}),
    )
    now = clock.now()
    existing = {s.code.casefold(): s for s in session.exec(select(Supplier)).all()}
    contacts: dict[int, list[Contact]] = {}
    for contact in session.exec(select(Contact)).all():
        contacts.setdefault(contact.supplier_id, []).append(contact)

    seen: set[str] = set()
    created: list[tuple[Supplier, SupplierRow]] = []
    for done, row in enumerate(parsed.rows, start=1):
        key = row.code.casefold()
        seen.add(key)
        supplier = existing.get(key)
        if supplier is None:
            supplier = Supplier(code=row.code, created_at=now, updated_at=now, active=True,
                                **_row_values(row))
            session.add(supplier)
            created.append((supplier, row))
        else:
            _apply_update(session, clock, supplier, row, contacts.get(supplier.id or 0, []),
                          actor, parsed.path.name, report)
        if on_progress:
            on_progress(done, len(parsed.rows))
    session.flush()  # one batched INSERT for the new suppliers gives them their ids
    _insert_new_contacts(session, created, now, report)
    record_events(session, clock, [
        {"actor": actor, "kind": "supplier.created", "reason": f"imported from {parsed.path.name}",
         "supplier_id": supplier.id, "data": {"line": row.line}}
        for supplier, row in created])
    report.created = len(created)

    if prune:
        for key, supplier in existing.items():
            if key not in seen and supplier.active:
                _deactivate(session, clock, supplier, actor, parsed.path.name, report)

    session.flush()
    report.joined_campaigns = enroll_late_joiners(
        session, clock, actor=actor, late_joiner_days=late_joiner_days,
        company_time_zone=company_time_zone,
    )
    record_event(session, clock, actor=actor, kind="suppliers.imported",
                 reason=f"imported from {parsed.path.name}",
                 **{k: v for k, v in report.as_dict().items() if k != "problems"},
                 problem_lines=sorted({p.line for p in parsed.problems}))
    log.info("suppliers.imported", file=parsed.path.name, created=report.created,
             updated=report.updated, unchanged=report.unchanged,
             deactivated=report.deactivated, skipped_invalid=report.skipped_invalid)
    return report


def _row_values(row: SupplierRow) -> dict[str, Any]:
    values: dict[str, Any] = {name: getattr(row, name) for name in _SUPPLIER_FIELDS}
    values["email_domains"] = list(row.email_domains)
    values["scope_tags"] = list(row.scope_tags)
    return values


def _insert_new_contacts(
    session: Session, created: list[tuple[Supplier, SupplierRow]], now: Any,
    report: ImportReport,
) -> None:
    """The contacts of new suppliers, in one INSERT (ORM objects cost ~0.3 ms each)."""
    rows = [{"supplier_id": supplier.id, "role": c.role, "name": c.name, "email": c.email,
             "status": ContactStatus.ACTIVE, "created_at": now, "updated_at": now}
            for supplier, row in created for c in _unique_contacts(row)]
    if rows:
        session.execute(insert(Contact), rows)
    report.contacts_added += len(rows)


def _unique_contacts(row: SupplierRow) -> list[ContactRow]:
    return list({(c.role, c.email.casefold()): c for c in row.contacts}.values())


def _apply_update(
    session: Session, clock: Clock, supplier: Supplier, row: SupplierRow,
    current: list[Contact], actor: str, file: str, report: ImportReport,
) -> None:
    now = clock.now()
    changes = _update(supplier, row, now)
    if not supplier.active:
        supplier.active, supplier.deactivated_at = True, None
        changes["active"] = [False, True]
        report.reactivated += 1
    contact_changes = _sync_contacts(session, supplier, current, row, now, report)
    if not (changes or contact_changes):
        report.unchanged += 1
        return
    report.updated += 1
    supplier.updated_at = now
    record_event(session, clock, actor=actor, kind="supplier.updated",
                 reason=f"imported from {file}", supplier_id=supplier.id, line=row.line,
                 changes=changes, contacts=contact_changes)


def _update(supplier: Supplier, row: SupplierRow, now: Any) -> dict[str, list[Any]]:
    changes: dict[str, list[Any]] = {}
    for name, value in _row_values(row).items():
        old = getattr(supplier, name)
        if old != value:
            changes[name] = [old, value]
            setattr(supplier, name, value)
    if supplier.code != row.code:  # same code, other capitalisation: the file wins
        changes["code"] = [supplier.code, row.code]
        supplier.code = row.code
    return changes


def _sync_contacts(
    session: Session,
    supplier: Supplier,
    current: list[Contact],
    row: SupplierRow,
    now: Any,
    report: ImportReport,
) -> list[str]:
    """Make the supplier's contacts match the row; return a description of each change."""
    assert supplier.id is not None
    by_key = {(c.role, c.email.casefold()): c for c in current}
    wanted = {(c.role, c.email.casefold()): c for c in _unique_contacts(row)}
    changes: list[str] = []
    for key, given in wanted.items():
        contact = by_key.get(key)
        if contact is None:
            session.add(Contact(supplier_id=supplier.id, role=given.role, name=given.name,
                                email=given.email, status=ContactStatus.ACTIVE,
                                created_at=now, updated_at=now))
            report.contacts_added += 1
            changes.append(f"added {given.role}")
            continue
        if contact.status == ContactStatus.INACTIVE:
            contact.status, contact.updated_at = ContactStatus.ACTIVE, now
            changes.append(f"reactivated {given.role}")
        if given.name != contact.name:
            contact.name, contact.updated_at = given.name, now
            changes.append(f"renamed {given.role}")
    for key, contact in by_key.items():
        if key not in wanted and contact.status != ContactStatus.INACTIVE:
            contact.status, contact.updated_at = ContactStatus.INACTIVE, now
            report.contacts_deactivated += 1
            changes.append(f"removed {contact.role}")
    return changes


def _deactivate(
    session: Session, clock: Clock, supplier: Supplier, actor: str, file: str,
    report: ImportReport,
) -> None:
    now = clock.now()
    supplier.active, supplier.deactivated_at, supplier.updated_at = False, now, now
    report.deactivated += 1
    reason = f"not in {file} (import --prune)"
    record_event(session, clock, actor=actor, kind="supplier.deactivated", reason=reason,
                 supplier_id=supplier.id)
    open_requests = session.exec(
        select(Request).where(Request.supplier_id == supplier.id,
                              Request.state.in_(ACTIVE_REQUEST_STATES))  # type: ignore[attr-defined]
    ).all()
    for request in open_requests:
        request.state, request.next_action_at, request.updated_at = RequestState.CLOSED, None, now
        report.requests_closed += 1
        record_event(session, clock, actor=actor, kind="request.closed", reason=reason,
                     campaign_id=request.campaign_id, supplier_id=supplier.id,
                     request_id=request.id)
