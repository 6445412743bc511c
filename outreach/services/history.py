"""``outreach history SUPPLIER``: every event of one supplier, across campaigns, in order.

Events are the audit trail (``db.audit``): e-mails queued and sent (with their Message-ID),
replies and their matching, verdicts, escalations, approvals, bounces, manual actions. Each
line names who or what acted and why.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlmodel import Session, col, or_, select

from outreach.db.models import Campaign, Event, Request, Supplier
from outreach.services.requests import find_supplier

#: the details each kind of event is best summed up by (the rest stays in --json)
_SUMMARY = {
    "message.queued": ("stage", "kind_of", "message_id", "to"),
    "message.sent": ("message_id", "to", "cc"),
    "message.failed": ("message_id",),
    "inbound.reply": ("sender", "method", "files"),
    "submission.judged": ("outcome", "template", "version", "errors"),
    "request.accepted": ("submission_ids",),
    "contact.bounced": ("email",),
    "request.approved": ("stage",),
}


@dataclass(frozen=True)
class HistoryLine:
    at: datetime
    actor: str
    kind: str
    campaign: str | None
    reason: str | None
    data: dict[str, Any]

    @property
    def summary(self) -> str:
        keys = _SUMMARY.get(self.kind, tuple(self.data)[:4])
        return ", ".join(f"{key}={self.data[key]}" for key in keys
                         if self.data.get(key) not in (None, "", [], {}))


def supplier_history(session: Session, code: str) -> tuple[Supplier, list[HistoryLine]]:
    supplier = find_supplier(session, code)
    request_ids = list(session.exec(select(Request.id)
                                    .where(Request.supplier_id == supplier.id)).all())
    names = {c.id: c.name for c in session.exec(select(Campaign)).all()}
    events = session.exec(
        select(Event).where(or_(col(Event.supplier_id) == supplier.id,
                                col(Event.request_id).in_(request_ids)))
        .order_by(col(Event.at), col(Event.id))).all()
    return supplier, [HistoryLine(e.at, e.actor, e.kind, names.get(e.campaign_id),
                                  e.reason, dict(e.data)) for e in events]
