"""Coverage of one campaign, from a handful of grouped queries (never one per request).

``campaign_coverage(session, campaign, today=)`` reads:

1. requests grouped by (state, stage, supplier country, responded?) — every count;
2. the exempt requests with their reasons (a short list);
3. the first ``request.accepted`` event per request (one row per accepted request) for the
   series over time;
4. the metals in scope: from each accepted request's accepted submissions, the metals the
   declaration takes in scope (CMRT questions 1 and 2, as ``cmrt.content`` reads them); a
   supplier counts once per metal. The smelter rows of those submissions are counted per
   metal beside it (one grouped query).

20,000 requests are a few grouped result sets; nothing here loads a request row.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from sqlalchemy import case, distinct
from sqlmodel import Session, col, func, select

from outreach.cmrt.validate import ACCEPTED_OUTCOMES
from outreach.core.coverage import (
    Projection,
    SeriesPoint,
    daily_series,
    is_complete,
    project,
    ratio,
)
from outreach.core.enums import RequestState
from outreach.db.models import Campaign, Event, Request, Submission, SubmissionSmelter, Supplier

NOT_CONTACTED = "not contacted"
NO_COUNTRY = "unknown"


@dataclass(frozen=True)
class Group:
    """One row of a breakdown: requests in scope, accepted and responded among them."""

    key: str
    in_scope: int
    accepted: int
    responded: int
    #: exempt requests in this group (not in ``in_scope``)
    exempt: int = 0

    @property
    def coverage(self) -> float | None:
        return ratio(self.accepted, self.in_scope)

    def as_json(self) -> dict[str, Any]:
        return {"key": self.key, "in_scope": self.in_scope, "accepted": self.accepted,
                "responded": self.responded, "exempt": self.exempt, "coverage": self.coverage}


@dataclass(frozen=True)
class Exempt:
    code: str
    name: str
    reason: str | None


@dataclass(frozen=True)
class MetalRow:
    metal: str
    #: accepted suppliers whose declaration takes the metal in scope
    suppliers: int
    #: smelter rows for the metal in those suppliers' accepted submissions
    smelters: int

    def as_json(self) -> dict[str, Any]:
        return {"metal": self.metal, "suppliers": self.suppliers, "smelters": self.smelters}


@dataclass(frozen=True)
class CampaignCoverage:
    campaign_id: int
    campaign: str
    state: str
    due_date: date
    requests: int
    in_scope: int
    accepted: int
    responded: int
    by_state: dict[str, int]
    by_stage: list[Group]
    by_country: list[Group]
    by_metal: list[MetalRow]
    exempt: list[Exempt]
    series: list[SeriesPoint]
    projection: Projection
    today: date
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def coverage(self) -> float | None:
        return ratio(self.accepted, self.in_scope)

    @property
    def responded_ratio(self) -> float | None:
        return ratio(self.responded, self.in_scope)

    @property
    def complete(self) -> bool:
        return is_complete(self.accepted, self.in_scope)

    def figures(self) -> dict[str, Any]:
        """The headline numbers a digest stores, to show the change next time."""
        return {"in_scope": self.in_scope, "accepted": self.accepted,
                "responded": self.responded, "exempt": len(self.exempt),
                "coverage": self.coverage, "responded_ratio": self.responded_ratio,
                "as_of": self.today.isoformat()}

    def as_json(self) -> dict[str, Any]:
        return {
            "campaign": self.campaign, "state": self.state,
            "due_date": self.due_date.isoformat(), "requests": self.requests,
            "in_scope": self.in_scope, "accepted": self.accepted, "coverage": self.coverage,
            "responded": self.responded, "responded_ratio": self.responded_ratio,
            "complete": self.complete,
            "exempt": [{"supplier": e.code, "name": e.name, "reason": e.reason}
                       for e in self.exempt],
            "by_state": self.by_state,
            "by_stage": [g.as_json() for g in self.by_stage],
            "by_country": [g.as_json() for g in self.by_country],
            "by_metal": [m.as_json() for m in self.by_metal],
            "series": [{"day": p.day.isoformat(), "accepted": p.accepted,
                        "coverage": p.coverage} for p in self.series],
            "rate_per_day": self.projection.rate_per_day,
            "projected_complete": (self.projection.complete_on.isoformat()
                                   if self.projection.complete_on else None),
        }


def campaign_coverage(session: Session, campaign: Campaign, *, today: date,
                      tz: str = "UTC") -> CampaignCoverage:
    """The coverage picture of ``campaign`` as of ``today`` (days counted in ``tz``)."""
    assert campaign.id is not None
    responded = case((col(Request.responded_at).is_not(None), 1), else_=0)
    rows = session.exec(
        select(Request.state, Request.stage, Supplier.country, responded, func.count())
        .join(Supplier, col(Supplier.id) == Request.supplier_id)
        .where(Request.campaign_id == campaign.id)
        .group_by(Request.state, Request.stage, Supplier.country, responded)).all()
    by_state: Counter[str] = Counter()
    stages: dict[str, list[int]] = {}
    countries: dict[str, list[int]] = {}
    for state, stage, country, did_respond, count in rows:
        state = str(state)
        by_state[state] += count
        for table, key in ((stages, stage or NOT_CONTACTED), (countries, country or NO_COUNTRY)):
            slot = table.setdefault(key, [0, 0, 0, 0])  # in scope, accepted, responded, exempt
            if state == RequestState.EXEMPT:
                slot[3] += count
                continue
            slot[0] += count
            slot[1] += count if state == RequestState.ACCEPTED else 0
            slot[2] += count if did_respond else 0
    total = sum(by_state.values())
    exempt_count = by_state.get(RequestState.EXEMPT, 0)
    in_scope = total - exempt_count
    accepted = by_state.get(RequestState.ACCEPTED, 0)
    responded_total = sum(s[2] for s in stages.values())

    exempt = [Exempt(code, name, reason) for code, name, reason in session.exec(
        select(Supplier.code, Supplier.name, Request.exempt_reason)
        .join(Supplier, col(Supplier.id) == Request.supplier_id)
        .where(Request.campaign_id == campaign.id)
        .where(Request.state == RequestState.EXEMPT).order_by(Supplier.code)).all()]

    start = (campaign.started_at or campaign.created_at)
    series = daily_series(_acceptance_days(session, campaign, tz), start=_day(start, tz),
                          end=today, in_scope=in_scope)
    return CampaignCoverage(
        campaign_id=campaign.id, campaign=campaign.name, state=str(campaign.state),
        due_date=campaign.due_date, requests=total, in_scope=in_scope, accepted=accepted,
        responded=responded_total, by_state=dict(sorted(by_state.items())),
        by_stage=_groups(stages), by_country=_groups(countries),
        by_metal=metal_rows(session, campaign.id), exempt=exempt, series=series,
        projection=project(series, in_scope=in_scope), today=today)


def _groups(table: dict[str, list[int]]) -> list[Group]:
    groups = [Group(k, *v) for k, v in table.items()]
    return sorted(groups, key=lambda g: (-(g.in_scope + g.exempt), g.key))


def _day(at: datetime, tz: str) -> date:
    from zoneinfo import ZoneInfo

    return at.astimezone(ZoneInfo(tz)).date()


def _acceptance_days(session: Session, campaign: Campaign, tz: str) -> list[date]:
    """The day of each accepted request's first ``request.accepted`` event (its
    ``accepted_at`` when the event is missing): one row per accepted request."""
    first = session.exec(
        select(Request.accepted_at, func.min(Event.at))
        .outerjoin(Event, (col(Event.request_id) == Request.id)
                   & (col(Event.kind) == "request.accepted"))
        .where(Request.campaign_id == campaign.id)
        .where(Request.state == RequestState.ACCEPTED)
        .group_by(Request.id, Request.accepted_at)).all()
    return [_day(event_at or accepted_at, tz) for accepted_at, event_at in first
            if (event_at or accepted_at) is not None]


def metal_rows(session: Session, campaign_id: int) -> list[MetalRow]:
    """Per metal: accepted suppliers declaring it in scope, and their smelter rows."""
    accepted = (select(Submission.id)
                .join(Request, col(Request.id) == Submission.request_id)
                .where(Request.campaign_id == campaign_id)
                .where(Request.state == RequestState.ACCEPTED)
                .where(col(Submission.outcome).in_(sorted(ACCEPTED_OUTCOMES))))
    suppliers: dict[str, set[int]] = {}
    result = session.exec(
        select(Submission.request_id, Submission.declaration)
        .where(col(Submission.id).in_(accepted.scalar_subquery()))
        .execution_options(yield_per=500))
    for request_id, declaration in result:
        for metal in (declaration or {}).get("metals", ()):
            if metal.get("in_scope") and metal.get("metal"):
                suppliers.setdefault(str(metal["metal"]).title(), set()).add(request_id or 0)
    smelters: Counter[str] = Counter()
    for metal, count in session.exec(
            select(SubmissionSmelter.metal, func.count(distinct(SubmissionSmelter.id)))
            .where(col(SubmissionSmelter.submission_id).in_(accepted.scalar_subquery()))
            .group_by(SubmissionSmelter.metal)).all():
        if metal:
            smelters[str(metal).title()] += count
    names = sorted(set(suppliers) | set(smelters))
    return [MetalRow(m, len(suppliers.get(m, ())), smelters.get(m, 0)) for m in names]
