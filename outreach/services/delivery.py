"""Delivery: hand the outbox to the mail server, exactly once, within every limit.

One pass (``deliver_due``), run by ``outreach run`` on a schedule and by ``outreach deliver``:

1. **Recover**: a message whose lease ran out while an attempt was open was being sent when
   a worker died; the server may or may not have taken it. It is marked ``uncertain`` and
   never re-sent by itself (a person checks and runs ``outreach deliver --retry``): a
   supplier must not get the same letter twice.
2. **Take the turn**: one delivery pass at a time across all processes (a lease on the
   delivery-state row), so the account limits hold exactly however many services run.
   **Claim** due messages with a lease, in one UPDATE (``FOR UPDATE SKIP LOCKED`` on
   PostgreSQL; on SQLite the statement itself holds the write lock), answers to suppliers
   and digests first (``priority``), so two processes never take the same message.
3. **Send** each over one reused connection, with no transaction open during network I/O:
   an attempt row is committed before the send and finished after it. Before each send the
   account and per-contact limits (``core.delivery_limits``) may push the message later.
4. **Record** the outcome: sent (and the addresses it reached); some recipients refused
   (those contacts are marked bounced, the others got it); transient (retried with
   exponential backoff until ``max_attempts``); permanent (failed, with the reason);
   circuit (authentication, policy, quota, TLS, or repeated connection failures): all
   delivery pauses until ``outreach delivery resume``.
"""

from __future__ import annotations

import os
import socket
import threading
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import structlog
from sqlalchemy import func, or_, update
from sqlalchemy.orm import sessionmaker
from sqlmodel import Session, col, select

from outreach.core.clock import Clock
from outreach.core.delivery_limits import DeliveryLimits, SendHistory, earliest_send
from outreach.core.enums import ContactStatus
from outreach.db.audit import record_event
from outreach.db.engine import write_transaction as transaction
from outreach.db.models import (
    Contact,
    DeliveryAttempt,
    DeliveryState,
    OutboundMessage,
    RecipientSend,
    Request,
)
from outreach.errors import InvalidInput, InvalidState, NotFound
from outreach.mail.compose import (
    Attachment,
    Mailbox,
    Outgoing,
    compose,
    message_id_for,
    recipients,
    unique_addresses,
)
from outreach.mail.transport import Envelope, SendResult, Transport
from outreach.services import delivery_state
from outreach.services.alerts import raise_alert
from outreach.services.blobs import get_blob
from outreach.services.outbox import supplier_recipients
from outreach.settings import DeliverySettings, Settings

log = structlog.get_logger(__name__)

QUEUED = "queued"
SENT = "sent"
FAILED = "failed"
UNCERTAIN = "uncertain"
#: kinds that answer something the supplier just did: exempt from the per-contact limits
ANSWER_KINDS = frozenset({"receipt", "receipt_with_warnings", "correction", "unreadable"})
#: kinds that go to our own people, not a supplier contact: no per-contact limits either
INTERNAL_KINDS = frozenset({"digest"})
SYSTEM = "system:delivery"


@dataclass
class _History:
    """What was sent recently, kept current during a pass (the limits read it)."""

    account: list[datetime]
    contacts: dict[str, list[datetime]]

    def view(self) -> SendHistory:
        return SendHistory(self.account, self.contacts)

    def add(self, at: datetime, addresses: Iterable[str]) -> None:
        self.account.append(at)
        for address in addresses:
            self.contacts.setdefault(address.lower(), []).append(at)


@dataclass
class DeliveryReport:
    sent: int = 0
    partial: int = 0
    retried: int = 0
    failed: int = 0
    deferred: int = 0
    uncertain: int = 0
    paused: str | None = None
    #: another process held the delivery turn; this pass did nothing
    busy: bool = False
    #: this pass opened the circuit (an alert was raised)
    circuit_opened: bool = False
    details: list[str] = field(default_factory=list)

    @property
    def handled(self) -> int:
        return self.sent + self.partial + self.retried + self.failed + self.deferred


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{threading.get_ident()}"


def deliver_due(sessions: sessionmaker[Session], clock: Clock, transport: Transport,
                settings: Settings, *, limit: int | None = None) -> DeliveryReport:
    """One delivery pass; returns what happened. Never raises for a delivery outcome."""
    config = settings.delivery
    report = DeliveryReport()
    with transaction(sessions) as session:
        state = delivery_state.delivery_state(session, clock)
        report.uncertain = _recover(session, clock)
        if state.paused:
            report.paused = state.reason
            return report
        claim = f"{worker_name()}:{uuid.uuid4().hex[:8]}"
        if not _take_turn(session, clock, config, claim):
            report.busy = True  # another process is delivering; the limits stay exact
            return report
        ids = _claim(session, clock, config, claim, limit or config.batch_size)
    if not ids:
        with transaction(sessions) as session:
            _release(session, claim)
        return report
    with transaction(sessions) as session:
        history = _history(session, clock, config.limits(), ids)
    with transport.session() as connection:
        for outbound_id in ids:
            stop = _deliver_one(sessions, clock, settings, connection, outbound_id, claim,
                                history, report)
            if stop:
                break
    with transaction(sessions) as session:  # what a stop left claimed goes back to the queue
        _release(session, claim)
    log.info("delivery.pass", sent=report.sent, partial=report.partial, retried=report.retried,
             failed=report.failed, deferred=report.deferred, uncertain=report.uncertain,
             paused=bool(report.paused))
    if report.circuit_opened:  # after the commit: the alert's command may take a while
        raise_alert(settings, "delivery.paused",
                    f"delivery paused by the circuit breaker: {report.paused}. Fix the cause, "
                    "then run `outreach delivery resume`.", clock.now())
    return report


# --------------------------------------------------------------------------- claim


def _claim(session: Session, clock: Clock, config: DeliverySettings, claim: str,
           limit: int) -> list[int]:
    now = clock.now()
    due = (select(OutboundMessage.id)
           .where(OutboundMessage.status == QUEUED)
           .where(or_(col(OutboundMessage.next_attempt_at).is_(None),
                      col(OutboundMessage.next_attempt_at) <= now))
           .where(or_(col(OutboundMessage.lease_until).is_(None),
                      col(OutboundMessage.lease_until) < now))
           .order_by(col(OutboundMessage.priority), col(OutboundMessage.next_attempt_at),
                     col(OutboundMessage.id))
           .limit(limit))
    if session.get_bind().dialect.name == "postgresql":
        due = due.with_for_update(skip_locked=True)
    session.exec(update(OutboundMessage)  # type: ignore[call-overload]
                 .where(col(OutboundMessage.id).in_(due.scalar_subquery()))
                 .values(lease_until=now + timedelta(seconds=config.lease_seconds),
                         lease_owner=claim)
                 .execution_options(synchronize_session=False))
    return list(session.exec(select(OutboundMessage.id)
                             .where(OutboundMessage.lease_owner == claim)
                             .order_by(col(OutboundMessage.priority),
                                       col(OutboundMessage.next_attempt_at),
                                       col(OutboundMessage.id))).all())


def _take_turn(session: Session, clock: Clock, config: DeliverySettings, claim: str) -> bool:
    """Hold the delivery turn (one pass at a time, every process) for a lease period."""
    now = clock.now()
    taken = session.exec(update(DeliveryState)  # type: ignore[call-overload]
                         .where(DeliveryState.id == 1)
                         .where(or_(col(DeliveryState.lease_until).is_(None),
                                    col(DeliveryState.lease_until) < now,
                                    DeliveryState.lease_owner == claim))
                         .values(lease_owner=claim,
                                 lease_until=now + timedelta(seconds=config.lease_seconds))
                         .execution_options(synchronize_session=False))
    return bool(taken.rowcount)


def _release(session: Session, claim: str) -> None:
    session.exec(update(OutboundMessage)  # type: ignore[call-overload]
                 .where(OutboundMessage.lease_owner == claim)
                 .values(lease_until=None, lease_owner=None)
                 .execution_options(synchronize_session=False))
    session.exec(update(DeliveryState)  # type: ignore[call-overload]
                 .where(DeliveryState.lease_owner == claim)
                 .values(lease_until=None, lease_owner=None)
                 .execution_options(synchronize_session=False))


def _recover(session: Session, clock: Clock) -> int:
    """Messages whose worker died mid-send: uncertain, kept for a person."""
    now = clock.now()
    stale = session.exec(
        select(OutboundMessage, DeliveryAttempt)
        .join(DeliveryAttempt, col(DeliveryAttempt.outbound_id) == OutboundMessage.id)
        .where(OutboundMessage.status == QUEUED)
        .where(col(OutboundMessage.lease_until) < now)
        .where(col(DeliveryAttempt.finished_at).is_(None))).all()
    for message, attempt in stale:
        attempt.finished_at, attempt.outcome = now, UNCERTAIN
        attempt.detail = "the worker stopped while sending; the server may have taken it"
        message.status, message.lease_until, message.lease_owner = UNCERTAIN, None, None
        message.last_error = ("delivery was interrupted while sending: check whether the "
                              "supplier received it, then `outreach deliver --retry "
                              f"{message.id}` if not")
        record_event(session, clock, actor=SYSTEM, kind="message.uncertain",
                     request_id=message.request_id, reason=message.last_error,
                     message_id=message.message_id)
        log.warning("message.uncertain", outbound=message.id)
    return len(stale)


# --------------------------------------------------------------------------- limits


def _history(session: Session, clock: Clock, limits: DeliveryLimits, ids: Iterable[int]
             ) -> _History:
    now = clock.now()
    account = session.exec(select(OutboundMessage.sent_at)
                           .where(col(OutboundMessage.sent_at) > now - timedelta(days=1))).all()
    addresses: set[str] = set()
    for message in session.exec(select(OutboundMessage)
                                .where(col(OutboundMessage.id).in_(list(ids)))).all():
        addresses.update(a.lower() for a in (*message.to_addresses, *message.cc_addresses))
    contacts: dict[str, list[datetime]] = {}
    window = max(limits.contact_window, limits.contact_gap)
    for address, sent_at in session.exec(
            select(RecipientSend.address, RecipientSend.sent_at)
            .where(col(RecipientSend.address).in_(sorted(addresses)))
            .where(col(RecipientSend.sent_at) > now - window)).all():
        contacts.setdefault(address, []).append(sent_at)
    return _History([t for t in account if t is not None], contacts)


# --------------------------------------------------------------------------- one message


def _deliver_one(sessions: sessionmaker[Session], clock: Clock, settings: Settings,
                 connection: object, outbound_id: int, claim: str, history: _History,
                 report: DeliveryReport) -> bool:
    """Send one claimed message; True when delivery must stop (circuit opened)."""
    config = settings.delivery
    with transaction(sessions) as session:
        message = session.get(OutboundMessage, outbound_id)
        if message is None or message.lease_owner != claim or message.status != QUEUED:
            return False
        now = clock.now()
        targets = supplier_recipients([*message.to_addresses, *message.cc_addresses],
                                      settings)
        at = earliest_send(now, targets, history.view(), config.limits(),
                           answer=message.kind in ANSWER_KINDS | INTERNAL_KINDS)
        if at > now:
            message.next_attempt_at, message.lease_until, message.lease_owner = at, None, None
            report.deferred += 1
            return False
        try:
            envelope = _envelope(message, settings)
        except Exception as exc:  # a stored part is missing or damaged: nothing to retry
            _fail(session, clock, message, f"the message cannot be built: {exc}")
            report.failed += 1
            return False
        message.attempts += 1
        attempt = DeliveryAttempt(outbound_id=outbound_id, attempt=message.attempts,
                                  started_at=now, outcome="sending")
        session.add(attempt)
        session.flush()
        attempt_id = attempt.id
    result: SendResult = connection.send(envelope)  # type: ignore[attr-defined]
    with transaction(sessions) as session:
        message = session.get(OutboundMessage, outbound_id)
        attempt = session.get(DeliveryAttempt, attempt_id)
        assert message is not None and attempt is not None
        now = clock.now()
        attempt.finished_at, attempt.outcome = now, str(result.status)
        attempt.smtp_code, attempt.detail = result.code, result.detail
        _take_turn(session, clock, config, claim)  # renew the turn for the next message
        return _record(session, clock, config, message, result, history, report)


def _record(session: Session, clock: Clock, config: DeliverySettings, message: OutboundMessage,
            result: SendResult, history: _History, report: DeliveryReport) -> bool:
    now = clock.now()
    if result.delivered:
        delivery_state.connection_succeeded(session, clock)
        message.status, message.sent_at, message.last_error = SENT, now, None
        message.lease_until = message.lease_owner = None
        reached = result.accepted or tuple(unique_addresses(message.to_addresses,
                                                            message.cc_addresses))
        for address in reached:
            session.add(RecipientSend(address=address.lower(), outbound_id=message.id,
                                      sent_at=now))
        history.add(now, reached)
        if result.refused:
            _bounced(session, clock, message, result.refused)
        if result.refused or result.deferred:
            report.partial += 1
        else:
            report.sent += 1
        if result.deferred:
            _requeue_deferred(session, clock, config, message, result.deferred)
        _stage_sent(session, message, now)
        record_event(session, clock, actor=SYSTEM, kind="message.sent",
                     request_id=message.request_id, message_id=message.message_id,
                     stage=message.stage, repeat=message.repeat, kind_of=message.kind,
                     to=list(message.to_addresses), cc=list(message.cc_addresses),
                     refused=list(result.refused))
        return False
    if result.opens_circuit or (result.counts_as_connection_error
                                and delivery_state.connection_failed(session, clock,
                                                                     result.detail)):
        if delivery_state.open_circuit(session, clock, result.detail):
            report.circuit_opened = True
        message.attempts = max(message.attempts - 1, 0)  # not this message's fault
        message.lease_until = message.lease_owner = None
        message.last_error = result.detail
        report.paused = result.detail
        report.details.append(result.detail)
        return True
    if result.maybe_delivered:  # the link broke during DATA: the server may have it
        message.status, message.lease_until, message.lease_owner = UNCERTAIN, None, None
        message.last_error = (f"{result.detail} — the server may have taken the message: "
                              "check with the supplier, then `outreach deliver --retry "
                              f"{message.id}` if it did not arrive")
        record_event(session, clock, actor=SYSTEM, kind="message.uncertain",
                     request_id=message.request_id, reason=message.last_error,
                     message_id=message.message_id)
        report.uncertain += 1
        return False
    if result.retry:
        if message.attempts >= config.max_attempts:
            _fail(session, clock, message, f"gave up after {message.attempts} attempts: "
                                           f"{result.detail}")
            report.failed += 1
            return False
        delay = min(config.retry_base_seconds * 2 ** (message.attempts - 1),
                    config.retry_cap_seconds)
        message.next_attempt_at = now + timedelta(seconds=delay)
        message.lease_until = message.lease_owner = None
        message.last_error = result.detail
        report.retried += 1
        return False
    if result.refused:
        _bounced(session, clock, message, result.refused)
    _fail(session, clock, message, result.detail)
    report.failed += 1
    return False


def _requeue_deferred(session: Session, clock: Clock, config: DeliverySettings,
                      message: OutboundMessage, deferred: Iterable[str]) -> None:
    """Recipients the server put off (4xx at RCPT) get the same letter in a message of their
    own, queued after the usual retry delay; the others already have it."""
    addresses = {a.lower() for a in deferred}
    number = 1 + len(session.exec(select(OutboundMessage.id).where(
        col(OutboundMessage.idempotency_key).startswith(f"{message.idempotency_key}:deferred:"))
    ).all())
    key = f"{message.idempotency_key}:deferred:{number}"
    domain = message.message_id.rsplit("@", 1)[-1].rstrip(">")
    copy = OutboundMessage(**{
        **message.model_dump(exclude={"id", "status", "attempts", "next_attempt_at",
                                      "lease_until", "lease_owner", "last_error", "sent_at",
                                      "to_addresses", "cc_addresses", "idempotency_key",
                                      "message_id", "in_reply_to"}),
        "idempotency_key": key, "message_id": message_id_for(key, domain),
        "in_reply_to": message.in_reply_to or message.message_id,
        "to_addresses": [a for a in message.to_addresses if a.lower() in addresses],
        "cc_addresses": [a for a in message.cc_addresses if a.lower() in addresses],
        "status": QUEUED, "attempts": 0,
        "next_attempt_at": clock.now() + timedelta(seconds=config.retry_base_seconds)})
    if not copy.to_addresses:  # only Cc recipients were deferred: address them directly
        copy.to_addresses, copy.cc_addresses = copy.cc_addresses, []
    session.add(copy)
    record_event(session, clock, actor=SYSTEM, kind="message.deferred_recipients",
                 request_id=message.request_id, message_id=message.message_id,
                 reason="the mail server put some recipients off (4xx); they get it later",
                 recipients=sorted(addresses))


def _stage_sent(session: Session, message: OutboundMessage, at: datetime) -> None:
    """The ladder times the next stage from when this one actually left (not when it was
    decided): a message the limits held back pushes the following stage back with it."""
    if message.request_id is None or message.stage is None:
        return
    request = session.get(Request, message.request_id)
    if (request is not None and request.stage == message.stage
            and request.stage_repeat == message.repeat
            and (request.stage_sent_at is None or request.stage_sent_at < at)):
        request.stage_sent_at = at
        if request.next_action_at is not None:
            request.next_action_at = min(request.next_action_at, at)  # re-plan from the send


def _fail(session: Session, clock: Clock, message: OutboundMessage, why: str) -> None:
    message.status, message.last_error = FAILED, why
    message.lease_until = message.lease_owner = None
    record_event(session, clock, actor=SYSTEM, kind="message.failed",
                 request_id=message.request_id, reason=why, message_id=message.message_id)
    log.warning("message.failed", outbound=message.id, reason=why)


def _bounced(session: Session, clock: Clock, message: OutboundMessage,
             refused: Iterable[str]) -> None:
    addresses = [a.lower() for a in refused]
    contacts = session.exec(select(Contact)
                            .where(func.lower(Contact.email).in_(addresses))).all()
    for contact in contacts:
        if contact.status != ContactStatus.BOUNCED:
            contact.status = ContactStatus.BOUNCED
            record_event(session, clock, actor=SYSTEM, kind="contact.bounced",
                         supplier_id=contact.supplier_id, request_id=message.request_id,
                         reason="the mail server refused the address", contact=contact.id)


def _envelope(message: OutboundMessage, settings: Settings) -> Envelope:
    if message.raw_sha256:  # composed whole when decided (the digest): send those bytes
        return Envelope(message.from_address,
                        unique_addresses(message.to_addresses, message.cc_addresses),
                        get_blob(settings.attachments_dir, message.raw_sha256),
                        message.message_id)
    attachment = None
    if message.attachment_sha256:
        attachment = Attachment(message.attachment_name or "attachment.xlsx",
                                get_blob(settings.attachments_dir, message.attachment_sha256))
    outgoing = Outgoing(
        sender=Mailbox(message.from_address, settings.mail.from_name),
        to=[Mailbox(a) for a in message.to_addresses],
        cc=[Mailbox(a) for a in message.cc_addresses],
        reply_to=message.reply_to,
        subject=message.subject,
        text=message.body_text,
        html=message.body_html,
        message_id=message.message_id,
        thread_root=message.in_reply_to,
        date=message.created_at,
        attachment=attachment,
    )
    return Envelope(message.from_address, recipients(outgoing), compose(outgoing).as_bytes(),
                    message.message_id)


def retry_message(session: Session, clock: Clock, outbound_id: int, *, actor: str,
                  reason: str | None) -> OutboundMessage:
    """Queue an ``uncertain`` or ``failed`` message again, once a person has checked it."""
    why = (reason or "").strip()
    if not why:
        raise InvalidInput("say why with --reason (e.g. 'supplier confirmed it never arrived')")
    message = session.get(OutboundMessage, outbound_id)
    if message is None:
        raise NotFound(f"no outbound message {outbound_id}")
    if message.status not in (UNCERTAIN, FAILED):
        raise InvalidState(f"message {outbound_id} is {message.status}: only uncertain or "
                           "failed messages are retried by hand")
    message.status, message.next_attempt_at = QUEUED, clock.now()
    message.lease_until = message.lease_owner = None
    record_event(session, clock, actor=actor, kind="message.retried", reason=why,
                 request_id=message.request_id, message_id=message.message_id)
    return message
