"""Contacts intake offers (a colleague who replied, a CMRT's contact and authorizer), taken
or left by a person: nothing becomes a contact on its own."""

from __future__ import annotations

from sqlmodel import Session, col, select

from outreach.core.clock import Clock
from outreach.core.enums import ContactStatus
from outreach.db.audit import record_event
from outreach.db.models import Contact, ContactSuggestion, Supplier
from outreach.errors import InvalidState, NotFound


def pending(session: Session, supplier_code: str | None = None
            ) -> list[tuple[ContactSuggestion, Supplier]]:
    query = (select(ContactSuggestion, Supplier)
             .join(Supplier, col(Supplier.id) == ContactSuggestion.supplier_id)
             .where(ContactSuggestion.status == "pending")
             .order_by(col(ContactSuggestion.id)))
    if supplier_code:
        query = query.where(Supplier.code == supplier_code)
    return [(s, supplier) for s, supplier in session.exec(query).all()]


def decide(session: Session, clock: Clock, suggestion_id: int, *, accept: bool,
           actor: str) -> Contact | None:
    """Accept (the address becomes a contact in the suggested role) or dismiss."""
    suggestion = session.get(ContactSuggestion, suggestion_id)
    if suggestion is None:
        raise NotFound(f"no contact suggestion #{suggestion_id}")
    if suggestion.status != "pending":
        raise InvalidState(f"suggestion #{suggestion_id} was {suggestion.status} already")
    now = clock.now()
    suggestion.status = "accepted" if accept else "dismissed"
    suggestion.decided_at, suggestion.decided_by = now, actor
    contact = None
    if accept:
        contact = session.exec(select(Contact)
                               .where(Contact.supplier_id == suggestion.supplier_id)
                               .where(Contact.role == suggestion.role)
                               .where(Contact.email == suggestion.email)).first()
        if contact is None:
            contact = Contact(supplier_id=suggestion.supplier_id, role=suggestion.role,
                              name=suggestion.name, email=suggestion.email,
                              status=ContactStatus.ACTIVE, created_at=now, updated_at=now)
            session.add(contact)
    record_event(session, clock, actor=actor,
                 kind="contact.added" if accept else "contact.suggestion_dismissed",
                 reason=f"{suggestion.email} as {suggestion.role} ({suggestion.source})",
                 supplier_id=suggestion.supplier_id, email=suggestion.email,
                 role=str(suggestion.role), suggestion_id=suggestion_id)
    return contact
