"""``decide(view, ladder, now)``: what the escalation ladder wants done for one request now.

Pure: everything comes in as arguments (a :class:`RequestView`, the campaign's frozen
:class:`~outreach.core.ladder.Ladder`, the current instant); nothing is read or written. The
caller (the tick) performs the returned actions and stores ``next_action_at``. The rules:

1. **Ended**: an ``accepted``, ``exempt``, ``handed_over`` or ``closed`` request gets nothing,
   and ``next_action_at`` is None.
2. **Paused**: while ``paused_until`` lies in the future (whatever the state), or the state is
   ``paused`` with no ``paused_until`` (resumed by hand), nothing happens and
   ``next_action_at`` is ``paused_until`` (None: a person resumes it). A ``paused`` request
   whose ``paused_until`` has passed is planned as if open (the tick reopens it).
3. **Which step is next**: stages go strictly in ladder order and none is skipped. The furthest
   stage in ``view.sent`` (ladder order) is the current one; if it was sent fewer times than its
   ``repeat``, the next step is its next repeat, else the next stage's first send. Names in
   ``view.sent`` that the ladder does not have are ignored. When every stage is done, nothing
   is left: ``next_action_at`` None.
4. **When it is due**: a date is computed, then the step goes out at ``ladder.send_hour`` on the
   supplier's wall clock that day (``calendar.send_instant``: DST-correct, gap/overlap rules
   there). ``after_days`` counts calendar days, or business days of the supplier's country
   when ``business_days`` (``calendar.add_business_days``; 0 business days rolls a weekend or
   holiday forward to the next business day). The day counted from is
   * a repeat: the local date of the last send of the same stage;
   * ``relative_to = "previous"``: the local date of the latest send of an earlier stage (the
     previous stage as actually sent), or of the request start for the first stage;
   * ``"start"``: the local date of the request start, i.e. the later of the campaign start and
     the request's own start (a late joiner starts when it joined);
   * ``"due"``: the request's own due date (so an extension re-times it; negative: before).
5. **No burst** (catch-up spacing): a step after the request's first send never goes out before
   ``max(1, |after_days|)`` days (business days if the stage counts them) after the local date
   of the request's latest send. So if several steps are overdue (a long pause, an outage, a
   due date that passed while reminders ran), the earliest pending one goes now and the next
   follows at its own offset from that actual send; at most one step per call, and never two
   sends on the same local day.
6. **Extension hold**: a stage placed after a due-relative stage never goes before that stage's
   time under the current due date: after an extension, an escalation already under way waits
   for the new due date to pass too.
7. **Rejection grace**: no step goes before ``last_rejected_at + ladder.rejection_grace_days``
   (rounded up to the next send hour, on a business day if the stage counts them).
8. **Approval**: a due stage with ``requires_approval`` whose name is not in
   ``view.approvals`` yields ``AwaitApproval`` (nothing is sent) and ``next_action_at`` None:
   the approve command sets ``next_action_at`` to now, and the next call sends it. One approval
   covers every repeat of the stage.
9. **Actions**: a due step yields exactly one action: ``Send(stage, repeat)``, or
   ``HandOver(stage)`` for the final hand-over stage (no e-mail; ``next_action_at`` None, the
   caller marks the request handed over). After a ``Send``, ``next_action_at`` is when the
   following step will be due counting the send as made at ``now``. Nothing due: no action and
   ``next_action_at`` is when the next step is due.

"Actually sent": ``StageSent.last_sent_at`` should be the delivery time, or the decision time
while the message still waits in the outbox. Delivery only moves it later, and a request woken
too early just re-plans, so the provisional value is safe.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from types import MappingProxyType

from outreach.core.calendar import add_days, local_day, next_send_slot, send_instant
from outreach.core.clock import ensure_utc
from outreach.core.enums import RequestState
from outreach.core.ladder import Ladder, LadderStage

ENDED_STATES = frozenset({RequestState.ACCEPTED, RequestState.EXEMPT,
                          RequestState.HANDED_OVER, RequestState.CLOSED})


@dataclass(frozen=True)
class StageSent:
    """How often a stage was sent to this request, and when the latest of those went out."""

    count: int
    last_sent_at: datetime


@dataclass(frozen=True)
class RequestView:
    """What ``decide`` needs to know about one request; nothing database-specific."""

    state: RequestState
    campaign_started_at: datetime
    #: when this request joined (the campaign start, or later for a late joiner)
    started_at: datetime
    due_date: date
    #: ISO 3166 alpha-2 code of the supplier's country (holidays); None: weekends only
    country: str | None = None
    #: IANA zone of the supplier (send hour, local dates); None: UTC
    time_zone: str | None = None
    #: stage name → sends so far
    sent: Mapping[str, StageSent] = field(default_factory=dict)
    paused_until: datetime | None = None
    #: names of the stages a person approved
    approvals: frozenset[str] = frozenset()
    #: the latest rejected submission
    last_rejected_at: datetime | None = None

    def __post_init__(self) -> None:
        for name in ("campaign_started_at", "started_at", "paused_until", "last_rejected_at"):
            value = getattr(self, name)
            if value is not None:
                ensure_utc(value)  # refuses a naive datetime
        for record in self.sent.values():
            ensure_utc(record.last_sent_at)
        object.__setattr__(self, "sent", MappingProxyType(dict(self.sent)))
        object.__setattr__(self, "approvals", frozenset(self.approvals))


@dataclass(frozen=True)
class Send:
    stage: str
    repeat: int
    due_at: datetime


@dataclass(frozen=True)
class AwaitApproval:
    stage: str
    repeat: int
    due_at: datetime


@dataclass(frozen=True)
class HandOver:
    stage: str
    due_at: datetime


Action = Send | AwaitApproval | HandOver


@dataclass(frozen=True)
class Decision:
    #: at most one action (see rule 5)
    actions: tuple[Action, ...]
    #: when to call ``decide`` again; None: nothing happens without a person
    next_action_at: datetime | None
    #: why, in a few words, for logs and the schedule preview
    reason: str


@dataclass(frozen=True)
class Step:
    """A position on the ladder: stage ``index`` (0-based), its ``repeat``-th send (1-based)."""

    index: int
    repeat: int


def decide(view: RequestView, ladder: Ladder, now: datetime) -> Decision:
    now = ensure_utc(now)
    if view.state in ENDED_STATES:
        return Decision((), None, f"the request is {view.state}: the ladder has ended")
    if view.paused_until is not None and view.paused_until > now:
        return Decision((), ensure_utc(view.paused_until),
                        f"paused until {view.paused_until.isoformat()}")
    if view.state == RequestState.PAUSED and view.paused_until is None:
        return Decision((), None, "paused until a person resumes it")

    step = next_step(view, ladder)
    if step is None:
        return Decision((), None, "every stage of the ladder has been sent")
    stage = ladder.stages[step.index]
    due_at = due_at_of(view, ladder, step)
    if due_at > now:
        return Decision((), due_at, f"{_label(stage, step)} is due at {due_at.isoformat()}")
    if stage.requires_approval and stage.name not in view.approvals:
        return Decision((AwaitApproval(stage.name, step.repeat, due_at),), None,
                        f"{_label(stage, step)} is due and awaits approval")
    if stage.handover:
        return Decision((HandOver(stage.name, due_at),), None,
                        f"{stage.name} is due: hand the supplier over to procurement")
    after = _with_send(view, stage.name, now)
    following = next_step(after, ladder)
    next_at = due_at_of(after, ladder, following) if following else None
    return Decision((Send(stage.name, step.repeat, due_at),), next_at,
                    f"{_label(stage, step)} is due")


def next_step(view: RequestView, ladder: Ladder) -> Step | None:
    """The next stage and repeat to go out (rule 3); None when the ladder is done."""
    current: int | None = None
    for i, stage in enumerate(ladder.stages):
        record = view.sent.get(stage.name)
        if record is not None and record.count > 0:
            current = i
    if current is None:
        return Step(0, 1)
    done = view.sent[ladder.stages[current].name].count
    if done < ladder.stages[current].repeat:
        return Step(current, done + 1)
    if current + 1 < len(ladder.stages):
        return Step(current + 1, 1)
    return None


def due_at_of(view: RequestView, ladder: Ladder, step: Step) -> datetime:
    """When ``step`` is due (rules 4-7), as an aware UTC instant."""
    stage = ladder.stages[step.index]
    tz, country, hour = view.time_zone, view.country, ladder.send_hour

    def shifted(day: date, days: int) -> datetime:
        return send_instant(add_days(day, days, country, business=stage.business_days), hour, tz)

    start = max(view.campaign_started_at, view.started_at)
    latest = _latest_send(view, ladder, len(ladder.stages))
    if step.repeat > 1:
        base = local_day(view.sent[stage.name].last_sent_at, tz)
        at = shifted(base, stage.after_days)
    elif stage.relative_to == "previous":
        earlier = _latest_send(view, ladder, step.index)
        at = shifted(local_day(earlier or start, tz), stage.after_days)
    elif stage.relative_to == "start":
        at = shifted(local_day(start, tz), stage.after_days)
    else:
        at = _due_relative(view, ladder, stage)
    if latest is not None:  # rule 5: spacing from the latest actual send
        at = max(at, shifted(local_day(latest, tz), max(1, abs(stage.after_days))))
    for earlier_stage in ladder.stages[: step.index]:  # rule 6: extension hold
        if earlier_stage.relative_to == "due":
            at = max(at, _due_relative(view, ladder, earlier_stage))
    if view.last_rejected_at is not None:  # rule 7: rejection grace
        grace_end = view.last_rejected_at + timedelta(days=ladder.rejection_grace_days)
        at = max(at, next_send_slot(grace_end, hour, tz, country, business=stage.business_days))
    return at


def _due_relative(view: RequestView, ladder: Ladder, stage: LadderStage) -> datetime:
    day = add_days(view.due_date, stage.after_days, view.country, business=stage.business_days)
    return send_instant(day, ladder.send_hour, view.time_zone)


def _latest_send(view: RequestView, ladder: Ladder, before: int) -> datetime | None:
    """The latest send of the ladder's first ``before`` stages, if any."""
    times = [r.last_sent_at for s in ladder.stages[:before]
             if (r := view.sent.get(s.name)) is not None and r.count > 0]
    return max(times, default=None)


def _with_send(view: RequestView, stage: str, at: datetime) -> RequestView:
    sent = dict(view.sent)
    count = sent[stage].count if stage in sent else 0
    sent[stage] = StageSent(count + 1, at)
    return replace(view, sent=sent)


def _label(stage: LadderStage, step: Step) -> str:
    return stage.name if stage.repeat == 1 else f"{stage.name} {step.repeat}/{stage.repeat}"
