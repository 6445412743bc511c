"""Approving the stages that wait for a person: the senior-officer notice and the hand-over.

The ladder marks such stages ``requires_approval``. When one is due, the tick does not send
it: it sets ``Request.awaiting_approval`` and stops looking (``next_action_at`` None), and
the digest lists the request. ``approve`` records who released it and why, and sets
``next_action_at`` to now so the next tick sends it. An approval is for one stage of one
request, given once.
"""

from __future__ import annotations

from dataclasses import dataclass

import structlog
from sqlmodel import Session, select

from outreach.core.clock import Clock
from outreach.core.enums import RequestState
from outreach.core.ladder import Ladder
from outreach.db.audit import record_event
from outreach.db.models import Approval, Campaign, Request, Supplier
from outreach.errors import InvalidInput, InvalidState

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class Pending:
    request: Request
    supplier: Supplier
    campaign: Campaign
    stage: str


def campaign_ladder(campaign: Campaign) -> Ladder:
    if campaign.ladder is None:
        raise InvalidState(f"campaign {campaign.name!r} has not started: it has no ladder yet")
    return Ladder.model_validate(campaign.ladder)


def approved_stages(session: Session, request_id: int) -> frozenset[str]:
    rows = session.exec(select(Approval.stage).where(Approval.request_id == request_id)).all()
    return frozenset(rows)


def approve(session: Session, clock: Clock, request: Request, *, actor: str,
            reason: str | None, stage: str | None = None) -> str:
    """Release ``stage`` (default: the one the request waits on); return the stage name."""
    campaign = session.get(Campaign, request.campaign_id)
    assert campaign is not None
    ladder = campaign_ladder(campaign)
    name = stage or request.awaiting_approval
    if name is None:
        gated = ", ".join(s.name for s in ladder.stages if s.requires_approval) or "none"
        raise InvalidState("nothing waits for approval on this request; to approve a stage in "
                           f"advance name it with --stage ({gated})")
    try:
        wanted = ladder.stage(name)
    except KeyError:
        raise InvalidInput(f"the campaign's ladder has no stage {name!r} (stages: "
                           f"{', '.join(s.name for s in ladder.stages)})") from None
    if not wanted.requires_approval:
        raise InvalidInput(f"stage {name!r} does not wait for approval")
    if request.state not in (RequestState.OPEN, RequestState.PAUSED):
        raise InvalidState(f"the request is {request.state}: nothing left to approve")
    assert request.id is not None
    if name in approved_stages(session, request.id):
        raise InvalidState(f"stage {name!r} is already approved for this request")
    now = clock.now()
    session.add(Approval(request_id=request.id, stage=name, actor=actor,
                         reason=(reason or "").strip() or None, approved_at=now))
    if request.awaiting_approval == name:
        request.awaiting_approval = None
        if request.state == RequestState.OPEN:
            request.next_action_at = now
    request.updated_at = now
    record_event(session, clock, actor=actor, kind="request.approved", reason=reason,
                 campaign_id=request.campaign_id, supplier_id=request.supplier_id,
                 request_id=request.id, stage=name)
    log.info("request.approved", request=request.id, stage=name, actor=actor)
    return name


def pending_approvals(session: Session, campaign_id: int | None = None) -> list[Pending]:
    """Requests whose ladder waits for a person, oldest supplier code first."""
    query = (select(Request, Supplier, Campaign)
             .join(Supplier, Supplier.id == Request.supplier_id)
             .join(Campaign, Campaign.id == Request.campaign_id)
             .where(Request.awaiting_approval.is_not(None))  # type: ignore[union-attr]
             .where(Request.state == RequestState.OPEN))
    if campaign_id is not None:
        query = query.where(Request.campaign_id == campaign_id)
    rows = session.exec(query.order_by(Supplier.code)).all()
    return [Pending(r, s, c, r.awaiting_approval or "") for r, s, c in rows]
