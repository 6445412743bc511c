"""Coverage: the pure figures and projection, the grouped queries, and their speed."""

from __future__ import annotations

import secrets
import time
from datetime import date, datetime, timedelta
from pathlib import Path

from sqlalchemy import insert
from sqlmodel import Session, select

from outreach.core.clock import FixedClock
from outreach.core.coverage import SeriesPoint, change, daily_series, project, ratio
from outreach.core.enums import RequestState
from outreach.db.audit import record_event
from outreach.db.models import Campaign, Event, Request, Submission, Supplier
from outreach.services.coverage import campaign_coverage
from outreach.services.requests import exempt_request
from tests.support.factories import import_lines, running_campaign, supplier_line, tx

D0 = date(2027, 1, 1)


def test_ratio_and_daily_series() -> None:
    assert ratio(1, 3) == 0.3333 and ratio(0, 0) is None
    series = daily_series([D0 - timedelta(days=2), D0, D0, D0 + timedelta(days=2)],
                          start=D0, end=D0 + timedelta(days=3), in_scope=10)
    assert [(p.day.day, p.accepted) for p in series] == [(1, 3), (2, 3), (3, 4), (4, 4)]
    assert series[-1].coverage == 0.4


def test_projection_uses_the_last_fourteen_days() -> None:
    # 2 accepted a day for 20 days: 40 of 100, rate 2/day -> 30 more days
    points = [SeriesPoint(D0 + timedelta(days=i), 2 * (i + 1), None) for i in range(20)]
    projection = project(points, in_scope=100)
    assert projection.rate_per_day == 2.0
    assert projection.complete_on == points[-1].day + timedelta(days=30)
    flat = [SeriesPoint(D0 + timedelta(days=i), 5, None) for i in range(20)]
    assert project(flat, in_scope=100).complete_on is None  # rate 0: no date
    done = [SeriesPoint(D0, 10, None)]
    assert project(done, in_scope=10).complete_on == D0
    # fewer days than the window: the rate over the days there are
    short = [SeriesPoint(D0 + timedelta(days=i), i + 1, None) for i in range(4)]
    assert project(short, in_scope=8).complete_on == D0 + timedelta(days=7)


def test_change_since_the_previous_digest() -> None:
    assert change(None, {"accepted": 3})["accepted"] is None
    moved = change({"period": "2027-W02", "accepted": 3, "responded": 5, "coverage": 0.3},
                   {"accepted": 5, "responded": 9, "coverage": 0.5})
    assert moved == {"previous_period": "2027-W02", "accepted": 2, "responded": 4,
                     "coverage_points": 20.0}


def _accept(session: Session, clock: FixedClock, request: Request, at: datetime) -> None:
    request.state, request.accepted_at = RequestState.ACCEPTED, at
    request.next_action_at = None
    event = record_event(session, clock, actor="test", kind="request.accepted",
                         campaign_id=request.campaign_id, request_id=request.id)
    event.at = at


def test_campaign_coverage_counts_exempt_apart_and_responded_beside(
        session: Session, clock: FixedClock, tmp_path: Path) -> None:
    with tx(session):
        import_lines(session, clock, tmp_path / "s.csv", [
            supplier_line("A1", country="DE"), supplier_line("A2", country="DE"),
            supplier_line("B1", country="US"), supplier_line("B2", country="US"),
            supplier_line("C1", country="CN")])
        campaign = running_campaign(session, clock)
        requests = {s.code: r for r, s in session.exec(
            select(Request, Supplier).join(Supplier, Supplier.id == Request.supplier_id)).all()}
        _accept(session, clock, requests["A1"], clock.now())
        clock.advance(timedelta(days=1))
        _accept(session, clock, requests["B1"], clock.now())
        requests["A1"].responded_at = requests["B1"].responded_at = clock.now()
        requests["A2"].responded_at = clock.now()  # replied, but nothing accepted yet
        exempt_request(session, clock, requests["C1"], actor="cli:test",
                       reason="no 3TG in its products")
        session.add(Submission(request_id=requests["A1"].id, filename="a.xlsx", size=1,
                               received_at=clock.now(), outcome="accepted",
                               declaration={"metals": [
                                   {"metal": "tin", "in_scope": True, "answers": {}},
                                   {"metal": "gold", "in_scope": False, "answers": {}}]}))
    c = campaign_coverage(session, campaign, today=clock.now().date())
    assert (c.requests, c.in_scope, c.accepted, c.responded) == (5, 4, 2, 3)
    assert c.coverage == 0.5 and c.responded_ratio == 0.75 and not c.complete
    assert [(e.code, e.reason) for e in c.exempt] == [("C1", "no 3TG in its products")]
    countries = {g.key: (g.in_scope, g.accepted, g.exempt) for g in c.by_country}
    assert countries == {"DE": (2, 1, 0), "US": (2, 1, 0), "CN": (0, 0, 1)}
    assert sum(g.in_scope for g in c.by_stage) == 4
    assert [(m.metal, m.suppliers) for m in c.by_metal] == [("Tin", 1)]
    assert [p.accepted for p in c.series][-2:] == [1, 2]
    assert c.projection.complete_on is not None
    shown = c.as_json()
    assert shown["exempt"][0]["reason"] == "no 3TG in its products"
    assert shown["projected_complete"] == c.projection.complete_on.isoformat()


def test_coverage_of_twenty_thousand_suppliers_is_a_few_grouped_queries(
        session: Session, clock: FixedClock, tmp_path: Path) -> None:
    with tx(session):
        import_lines(session, clock, tmp_path / "s.csv", [supplier_line("SEED")])
        campaign = running_campaign(session, clock)
    now = clock.now()
    countries = ["DE", "US", "CN", "JP", "MX", None]
    supplier_rows = [dict(code=f"S{i:05d}", name=f"Supplier {i}", country=countries[i % 6],
                          language="en", email_domains=[], scope_tags=[], active=True,
                          created_at=now, updated_at=now) for i in range(20_000)]
    with tx(session):
        session.execute(insert(Supplier), supplier_rows)
        ids = session.exec(select(Supplier.id).where(Supplier.code != "SEED")).all()
        states = [RequestState.OPEN, RequestState.ACCEPTED, RequestState.EXEMPT]
        session.execute(insert(Request), [dict(
            campaign_id=campaign.id, supplier_id=sid, state=states[n % 3],
            stage="request" if n % 2 else None, stage_repeat=0, due_date=campaign.due_date,
            reply_token=secrets.token_hex(8), joined_late=False,
            accepted_at=now - timedelta(days=n % 20) if n % 3 == 1 else None,
            responded_at=now if n % 3 == 1 else None, created_at=now, updated_at=now)
            for n, sid in enumerate(ids)])
        accepted = session.exec(select(Request.id, Request.accepted_at)
                                .where(Request.state == RequestState.ACCEPTED)).all()
        session.execute(insert(Event), [dict(at=at, actor="test", kind="request.accepted",
                                             campaign_id=campaign.id, request_id=rid, data={})
                                        for rid, at in accepted])
    fresh_campaign = session.get(Campaign, campaign.id)
    assert fresh_campaign is not None
    started = time.perf_counter()
    c = campaign_coverage(session, fresh_campaign, today=now.date())
    elapsed = time.perf_counter() - started
    assert c.requests == 20_001 and c.accepted == len(accepted)
    assert c.in_scope == c.requests - len(c.exempt)
    assert c.series[-1].accepted == len(accepted)
    assert elapsed < 5, f"coverage of 20,000 requests took {elapsed:.1f}s"
