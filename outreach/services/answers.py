"""Answers to a supplier's reply, queued in the outbox in the caller's transaction.

Receipt (with or without warnings), correction request, or "please send the real workbook":
rendered from the templates in the supplier's language, addressed to whoever wrote to us,
threaded under the request's first message, and queued ahead of ladder mail
(``ANSWER_PRIORITY``). The idempotency key names what is answered (a submission, or an
inbound message), so processing a reply twice never answers it twice. Delivery exempts
answers from the per-contact gap (``services.delivery.ANSWER_KINDS``).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import structlog
from sqlmodel import Session, select

from outreach.core.clock import Clock, local_date
from outreach.db.audit import record_event
from outreach.db.models import Campaign, OutboundMessage, Request, Submission, Supplier
from outreach.mail.compose import message_id_for, plus_address
from outreach.mail.template_context import message_context
from outreach.mail.template_store import TemplateStore
from outreach.services.outbox import thread_root
from outreach.settings import Settings

log = structlog.get_logger(__name__)

#: answers go before digests and ladder mail (lower goes first)
ANSWER_PRIORITY = 10

#: the template answering each verdict
ANSWER_FOR_OUTCOME = {
    "accepted": "receipt",
    "accepted_with_warnings": "receipt_with_warnings",
    "rejected": "correction",
    "unreadable": "unreadable",
}


@dataclass(frozen=True)
class Recipient:
    email: str
    name: str | None = None


def queue_answer(session: Session, clock: Clock, settings: Settings, store: TemplateStore, *,
                 request: Request, kind: str, to: Recipient, key: str, actor: str,
                 submission: Submission | None = None,
                 findings: Iterable[Any] = ()) -> str | None:
    """Queue one answer; the Message-ID, or None when this key was answered already."""
    if session.exec(select(OutboundMessage.id)
                    .where(OutboundMessage.idempotency_key == key)).first() is not None:
        return None
    campaign = session.get(Campaign, request.campaign_id)
    supplier = session.get(Supplier, request.supplier_id)
    assert campaign is not None and supplier is not None and request.id is not None
    now = clock.now()
    context = message_context(
        supplier=supplier, contact=to, campaign=campaign, request=request,
        company=settings.company, from_address=settings.mail.from_address,
        today=local_date(clock, settings.campaign.time_zone), submission=submission,
        findings=findings)
    rendered = store.render(kind, supplier.language, context)
    message_id = message_id_for(key, settings.mail.from_address.rpartition("@")[2])
    session.add(OutboundMessage(
        request_id=request.id, kind=kind, stage=None, repeat=0, idempotency_key=key,
        message_id=message_id, from_address=str(settings.mail.from_address),
        reply_to=plus_address(settings.mail.from_address, request.reply_token),
        in_reply_to=thread_root(session, request), to_addresses=[to.email],
        cc_addresses=[], subject=rendered.subject, body_text=rendered.text,
        body_html=rendered.html, template_hash=rendered.template_hash, status="queued",
        priority=ANSWER_PRIORITY, attempts=0, next_attempt_at=now, created_at=now))
    record_event(session, clock, actor=actor, kind="message.queued",
                 reason=f"answer: {kind}", campaign_id=request.campaign_id,
                 supplier_id=request.supplier_id, request_id=request.id, kind_of=kind,
                 message_id=message_id, to=[to.email], template_hash=rendered.template_hash,
                 submission_id=submission.id if submission else None)
    log.info("answer.queued", request=request.id, kind=kind, to=to.email,
             message_id=message_id)
    return message_id
