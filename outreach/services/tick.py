"""One scheduler tick: act on every request whose ``next_action_at`` has come.

A tick ends pauses whose ``paused_until`` has passed (the request reopens and is
re-planned), then asks ``decide()`` about every request that is due and queues what it says
(``services.outbox``), each request in its own savepoint so one that fails (a template the
admin broke for one language, say) is logged and retried next tick without holding up the
rest. A tick is the one place that asks "what is due?", so a misfired or doubled tick does
no harm.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import structlog
from sqlmodel import Session, select

from outreach.core.clock import Clock
from outreach.core.enums import CampaignState, RequestState
from outreach.db.audit import record_event
from outreach.db.models import Campaign, Request
from outreach.mail.template_store import TemplateStore
from outreach.services.outbox import PlanCache, PlanReport, due_requests, plan_request
from outreach.settings import Settings

log = structlog.get_logger(__name__)

ACTOR = "system:scheduler"


@dataclass(frozen=True)
class TickReport:
    resumed: int
    planned: PlanReport = field(default_factory=PlanReport)
    failed: int = 0

    def as_dict(self) -> dict[str, int]:
        return {"resumed": self.resumed, "queued": self.planned.queued,
                "awaiting_approval": self.planned.awaiting_approval,
                "handed_over": self.planned.handed_over, "replanned": self.planned.replanned,
                "no_address": self.planned.no_address, "failed": self.failed}


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


def tick(session: Session, clock: Clock, *, settings: Settings | None = None,
         templates: TemplateStore | None = None, limit: int = 5000) -> TickReport:
    """One tick; without ``settings``/``templates`` only pauses end (nothing is decided)."""
    resumed = resume_expired_pauses(session, clock)
    planned, failed = PlanReport(), 0
    if settings is not None and templates is not None:
        due = due_requests(session, clock, limit)
        for start in range(0, len(due), CHUNK):
            chunk = due[start:start + CHUNK]
            failed += _plan_chunk(session, clock, settings, templates, chunk, planned)
    return TickReport(resumed, planned, failed)


#: requests decided under one savepoint; a chunk that fails is redone one by one
CHUNK = 250


def _plan_chunk(session: Session, clock: Clock, settings: Settings, templates: TemplateStore,
                chunk: list[int], planned: PlanReport) -> int:
    """Plan a chunk in one savepoint; if anything in it fails, redo it request by request so
    only the failing ones are skipped (logged, retried next tick). Returns the failures."""
    try:
        with session.begin_nested():
            cache = PlanCache.load(session, chunk)
            partial = PlanReport()
            for request_id in chunk:
                plan_request(session, clock, settings, templates, request_id, partial, cache)
            cache.write(session, clock)
        planned.add(partial)
        return 0
    except Exception:
        session.expire_all()
    failed = 0
    for request_id in chunk:
        try:
            with session.begin_nested():
                one = PlanReport()
                plan_request(session, clock, settings, templates, request_id, one)
            planned.add(one)
        except Exception as exc:
            failed += 1
            log.exception("request.plan_failed", request=request_id,
                          error=f"{type(exc).__name__}: {exc}")
    return failed
