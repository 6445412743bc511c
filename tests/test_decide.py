"""decide(view, ladder, now) over many timelines (outreach/core/decide.py).

The default ladder: request (at start) → reminder x2 (10 business days apart) → follow_up (due
date + 1 day) → senior_notice (10 business days, approval) → handover (10 business days,
approval); messages go out at 09:00 on the supplier's wall clock.

``simulate`` plays a timeline the way the tick does: it calls ``decide`` at each
``next_action_at`` (or when a person changes something, which sets ``next_action_at`` to now),
records what was done in the supplier's local time, and stops when nothing more can happen.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

import pytest
from pydantic import ValidationError

from outreach.core.calendar import zone
from outreach.core.decide import (
    AwaitApproval,
    Decision,
    HandOver,
    RequestView,
    Send,
    StageSent,
    decide,
)
from outreach.core.enums import RequestState
from outreach.core.ladder import Ladder, LadderStage, default_ladder

LADDER = default_ladder()
Change = tuple[datetime, Callable[[RequestView], RequestView]]


def utc(y: int, m: int, d: int, h: int = 0, mi: int = 0) -> datetime:
    return datetime(y, m, d, h, mi, tzinfo=UTC)


#: a German campaign started on Monday 2 March 2026 at 14:00 Berlin time, due 29 April
START = utc(2026, 3, 2, 13)


def view(*, country: str | None = "DE", tz: str | None = "Europe/Berlin",
         due: date = date(2026, 4, 29), started: datetime = START,
         sent: dict[str, tuple[int, datetime]] | None = None, **kw: object) -> RequestView:
    return RequestView(
        state=kw.pop("state", RequestState.OPEN),  # type: ignore[arg-type]
        campaign_started_at=START, started_at=started, due_date=due, country=country,
        time_zone=tz, sent={k: StageSent(*v) for k, v in (sent or {}).items()},
        **kw,  # type: ignore[arg-type]
    )


def simulate(v: RequestView, now: datetime, changes: Sequence[Change] = (),
             ladder: Ladder = LADDER) -> list[str]:
    pending = sorted(changes, key=lambda c: c[0])
    local = zone(v.time_zone)
    log: list[str] = []
    for _ in range(60):
        while pending and pending[0][0] <= now:
            v = pending.pop(0)[1](v)
        decision = decide(v, ladder, now)
        assert len(decision.actions) <= 1, decision
        when = now.astimezone(local).strftime("%Y-%m-%d %a %H:%M")
        for action in decision.actions:
            if isinstance(action, Send):
                repeats = ladder.stage(action.stage).repeat > 1
                log.append(f"{when} {action.stage}" + (f"#{action.repeat}" if repeats else ""))
                count = v.sent[action.stage].count if action.stage in v.sent else 0
                v = replace(v, sent={**v.sent, action.stage: StageSent(count + 1, now)})
            elif isinstance(action, AwaitApproval):
                log.append(f"{when} await {action.stage}")
            else:
                log.append(f"{when} handover")
                return log
        wake = decision.next_action_at
        if wake is not None:
            assert wake > now, decision
        if pending:
            wake = pending[0][0] if wake is None else min(wake, pending[0][0])
        if wake is None:
            return log
        now = wake
    raise AssertionError(f"the timeline did not settle: {log}")


def approve(stage: str) -> Callable[[RequestView], RequestView]:
    return lambda v: replace(v, approvals=v.approvals | {stage})


def pause(until: datetime | None) -> Callable[[RequestView], RequestView]:
    return lambda v: replace(v, state=RequestState.PAUSED, paused_until=until)


def resume(v: RequestView) -> RequestView:
    return replace(v, state=RequestState.OPEN, paused_until=None)


def extend(to: date) -> Callable[[RequestView], RequestView]:
    return lambda v: replace(v, due_date=to)


def rejected(v: RequestView, at: datetime) -> RequestView:
    return replace(v, last_rejected_at=at)


def state(s: RequestState) -> Callable[[RequestView], RequestView]:
    return lambda v: replace(v, state=s)


# -- whole seasons ---------------------------------------------------------------------------

SEASON_DE = [
    "2026-03-02 Mon 14:00 request",        # started after 09:00: goes at once
    "2026-03-16 Mon 09:00 reminder#1",     # 10 business days
    "2026-03-30 Mon 09:00 reminder#2",     # the day after Berlin moved to summer time
    "2026-04-30 Thu 09:00 follow_up",      # due 29 April + 1 day
    "2026-05-18 Mon 09:00 await senior_notice",  # 10 business days skip 1 May and Ascension
    "2026-05-18 Mon 09:05 senior_notice",  # approved five minutes later
    "2026-06-02 Tue 09:00 await handover",  # skips Whit Monday (25 May)
    "2026-06-02 Tue 09:05 handover",
]


@pytest.mark.parametrize(
    ("case", "v", "now", "changes", "expected"),
    [
        pytest.param(
            "German supplier, start 2 March, due 29 April, each approval given 5 minutes "
            "after it was asked for",
            view(), START,
            [(utc(2026, 5, 18, 7, 5), approve("senior_notice")),
             (utc(2026, 6, 2, 7, 5), approve("handover"))],
            SEASON_DE, id="de-full-season"),
        pytest.param(
            "approvals given in advance: the stages still wait for their own time",
            view(approvals=frozenset({"senior_notice", "handover"})), START, [],
            [*SEASON_DE[:4], "2026-05-18 Mon 09:00 senior_notice",
             "2026-06-02 Tue 09:00 handover"], id="approved-in-advance"),
        pytest.param(
            "approval pending: the senior notice waits two days for `outreach approve` "
            "(Wednesday 20 May, 15:30); the hand-over counts from the actual send",
            view(), START,
            [(utc(2026, 5, 20, 13, 30), approve("senior_notice"))],
            [*SEASON_DE[:5], "2026-05-20 Wed 15:30 senior_notice",
             "2026-06-04 Thu 09:00 await handover"], id="approval-pending-then-granted"),
        pytest.param(
            "no approval ever: the ladder stops at the senior notice and flags it",
            view(), START, [], SEASON_DE[:5], id="approval-never-given"),
        pytest.param(
            "Japanese supplier sent a reminder on Friday 24 April: the second one skips "
            "Golden Week (29 April, 3-6 May) and goes 14 May 09:00 JST",
            view(country="JP", tz="Asia/Tokyo", due=date(2026, 5, 29),
                 sent={"request": (1, utc(2026, 4, 10, 0)),
                       "reminder": (1, utc(2026, 4, 24, 0))}),
            utc(2026, 4, 24, 1), [],
            ["2026-05-14 Thu 09:00 reminder#2", "2026-05-30 Sat 09:00 follow_up",
             "2026-06-12 Fri 09:00 await senior_notice"], id="jp-golden-week"),
        pytest.param(
            "US supplier in New York, reminder on Friday 23 October (EDT): the next one "
            "goes 6 November 09:00 EST, after the clocks went back on 1 November; the "
            "follow-up after Thanksgiving is timed in business days from it",
            view(country="US", tz="America/New_York", due=date(2026, 11, 12),
                 sent={"request": (1, utc(2026, 10, 9, 13)),
                       "reminder": (1, utc(2026, 10, 23, 13))}),
            utc(2026, 10, 23, 14), [],
            ["2026-11-06 Fri 09:00 reminder#2", "2026-11-13 Fri 09:00 follow_up",
             "2026-11-30 Mon 09:00 await senior_notice"], id="us-dst-thanksgiving"),
        pytest.param(
            "German supplier before Christmas: reminder on Friday 18 December, the next "
            "on Tuesday 5 January (25/26 Dec and New Year skipped)",
            view(due=date(2027, 1, 29), sent={"request": (1, utc(2026, 12, 4, 8)),
                                             "reminder": (1, utc(2026, 12, 18, 8))}),
            utc(2026, 12, 18, 9), [],
            ["2027-01-05 Tue 09:00 reminder#2", "2027-01-30 Sat 09:00 follow_up",
             "2027-02-12 Fri 09:00 await senior_notice"], id="de-christmas"),
        pytest.param(
            "unknown country, no zone: weekends only (New Year's Day counts), 09:00 UTC",
            view(country=None, tz=None, due=date(2027, 1, 29),
                 sent={"request": (1, utc(2026, 12, 4, 8)),
                       "reminder": (1, utc(2026, 12, 18, 9))}),
            utc(2026, 12, 18, 10), [],
            ["2027-01-01 Fri 09:00 reminder#2", "2027-01-30 Sat 09:00 follow_up",
             "2027-02-12 Fri 09:00 await senior_notice"], id="unknown-country"),
        pytest.param(
            "due date 20 March passed while the reminders ran: the follow-up goes the day "
            "after the second reminder, not in the same tick",
            view(country="", tz="UTC", due=date(2026, 3, 20)), START, [],
            ["2026-03-02 Mon 13:00 request", "2026-03-16 Mon 09:00 reminder#1",
             "2026-03-30 Mon 09:00 reminder#2", "2026-03-31 Tue 09:00 follow_up",
             "2026-04-14 Tue 09:00 await senior_notice"], id="due-passed-during-reminders"),
        pytest.param(
            "extension on 20 April to 28 May: the follow-up moves to 29 May",
            view(), START, [(utc(2026, 4, 20, 10), extend(date(2026, 5, 28)))],
            [*SEASON_DE[:3], "2026-05-29 Fri 09:00 follow_up",
             "2026-06-12 Fri 09:00 await senior_notice"], id="extension-before-follow-up"),
        pytest.param(
            "extension to 15 June after the follow-up went: the senior notice waits for "
            "the new due date too (16 June), not 10 business days after the follow-up",
            view(), START, [(utc(2026, 5, 4, 10), extend(date(2026, 6, 15)))],
            [*SEASON_DE[:4], "2026-06-16 Tue 09:00 await senior_notice"],
            id="extension-after-follow-up"),
        pytest.param(
            "rejected submission Friday 27 March 15:00: the second reminder waits 7 days, "
            "to the first business day slot after Easter (Tuesday 7 April)",
            view(), START, [(utc(2026, 3, 27, 14), lambda v: rejected(v, utc(2026, 3, 27, 14)))],
            [*SEASON_DE[:2], "2026-04-07 Tue 09:00 reminder#2", *SEASON_DE[3:5]],
            id="rejection-grace"),
        pytest.param(
            "rejected 27 March, resubmitted and rejected again Monday 6 April 12:00, then "
            "resubmitted and accepted on 10 April: the ladder ends",
            view(), START,
            [(utc(2026, 3, 27, 14), lambda v: rejected(v, utc(2026, 3, 27, 14))),
             (utc(2026, 4, 6, 10), lambda v: rejected(v, utc(2026, 4, 6, 10))),
             (utc(2026, 4, 10, 10), state(RequestState.ACCEPTED))],
            SEASON_DE[:2], id="resubmission-after-rejection-accepted"),
        pytest.param(
            "rejected twice, the second time Monday 6 April 12:00, never accepted: the "
            "reminder goes Tuesday 14 April",
            view(), START,
            [(utc(2026, 3, 27, 14), lambda v: rejected(v, utc(2026, 3, 27, 14))),
             (utc(2026, 4, 6, 10), lambda v: rejected(v, utc(2026, 4, 6, 10)))],
            [*SEASON_DE[:2], "2026-04-14 Tue 09:00 reminder#2", *SEASON_DE[3:5]],
            id="resubmission-rejected-again"),
        pytest.param(
            "rejected 28 April 12:00 (before the follow-up): the calendar-day follow-up "
            "waits until 6 May",
            view(), START, [(utc(2026, 4, 28, 10), lambda v: rejected(v, utc(2026, 4, 28, 10)))],
            [*SEASON_DE[:3], "2026-05-06 Wed 09:00 follow_up",
             "2026-05-21 Thu 09:00 await senior_notice"],  # Ascension (14 May) skipped
            id="rejection-before-follow-up"),
        pytest.param(
            "late joiner on Wednesday 15 April 15:00 with its own due date 15 May: asked at "
            "once, reminders from its own start",
            view(started=utc(2026, 4, 15, 13), due=date(2026, 5, 15)), utc(2026, 4, 15, 13), [],
            ["2026-04-15 Wed 15:00 request", "2026-04-29 Wed 09:00 reminder#1",
             "2026-05-15 Fri 09:00 reminder#2", "2026-05-16 Sat 09:00 follow_up",
             "2026-06-01 Mon 09:00 await senior_notice"], id="late-joiner"),
        pytest.param(
            "late joiner in Tokyo enrolled at 03:00 local time: the request waits for 09:00; "
            "the reminders skip Showa Day (29 April) and 3-6 May",
            view(country="JP", tz="Asia/Tokyo", started=utc(2026, 4, 15, 18),
                 due=date(2026, 5, 29)),
            utc(2026, 4, 15, 18), [],
            ["2026-04-16 Thu 09:00 request", "2026-05-01 Fri 09:00 reminder#1",
             "2026-05-20 Wed 09:00 reminder#2", "2026-05-30 Sat 09:00 follow_up",
             "2026-06-12 Fri 09:00 await senior_notice"], id="late-joiner-night"),
        pytest.param(
            "paused 20 March until 10 April 10:00: nothing in between; the overdue second "
            "reminder goes at the resume, the follow-up on its own date",
            view(), START,
            [(utc(2026, 3, 20, 10), pause(utc(2026, 4, 10, 8))),
             (utc(2026, 4, 10, 8), resume)],
            [*SEASON_DE[:2], "2026-04-10 Fri 10:00 reminder#2", *SEASON_DE[3:5]],
            id="pause-until-date"),
        pytest.param(
            "paused 20 March with no end date, resumed by hand on Wednesday 8 April 14:00",
            view(), START,
            [(utc(2026, 3, 20, 10), pause(None)), (utc(2026, 4, 8, 12), resume)],
            [*SEASON_DE[:2], "2026-04-08 Wed 14:00 reminder#2", *SEASON_DE[3:5]],
            id="pause-resumed-by-hand"),
        pytest.param(
            "service down from after the request (2 March) until Monday 1 June 10:00: four "
            "steps overdue, they go one at a time at their own offsets, no burst",
            view(sent={"request": (1, START)}), utc(2026, 6, 1, 8),
            [(utc(2026, 7, 1, 8), approve("senior_notice"))],
            ["2026-06-01 Mon 10:00 reminder#1", "2026-06-15 Mon 09:00 reminder#2",
             "2026-06-16 Tue 09:00 follow_up", "2026-06-30 Tue 09:00 await senior_notice",
             "2026-07-01 Wed 10:00 senior_notice", "2026-07-15 Wed 09:00 await handover"],
            id="long-outage-no-burst"),
        pytest.param(
            "exempted on 20 March: nothing after",
            view(), START, [(utc(2026, 3, 20, 10), state(RequestState.EXEMPT))],
            SEASON_DE[:2], id="exempt-mid-season"),
    ],
)
def test_timelines(case: str, v: RequestView, now: datetime, changes: list[Change],
                   expected: list[str]) -> None:
    assert simulate(v, now, changes) == expected, case


# -- single decisions ------------------------------------------------------------------------

ALL_BEFORE_SENIOR = {"request": (1, START), "reminder": (2, utc(2026, 3, 30, 7)),
                     "follow_up": (1, utc(2026, 4, 30, 7))}


@pytest.mark.parametrize(
    ("case", "v", "now", "actions", "next_at"),
    [
        pytest.param("nothing sent, campaign just started: send the request",
                     view(), START, [Send("request", 1, utc(2026, 3, 2, 8))],
                     utc(2026, 3, 16, 8), id="first-send"),
        pytest.param("one reminder sent: the repeat is next, 10 business days on",
                     view(sent={"request": (1, START), "reminder": (1, utc(2026, 3, 16, 8))}),
                     utc(2026, 3, 20, 8), [], utc(2026, 3, 30, 7), id="repeat-waits"),
        pytest.param("the repeat is due: reminder 2, then the follow-up on due + 1",
                     view(sent={"request": (1, START), "reminder": (1, utc(2026, 3, 16, 8))}),
                     utc(2026, 3, 30, 7), [Send("reminder", 2, utc(2026, 3, 30, 7))],
                     utc(2026, 4, 30, 7), id="repeat-due"),
        pytest.param("senior notice due, not approved: flag it, nothing to wait for",
                     view(sent=ALL_BEFORE_SENIOR), utc(2026, 5, 18, 7),
                     [AwaitApproval("senior_notice", 1, utc(2026, 5, 18, 7))], None,
                     id="await-approval"),
        pytest.param("approved: send it; the hand-over is 10 business days after",
                     view(sent=ALL_BEFORE_SENIOR, approvals=frozenset({"senior_notice"})),
                     utc(2026, 5, 19, 12), [Send("senior_notice", 1, utc(2026, 5, 18, 7))],
                     utc(2026, 6, 3, 7), id="approved-send"),
        pytest.param("hand-over approved and due: hand over, then nothing",
                     view(sent={**ALL_BEFORE_SENIOR,
                                "senior_notice": (1, utc(2026, 5, 18, 7))},
                          approvals=frozenset({"senior_notice", "handover"})),
                     utc(2026, 6, 2, 7), [HandOver("handover", utc(2026, 6, 2, 7))], None,
                     id="handover"),
        pytest.param("paused until 10 April: nothing, look again then",
                     view(state=RequestState.PAUSED, paused_until=utc(2026, 4, 10, 8)),
                     START, [], utc(2026, 4, 10, 8), id="paused-until"),
        pytest.param("paused with no end: nothing until a person resumes it",
                     view(state=RequestState.PAUSED), START, [], None, id="paused-open-ended"),
        pytest.param("a pause whose end has passed plans as open",
                     view(state=RequestState.PAUSED, paused_until=utc(2026, 3, 2, 12)),
                     START, [Send("request", 1, utc(2026, 3, 2, 8))], utc(2026, 3, 16, 8),
                     id="pause-ended"),
        *(pytest.param(f"{s}: the ladder has ended", view(state=s), START, [], None,
                       id=f"ended-{s}")
          for s in (RequestState.ACCEPTED, RequestState.EXEMPT, RequestState.HANDED_OVER,
                    RequestState.CLOSED)),
        pytest.param("a stage name the (updated) ladder no longer has is ignored",
                     view(sent={"request": (1, START), "old_stage": (1, utc(2026, 3, 3))}),
                     utc(2026, 3, 16, 8), [Send("reminder", 1, utc(2026, 3, 16, 8))],
                     utc(2026, 3, 30, 7), id="unknown-stage-ignored"),
    ],
)
def test_decisions(case: str, v: RequestView, now: datetime, actions: list[object],
                   next_at: datetime | None) -> None:
    decision = decide(v, LADDER, now)
    assert (list(decision.actions), decision.next_action_at) == (actions, next_at), case
    assert decision.reason


def test_stage_without_approval_goes_straight_out() -> None:
    stages = tuple(s.model_copy(update={"requires_approval": False}) for s in LADDER.stages)
    ladder = LADDER.model_copy(update={"stages": stages})
    decision = decide(view(sent=ALL_BEFORE_SENIOR), ladder, utc(2026, 5, 18, 7))
    assert decision.actions == (Send("senior_notice", 1, utc(2026, 5, 18, 7)),)


def test_send_hour_is_the_ladders() -> None:
    ladder = LADDER.model_copy(update={"send_hour": 14})
    decision = decide(view(sent={"request": (1, START)}), ladder, utc(2026, 3, 3))
    assert decision.next_action_at == utc(2026, 3, 16, 13)


def test_a_ladder_of_one_stage_ends_after_it() -> None:
    ladder = Ladder(stages=(LadderStage(name="request", template="request",
                                        relative_to="start"),))
    decision = decide(view(sent={"request": (1, START)}), ladder, utc(2026, 3, 3))
    assert decision == Decision((), None, "every stage of the ladder has been sent")


def test_zero_day_stage_goes_the_next_day_not_in_the_same_tick() -> None:
    ladder = Ladder(stages=(
        LadderStage(name="request", template="request", relative_to="start"),
        LadderStage(name="copy", template="request", after_days=0),
    ))
    first = decide(view(), ladder, START)
    assert first.next_action_at == utc(2026, 3, 3, 8)


def test_catching_up_never_sends_twice_on_one_local_day() -> None:
    """Back after an outage at any hour of any weekday, with the second reminder and the
    follow-up both overdue: the reminder goes at once, the follow-up the next local day at
    09:00, the senior notice waits for approval."""
    berlin = zone("Europe/Berlin")
    for day in range(6, 13):
        for hour in range(24):
            now = utc(2026, 4, day, hour)
            v = view(due=date(2026, 3, 20), sent={"request": (1, START),
                                                 "reminder": (1, utc(2026, 3, 16, 8))})
            sends: list[datetime] = []
            for _ in range(5):
                decision = decide(v, LADDER, now)
                for action in decision.actions:
                    if isinstance(action, Send):
                        sends.append(now)
                        count = v.sent[action.stage].count if action.stage in v.sent else 0
                        v = replace(v, sent={**v.sent, action.stage: StageSent(count + 1, now)})
                if decision.next_action_at is None:
                    break
                assert decision.next_action_at > now
                now = decision.next_action_at
            first, second = (t.astimezone(berlin) for t in sends)
            assert second.date() == first.date() + timedelta(days=1), (day, hour)
            assert second.hour == 9, (day, hour)
            assert v.sent["reminder"].count == 2 and v.sent["follow_up"].count == 1


SHORT = Ladder(stages=(
    LadderStage(name="request", template="request", relative_to="start"),
    LadderStage(name="last_call", template="reminder", relative_to="due", after_days=-5),
    LadderStage(name="final", template="follow_up", relative_to="due", after_days=7, repeat=2),
))


@pytest.mark.parametrize(
    ("case", "v", "now", "expected"),
    [
        pytest.param(
            "on time: 5 days before the due date (Friday 24 April), then 7 days after it, "
            "twice, a week apart",
            view(), START,
            ["2026-03-02 Mon 14:00 request", "2026-04-24 Fri 09:00 last_call",
             "2026-05-06 Wed 09:00 final#1", "2026-05-13 Wed 09:00 final#2"], id="on-time"),
        pytest.param(
            "joined on Wednesday 1 April when the due date (20 March) had passed: each "
            "overdue stage keeps its own distance (5, then 7 days) from the actual send",
            view(started=utc(2026, 4, 1, 8), due=date(2026, 3, 20)), utc(2026, 4, 1, 8),
            ["2026-04-01 Wed 10:00 request", "2026-04-06 Mon 09:00 last_call",
             "2026-04-13 Mon 09:00 final#1", "2026-04-20 Mon 09:00 final#2"],
            id="due-passed-before-start"),
    ],
)
def test_start_and_due_relative_stages(case: str, v: RequestView, now: datetime,
                                       expected: list[str]) -> None:
    assert simulate(v, now, ladder=SHORT) == expected, case


def test_naive_datetimes_are_refused() -> None:
    with pytest.raises(ValueError, match="naive"):
        decide(view(), LADDER, datetime(2026, 3, 2, 12))  # noqa: DTZ001
    with pytest.raises(ValueError, match="naive"):
        view(last_rejected_at=datetime(2026, 3, 2, 12))  # noqa: DTZ001


def test_the_view_cannot_be_changed_behind_decides_back() -> None:
    raw = {"request": StageSent(1, START)}
    v = RequestView(state=RequestState.OPEN, campaign_started_at=START, started_at=START,
                    due_date=date(2026, 4, 29), sent=raw)
    raw["reminder"] = StageSent(1, START)
    assert "reminder" not in v.sent
    with pytest.raises(TypeError):
        v.sent["x"] = StageSent(1, START)  # type: ignore[index]


@pytest.mark.parametrize(
    ("stage", "message"),
    [
        ({"name": "r", "template": "r", "repeat": 2, "after_days": 0}, "at least 1"),
        ({"name": "r", "template": "r", "after_days": -2}, "relative to 'due'"),
        ({"name": "h", "handover": True, "repeat": 2, "after_days": 3}, "happens once"),
    ],
)
def test_incoherent_stages_are_refused(stage: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        LadderStage.model_validate(stage)


def test_ladder_defaults_and_bounds() -> None:
    assert (LADDER.send_hour, LADDER.rejection_grace_days) == (9, 7)
    assert [s.name for s in LADDER.stages if s.requires_approval] == ["senior_notice",
                                                                      "handover"]
    frozen_before = {"stages": [s.model_dump(mode="json") for s in LADDER.stages]}
    assert Ladder.model_validate(frozen_before) == LADDER  # an older campaign's ladder loads
    with pytest.raises(ValidationError):
        LADDER.model_validate({**frozen_before, "send_hour": 24})
