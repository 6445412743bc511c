"""What a compliance officer does to one supplier's request, each step an audited event.

Convention: any change that can move the request's schedule sets ``next_action_at`` to now,
so the next scheduler tick re-plans it with ``decide()`` (the schedule is never computed in
two places).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

import structlog
from sqlmodel import Session, select

from outreach.core.clock import Clock
from outreach.core.enums import ACTIVE_REQUEST_STATES, RequestState
from outreach.db.audit import record_event
from outreach.db.models import Campaign, Contact, Event, Request, Supplier
from outreach.errors import InvalidInput, InvalidState, NotFound
from outreach.services.campaigns import get_campaign

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class RequestView:
    request: Request
    supplier: Supplier
    campaign: Campaign
    contacts: list[Contact]
    events: list[Event]


def find_supplier(session: Session, code: str) -> Supplier:
    """A supplier by its code, exactly or else ignoring case."""
    supplier = session.exec(select(Supplier).where(Supplier.code == code)).first()
    if supplier is None:
        lowered = code.casefold()
        supplier = next((s for s in session.exec(select(Supplier)).all()
                         if s.code.casefold() == lowered), None)
    if supplier is None:
        raise NotFound(f"no supplier with code {code!r}")
    return supplier


def find_request(session: Session, supplier_code: str, campaign_ref: str | None) -> Request:
    campaign = get_campaign(session, campaign_ref)
    supplier = find_supplier(session, supplier_code)
    request = session.exec(
        select(Request).where(Request.campaign_id == campaign.id,
                              Request.supplier_id == supplier.id)
    ).first()
    if request is None:
        raise NotFound(f"supplier {supplier.code} has no request in campaign {campaign.name!r}"
                       + ("" if supplier.active else " (the supplier is inactive)"))
    return request


def view_request(session: Session, request: Request) -> RequestView:
    supplier = session.get(Supplier, request.supplier_id)
    campaign = session.get(Campaign, request.campaign_id)
    assert supplier is not None and campaign is not None
    contacts = list(session.exec(select(Contact).where(Contact.supplier_id == supplier.id)
                                 .order_by(Contact.role, Contact.email)).all())
    events = list(session.exec(select(Event).where(Event.request_id == request.id)
                               .order_by(Event.at, Event.id)).all())
    return RequestView(request, supplier, campaign, contacts, events)


def _require_active(request: Request, action: str) -> None:
    if request.state not in ACTIVE_REQUEST_STATES:
        raise InvalidState(f"the request is {request.state}: it cannot be {action}")


def _event(session: Session, clock: Clock, request: Request, kind: str, actor: str,
           reason: str | None, **data: object) -> None:
    record_event(session, clock, actor=actor, kind=kind, reason=reason,
                 campaign_id=request.campaign_id, supplier_id=request.supplier_id,
                 request_id=request.id, **data)
    log.info(kind, request=request.id, supplier=request.supplier_id, actor=actor)


def _need_reason(reason: str | None, action: str) -> str:
    if not reason or not reason.strip():
        raise InvalidInput(f"say why with --reason: it goes into the audit trail ({action})")
    return reason.strip()


def extend_request(session: Session, clock: Clock, request: Request, new_due: date, *,
                   actor: str, reason: str | None) -> date:
    """Move the supplier's own due date later; return the previous one."""
    why = _need_reason(reason, "extend")
    _require_active(request, "extended")
    if new_due <= request.due_date:
        raise InvalidInput(f"the new due date {new_due} is not after the current one "
                           f"({request.due_date})")
    previous = request.due_date
    request.due_date = new_due
    now = clock.now()
    request.updated_at = now
    if request.state == RequestState.OPEN:
        request.next_action_at = now
    _event(session, clock, request, "request.extended", actor, why,
           previous=previous.isoformat(), due_date=new_due.isoformat())
    return previous


def pause_request(session: Session, clock: Clock, request: Request, *, actor: str,
                  reason: str | None, until: datetime | None) -> None:
    why = _need_reason(reason, "pause")
    if request.state != RequestState.OPEN:
        raise InvalidState(f"the request is {request.state}: only an open request can be paused")
    now = clock.now()
    if until is not None and until <= now:
        raise InvalidInput(f"--until {until.isoformat()} is not in the future")
    request.state, request.paused_until, request.updated_at = RequestState.PAUSED, until, now
    request.next_action_at = until  # the tick resumes it then; None: until a person resumes
    _event(session, clock, request, "request.paused", actor, why,
           until=until.isoformat() if until else None)


def resume_request(session: Session, clock: Clock, request: Request, *, actor: str,
                   reason: str | None) -> None:
    if request.state != RequestState.PAUSED:
        raise InvalidState(f"the request is {request.state}, not paused")
    now = clock.now()
    request.state, request.paused_until, request.updated_at = RequestState.OPEN, None, now
    request.next_action_at = now
    _event(session, clock, request, "request.resumed", actor, reason)


def note_request(session: Session, clock: Clock, request: Request, text: str, *,
                 actor: str) -> None:
    if not text.strip():
        raise InvalidInput("a note needs some text")
    _event(session, clock, request, "request.note", actor, text.strip())


def exempt_request(session: Session, clock: Clock, request: Request, *, actor: str,
                   reason: str | None) -> None:
    """Take the supplier out of the survey (e.g. no 3TG in its parts); coverage shows it apart."""
    why = _need_reason(reason, "exempt")
    _require_active(request, "exempted")
    request.state, request.exempt_reason = RequestState.EXEMPT, why
    request.next_action_at, request.paused_until = None, None
    request.updated_at = clock.now()
    _event(session, clock, request, "request.exempted", actor, why)
