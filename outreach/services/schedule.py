"""What the ladder will send if nothing else happens: ``outreach schedule preview``.

A read-only simulation of ticks and delivery for one running campaign, built from the same
parts the service uses, so the preview and the real run agree:

* each open (or paused-until) request's view comes from ``outbox.request_view`` and its
  recipients from ``outbox.stage_addresses``; ``decide()`` is called at each time it names,
  exactly as the tick would (a request is first looked at when its ``next_action_at`` comes);
* every decided message then goes through ``core.delivery_limits.earliest_send`` in time
  order, against a send history seeded from the real recent sends (``outbound_messages``,
  ``recipient_sends``) and with the messages already queued in the outbox going first
  (ordered as delivery claims them: priority, next attempt, id); a message held by a limit
  waits, and the next stage is timed from when it actually left, as delivery records it.

Assumptions, listed with every schedule: no supplier replies or submits, no approvals beyond
those already granted (a stage that needs one shows as "awaits approval" and ends that
request's simulation), nothing paused, extended or re-imported meanwhile. Every other
running campaign is simulated alongside, so its sends count against the same account and
contact limits; only the chosen campaign's rows are listed. Nothing is written.
``ladder_preview`` compares two such schedules for ``campaign update-ladder --dry-run``.

Requests are decided up to the horizon (``days``); a message decided before it is followed
until it leaves, so a large launch shows when its last message will really go.
"""

from __future__ import annotations

import heapq
from collections import Counter, deque
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from itertools import islice
from typing import Any, Literal

from sqlmodel import Session, col, select

from outreach.core.clock import Clock
from outreach.core.decide import AwaitApproval, HandOver, RequestView, Send, StageSent, decide
from outreach.core.delivery_limits import DAY, DeliveryLimits, SendHistory, earliest_send
from outreach.core.enums import ACTIVE_REQUEST_STATES, CampaignState
from outreach.core.ladder import Ladder
from outreach.db.models import Campaign, Contact, OutboundMessage, RecipientSend, Request, Supplier
from outreach.errors import InvalidInput, InvalidState, NotFound
from outreach.services.delivery import ANSWER_KINDS, QUEUED
from outreach.services.outbox import (
    LADDER_PRIORITY,
    request_view,
    stage_addresses,
    supplier_recipients,
)
from outreach.settings import Settings

RowKind = Literal["send", "awaits_approval", "handover", "no_address"]

ASSUMPTIONS = (
    "no supplier replies or submits a workbook",
    "no approvals beyond those already granted",
    "nothing is paused, extended, exempted or re-imported meanwhile",
    "messages already queued in the outbox go first; other running campaigns' sends "
    "count against the same limits (they are not listed)",
)


@dataclass(frozen=True)
class ScheduleRow:
    """One simulated step: a message leaving, or a request stopping (approval, hand-over)."""

    #: when the message leaves (after the limits), or when the tick meets the stage
    at: datetime
    #: when the tick decides it (the ladder's own time, before the limits); for a message
    #: already in the outbox, when delivery would first try it
    decided_at: datetime
    request_id: int
    supplier_code: str
    stage: str
    repeat: int
    kind: RowKind
    to: tuple[str, ...] = ()
    cc: tuple[str, ...] = ()
    #: already in the outbox when the simulation started
    queued: bool = False
    held_by_contact: timedelta = timedelta(0)
    #: which per-contact rule held it longest: "gap" or "rolling cap"
    contact_rule: str = "gap"

    @property
    def held_by_account(self) -> timedelta:
        return max(self.at - self.decided_at - self.held_by_contact, timedelta(0))

    @property
    def note(self) -> str:
        if self.kind == "awaits_approval":
            return "awaits approval: nothing more is sent until `outreach approve`"
        if self.kind == "handover":
            return "hand-over to procurement: no more e-mail"
        if self.kind == "no_address":
            return "no usable address for this stage: fix the contacts and re-import"
        parts = ["already in the outbox"] if self.queued else []
        if self.held_by_contact > timedelta(0):
            parts.append(f"held {duration(self.held_by_contact)} by the per-contact "
                         f"{self.contact_rule}")
        if self.held_by_account >= timedelta(seconds=1):
            parts.append(f"account limit: +{duration(self.held_by_account)}")
        return "; ".join(parts)

    def as_json(self) -> dict[str, Any]:
        return {"at": self.at.isoformat(), "decided_at": self.decided_at.isoformat(),
                "request_id": self.request_id, "supplier": self.supplier_code,
                "stage": self.stage, "repeat": self.repeat, "kind": self.kind,
                "to": list(self.to), "cc": list(self.cc), "queued": self.queued,
                "note": self.note}


@dataclass(frozen=True)
class Schedule:
    campaign: str
    start: datetime
    until: datetime
    ladder: Ladder
    rows: tuple[ScheduleRow, ...]
    #: codes of the suppliers whose requests were simulated
    suppliers: frozenset[str]
    assumptions: tuple[str, ...] = ASSUMPTIONS

    @property
    def messages(self) -> list[ScheduleRow]:
        return [r for r in self.rows if r.kind == "send"]

    def per_stage(self) -> Counter[str]:
        return Counter(r.stage for r in self.messages)

    @property
    def last_send_at(self) -> datetime | None:
        return max((r.at for r in self.messages), default=None)

    @property
    def waiting(self) -> list[ScheduleRow]:
        return [r for r in self.rows if r.kind == "awaits_approval"]

    def for_supplier(self, code: str) -> Schedule:
        wanted = code.casefold()
        match = next((c for c in self.suppliers if c.casefold() == wanted), None)
        if match is None:
            raise NotFound(f"supplier {code!r} has no open request in campaign "
                               f"{self.campaign!r}: nothing is scheduled for it")
        return replace(self, rows=tuple(r for r in self.rows if r.supplier_code == match),
                       suppliers=frozenset({match}))

    def as_json(self) -> dict[str, Any]:
        return {"campaign": self.campaign, "from": self.start.isoformat(),
                "until": self.until.isoformat(), "assumptions": list(self.assumptions),
                "rows": [r.as_json() for r in self.rows],
                "summary": {"messages": len(self.messages),
                            "per_stage": dict(self.per_stage()),
                            "awaiting_approval": len(self.waiting),
                            "last_send_at": (self.last_send_at.isoformat()
                                             if self.last_send_at else None)}}


def duration(delta: timedelta) -> str:
    """A hold for people: '2 days', '5 h', '6 min'."""
    seconds = delta.total_seconds()
    if seconds >= 86_400:
        days = round(seconds / 86_400, 1)
        return f"{days:g} day" + ("" if days == 1 else "s")
    if seconds >= 3600:
        return f"{round(seconds / 3600, 1):g} h"
    return f"{max(round(seconds / 60), 1)} min"


# --------------------------------------------------------------------------- simulation


@dataclass
class _Request:
    """One request as the simulation moves it (the fields the tick and delivery change)."""

    id: int
    code: str
    supplier: Supplier
    contacts: list[Contact]
    view: RequestView
    next_at: datetime | None
    generation: int = 0
    #: (stage, repeat) last decided: delivery only re-times the request's current stage
    current: tuple[str, int] | None = None
    #: another running campaign's request: its ladder; its sends count, they do not show
    ladder: Ladder | None = None
    shown: bool = True
    #: the current stage is decided but has not left yet: the next waits for its send
    in_flight: bool = False


@dataclass
class _Message:
    ready: datetime
    priority: int
    seq: int
    recipients: tuple[str, ...]
    answer: bool
    request: _Request | None = None
    stage: str = ""
    repeat: int = 0
    to: tuple[str, ...] = ()
    cc: tuple[str, ...] = ()
    decided_at: datetime | None = None
    queued: bool = False
    held_by_contact: timedelta = timedelta(0)
    contact_rule: str = "gap"


@dataclass
class _History:
    """Recent sends, kept current as the simulation sends (the limits read it)."""

    account: deque[datetime]
    contacts: dict[str, list[datetime]]
    limits: DeliveryLimits

    def view(self, now: datetime) -> SendHistory:
        """What ``earliest_send`` needs at ``now``, and no more (it scans the whole list).

        The account sends are in time order and none is later than ``now``. Those a day old
        or more are out of every window. While the day has room, the day window cannot hold
        a message and only the latest ``per_minute`` sends can decide the minute window, so
        only they are passed; the answer is the same as with every send.
        """
        while self.account and self.account[0] <= now - DAY:
            self.account.popleft()
        keep = len(self.account)
        if keep < self.limits.per_day and self.limits.per_minute < self.limits.per_day:
            keep = min(keep, self.limits.per_minute)
        recent = list(islice(reversed(self.account), keep))
        recent.reverse()
        return SendHistory(recent, self.contacts)

    def add(self, at: datetime, addresses: Iterable[str]) -> None:
        self.account.append(at)
        for address in addresses:
            self.contacts.setdefault(address.lower(), []).append(at)


_DECIDE, _MESSAGE = 0, 1


@dataclass
class _Simulation:
    ladder: Ladder
    settings: Settings
    limits: DeliveryLimits
    now: datetime
    until: datetime
    history: _History
    rows: list[ScheduleRow] = field(default_factory=list)
    #: future events: (time, kind, tiebreak, payload)
    events: list[tuple[datetime, int, int, Any]] = field(default_factory=list)
    #: messages due now, in delivery's claim order: (priority, ready, seq, message)
    ready: list[tuple[int, datetime, int, _Message]] = field(default_factory=list)
    seq: int = 0

    def _next_seq(self) -> int:
        self.seq += 1
        return self.seq

    def plan(self, request: _Request, at: datetime) -> None:
        request.generation += 1
        request.next_at = at
        heapq.heappush(self.events, (at, _DECIDE, self._next_seq(),
                                     (request, request.generation)))

    def enqueue(self, message: _Message) -> None:
        if message.ready > self.now:
            heapq.heappush(self.events, (message.ready, _MESSAGE, message.seq, message))
        else:
            heapq.heappush(self.ready, (message.priority, message.ready, message.seq, message))

    def run(self) -> None:
        while self.events or self.ready:
            if self.events and (not self.ready or self.events[0][0] <= self.now):
                at, kind, _, payload = heapq.heappop(self.events)
                self.now = max(self.now, at)
                if kind == _MESSAGE:
                    heapq.heappush(self.ready, (payload.priority, payload.ready, payload.seq,
                                                payload))
                else:
                    request, generation = payload
                    if generation == request.generation and at <= self.until:
                        self._decide(request, at)
                continue
            self._deliver_head()

    def _deliver_head(self) -> None:
        message = self.ready[0][3]
        now = self.now
        at = earliest_send(now, supplier_recipients(message.recipients, self.settings),
                           self.history.view(now), self.limits,
                           answer=message.answer)
        if at <= now:
            heapq.heappop(self.ready)
            self._sent(message, now)
            return
        account = earliest_send(now, (), self.history.view(now), self.limits, answer=True)
        if account > now:  # the account is full: nothing leaves before then
            self.now = min(account, self.events[0][0]) if self.events else account
            return
        heapq.heappop(self.ready)  # held for a contact: it waits, the others go
        message.held_by_contact += at - now
        message.contact_rule = self._contact_rule(message, at)
        message.ready = at
        self.enqueue(message)

    def _contact_rule(self, message: _Message, at: datetime) -> str:
        gap_ends = [max(sent) + self.limits.contact_gap
                    for a in supplier_recipients(message.recipients, self.settings)
                    if (sent := self.history.contacts.get(a.lower()))]
        return "gap" if at in gap_ends else "rolling cap"

    def _sent(self, message: _Message, at: datetime) -> None:
        self.history.add(at, message.recipients)
        request = message.request
        if request is None:
            return
        assert message.decided_at is not None
        self._row(request, ScheduleRow(
            at=at, decided_at=message.decided_at, request_id=request.id,
            supplier_code=request.code, stage=message.stage, repeat=message.repeat,
            kind="send", to=message.to, cc=message.cc, queued=message.queued,
            held_by_contact=message.held_by_contact, contact_rule=message.contact_rule))
        if request.current == (message.stage, message.repeat):
            request.in_flight = False
            # delivery: the stage counts from when it really left, and the request re-plans
            request.view = replace(request.view,
                                   sent={message.stage: StageSent(message.repeat, at)})
            if request.next_at is not None:
                self.plan(request, min(request.next_at, at))

    def _row(self, request: _Request, row: ScheduleRow) -> None:
        if request.shown:
            self.rows.append(row)

    def _decide(self, request: _Request, at: datetime) -> None:
        if request.in_flight:  # as the tick does: nothing further before the stage left
            request.next_at = at  # its send re-plans the request (``_sent``)
            return
        decision = decide(request.view, request.ladder or self.ladder, at)
        request.next_at = None
        for action in decision.actions:
            if isinstance(action, Send):
                if not self._queue(request, action, at):
                    return
                continue
            kind: RowKind = "handover" if isinstance(action, HandOver) else "awaits_approval"
            repeat = action.repeat if isinstance(action, AwaitApproval) else 1
            self._row(request, ScheduleRow(
                at=at, decided_at=at, request_id=request.id, supplier_code=request.code,
                stage=action.stage, repeat=repeat, kind=kind))
            return  # the ladder stops here until a person acts
        if decision.next_action_at is not None:
            self.plan(request, decision.next_action_at)

    def _queue(self, request: _Request, action: Send, at: datetime) -> bool:
        stage = (request.ladder or self.ladder).stage(action.stage)
        to = stage_addresses(stage.to, request.contacts, request.supplier, self.settings)
        cc = [a for a in stage_addresses(stage.cc, request.contacts, request.supplier,
                                         self.settings) if a not in to]
        if not to:
            self._row(request, ScheduleRow(
                at=at, decided_at=at, request_id=request.id, supplier_code=request.code,
                stage=stage.name, repeat=action.repeat, kind="no_address"))
            return False
        # the outbox records the stage as sent now; delivery moves it to the real send
        request.view = replace(request.view, sent={stage.name: StageSent(action.repeat, at)})
        request.current = (stage.name, action.repeat)
        request.in_flight = True
        self.enqueue(_Message(
            ready=at, priority=LADDER_PRIORITY, seq=self._next_seq(),
            recipients=_unique((*to, *cc)), answer=(stage.template or "") in ANSWER_KINDS,
            request=request, stage=stage.name, repeat=action.repeat, to=tuple(to),
            cc=tuple(cc), decided_at=at))
        return True


def _unique(addresses: Iterable[str]) -> tuple[str, ...]:
    seen: dict[str, None] = {}
    for address in addresses:
        seen.setdefault(address, None)
    return tuple(seen)


# --------------------------------------------------------------------------- loading


def simulate(session: Session, clock: Clock, settings: Settings, campaign: Campaign, *,
             days: int = 30, ladder: Ladder | None = None) -> Schedule:
    """The schedule of ``campaign`` over the next ``days`` days (with ``ladder`` instead of
    its frozen one, to see what a ladder change would do). Reads only."""
    if days < 1:
        raise InvalidInput(f"--days {days}: the horizon needs at least 1 day")
    if campaign.state != CampaignState.RUNNING or campaign.ladder is None:
        hint = ("resume it with `outreach campaign resume`" if campaign.state ==
                CampaignState.PAUSED else "start it with `outreach campaign start`"
                if campaign.state == CampaignState.DRAFT else "nothing more goes out")
        raise InvalidState(f"campaign {campaign.name!r} is {campaign.state}: nothing is "
                           f"scheduled while it is not running ({hint})")
    ladder = ladder or Ladder.model_validate(campaign.ladder)
    now = clock.now()
    limits = settings.delivery.limits()
    sim = _Simulation(ladder=ladder, settings=settings, limits=limits, now=now,
                      until=now + timedelta(days=days), history=_history(session, now, limits))
    requests = _requests(session, settings, campaign)
    everyone = dict(requests)
    for other in session.exec(select(Campaign).where(Campaign.state == CampaignState.RUNNING)
                              .where(col(Campaign.id) != campaign.id)).all():
        if other.ladder is not None:
            everyone.update(_requests(session, settings, other,
                                      ladder=Ladder.model_validate(other.ladder)))
    for message in _queued(session, everyone, now):
        sim.seq = max(sim.seq, message.seq)
        sim.enqueue(message)
    for request in sorted(everyone.values(), key=lambda r: (r.next_at or now, r.id)):
        sim.plan(request, max(now, request.next_at) if request.next_at else now)  # tick order
    sim.run()
    rows = sorted(sim.rows, key=lambda r: (r.at, r.supplier_code, r.stage, r.repeat))
    return Schedule(campaign=campaign.name, start=now, until=sim.until, ladder=ladder,
                    rows=tuple(rows), suppliers=frozenset(r.code for r in requests.values()))


def _requests(session: Session, settings: Settings, campaign: Campaign, *,
              ladder: Ladder | None = None) -> dict[int, _Request]:
    """The campaign's active requests; with ``ladder``, as another campaign's (not shown)."""
    contacts: dict[int, list[Contact]] = {}
    for contact in session.exec(
            select(Contact).join(Request, col(Request.supplier_id) == Contact.supplier_id)
            .where(Request.campaign_id == campaign.id).order_by(col(Contact.id))).all():
        contacts.setdefault(contact.supplier_id, []).append(contact)
    found: dict[int, _Request] = {}
    for request, supplier in session.exec(
            select(Request, Supplier).join(Supplier, col(Supplier.id) == Request.supplier_id)
            .where(Request.campaign_id == campaign.id)
            .where(col(Request.state).in_(sorted(ACTIVE_REQUEST_STATES)))
            .order_by(col(Request.id))).all():
        assert request.id is not None and supplier.id is not None
        view = request_view(session, request, campaign, supplier, settings)
        found[request.id] = _Request(
            id=request.id, code=supplier.code, supplier=supplier,
            contacts=contacts.get(supplier.id, []), view=view, next_at=request.next_action_at,
            current=(request.stage, request.stage_repeat) if request.stage else None,
            ladder=ladder, shown=ladder is None)
    return found


def _queued(session: Session, requests: dict[int, _Request], now: datetime) -> list[_Message]:
    """The outbox as it stands, in delivery's claim order; this campaign's rows show."""
    rows = session.exec(select(OutboundMessage).where(OutboundMessage.status == QUEUED)
                        .order_by(col(OutboundMessage.priority),
                                  col(OutboundMessage.next_attempt_at),
                                  col(OutboundMessage.id))).all()
    messages = []
    for seq, row in enumerate(rows, start=1):
        request = requests.get(row.request_id) if row.request_id is not None else None
        if request is not None and request.current == (row.stage, row.repeat):
            request.in_flight = True
        ready = max(now, row.next_attempt_at) if row.next_attempt_at else now
        messages.append(_Message(
            ready=ready, priority=row.priority, seq=seq,
            recipients=_unique((*row.to_addresses, *row.cc_addresses)),
            answer=row.kind in ANSWER_KINDS, request=request, stage=row.stage or row.kind,
            repeat=row.repeat, to=tuple(row.to_addresses), cc=tuple(row.cc_addresses),
            decided_at=ready, queued=True))
    return messages


def _history(session: Session, now: datetime, limits: DeliveryLimits) -> _History:
    """Recent real sends, as delivery reads them (``services.delivery._history``)."""
    account = sorted(t for t in session.exec(
        select(OutboundMessage.sent_at)
        .where(col(OutboundMessage.sent_at) > now - DAY)).all() if t is not None)
    window = max(limits.contact_window, limits.contact_gap)
    contacts: dict[str, list[datetime]] = {}
    for address, sent_at in session.exec(
            select(RecipientSend.address, RecipientSend.sent_at)
            .where(col(RecipientSend.sent_at) > now - window)).all():
        contacts.setdefault(address.lower(), []).append(sent_at)
    return _History(deque(account), contacts, limits)
