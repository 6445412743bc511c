"""Deciding: for every request whose time has come, ask ``decide()`` and do what it says.

One transaction per request: the rendered message goes into the outbox (``queued``), the
request moves to the stage, and the audit event is written — all or nothing. The outbound
row's idempotency key is (request, stage, repeat), unique in the database, and its
Message-ID is derived from that key: a doubled or misfired tick can never decide the same
send twice. Delivery (``services.delivery``) sends what is queued, later, with no
transaction open across the network.

What a decision becomes:

* ``Send``: render the stage's template in the supplier's language, address it by the
  stage's roles (contacts that have not bounced; our own compliance mailbox and the
  supplier's buyer where the stage says so), attach the blank template where the stage
  says so, queue it; the request records the stage as sent now (delivery moves the time to
  the real send).
* ``AwaitApproval``: ``Request.awaiting_approval`` names the stage; nothing is sent until
  ``outreach approve``.
* ``HandOver``: the request is handed over to procurement; no e-mail.
* A supplier without any usable address for the stage: nothing is queued, an event says
  why, and the request is looked at again a day later (after a supplier re-import).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import timedelta
from email.utils import parseaddr

import structlog
from sqlalchemy import insert
from sqlmodel import Session, col, select

from outreach.core.clock import Clock, local_date
from outreach.core.decide import AwaitApproval, HandOver, RequestView, Send, StageSent, decide
from outreach.core.enums import CampaignState, ContactRole, ContactStatus, RequestState
from outreach.core.ladder import Ladder, LadderStage
from outreach.db.audit import record_events
from outreach.db.models import Approval, Campaign, Contact, OutboundMessage, Request, Supplier
from outreach.mail.blank_template import BlankTemplate, blank_template
from outreach.mail.compose import message_id_for, plus_address, unique_addresses
from outreach.mail.template_context import message_context
from outreach.mail.template_store import TemplateStore
from outreach.services.approvals import approved_stages
from outreach.services.blobs import put_blob
from outreach.settings import Settings

log = structlog.get_logger(__name__)

ACTOR = "system:scheduler"
NO_ADDRESS_RETRY = timedelta(days=1)
#: a request whose stage is still queued is looked at again this much later (or at its send)
UNSENT_RECHECK = timedelta(hours=6)
#: ladder messages go after answers to suppliers and digests (lower goes first)
LADDER_PRIORITY = 100


@dataclass
class PlanReport:
    queued: int = 0
    awaiting_approval: int = 0
    handed_over: int = 0
    replanned: int = 0
    no_address: int = 0

    def add(self, other: PlanReport) -> None:
        self.queued += other.queued
        self.awaiting_approval += other.awaiting_approval
        self.handed_over += other.handed_over
        self.replanned += other.replanned
        self.no_address += other.no_address


@dataclass
class PlanCache:
    """What a tick reads for a batch of due requests, loaded in a few queries instead of a
    few per request (20,000 requests with 2,000 due: see bench/bench_tick.py)."""

    requests: dict[int, Request] = field(default_factory=dict)
    campaigns: dict[int, Campaign] = field(default_factory=dict)
    ladders: dict[int, Ladder] = field(default_factory=dict)
    suppliers: dict[int, Supplier] = field(default_factory=dict)
    contacts: dict[int, list[Contact]] = field(default_factory=dict)
    approvals: dict[int, set[str]] = field(default_factory=dict)
    #: requests whose current stage is still in the outbox: nothing further until it left
    unsent: set[int] = field(default_factory=set)
    stored_blobs: set[str] = field(default_factory=set)
    blanks: dict[str, BlankTemplate] = field(default_factory=dict)
    #: rows decided in this batch, written with one INSERT each by ``write``
    outbound: list[dict[str, object]] = field(default_factory=list)
    events: list[dict[str, object]] = field(default_factory=list)

    def blank(self, family: str) -> BlankTemplate:
        if family not in self.blanks:
            self.blanks[family] = blank_template(family)
        return self.blanks[family]

    def write(self, session: Session, clock: Clock) -> None:
        if self.outbound:
            session.execute(insert(OutboundMessage), self.outbound)
        record_events(session, clock, self.events)
        self.outbound, self.events = [], []

    @classmethod
    def load(cls, session: Session, request_ids: list[int]) -> PlanCache:
        cache = cls()
        query = select(Request).where(col(Request.id).in_(request_ids))
        if session.get_bind().dialect.name == "postgresql":
            query = query.with_for_update(skip_locked=True)  # another service has the rest
        cache.requests = {r.id: r for r in session.exec(query).all() if r.id is not None}
        campaign_ids = {r.campaign_id for r in cache.requests.values()}
        supplier_ids = {r.supplier_id for r in cache.requests.values()}
        for campaign in session.exec(select(Campaign)
                                     .where(col(Campaign.id).in_(campaign_ids))).all():
            assert campaign.id is not None
            cache.campaigns[campaign.id] = campaign
            if campaign.ladder is not None:
                cache.ladders[campaign.id] = Ladder.model_validate(campaign.ladder)
        cache.suppliers = {s.id: s for s in session.exec(
            select(Supplier).where(col(Supplier.id).in_(supplier_ids))).all()
            if s.id is not None}
        for contact in session.exec(select(Contact).where(col(Contact.supplier_id)
                                                          .in_(supplier_ids))
                                    .order_by(col(Contact.id))).all():
            cache.contacts.setdefault(contact.supplier_id, []).append(contact)
        for request_id, stage, repeat in session.exec(
                select(OutboundMessage.request_id, OutboundMessage.stage,
                       OutboundMessage.repeat)
                .where(col(OutboundMessage.request_id).in_(list(cache.requests)))
                .where(OutboundMessage.status == "queued")).all():
            request = cache.requests.get(request_id or 0)
            if request is not None and (request.stage, request.stage_repeat) == (stage, repeat):
                cache.unsent.add(request.id or 0)
        for request_id, stage in session.exec(
                select(Approval.request_id, Approval.stage)
                .where(col(Approval.request_id).in_(list(cache.requests)))).all():
            cache.approvals.setdefault(request_id, set()).add(stage)
        return cache


def due_requests(session: Session, clock: Clock, limit: int) -> list[int]:
    now = clock.now()
    rows = session.exec(
        select(Request.id)
        .join(Campaign, col(Campaign.id) == Request.campaign_id)
        .where(Request.state == RequestState.OPEN)
        .where(Campaign.state == CampaignState.RUNNING)
        .where(col(Request.next_action_at).is_not(None))
        .where(col(Request.next_action_at) <= now)
        .order_by(col(Request.next_action_at), col(Request.id))
        .limit(limit)).all()
    return [r for r in rows if r is not None]


def plan_request(session: Session, clock: Clock, settings: Settings, store: TemplateStore,
                 request_id: int, report: PlanReport, cache: PlanCache | None = None) -> None:
    """Decide one request and act on it inside the caller's transaction (with a ``cache``,
    its rows are written when the caller calls ``cache.write``)."""
    if cache is None:
        cache = PlanCache.load(session, [request_id])
        plan_request(session, clock, settings, store, request_id, report, cache)
        cache.write(session, clock)
        return
    request = cache.requests.get(request_id)
    now = clock.now()
    if request is None or request.state != RequestState.OPEN or (
            request.next_action_at is None or request.next_action_at > now):
        return  # another process got there first
    if request_id in cache.unsent:
        # the stage has not left yet (held by a limit): the next one counts from its real
        # send, which brings this request forward again (``delivery._stage_sent``)
        request.next_action_at = now + UNSENT_RECHECK
        report.replanned += 1
        return
    campaign = cache.campaigns[request.campaign_id]
    supplier = cache.suppliers[request.supplier_id]
    ladder = cache.ladders[request.campaign_id]
    view = request_view(session, request, campaign, supplier, settings,
                        approvals=frozenset(cache.approvals.get(request_id, ())))
    decision = decide(view, ladder, now)
    for action in decision.actions:
        if isinstance(action, Send):
            if not _queue(session, clock, settings, store, request, campaign, supplier,
                          ladder.stage(action.stage), action.repeat, cache):
                report.no_address += 1
                request.next_action_at = now + NO_ADDRESS_RETRY
                return
            report.queued += 1
        elif isinstance(action, AwaitApproval):
            request.awaiting_approval = action.stage
            report.awaiting_approval += 1
            _event(cache, request, "request.awaiting_approval",
                   f"stage {action.stage} waits for `outreach approve`", stage=action.stage)
        elif isinstance(action, HandOver):
            request.state = RequestState.HANDED_OVER
            report.handed_over += 1
            _event(cache, request, "request.handed_over",
                   "the ladder ended without an accepted CMRT: procurement takes over",
                   stage=action.stage)
    if not decision.actions:
        report.replanned += 1
    request.next_action_at = decision.next_action_at
    request.updated_at = now


def request_view(session: Session, request: Request, campaign: Campaign, supplier: Supplier,
                 settings: Settings, *, approvals: frozenset[str] | None = None
                 ) -> RequestView:
    sent = {}
    if request.stage and request.stage_sent_at:
        sent[request.stage] = StageSent(max(request.stage_repeat, 1), request.stage_sent_at)
    assert request.id is not None and campaign.started_at is not None
    return RequestView(
        state=request.state, campaign_started_at=campaign.started_at,
        started_at=request.created_at, due_date=request.due_date, country=supplier.country,
        time_zone=supplier.time_zone or settings.campaign.time_zone, sent=sent,
        paused_until=request.paused_until,
        approvals=approvals if approvals is not None else approved_stages(session, request.id),
        last_rejected_at=request.last_rejected_at)


def _queue(session: Session, clock: Clock, settings: Settings, store: TemplateStore,
           request: Request, campaign: Campaign, supplier: Supplier, stage: LadderStage,
           repeat: int, cache: PlanCache) -> bool:
    assert supplier.id is not None
    contacts = cache.contacts.get(supplier.id, [])
    to = stage_addresses(stage.to, contacts, supplier, settings)
    addressed = {a.lower() for a in to}
    cc = [a for a in stage_addresses(stage.cc, contacts, supplier, settings)
          if a.lower() not in addressed]
    if not to:
        _event(cache, request, "request.no_address",
               f"no usable address for stage {stage.name} (roles {', '.join(stage.to)}): "
               "add or fix the supplier's contacts and re-import", stage=stage.name)
        log.warning("request.no_address", request=request.id, stage=stage.name)
        return False
    now = clock.now()
    # the greeting names the first addressee when that is a contact of the supplier
    primary = next((c for c in contacts if c.email.lower() == to[0].lower()), None)
    if primary is None:
        primary = Contact(supplier_id=supplier.id or 0, role=ContactRole.PRIMARY, name=None,
                          email=to[0])
    blank = cache.blank(str(campaign.template_family)) if stage.attach_blank_template else None
    attachment_name = blank.filename_for(supplier.code) if blank else None
    context = message_context(
        supplier=supplier, contact=primary, campaign=campaign, request=request,
        company=settings.company, from_address=settings.mail.from_address,
        today=local_date(clock, settings.campaign.time_zone), stage=stage.name, repeat=repeat,
        attachment_name=attachment_name)
    assert stage.template is not None
    rendered = store.render(stage.template, supplier.language, context)
    domain = settings.mail.from_address.rpartition("@")[2]
    key = f"request:{request.id}:{stage.name}:{repeat}"
    root = thread_root(session, request) if request.stage is not None else None
    message_id = message_id_for(key, domain)
    cache.outbound.append(dict(
        request_id=request.id, kind=stage.template, stage=stage.name, repeat=repeat,
        idempotency_key=key, message_id=message_id,
        from_address=str(settings.mail.from_address),
        reply_to=plus_address(settings.mail.from_address, request.reply_token),
        in_reply_to=root, to_addresses=to, cc_addresses=cc, subject=rendered.subject,
        body_text=rendered.text, body_html=rendered.html,
        attachment_sha256=_stored(settings, blank, cache) if blank else None,
        attachment_name=attachment_name, template_hash=rendered.template_hash,
        status="queued", priority=LADDER_PRIORITY, attempts=0, next_attempt_at=now,
        created_at=now))
    request.stage, request.stage_repeat, request.stage_sent_at = stage.name, repeat, now
    request.awaiting_approval = None
    _event(cache, request, "message.queued", f"stage {stage.name} ({repeat})",
           stage=stage.name, repeat=repeat, message_id=message_id, to=to, cc=cc,
           template_hash=rendered.template_hash)
    return True


def _stored(settings: Settings, blank: BlankTemplate, cache: PlanCache) -> str:
    if blank.sha256 not in cache.stored_blobs:
        put_blob(settings.attachments_dir, blank.data, blank.sha256)
        cache.stored_blobs.add(blank.sha256)
    return blank.sha256


def thread_root(session: Session, request: Request) -> str | None:
    """The first message this request got: every later stage threads under it."""
    return session.exec(select(OutboundMessage.message_id)
                        .where(OutboundMessage.request_id == request.id)
                        .order_by(col(OutboundMessage.id)).limit(1)).first()


def our_addresses(settings: Settings) -> frozenset[str]:
    """Our own people's addresses (compliance, the senior officer, the contact person, the
    sending mailbox), lower-case. The per-contact limits protect suppliers, not us: a copy
    to our senior officer must not hold the next supplier's notice for three days."""
    return frozenset(str(a).lower() for a in (
        settings.mail.from_address, settings.mail.compliance_address,
        settings.company.senior_officer.email, settings.company.contact.email))


def supplier_recipients(addresses: Iterable[str], settings: Settings) -> list[str]:
    """The addresses the per-contact limits apply to: all but ``our_addresses``."""
    ours = our_addresses(settings)
    return [a for a in addresses if a.lower() not in ours]


def stage_addresses(roles: tuple[str, ...], contacts: list[Contact], supplier: Supplier,
                    settings: Settings) -> list[str]:
    return unique_addresses(*(_role_addresses(role, contacts, supplier, settings)
                              for role in roles))


def _role_addresses(role: str, contacts: list[Contact], supplier: Supplier,
                    settings: Settings) -> list[str]:
    if role == "compliance":
        return [str(settings.mail.compliance_address)]
    if role == "our_senior_officer":
        return [str(settings.company.senior_officer.email)]
    if role == "buyer":
        address = parseaddr(supplier.buyer or "")[1]
        return [address] if "@" in address else []
    return [c.email for c in contacts
            if c.role == ContactRole(role) and c.status == ContactStatus.ACTIVE and c.email]


def _event(cache: PlanCache, request: Request, kind: str, reason: str, **data: object) -> None:
    cache.events.append({"actor": ACTOR, "kind": kind, "reason": reason,
                         "campaign_id": request.campaign_id,
                         "supplier_id": request.supplier_id, "request_id": request.id,
                         "data": data})
