"""What ``campaign update-ladder --dry-run`` shows: the schedule under the frozen ladder and
under the new one (``schedule.simulate`` twice), compared stage by stage and per supplier.
Nothing is written."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlmodel import Session

from outreach.core.clock import Clock
from outreach.core.ladder import Ladder
from outreach.db.models import Campaign
from outreach.services.campaigns import check_ladder_update, ladder_changes
from outreach.services.schedule import Schedule, ScheduleRow, simulate
from outreach.settings import Settings


@dataclass(frozen=True)
class StageChange:
    """One stage's rows over the horizon under the old and under the new ladder."""

    stage: str
    before: int
    after: int
    before_first: datetime | None
    before_last: datetime | None
    after_first: datetime | None
    after_last: datetime | None

    @property
    def changed(self) -> bool:
        return (self.before, self.before_first, self.before_last) != (
            self.after, self.after_first, self.after_last)


@dataclass(frozen=True)
class NextStepChange:
    supplier_code: str
    before: ScheduleRow | None
    after: ScheduleRow | None


@dataclass(frozen=True)
class LadderPreview:
    before: Schedule
    after: Schedule
    changes: dict[str, Any]
    stages: tuple[StageChange, ...]
    next_steps: tuple[NextStepChange, ...]

    def as_json(self) -> dict[str, Any]:
        def step(row: ScheduleRow | None) -> dict[str, Any] | None:
            return None if row is None else {"stage": row.stage, "repeat": row.repeat,
                                             "kind": row.kind, "at": row.at.isoformat()}

        def iso(value: datetime | None) -> str | None:
            return value.isoformat() if value else None

        return {"campaign": self.before.campaign, "from": self.before.start.isoformat(),
                "until": self.before.until.isoformat(), "changes": self.changes,
                "assumptions": list(self.before.assumptions),
                "stages": [{"stage": s.stage, "before": s.before, "after": s.after,
                            "before_first": iso(s.before_first),
                            "before_last": iso(s.before_last),
                            "after_first": iso(s.after_first), "after_last": iso(s.after_last)}
                           for s in self.stages],
                "next_steps": [{"supplier": n.supplier_code, "before": step(n.before),
                                "after": step(n.after)} for n in self.next_steps]}


def compare(before: Schedule, after: Schedule) -> tuple[tuple[StageChange, ...],
                                                        tuple[NextStepChange, ...]]:
    """Per stage, and per request's next step, how ``after`` differs from ``before``."""
    names = [s.name for s in before.ladder.stages]
    names += [s.name for s in after.ladder.stages if s.name not in names]
    stages = []
    for name in names:
        old = [r.at for r in before.rows if r.stage == name]
        new = [r.at for r in after.rows if r.stage == name]
        stages.append(StageChange(name, len(old), len(new), min(old, default=None),
                                  max(old, default=None), min(new, default=None),
                                  max(new, default=None)))
    first_old, first_new = _next_steps(before), _next_steps(after)
    steps = []
    for code in sorted(set(first_old) | set(first_new)):
        old_row, new_row = first_old.get(code), first_new.get(code)
        if _step_key(old_row) != _step_key(new_row):
            steps.append(NextStepChange(code, old_row, new_row))
    return tuple(stages), tuple(steps)


def _next_steps(schedule: Schedule) -> dict[str, ScheduleRow]:
    """Each supplier's first step not yet in the outbox."""
    found: dict[str, ScheduleRow] = {}
    for row in schedule.rows:  # in time order
        if not row.queued:
            found.setdefault(row.supplier_code, row)
    return found


def _step_key(row: ScheduleRow | None) -> tuple[object, ...] | None:
    return None if row is None else (row.stage, row.repeat, row.kind, row.at)


def preview_ladder_update(session: Session, clock: Clock, settings: Settings,
                          campaign: Campaign, new: Ladder, *, days: int = 30) -> LadderPreview:
    """What ``campaign update-ladder`` would change, over the next ``days``; writes nothing."""
    old = check_ladder_update(session, campaign, new)
    before = simulate(session, clock, settings, campaign, days=days, ladder=old)
    after = simulate(session, clock, settings, campaign, days=days, ladder=new)
    stages, steps = compare(before, after)
    return LadderPreview(before, after, ladder_changes(old, new), stages, steps)
