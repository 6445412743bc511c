"""The status digest compliance reads: build it, render it, queue it once, send it on time.

* ``build_digest_context(session, clock, settings, campaign, ...)``: every section as plain
  data (the template context, documented in docs/digest.md);
* ``compose_digest(settings, templates, context, key=)``: the rendered templates and the
  chart as one MIME message (``mail.digest_message``);
* ``send_due_digests(sessions, clock, settings, templates)``: the scheduler's ``digest``
  job. Each due row is claimed with a compare-and-swap (status due→sent) in the same
  transaction that queues its outbound message (kind ``digest``, priority 50, idempotency
  key ``digest:<campaign id>:<period>``, the composed bytes stored as a blob and referenced
  by ``raw_sha256``): however many processes run, a period is sent once. At 100% coverage a
  one-time "coverage complete" digest goes out (period ``complete``);
* ``send_digest_now`` (``outreach digest --send``) and ``preview_digest``
  (``outreach digest --preview FILE``).
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage
from typing import Any
from zoneinfo import ZoneInfo

import structlog
from sqlalchemy import func, update
from sqlalchemy.orm import sessionmaker
from sqlmodel import Session, col, select

from outreach.core.clock import Clock
from outreach.core.coverage import change
from outreach.core.enums import ContactStatus, RequestState
from outreach.db.audit import record_event
from outreach.db.engine import write_transaction
from outreach.db.models import (
    Campaign,
    Contact,
    DeliveryState,
    Digest,
    InboundMessage,
    OutboundMessage,
    Request,
    Submission,
    SubmissionSmelter,
    Supplier,
)
from outreach.errors import InvalidState
from outreach.mail.compose import Mailbox, message_id_for
from outreach.mail.digest_chart import coverage_chart_png
from outreach.mail.digest_message import chart_content_id, compose_digest_message
from outreach.mail.template_context import company_info
from outreach.mail.templates import Rendered
from outreach.services.approvals import pending_approvals
from outreach.services.blobs import put_blob
from outreach.services.coverage import CampaignCoverage, campaign_coverage
from outreach.services.digest_due import (
    COMPLETE_PERIOD,
    DIGEST_STATES,
    DUE,
    SENT,
    SKIPPED,
    due_digests,
    ensure_next_digest,
)
from outreach.settings import Settings

log = structlog.get_logger(__name__)

DIGEST_KIND = "digest"
#: between answers to suppliers (10) and ladder mail (100)
DIGEST_PRIORITY = 50
SYSTEM = "system:digest"
#: rows per section; the digest says how many more there are
MAX_ROWS = 50
REJECTED_OUTCOMES = ("rejected", "unreadable")
TOP_FINDINGS = 3


def digest_key(campaign_id: int, period: str) -> str:
    return f"digest:{campaign_id}:{period}"


def recipients(settings: Settings) -> list[str]:
    return [str(a) for a in settings.digest.recipients] or [str(settings.mail.compliance_address)]


# --------------------------------------------------------------------------- building


def _section(rows: list[dict[str, Any]], total: int | None = None) -> dict[str, Any]:
    return {"rows": rows[:MAX_ROWS], "total": len(rows) if total is None else total}


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{value * 100:.1f}%"


def build_digest_context(session: Session, clock: Clock, settings: Settings,
                         campaign: Campaign, *, period: str, since: datetime | None = None,
                         previous: dict[str, Any] | None = None, complete: bool = False,
                         key: str | None = None) -> dict[str, Any]:
    """Everything the digest shows for ``campaign`` (the template context). ``since``: the
    previous digest's time (default: the campaign's start); ``previous``: its figures."""
    assert campaign.id is not None
    tz = settings.campaign.time_zone
    now = clock.now()
    today = now.astimezone(ZoneInfo(tz)).date()
    since = since or campaign.started_at or campaign.created_at
    coverage = campaign_coverage(session, campaign, today=today, tz=tz)
    figures = {**coverage.figures(), "period": period}
    domain = str(settings.mail.from_address).rsplit("@", 1)[-1]
    ctx: dict[str, Any] = {
        "company": company_info(settings.company),
        "campaign": {"name": campaign.name, "reporting_year": campaign.reporting_year,
                     "due_date": campaign.due_date, "family": str(campaign.template_family),
                     "state": str(campaign.state)},
        "period": period, "generated_at": now, "since": since, "complete": complete,
        "chart_cid": chart_content_id(key or digest_key(campaign.id, period), domain),
        "coverage": _coverage_section(coverage, previous, figures),
        "figures": figures,
    }
    ctx.update(_activity(session, campaign, since))
    ctx["awaiting_approval"] = _section([
        {"code": p.supplier.code, "name": p.supplier.name, "stage": p.stage,
         "since": p.request.updated_at} for p in pending_approvals(session, campaign.id)])
    ctx["upcoming"] = _upcoming(session, clock, settings, campaign)
    ctx.update(_problems(session, campaign))
    ctx["_series"] = coverage.series
    ctx["_projected"] = coverage.projection.complete_on
    return ctx


def _coverage_section(coverage: CampaignCoverage, previous: dict[str, Any] | None,
                      figures: dict[str, Any]) -> dict[str, Any]:
    moved = change(previous, figures)
    return {
        "in_scope": coverage.in_scope, "accepted": coverage.accepted,
        "responded": coverage.responded, "requests": coverage.requests,
        "coverage": _pct(coverage.coverage), "responded_pct": _pct(coverage.responded_ratio),
        "complete": coverage.complete, "change": moved,
        "rate_per_week": round(coverage.projection.rate_per_day * 7, 1),
        "projected": coverage.projection.complete_on,
        "exempt": [{"code": e.code, "name": e.name, "reason": e.reason or "(no reason)"}
                   for e in coverage.exempt],
        "by_stage": [{"key": g.key, "in_scope": g.in_scope, "accepted": g.accepted,
                      "responded": g.responded, "coverage": _pct(g.coverage)}
                     for g in coverage.by_stage],
        "by_country": [{"key": g.key, "in_scope": g.in_scope, "accepted": g.accepted,
                        "responded": g.responded, "coverage": _pct(g.coverage)}
                       for g in coverage.by_country][:MAX_ROWS],
        "by_metal": [m.as_json() for m in coverage.by_metal],
    }


def _activity(session: Session, campaign: Campaign, since: datetime) -> dict[str, Any]:
    base = (select(Request, Supplier).join(Supplier, col(Supplier.id) == Request.supplier_id)
            .where(Request.campaign_id == campaign.id))
    accepted = session.exec(base.where(Request.state == RequestState.ACCEPTED)
                            .where(col(Request.accepted_at) >= since)
                            .order_by(col(Request.accepted_at), Supplier.code)).all()
    handed = session.exec(base.where(Request.state == RequestState.HANDED_OVER)
                          .order_by(Supplier.code)).all()
    rejected = session.exec(
        select(Submission, Supplier).join(Request, col(Request.id) == Submission.request_id)
        .join(Supplier, col(Supplier.id) == Request.supplier_id)
        .where(Request.campaign_id == campaign.id)
        .where(col(Submission.outcome).in_(REJECTED_OUTCOMES))
        .where(col(Submission.duplicate_of).is_(None))
        .where(Submission.received_at >= since)
        .order_by(col(Submission.received_at), col(Submission.id))).all()
    return {
        "accepted": _section([{"code": s.code, "name": s.name, "at": r.accepted_at}
                              for r, s in accepted]),
        "rejected": _section([{"code": s.code, "name": s.name, "at": sub.received_at,
                               "filename": sub.filename, "outcome": sub.outcome,
                               "findings": _top_findings(sub.findings)}
                              for sub, s in rejected]),
        "handed_over": _section([{"code": s.code, "name": s.name, "at": r.updated_at,
                                  "new": r.updated_at >= since} for r, s in handed]),
    }


def _top_findings(findings: list[dict[str, Any]]) -> list[dict[str, Any]]:
    order = {"error": 0, "warning": 1, "info": 2}
    ranked = sorted(findings, key=lambda f: order.get(str(f.get("severity")), 3))
    top = []
    for f in ranked[:TOP_FINDINGS]:
        message = str(f.get("message", ""))
        where = " ".join(str(x) for x in (f.get("sheet"), f.get("cell")) if x)
        top.append({"code": f.get("code", ""), "severity": f.get("severity", ""),
                    "where": "" if where in message else where, "message": message})
    return top


def _upcoming(session: Session, clock: Clock, settings: Settings,
              campaign: Campaign) -> dict[str, Any]:
    from outreach.services.schedule import simulate

    try:
        schedule = simulate(session, clock, settings, campaign,
                            days=settings.digest.upcoming_days)
    except InvalidState as exc:
        return {**_section([]), "note": str(exc)}
    names = dict(session.exec(select(Supplier.code, Supplier.name)
                              .where(col(Supplier.code).in_(sorted(schedule.suppliers)))).all())
    stages = {s.name for s in schedule.ladder.stages}  # not the answers waiting in the outbox
    rows = [{"at": r.at, "code": r.supplier_code, "name": names.get(r.supplier_code, ""),
             "stage": r.stage, "kind": r.kind, "to": ", ".join((*r.to, *r.cc)), "note": r.note}
            for r in schedule.rows if r.at <= schedule.until and r.stage in stages]
    return {**_section(rows), "note": None, "days": settings.digest.upcoming_days}


def _nonempty_json_list(session: Session, column: Any) -> Any:
    if session.get_bind().dialect.name == "postgresql":
        return func.jsonb_array_length(column) > 0
    return func.json_array_length(column) > 0


def _problems(session: Session, campaign: Campaign) -> dict[str, Any]:
    flagged = session.exec(
        select(SubmissionSmelter, Supplier)
        .join(Submission, col(Submission.id) == SubmissionSmelter.submission_id)
        .join(Request, col(Request.id) == Submission.request_id)
        .join(Supplier, col(Supplier.id) == Request.supplier_id)
        .where(Request.campaign_id == campaign.id)
        .where(_nonempty_json_list(session, SubmissionSmelter.red_flags))
        .order_by(col(SubmissionSmelter.cid), Supplier.code)).all()
    smelters: dict[str, dict[str, Any]] = {}
    for row, supplier in flagged:
        key = row.cid or f"{row.name}|{row.country}"
        entry = smelters.setdefault(key, {"cid": row.cid or "", "name": row.name or "",
                                          "metal": row.metal or "", "country": row.country or "",
                                          "flags": [], "suppliers": []})
        entry["flags"] = sorted(set(entry["flags"]) | set(row.red_flags))
        if supplier.code not in entry["suppliers"]:
            entry["suppliers"].append(supplier.code)
    red = [{**e, "flags": ", ".join(e["flags"]), "suppliers": ", ".join(e["suppliers"])}
           for e in smelters.values()]
    quarantined = session.exec(
        select(InboundMessage).where(InboundMessage.status.in_(  # type: ignore[attr-defined]
            ("quarantined", "failed", "attention")))
        .where(col(InboundMessage.reviewed_at).is_(None))
        .order_by(col(InboundMessage.received_at))).all()
    bounced = session.exec(
        select(Contact, Supplier).join(Supplier, col(Supplier.id) == Contact.supplier_id)
        .join(Request, col(Request.supplier_id) == Supplier.id)
        .where(Request.campaign_id == campaign.id)
        .where(Contact.status == ContactStatus.BOUNCED)
        .order_by(Supplier.code, Contact.email)).all()
    failed = session.exec(
        select(OutboundMessage, Supplier)
        .join(Request, col(Request.id) == OutboundMessage.request_id, isouter=True)
        .join(Supplier, col(Supplier.id) == Request.supplier_id, isouter=True)
        .where(col(OutboundMessage.status).in_(("failed", "uncertain")))
        .where((Request.campaign_id == campaign.id) | col(OutboundMessage.request_id).is_(None))
        .order_by(col(OutboundMessage.id))).all()
    state = session.get(DeliveryState, 1)
    return {
        "red_flags": _section(red),
        "quarantined": _section([{"id": m.id, "at": m.received_at, "status": m.status,
                                  "sender": m.from_address or "", "subject": m.subject or "",
                                  "note": m.note or m.error or ""} for m in quarantined]),
        "bounced": _section([{"code": s.code, "email": c.email, "role": str(c.role),
                              "at": c.bounced_at or c.updated_at} for c, s in bounced]),
        "failed": _section([{"id": m.id, "kind": m.kind, "status": m.status,
                             "code": s.code if s is not None else "",
                             "to": ", ".join(m.to_addresses),
                             "error": m.last_error or ""} for m, s in failed]),
        "delivery_paused": state.reason or "paused" if state is not None and state.paused
        else None,
    }


# --------------------------------------------------------------------------- composing


@dataclass(frozen=True)
class ComposedDigest:
    rendered: Rendered
    png: bytes
    message: EmailMessage
    content_id: str

    @property
    def raw(self) -> bytes:
        return self.message.as_bytes()

    def html_with_inline_image(self) -> str:
        """The HTML with the chart as a data: URI (for a browser, not for mail)."""
        assert self.rendered.html is not None
        data = base64.b64encode(self.png).decode("ascii")
        return self.rendered.html.replace(f"cid:{self.content_id}",
                                          f"data:image/png;base64,{data}")


def template_values(context: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in context.items() if not k.startswith("_")}


def compose_digest(settings: Settings, templates: Any, context: dict[str, Any], *,
                   message_id: str) -> ComposedDigest:
    rendered = templates.render(DIGEST_KIND, None, template_values(context))
    if rendered.html is None:
        raise InvalidState("templates/email/digest/ has no body.html: the digest needs it")
    campaign = context["campaign"]
    png = coverage_chart_png(context.get("_series", []), due_date=campaign["due_date"],
                             projected=context.get("_projected"),
                             title=f"{campaign['name']}: coverage")
    message = compose_digest_message(
        sender=Mailbox(str(settings.mail.from_address), settings.mail.from_name),
        to=[Mailbox(a) for a in recipients(settings)], subject=rendered.subject,
        text=rendered.text, html=rendered.html, png=png, content_id=context["chart_cid"],
        message_id=message_id, date=context["generated_at"])
    return ComposedDigest(rendered, png, message, context["chart_cid"])


def _queue(session: Session, clock: Clock, settings: Settings, templates: Any,
           campaign: Campaign, digest: Digest, *, complete: bool = False) -> OutboundMessage:
    """Build, compose, store and queue the digest of ``digest`` (a row this transaction
    holds as sent); record its figures."""
    assert campaign.id is not None and digest.id is not None
    key = digest_key(campaign.id, digest.period)
    previous = session.exec(select(Digest).where(Digest.campaign_id == campaign.id)
                            .where(Digest.status == SENT).where(Digest.id != digest.id)
                            .order_by(col(Digest.sent_at).desc(), col(Digest.id).desc())
                            ).first()
    context = build_digest_context(
        session, clock, settings, campaign, period=digest.period, key=key,
        since=previous.sent_at if previous is not None else None,
        previous=previous.figures if previous is not None else None, complete=complete)
    domain = str(settings.mail.from_address).rsplit("@", 1)[-1]
    message_id = message_id_for(key, domain)
    composed = compose_digest(settings, templates, context, message_id=message_id)
    raw = composed.raw
    sha = put_blob(settings.attachments_dir, raw)
    now = clock.now()
    outbound = OutboundMessage(
        request_id=None, kind=DIGEST_KIND, stage=None, repeat=0, idempotency_key=key,
        message_id=message_id, from_address=str(settings.mail.from_address),
        to_addresses=recipients(settings), cc_addresses=[],
        subject=composed.rendered.subject, body_text=composed.rendered.text,
        body_html=composed.rendered.html, template_hash=composed.rendered.template_hash,
        raw_sha256=sha, status="queued", priority=DIGEST_PRIORITY, attempts=0,
        next_attempt_at=now, created_at=now)
    session.add(outbound)
    session.flush()
    digest.outbound_id, digest.figures, digest.sent_at = outbound.id, context["figures"], now
    record_event(session, clock, actor=SYSTEM, kind="digest.queued", campaign_id=campaign.id,
                 period=digest.period, outbound_id=outbound.id,
                 coverage=context["figures"]["coverage"])
    log.info("digest.queued", campaign=campaign.id, period=digest.period, outbound=outbound.id)
    return outbound


def claim_digest(session: Session, clock: Clock, digest_id: int) -> bool:
    """Compare-and-swap due→sent; True when this transaction won the row."""
    won = session.exec(update(Digest)  # type: ignore[call-overload]
                       .where(Digest.id == digest_id).where(Digest.status == DUE)
                       .values(status=SENT, sent_at=clock.now())
                       .execution_options(synchronize_session=False))
    return bool(won.rowcount)


@dataclass
class DigestReport:
    sent: int = 0
    skipped: int = 0
    complete: int = 0
    planned: int = 0

    def as_dict(self) -> dict[str, int]:
        return {"sent": self.sent, "skipped": self.skipped, "complete": self.complete,
                "planned": self.planned}


def send_due_digests(sessions: sessionmaker[Session], clock: Clock, settings: Settings,
                     templates: Any) -> DigestReport:
    """The ``digest`` job: plan the next row per campaign, queue every due digest once, and
    the one-time "coverage complete" notice. Delivery sends them (they are outbox rows)."""
    report = DigestReport()
    tz = settings.campaign.time_zone
    with write_transaction(sessions) as session:
        campaigns = list(session.exec(select(Campaign).where(
            col(Campaign.state).in_([str(s) for s in DIGEST_STATES]))).all())
        campaign_ids = [c.id for c in campaigns]
        for campaign in campaigns:
            before = session.exec(select(func.count()).select_from(Digest)
                                  .where(Digest.campaign_id == campaign.id)).one()
            ensure_next_digest(session, clock, campaign, settings.digest, tz)
            after = session.exec(select(func.count()).select_from(Digest)
                                 .where(Digest.campaign_id == campaign.id)).one()
            report.planned += after - before
        due = due_digests(session, clock)
    for digest_id in due:
        with write_transaction(sessions) as session:
            digest = session.get(Digest, digest_id)
            if digest is None or digest.status != DUE:
                continue
            campaign = session.get(Campaign, digest.campaign_id)
            if campaign is None or campaign.state not in DIGEST_STATES:
                session.exec(update(Digest)  # type: ignore[call-overload]
                             .where(Digest.id == digest_id).where(Digest.status == DUE)
                             .values(status=SKIPPED))
                report.skipped += 1
                continue
            if not claim_digest(session, clock, digest_id):
                continue  # another process took it
            session.refresh(digest)
            _queue(session, clock, settings, templates, campaign, digest)
            report.sent += 1
            ensure_next_digest(session, clock, campaign, settings.digest, tz)
    for campaign_id in campaign_ids:
        with write_transaction(sessions) as session:
            campaign = session.get(Campaign, campaign_id)
            if campaign is not None and notify_complete(session, clock, settings, templates,
                                                        campaign):
                report.complete += 1
    return report


def notify_complete(session: Session, clock: Clock, settings: Settings, templates: Any,
                    campaign: Campaign) -> OutboundMessage | None:
    """At 100% coverage, once per campaign: the digest with the "coverage complete" subject
    (period ``complete``; the unique (campaign, period) makes it once)."""
    from sqlalchemy.exc import IntegrityError

    assert campaign.id is not None
    if session.exec(select(Digest.id).where(Digest.campaign_id == campaign.id)
                    .where(Digest.period == COMPLETE_PERIOD)).first() is not None:
        return None
    counts = dict(session.exec(select(Request.state, func.count())
                               .where(Request.campaign_id == campaign.id)
                               .group_by(Request.state)).all())
    in_scope = sum(counts.values()) - counts.get(RequestState.EXEMPT, 0)
    if not in_scope or counts.get(RequestState.ACCEPTED, 0) < in_scope:
        return None
    now = clock.now()
    row = Digest(campaign_id=campaign.id, period=COMPLETE_PERIOD, due_at=now, status=SENT,
                 created_at=now, sent_at=now)
    try:
        with session.begin_nested():
            session.add(row)
    except IntegrityError:
        return None  # another process sent it
    outbound = _queue(session, clock, settings, templates, campaign, row, complete=True)
    record_event(session, clock, actor=SYSTEM, kind="campaign.coverage_complete",
                 campaign_id=campaign.id, reason="every supplier in scope has an accepted "
                 "CMRT: escalation has stopped")
    return outbound


def send_digest_now(sessions: sessionmaker[Session], clock: Clock, settings: Settings,
                    templates: Any, campaign: Campaign) -> OutboundMessage:
    """``outreach digest --send``: a digest now, outside the schedule (period
    ``now-YYYYmmddHHMM``: twice in one minute is one digest)."""
    with write_transaction(sessions) as session:
        fresh = session.get(Campaign, campaign.id)
        assert fresh is not None and fresh.id is not None
        now = clock.now()
        period = f"now-{now:%Y%m%d%H%M}"
        existing = session.exec(select(Digest).where(Digest.campaign_id == fresh.id)
                                .where(Digest.period == period)).first()
        if existing is not None and existing.outbound_id is not None:
            found = session.get(OutboundMessage, existing.outbound_id)
            assert found is not None
            return found
        row = Digest(campaign_id=fresh.id, period=period, due_at=now, status=SENT,
                     created_at=now, sent_at=now)
        session.add(row)
        session.flush()
        outbound = _queue(session, clock, settings, templates, fresh, row)
        session.flush()
        session.expunge(outbound)
        return outbound


def preview_digest(session: Session, clock: Clock, settings: Settings, templates: Any,
                   campaign: Campaign) -> ComposedDigest:
    """The digest as it would go out now (nothing is written)."""
    assert campaign.id is not None
    previous = session.exec(select(Digest).where(Digest.campaign_id == campaign.id)
                            .where(Digest.status == SENT)
                            .order_by(col(Digest.sent_at).desc())).first()
    key = digest_key(campaign.id, "preview")
    context = build_digest_context(
        session, clock, settings, campaign, period="preview", key=key,
        since=previous.sent_at if previous else None,
        previous=previous.figures if previous else None)
    domain = str(settings.mail.from_address).rsplit("@", 1)[-1]
    return compose_digest(settings, templates, context,
                          message_id=message_id_for(f"{key}:{clock.now().isoformat()}", domain))


def next_digest_times(session: Session) -> dict[int, datetime]:
    """Campaign id → when its next scheduled digest is due (for ``outreach status``)."""
    return dict(session.exec(select(Digest.campaign_id, func.min(Digest.due_at))
                             .where(Digest.status == DUE)
                             .group_by(Digest.campaign_id)).all())


__all__ = ["DIGEST_KIND", "DIGEST_PRIORITY", "ComposedDigest", "DigestReport",
           "build_digest_context", "claim_digest", "compose_digest", "digest_key",
           "next_digest_times", "notify_complete", "preview_digest", "send_digest_now",
           "send_due_digests"]
