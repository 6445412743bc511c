"""Intake: one inbound mail from recorded to answered, exactly once.

``record`` writes the mail's identity (account, folder, UIDVALIDITY, UID: unique) before
anything else happens; ``process`` then reads it in three steps, so no transaction is
open while a workbook is being validated:

1. pure: parse, classify (bounce · auto-reply · supplier reply), open the attachments;
2. reads: is it a duplicate (same bytes or Message-ID + attachments under another
   identity)? which request does it answer (``core.match``), and may its sender answer it?
   then each workbook is validated with the campaign's context;
3. one write transaction, guarded by the message's status (compare-and-swap): the
   message's outcome, every file stored as a submission (content-addressed, readable or
   not), the verdicts and smelter rows, the request's move (accepted ends the ladder; a
   rejection starts the grace period the ladder waits before it goes on), the answer in the
   outbox, contact suggestions, bounced contacts, and the audit events.

Outcomes (``InboundMessage.status``): processed · attention (a question or a link: a person
reads it; nothing pauses) · quarantined (a stranger, or a reference from a foreign domain:
``outreach inbox assign``) · unrelated (not ours: never touched, its bytes not kept) ·
duplicate · failed (processing raised ``max_attempts`` times: ``outreach inbox retry``).
Auto-replies and bounces never count as responses and are never answered.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime

import structlog
from sqlalchemy import func, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import sessionmaker
from sqlmodel import Session, col, select

from outreach.cmrt.validate import ACCEPTED_OUTCOMES, Result, ValidationContext
from outreach.core.clock import Clock, local_date
from outreach.core.enums import CampaignState, ContactRole, ContactStatus, RequestState
from outreach.core.match import Candidate, Matched, MatchResult, NotOurs, Quarantined, match_reply
from outreach.db.audit import record_event
from outreach.db.engine import write_transaction
from outreach.db.models import (
    Campaign,
    Contact,
    ContactSuggestion,
    InboundMessage,
    OutboundMessage,
    RecipientSend,
    Request,
    Submission,
    SubmissionSmelter,
)
from outreach.intake.classify import Classification
from outreach.intake.model import JUDGED_KINDS, Link, MiB, ParsedMessage, ParseLimits
from outreach.intake.parse import parse_message
from outreach.mail.template_store import TemplateStore
from outreach.services.answers import ANSWER_FOR_OUTCOME, Recipient, queue_answer
from outreach.services.blobs import get_blob, put_blob
from outreach.services.intake_evidence import (
    DomainIndex,
    candidate_for,
    gather_evidence,
    threaded_requests,
)
from outreach.services.intake_files import IncomingFile, families, judge, link_findings
from outreach.services.intake_prepare import Prepared, PrepareSettings, prepare
from outreach.services.smelters import SmelterData, load_smelter_context
from outreach.services.validation_context import open_limits, validation_context
from outreach.settings import Settings

log = structlog.get_logger(__name__)

ACTOR = "system:intake"
#: statuses of mail that is ours: the mail action (move / keyword) applies to them
OURS = frozenset({"processed", "attention"})
#: statuses ``process`` may (re)start from; ``inbox assign`` also takes these
PROCESSABLE = frozenset({"received", "failed"})
ASSIGNABLE = frozenset({"quarantined", "unrelated", "attention", "failed", "received"})
_SURVEY_WORDS = ("cmrt", "emrt", "conflict mineral", "reporting template", "3tg")


@dataclass(frozen=True)
class Identity:
    account: str
    folder: str
    uidvalidity: int
    uid: int


@dataclass
class Intake:
    """What processing needs, and what one poll pass loads once and reuses."""

    sessions: sessionmaker[Session]
    clock: Clock
    settings: Settings
    templates: TemplateStore
    _index: DomainIndex | None = field(default=None, repr=False)
    _smelters: SmelterData | None = field(default=None, repr=False)

    def index(self, session: Session) -> DomainIndex:
        if self._index is None:
            self._index = DomainIndex.load(session)
        return self._index

    def smelters(self, session: Session) -> SmelterData:
        if self._smelters is None:
            self._smelters = load_smelter_context(session)
        return self._smelters

    def prepare_settings(self, session: Session) -> PrepareSettings:
        """What ``intake_prepare`` needs, with the context of the one running campaign of
        each template family (a family with several running campaigns is judged after
        matching)."""
        running = session.exec(select(Campaign).where(
            Campaign.state == CampaignState.RUNNING).order_by(col(Campaign.id))).all()
        by_family: dict[str, list[Campaign]] = {}
        for campaign in running:
            by_family.setdefault(str(campaign.template_family), []).append(campaign)
        contexts = {family: (only[0].id or 0, campaign_context(self, session, only[0]))
                    for family, only in by_family.items() if len(only) == 1}
        return PrepareSettings(self.parse_limits, open_limits(self.settings.validation),
                               str(self.settings.mail.from_address), contexts)

    def forget(self) -> None:
        """Drop what was loaded (contacts changed: a bounce, an accepted suggestion)."""
        self._index = None

    @property
    def parse_limits(self) -> ParseLimits:
        return ParseLimits(
            max_message_bytes=int(self.settings.imap.max_message_mb * MiB),
            max_attachment_bytes=int(self.settings.validation.max_file_mb * MiB))


# -- 1. record -----------------------------------------------------------------------------


def record(intake: Intake, identity: Identity, *, raw: bytes | None, size: int,
           internal_date: datetime | None, error: str | None = None) -> int | None:
    """Write the mail's identity; its id, or None when it was recorded before (by us or by
    another process). A mail that could not be downloaded is recorded as failed."""
    now = intake.clock.now()
    headers = parse_message(_header_block(raw), intake.parse_limits) if raw else None
    row = InboundMessage(
        account=identity.account, folder=identity.folder, uidvalidity=identity.uidvalidity,
        uid=identity.uid, received_at=internal_date or now, size=size,
        raw_sha256=hashlib.sha256(raw).hexdigest() if raw is not None else None,
        message_id=headers.message_id[:998] if headers and headers.message_id else None,
        from_address=headers.sender.address[:320] if headers and headers.sender else None,
        subject=headers.subject if headers else None,
        sent_at=headers.date if headers else None,
        status="received" if raw is not None else "failed",
        error=error, attempts=0 if raw is not None else 1)
    try:
        with write_transaction(intake.sessions) as session:
            session.add(row)
            session.flush()
            inbound_id = row.id
    except IntegrityError:
        return None
    if raw is None:
        log.warning("inbound.not_downloaded", inbound=inbound_id, folder=identity.folder,
                    uid=identity.uid, error=error)
    return inbound_id


def _header_block(raw: bytes) -> bytes:
    """The message's header (what ``record`` keeps of it), without parsing the body."""
    ends = [at for at in (raw.find(b"\r\n\r\n"), raw.find(b"\n\n")) if at != -1]
    return raw[:min(ends) + 2] if ends else raw[:256 * 1024]


# -- 2. process ----------------------------------------------------------------------------


@dataclass
class _Plan:
    """What step 3 writes, decided in steps 1 and 2."""

    status: str
    classification: str
    note: str | None = None
    request_id: int | None = None
    supplier_id: int | None = None
    method: str | None = None
    new_sender: bool = False
    duplicate_of: int | None = None
    store_raw: bool = True
    files: list[IncomingFile] = field(default_factory=list)
    results: dict[int, Result] = field(default_factory=dict)
    #: file index → the earlier submission of the request with the same bytes
    earlier: dict[int, Submission] = field(default_factory=dict)
    bounced: list[str] = field(default_factory=list)
    #: the links of a reply that carries no file (answered: please attach it)
    links: tuple[Link, ...] = ()


def process(intake: Intake, inbound_id: int, raw: bytes, *, assign_to: int | None = None,
            actor: str = ACTOR, prepared: Prepared | None = None) -> str:
    """Process one recorded mail; returns its new status. ``assign_to`` is a person's
    decision (``outreach inbox assign``): the mail answers that request, whoever sent it.
    ``prepared``: the CPU part done already (``intake_prepare``, by a worker process)."""
    if prepared is None:
        prepared = prepare(raw, PrepareSettings(
            intake.parse_limits, open_limits(intake.settings.validation),
            str(intake.settings.mail.from_address)))
    parsed = prepared.parsed
    with intake.sessions() as session:
        inbound = session.get(InboundMessage, inbound_id)
        if inbound is None:
            raise LookupError(f"no inbound message {inbound_id}")
        allowed = ASSIGNABLE if assign_to is not None else PROCESSABLE
        if inbound.status not in allowed:
            return inbound.status
        from_status = inbound.status
        plan = _plan(intake, session, inbound, raw, prepared, assign_to)
    with write_transaction(intake.sessions) as session:
        claimed = session.execute(
            update(InboundMessage).where(col(InboundMessage.id) == inbound_id)
            .where(col(InboundMessage.status) == from_status)
            .values(status="processing")).rowcount
        if not claimed:
            return "skipped"  # another process took it meanwhile
        _write(intake, session, inbound_id, raw, parsed, plan, actor)
    if plan.bounced:
        intake.forget()
    log.info("inbound.processed", inbound=inbound_id, status=plan.status,
             classification=plan.classification, request=plan.request_id,
             method=plan.method, files=len(plan.files),
             verdicts=[str(r.outcome) for r in plan.results.values()], note=plan.note)
    return plan.status


def failed(intake: Intake, inbound_id: int, raw: bytes | None, error: BaseException) -> str:
    """Record a processing failure: retried by the next poll until ``max_attempts``, then
    ``failed`` for a person (``outreach inbox retry``). The bytes are kept for the retry."""
    detail = f"{type(error).__name__}: {error}"[:2000]
    with write_transaction(intake.sessions) as session:
        inbound = session.get(InboundMessage, inbound_id)
        if inbound is None:
            return "missing"
        inbound.attempts += 1
        inbound.error = detail
        if raw is not None and not inbound.raw_stored:
            put_blob(intake.settings.attachments_dir, raw)
            inbound.raw_stored = True
        inbound.status = ("failed" if inbound.attempts >= intake.settings.intake.max_attempts
                          else "received")
        status = inbound.status
        if status == "failed":
            record_event(session, intake.clock, actor=ACTOR, kind="inbound.failed",
                         reason=detail, inbound_id=inbound_id, subject=inbound.subject,
                         sender=inbound.from_address)
    log.error("inbound.failed", inbound=inbound_id, status=status, error=detail)
    return status


def stored_raw(intake: Intake, inbound: InboundMessage) -> bytes | None:
    if not inbound.raw_stored or not inbound.raw_sha256:
        return None
    return get_blob(intake.settings.attachments_dir, inbound.raw_sha256)


def _plan(intake: Intake, session: Session, inbound: InboundMessage, raw: bytes,
          prepared: Prepared, assign_to: int | None) -> _Plan:
    parsed, classification, files = prepared.parsed, prepared.classification, prepared.files
    plan = _Plan(status="processed", classification=classification.kind, files=files)
    duplicate = None if assign_to is not None else _duplicate_of(session, inbound, parsed,
                                                                 files)
    if duplicate is not None:
        plan.status, plan.duplicate_of, plan.store_raw = "duplicate", duplicate.id, False
        plan.note = (f"the same mail as #{duplicate.id} ({duplicate.folder}, UID "
                     f"{duplicate.uid}), already {duplicate.status}")
        plan.files = []
        return plan
    if assign_to is None and _our_own(session, intake.settings, parsed):
        plan.status, plan.store_raw, plan.files = "unrelated", False, []
        plan.note = "a copy of our own message (compliance on cc): left for people to read"
        return plan
    index = intake.index(session)
    if classification.kind == "bounce" and assign_to is None:
        return _plan_bounce(session, plan, classification)
    if classification.kind == "auto_reply" and assign_to is None:
        return _plan_auto_reply(session, index, plan, classification, parsed)
    if assign_to is not None:
        candidate = candidate_for(session, index, assign_to)
        if candidate is None:
            raise LookupError(f"no request {assign_to}")
        result: MatchResult = Matched(candidate.request_id, candidate.supplier_id, "manual")
    else:
        evidence = gather_evidence(session, index, classification,
                                   parsed.sender.address if parsed.sender else None,
                                   families(files))
        result = match_reply(evidence, looks_like_survey=_looks_like_survey(
            parsed, classification))
    if isinstance(result, NotOurs):
        plan.status, plan.note, plan.store_raw, plan.files = "unrelated", result.reason, False, []
        return plan
    if isinstance(result, Quarantined):
        plan.status, plan.note = "quarantined", result.reason
        if result.suggested_request_id is not None:
            plan.note += f" (it may answer request #{result.suggested_request_id})"
            suggested = session.get(Request, result.suggested_request_id)
            plan.supplier_id = suggested.supplier_id if suggested else None
        plan.files = []  # stored and judged once a person assigns it
        return plan
    plan.request_id, plan.supplier_id = result.request_id, result.supplier_id
    plan.method, plan.new_sender = result.method, result.new_sender
    request = session.get(Request, result.request_id)
    campaign = session.get(Campaign, request.campaign_id) if request else None
    assert request is not None and campaign is not None
    context = campaign_context(intake, session, campaign)
    for number, item in enumerate(files):
        earlier = _earlier_submission(session, request.id, item.sha256)
        if earlier is not None:
            plan.earlier[number] = earlier
        else:
            ahead = prepared.judged.get((campaign.id or 0, number))
            plan.results[number] = ahead if ahead is not None else judge(item, context)
    if not files:
        plan.status, plan.links = "attention", classification.links
        plan.note = ("the reply links to a file instead of attaching it"
                     if classification.links else
                     "the reply carries no file: a question or a message for a person?")
    return plan


def campaign_context(intake: Intake, session: Session, campaign: Campaign) -> ValidationContext:
    family = str(campaign.template_family)
    return validation_context(
        intake.settings.validation, family=family,
        min_versions={family: campaign.min_version},
        reporting_year=campaign.reporting_year,
        today=local_date(intake.clock, intake.settings.campaign.time_zone),
        smelters=intake.smelters(session))


def _our_own(session: Session, settings: Settings, parsed: ParsedMessage) -> bool:
    """One of our own messages (a copy to the compliance mailbox): never processed."""
    if parsed.message_id and session.exec(
            select(OutboundMessage.id)
            .where(OutboundMessage.message_id == parsed.message_id)).first() is not None:
        return True
    sender = parsed.sender.address.lower() if parsed.sender else ""
    return sender == str(settings.mail.from_address).lower() and \
        parsed.header("Auto-Submitted") is not None


def _looks_like_survey(parsed: ParsedMessage, classification: Classification) -> bool:
    if classification.workbooks or classification.tokens:
        return True
    if any(o.reason not in {"image"} for o in classification.other_files):
        return True
    subject = parsed.subject.lower()
    return any(word in subject for word in _SURVEY_WORDS)


def _duplicate_of(session: Session, inbound: InboundMessage, parsed: ParsedMessage,
                  files: list[IncomingFile]) -> InboundMessage | None:
    """The same mail recorded under another identity (a re-scan after a UIDVALIDITY change,
    or a copy in another folder): same bytes, or same Message-ID and attachments."""
    same = select(InboundMessage).where(InboundMessage.account == inbound.account) \
        .where(col(InboundMessage.id) != inbound.id) \
        .where(col(InboundMessage.status).not_in(["failed", "received", "processing"]))
    if inbound.raw_sha256:
        found = session.exec(same.where(InboundMessage.raw_sha256 == inbound.raw_sha256)
                             .order_by(col(InboundMessage.id)).limit(1)).first()
        if found is not None:
            return found
    if parsed.message_id:
        hashes = sorted(f.sha256 for f in files if f.sha256)
        for found in session.exec(same.where(InboundMessage.message_id == parsed.message_id)
                                  .order_by(col(InboundMessage.id))).all():
            if sorted(found.attachment_hashes) == hashes:
                return found
    return None


def _earlier_submission(session: Session, request_id: int | None,
                        sha256: str | None) -> Submission | None:
    if sha256 is None or request_id is None:
        return None
    return session.exec(select(Submission).where(Submission.request_id == request_id)
                        .where(Submission.sha256 == sha256)
                        .where(col(Submission.duplicate_of).is_(None))
                        .order_by(col(Submission.id)).limit(1)).first()


def _plan_bounce(session: Session, plan: _Plan, classification: Classification) -> _Plan:
    assert classification.bounce is not None
    requests = _referenced_requests(session, classification)
    failed_addresses = [r.address.lower() for r in classification.bounce.failed if r.address]
    ours = [a for a in failed_addresses if _we_sent_to(session, a)]
    if not requests and not ours:
        plan.status, plan.store_raw = "unrelated", False
        plan.note = "a bounce of mail we did not send"
        return plan
    if requests:
        plan.request_id, plan.supplier_id = requests[0].id, requests[0].supplier_id
        plan.method = "thread"
    plan.bounced = ours or (failed_addresses if requests else [])
    plan.note = ("delivery failed for " + ", ".join(plan.bounced)) if plan.bounced else (
        "a delivery report for one of our messages without a failed recipient")
    plan.files = []
    return plan


def _plan_auto_reply(session: Session, index: DomainIndex, plan: _Plan,
                     classification: Classification, parsed: ParsedMessage) -> _Plan:
    requests = _referenced_requests(session, classification)
    if not requests:
        plan.status, plan.store_raw, plan.files = "unrelated", False, []
        plan.note = "an automatic reply that does not answer a message of ours"
        return plan
    plan.request_id, plan.supplier_id = requests[0].id, requests[0].supplier_id
    plan.method = "token" if classification.tokens else "thread"
    plan.note = "automatic reply: " + "; ".join(classification.reasons)
    plan.files = []
    return plan


def _referenced_requests(session: Session, classification: Classification) -> list[Request]:
    tokens = [t.value for t in classification.tokens]
    found: list[Request] = []
    if tokens:
        found += session.exec(select(Request).where(col(Request.reply_token).in_(tokens))).all()
    ids = list(classification.our_message_ids)
    if classification.bounce is not None:
        ids += list(classification.bounce.original_message_ids)
    request_ids = threaded_requests(session, ids)
    if request_ids:
        found += session.exec(select(Request).where(col(Request.id).in_(request_ids))).all()
    return list({r.id: r for r in found}.values())


def _we_sent_to(session: Session, address: str) -> bool:
    return session.exec(select(RecipientSend.id)
                        .where(RecipientSend.address == address).limit(1)).first() is not None


# -- 3. write ------------------------------------------------------------------------------


def _write(intake: Intake, session: Session, inbound_id: int, raw: bytes,
           parsed: ParsedMessage, plan: _Plan, actor: str) -> None:
    clock, settings = intake.clock, intake.settings
    now = clock.now()
    inbound = session.get(InboundMessage, inbound_id)
    assert inbound is not None
    if plan.store_raw and not inbound.raw_stored:
        put_blob(settings.attachments_dir, raw, inbound.raw_sha256)
        inbound.raw_stored = True
    inbound.classification = plan.classification
    inbound.request_id, inbound.supplier_id = plan.request_id, plan.supplier_id
    inbound.match_method, inbound.note = plan.method, plan.note
    inbound.duplicate_of = plan.duplicate_of
    inbound.attachment_hashes = sorted(f.sha256 for f in plan.files if f.sha256) or \
        inbound.attachment_hashes
    inbound.processed_at, inbound.error = now, None
    inbound.status = plan.status
    request = session.get(Request, plan.request_id) if plan.request_id else None
    where = dict(campaign_id=request.campaign_id if request else None,
                 supplier_id=plan.supplier_id, request_id=plan.request_id)
    if plan.status == "quarantined":
        record_event(session, clock, actor=actor, kind="inbound.quarantined", reason=plan.note,
                     inbound_id=inbound_id, sender=inbound.from_address,
                     subject=inbound.subject, **where)
        return
    if plan.status in {"unrelated", "duplicate"}:
        return
    if plan.classification == "bounce":
        _mark_bounced(session, clock, plan, inbound_id, actor)
        return
    if plan.classification == "auto_reply":
        record_event(session, clock, actor=actor, kind="inbound.auto_reply", reason=plan.note,
                     inbound_id=inbound_id, sender=inbound.from_address, **where)
        return
    assert request is not None
    if request.responded_at is None:
        request.responded_at = now
    sender = Recipient(parsed.sender.address, parsed.sender.name or None) \
        if parsed.sender else None
    submissions = _store_files(intake, session, request, inbound_id, plan)
    record_event(session, clock, actor=actor, kind="inbound.reply", reason=plan.note,
                 inbound_id=inbound_id, sender=inbound.from_address, method=plan.method,
                 files=[s.filename for s, _ in submissions], **where)
    move_request(intake, session, request, submissions, actor)
    if plan.new_sender and sender is not None:
        _suggest(session, clock, request.supplier_id, sender.email, sender.name,
                 ContactRole.PRIMARY, "reply_sender", inbound_id=inbound_id)
    if settings.intake.answer and sender is not None:
        _answer(intake, session, request, inbound_id, sender, submissions, plan, actor)
    request.updated_at = now


def _store_files(intake: Intake, session: Session, request: Request, inbound_id: int,
                 plan: _Plan) -> list[tuple[Submission, Result | None]]:
    stored = []
    for number, item in enumerate(plan.files):
        earlier = plan.earlier.get(number)
        result = plan.results.get(number)
        submission = record_submission(intake, session, request, item, result,
                                       inbound_id=inbound_id, earlier=earlier)
        stored.append((submission, result))
    return stored


def record_submission(intake: Intake, session: Session, request: Request,
                      item: IncomingFile, result: Result | None, *,
                      inbound_id: int | None, earlier: Submission | None = None,
                      source: str = "email", actor: str = ACTOR) -> Submission:
    """Store the file and its verdict (or, for identical bytes, a link to the earlier one)."""
    now = intake.clock.now()
    if item.content is not None:
        put_blob(intake.settings.attachments_dir, item.content, item.sha256)
    submission = Submission(
        request_id=request.id, supplier_id=request.supplier_id,
        inbound_message_id=inbound_id, filename=item.filename[:255], sha256=item.sha256,
        size=item.size, content_type=(item.content_type or "")[:100] or None,
        kind=item.kind, source=source, received_at=now)
    if earlier is not None:
        submission.duplicate_of = earlier.id
        submission.outcome, submission.findings = earlier.outcome, earlier.findings
        submission.template, submission.version = earlier.template, earlier.version
        submission.required_missing = earlier.required_missing
        session.add(submission)
        session.flush()
        record_event(session, intake.clock, actor=actor, kind="submission.duplicate",
                     reason=f"{item.filename}: the same file as submission #{earlier.id}",
                     campaign_id=request.campaign_id, supplier_id=request.supplier_id,
                     request_id=request.id, submission_id=submission.id,
                     duplicate_of=earlier.id)
        return submission
    assert result is not None
    data = result.as_dict()
    submission.template, submission.version = result.template, result.version
    submission.outcome, submission.required_missing = str(result.outcome), result.required_missing
    submission.findings = data["findings"]
    submission.declaration = {k: data[k] for k in ("company", "metals", "company_answers",
                                                   "products")} if result.content else None
    submission.validated_at = now
    submission.reused_from = _reused_from(session, request, item.sha256)
    session.add(submission)
    session.flush()
    assert submission.id is not None
    if result.smelters:
        session.add_all(SubmissionSmelter(
            submission_id=submission.id, row=s["row"], metal=s["metal"], name=s["name"],
            country=s["country"], cid=(s["cid"] or None) and str(s["cid"])[:16],
            rmap_status=s["rmap_status"], red_flags=[f["list"] for f in s["red_flags"]])
            for s in data["smelters"])
    record_event(session, intake.clock, actor=actor, kind="submission.judged",
                 reason=f"{item.filename}: {submission.outcome}",
                 campaign_id=request.campaign_id, supplier_id=request.supplier_id,
                 request_id=request.id, submission_id=submission.id,
                 outcome=submission.outcome, template=result.template,
                 version=result.version, errors=len(result.errors),
                 findings=len(result.findings), reused_from=submission.reused_from)
    return submission


def _reused_from(session: Session, request: Request, sha256: str | None) -> int | None:
    """A submission with these bytes in an earlier campaign: last year's file sent again."""
    if sha256 is None:
        return None
    return session.exec(
        select(Submission.id).join(Request, col(Request.id) == Submission.request_id)
        .where(Submission.sha256 == sha256)
        .where(col(Request.campaign_id) != request.campaign_id)
        .order_by(col(Submission.id)).limit(1)).first()


def move_request(intake: Intake, session: Session, request: Request,
                  submissions: list[tuple[Submission, Result | None]], actor: str) -> None:
    """Accepted ends the ladder; a rejection makes it wait its grace period, then go on."""
    now = intake.clock.now()
    judged = [s for s, _ in submissions if s.duplicate_of is None]
    workbooks = [s for s in judged if s.kind in JUDGED_KINDS]
    accepted = [s for s in judged if s.outcome in ACCEPTED_OUTCOMES]
    rule = intake.settings.intake.accept_when
    covering = bool(accepted) and (rule == "any" or len(accepted) == len(workbooks))
    where = dict(campaign_id=request.campaign_id, supplier_id=request.supplier_id,
                 request_id=request.id)
    if covering and request.state in (RequestState.OPEN, RequestState.PAUSED,
                                      RequestState.HANDED_OVER):
        request.state, request.accepted_at = RequestState.ACCEPTED, now
        request.next_action_at, request.awaiting_approval = None, None
        record_event(session, intake.clock, actor=actor, kind="request.accepted",
                     reason=f"accepted {', '.join(s.filename for s in accepted)}",
                     submission_ids=[s.id for s in accepted], **where)
        _suggest_from_cmrt(intake, session, request, accepted[0])
    elif judged and not covering and request.state == RequestState.OPEN:
        request.last_rejected_at = now
        request.next_action_at = now  # the ladder re-decides: it waits the grace period
        record_event(session, intake.clock, actor=actor, kind="request.submission_rejected",
                     reason=", ".join(f"{s.filename}: {s.outcome}" for s in judged),
                     submission_ids=[s.id for s in judged], **where)


def _answer(intake: Intake, session: Session, request: Request, inbound_id: int,
            sender: Recipient, submissions: list[tuple[Submission, Result | None]],
            plan: _Plan, actor: str) -> None:
    settings, clock = intake.settings, intake.clock
    workbooks = [s for s, _ in submissions if s.kind in JUDGED_KINDS]
    for submission in workbooks:
        if submission.duplicate_of is not None and submission.outcome in ACCEPTED_OUTCOMES:
            continue  # that file was receipted already
        kind = ANSWER_FOR_OUTCOME[submission.outcome or "unreadable"]
        queue_answer(session, clock, settings, intake.templates, request=request, kind=kind,
                     to=sender, key=f"answer:submission:{submission.id}", actor=actor,
                     submission=submission, findings=submission.findings)
    if workbooks:
        return
    others = [s for s, _ in submissions]
    if others:
        findings = [f for s in others for f in s.findings]
        queue_answer(session, clock, settings, intake.templates, request=request,
                     kind="unreadable", to=sender, key=f"answer:inbound:{inbound_id}",
                     actor=actor, submission=others[0], findings=findings)
    elif plan.links:
        # not stored: the answer only names what arrived
        linked = Submission(filename="the file linked in your e-mail", sha256=None, size=0,
                            received_at=clock.now(), outcome="unreadable")
        queue_answer(session, clock, settings, intake.templates, request=request,
                     kind="unreadable", to=sender, key=f"answer:inbound:{inbound_id}",
                     actor=actor, submission=linked, findings=link_findings(plan.links))


def _suggest_from_cmrt(intake: Intake, session: Session, request: Request,
                       submission: Submission) -> None:
    """The CMRT's contact and authorizer, offered as contacts (the authorizer as senior
    officer when the supplier has none)."""
    company = (submission.declaration or {}).get("company") or {}
    known = {c.email.lower(): c for c in session.exec(
        select(Contact).where(Contact.supplier_id == request.supplier_id)).all()}
    has_senior = any(c.role == ContactRole.SENIOR_OFFICER for c in known.values())
    offers = [(company.get("contact_email"), company.get("contact_name"),
               ContactRole.PRIMARY, "cmrt_contact"),
              (company.get("authorizer_email"), company.get("authorizer"),
               ContactRole.ESCALATION if has_senior else ContactRole.SENIOR_OFFICER,
               "cmrt_authorizer")]
    for email, name, role, source in offers:
        address = (email or "").strip().lower()
        if "@" not in address or " " in address or address in known:
            continue
        _suggest(session, intake.clock, request.supplier_id, address, name or None, role,
                 source, submission_id=submission.id)


def _suggest(session: Session, clock: Clock, supplier_id: int, email: str, name: str | None,
             role: ContactRole, source: str, *, inbound_id: int | None = None,
             submission_id: int | None = None) -> None:
    address = email.strip().lower()[:320]
    exists = session.exec(select(ContactSuggestion.id)
                          .where(ContactSuggestion.supplier_id == supplier_id)
                          .where(ContactSuggestion.role == role)
                          .where(func.lower(ContactSuggestion.email) == address)).first()
    if exists is not None:
        return
    session.add(ContactSuggestion(supplier_id=supplier_id, role=role, email=address,
                                  name=(name or None) and name[:300], source=source,
                                  inbound_message_id=inbound_id, submission_id=submission_id,
                                  created_at=clock.now()))
    record_event(session, clock, actor=ACTOR, kind="contact.suggested",
                 reason=f"{address} ({source.replace('_', ' ')}) as {role}",
                 supplier_id=supplier_id, email=address, role=str(role))


def _mark_bounced(session: Session, clock: Clock, plan: _Plan, inbound_id: int,
                  actor: str) -> None:
    now = clock.now()
    for address in plan.bounced:
        query = select(Contact).where(func.lower(Contact.email) == address)
        if plan.supplier_id is not None:
            query = query.where(Contact.supplier_id == plan.supplier_id)
        for contact in session.exec(query).all():
            if contact.status == ContactStatus.BOUNCED:
                continue
            contact.status, contact.bounced_at, contact.updated_at = (
                ContactStatus.BOUNCED, now, now)
            record_event(session, clock, actor=actor, kind="contact.bounced",
                         reason=plan.note, supplier_id=contact.supplier_id,
                         request_id=plan.request_id, inbound_id=inbound_id,
                         email=contact.email, role=str(contact.role))
    record_event(session, clock, actor=actor, kind="inbound.bounce", reason=plan.note,
                 supplier_id=plan.supplier_id, request_id=plan.request_id,
                 inbound_id=inbound_id, failed=plan.bounced)


__all__ = ["ACTOR", "OURS", "Candidate", "Identity", "Intake", "failed", "process", "record",
           "record_submission", "stored_raw"]
