"""What a person does with intake's leftovers: review, assign, retry; and files that came
another way (``outreach submission add``), through the same judging as mailed ones."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from sqlmodel import Session, col, select

from outreach.core.enums import ContactRole, ContactStatus
from outreach.db.audit import record_event
from outreach.db.engine import write_transaction
from outreach.db.models import Campaign, Contact, InboundMessage, Request, Submission, Supplier
from outreach.errors import InvalidInput, InvalidState, NotFound
from outreach.intake.kinds import kind_of
from outreach.services.answers import ANSWER_FOR_OUTCOME, Recipient, queue_answer
from outreach.services.intake import (
    ASSIGNABLE,
    Intake,
    campaign_context,
    move_request,
    process,
    record_submission,
    stored_raw,
)
from outreach.services.intake_files import file_from_bytes, judge
from outreach.services.requests import find_request

#: what ``inbox review`` lists
FOR_REVIEW = ("quarantined", "attention", "failed")


def for_review(session: Session, statuses: tuple[str, ...] = FOR_REVIEW
               ) -> list[InboundMessage]:
    return list(session.exec(select(InboundMessage)
                             .where(col(InboundMessage.status).in_(statuses))
                             .where(col(InboundMessage.reviewed_at).is_(None))
                             .order_by(col(InboundMessage.id))).all())


def resolve_request(session: Session, ref: str, campaign: str | None) -> Request:
    """A request by its number, or by supplier code (and campaign)."""
    if ref.isdigit():
        request = session.get(Request, int(ref))
        if request is None:
            raise NotFound(f"no request #{ref}")
        return request
    return find_request(session, ref, campaign)


def assign(intake: Intake, inbound_id: int, request_ref: str, *, campaign: str | None,
           actor: str) -> str:
    """A person says this mail answers that request: it is processed as the supplier's."""
    with intake.sessions() as session:
        inbound = _inbound(session, inbound_id)
        if inbound.status not in ASSIGNABLE:
            raise InvalidState(f"message #{inbound_id} is {inbound.status}: only quarantined, "
                               "unrelated, attention or failed mail can be assigned")
        request = resolve_request(session, request_ref, campaign)
        raw = stored_raw(intake, inbound)
        if raw is None:
            raise InvalidState(f"message #{inbound_id} was not kept ({inbound.status}): "
                               "it cannot be processed again")
        assert request.id is not None
    with write_transaction(intake.sessions) as session:
        record_event(session, intake.clock, actor=actor, kind="inbound.assigned",
                     reason=f"message #{inbound_id} assigned to request #{request.id}",
                     campaign_id=request.campaign_id, supplier_id=request.supplier_id,
                     request_id=request.id, inbound_id=inbound_id,
                     previous_status=inbound.status)
    return process(intake, inbound_id, raw, assign_to=request.id, actor=actor)


def retry(intake: Intake, inbound_id: int, *, actor: str) -> str:
    """Process a failed mail again (after the cause was fixed)."""
    with intake.sessions() as session:
        inbound = _inbound(session, inbound_id)
        if inbound.status != "failed":
            raise InvalidState(f"message #{inbound_id} is {inbound.status}, not failed")
        raw = stored_raw(intake, inbound)
        if raw is None:
            raise InvalidState(f"message #{inbound_id} was never downloaded "
                               f"({inbound.error}): nothing to process again")
    with write_transaction(intake.sessions) as session:
        row = session.get(InboundMessage, inbound_id)
        assert row is not None
        row.attempts, row.status = 0, "received"
        record_event(session, intake.clock, actor=actor, kind="inbound.retried",
                     reason=row.error, inbound_id=inbound_id)
    return process(intake, inbound_id, raw, actor=actor)


def dismiss(intake: Intake, inbound_id: int, *, actor: str, reason: str | None) -> None:
    """A person has dealt with it: it leaves the review list (and the digest)."""
    with write_transaction(intake.sessions) as session:
        inbound = _inbound(session, inbound_id)
        inbound.reviewed_at, inbound.reviewed_by = intake.clock.now(), actor
        record_event(session, intake.clock, actor=actor, kind="inbound.reviewed",
                     reason=reason, inbound_id=inbound_id, status=inbound.status,
                     supplier_id=inbound.supplier_id, request_id=inbound.request_id)


def _inbound(session: Session, inbound_id: int) -> InboundMessage:
    inbound = session.get(InboundMessage, inbound_id)
    if inbound is None:
        raise NotFound(f"no inbound message #{inbound_id} (see `outreach inbox review`)")
    return inbound


@dataclass(frozen=True)
class Added:
    submission: Submission
    request: Request
    answered: str | None


def add_submission(intake: Intake, path: Path, *, supplier_code: str, campaign: str | None,
                   actor: str, notify: bool = False) -> Added:
    """A CMRT that arrived another way (a portal, a USB stick): stored, judged, recorded and
    the request moved exactly as for a mailed one; answered by e-mail only with ``notify``."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InvalidInput(f"cannot read {path}: {exc.strerror or exc}") from exc
    item = file_from_bytes(path.name, data, kind_of(data))
    with intake.sessions() as session:
        request = find_request(session, supplier_code, campaign)
        campaign_row = session.get(Campaign, request.campaign_id)
        assert campaign_row is not None
        result = judge(item, campaign_context(intake, session, campaign_row))
    with write_transaction(intake.sessions) as session:
        request = session.get(Request, request.id)
        assert request is not None
        submission = record_submission(intake, session, request, item, result,
                                       inbound_id=None, source="manual", actor=actor)
        move_request(intake, session, request, [(submission, result)], actor)
        answered = None
        if notify:
            answered = _notify(intake, session, request, submission, actor)
        session.flush()
        session.expunge(submission)
        session.expunge(request)
    return Added(submission, request, answered)


def _notify(intake: Intake, session: Session, request: Request, submission: Submission,
            actor: str) -> str | None:
    contact = session.exec(select(Contact).where(Contact.supplier_id == request.supplier_id)
                           .where(Contact.role == ContactRole.PRIMARY)
                           .where(Contact.status == ContactStatus.ACTIVE)
                           .order_by(col(Contact.id))).first()
    if contact is None:
        supplier = session.get(Supplier, request.supplier_id)
        raise InvalidState(f"supplier {supplier.code if supplier else '?'} has no active "
                           "primary contact to notify")
    return queue_answer(session, intake.clock, intake.settings, intake.templates,
                        request=request, kind=ANSWER_FOR_OUTCOME[submission.outcome or
                                                                 "unreadable"],
                        to=Recipient(contact.email, contact.name),
                        key=f"answer:submission:{submission.id}", actor=actor,
                        submission=submission, findings=submission.findings)
