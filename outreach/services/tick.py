"""One scheduler tick: act on every request whose ``next_action_at`` has come.

Today a tick ends pauses whose ``paused_until`` has passed (the request reopens and is
re-planned). The escalation ladder's ``decide()`` joins here: a tick is the one place that
asks "what is due?", so a misfired or doubled tick does no harm.
"""

from __future__ import annotations

from dataclasses import dataclass

import structlog
from sqlmodel import Session, select

from outreach.core.clock import Clock
from outreach.core.enums import CampaignState, RequestState
from outreach.db.audit import record_event
from outreach.db.models import Campaign, Request

log = structlog.get_logger(__name__)

ACTOR = "system:scheduler"


@dataclass(frozen=True)
class TickReport:
    resumed: int

    def as_dict(self) -> dict[str, int]:
        return {"resumed": self.resumed}


def resume_expired_pauses(session: Session, clock: Clock, *, limit: int = 1000) -> int:
    """Reopen paused requests whose pause has ended; return how many."""
    now = clock.now()
    due = session.exec(
        select(Request)
        .join(Campaign, Campaign.id == Request.campaign_id)
        .where(Request.state == RequestState.PAUSED,
               Request.paused_until.is_not(None),  # type: ignore[union-attr]
               Request.paused_until <= now,  # type: ignore[operator]
               Campaign.state != CampaignState.CLOSED)
        .order_by(Request.paused_until)
        .limit(limit)
        .with_for_update(skip_locked=True)
    ).all()
    for request in due:
        until = request.paused_until
        request.state, request.paused_until = RequestState.OPEN, None
        request.next_action_at = request.updated_at = now
        record_event(session, clock, actor=ACTOR, kind="request.resumed",
                     reason="the pause ended", campaign_id=request.campaign_id,
                     supplier_id=request.supplier_id, request_id=request.id,
                     paused_until=until.isoformat() if until else None)
        log.info("request.resumed", request=request.id, supplier=request.supplier_id,
                 reason="pause ended")
    return len(due)


def tick(session: Session, clock: Clock) -> TickReport:
    return TickReport(resumed=resume_expired_pauses(session, clock))
