"""Campaign lifecycle and per-request actions on a real database."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import pytest
from sqlmodel import Session, select

from outreach.core.clock import FixedClock
from outreach.core.enums import CampaignState, RequestState, TemplateFamily
from outreach.core.ladder import default_ladder
from outreach.db.models import Campaign, Event, Request, Supplier
from outreach.errors import InvalidInput, InvalidState, NotFound
from outreach.services import campaigns as svc
from outreach.services import requests as rq
from tests.support.factories import import_lines, running_campaign, supplier_line, tx

LINES = [supplier_line("A1", tags="cmrt"), supplier_line("B2", tags="cmrt, emrt"),
         supplier_line("C3", tags="emrt")]


@pytest.fixture
def suppliers(session: Session, clock: FixedClock, tmp_path: Path) -> None:
    with tx(session):
        import_lines(session, clock, tmp_path / "s.csv", LINES)


def _spec(**kw: object) -> svc.NewCampaign:
    values: dict[str, object] = {"name": "CMRT 2026", "reporting_year": 2026,
                                 "due_date": date(2027, 3, 31),
                                 "template_family": TemplateFamily.CMRT, "min_version": "6.01"}
    values.update(kw)
    return svc.NewCampaign(**values)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"name": " "}, "needs a name"),
        ({"reporting_year": 1999}, "not a plausible year"),
        ({"min_version": "latest"}, "should look like 6.01"),
        ({"due_date": date(2027, 1, 11)}, "not after today"),
    ],
)
def test_create_validates(session: Session, clock: FixedClock, changes: dict, message: str
                          ) -> None:
    with pytest.raises(InvalidInput, match=message):
        svc.create_campaign(session, clock, _spec(**changes), actor="t", company_time_zone="UTC")


def test_names_are_unique(session: Session, clock: FixedClock) -> None:
    with tx(session):
        svc.create_campaign(session, clock, _spec(), actor="t", company_time_zone="UTC")
    with pytest.raises(InvalidInput, match="exists already"):
        svc.create_campaign(session, clock, _spec(), actor="t", company_time_zone="UTC")


def test_start_needs_suppliers(session: Session, clock: FixedClock) -> None:
    with tx(session):
        campaign = svc.create_campaign(session, clock, _spec(), actor="t", company_time_zone="UTC")
    with pytest.raises(InvalidState, match="supplier import"):
        svc.start_campaign(session, clock, campaign, default_ladder(), actor="t",
                           late_joiner_days=30, company_time_zone="UTC")


@pytest.mark.usefixtures("suppliers")
def test_start_freezes_ladder_and_asks_every_supplier_once(session: Session,
                                                           clock: FixedClock) -> None:
    with tx(session):
        campaign = running_campaign(session, clock)
    requests = session.exec(select(Request)).all()
    assert len(requests) == 3
    assert {r.state for r in requests} == {RequestState.OPEN}
    assert {r.due_date for r in requests} == {date(2027, 3, 31)}
    assert {r.next_action_at for r in requests} == {clock.now()}
    assert len({r.reply_token for r in requests}) == 3
    assert all(len(r.reply_token) == 12 and r.reply_token.isalnum() for r in requests)
    stored = session.get(Campaign, campaign.id)
    assert stored is not None and stored.state == CampaignState.RUNNING
    assert [s["name"] for s in stored.ladder["stages"]] == [s.name for s in default_ladder().stages]
    with pytest.raises(InvalidState, match="is running"):
        svc.start_campaign(session, clock, stored, default_ladder(), actor="t",
                           late_joiner_days=30, company_time_zone="UTC")


@pytest.mark.usefixtures("suppliers")
def test_scope_tags_choose_the_suppliers(session: Session, clock: FixedClock) -> None:
    with tx(session):
        campaign = running_campaign(session, clock, name="EMRT 2026", scope=("emrt",))
    codes = sorted(session.exec(select(Supplier.code).join(Request, Request.supplier_id ==
                                                           Supplier.id)).all())
    assert codes == ["B2", "C3"] and campaign.scope_tags == ["emrt"]


@pytest.mark.usefixtures("suppliers")
def test_pause_resume_close(session: Session, clock: FixedClock) -> None:
    with tx(session):
        campaign = running_campaign(session, clock)
    with tx(session):
        svc.pause_campaign(session, clock, campaign, actor="cli:ann", reason="holiday freeze")
    assert campaign.state == CampaignState.PAUSED
    with pytest.raises(InvalidState, match="cannot become paused"):
        svc.pause_campaign(session, clock, campaign, actor="cli:ann", reason=None)
    with tx(session):
        svc.resume_campaign(session, clock, campaign, actor="cli:ann", reason=None)
        request = rq.find_request(session, "A1", None)
        rq.exempt_request(session, clock, request, actor="cli:ann", reason="no 3TG")
    with tx(session):
        closed = svc.close_campaign(session, clock, campaign, actor="cli:ann", reason="season over")
    assert closed == 2
    states = sorted(r.state for r in session.exec(select(Request)))
    assert states == ["closed", "closed", "exempt"]
    kinds = [e.kind for e in session.exec(select(Event).where(Event.kind.startswith("campaign.")))]
    assert kinds == ["campaign.created", "campaign.started", "campaign.paused",
                     "campaign.resumed", "campaign.closed"]
    paused = session.exec(select(Event).where(Event.kind == "campaign.paused")).one()
    assert (paused.actor, paused.reason) == ("cli:ann", "holiday freeze")
    with pytest.raises(NotFound, match="no open campaign"):
        svc.get_campaign(session, None)


@pytest.mark.usefixtures("suppliers")
def test_get_campaign_by_name_id_or_default(session: Session, clock: FixedClock) -> None:
    with tx(session):
        first = running_campaign(session, clock)
    assert svc.get_campaign(session, None).id == first.id
    assert svc.get_campaign(session, str(first.id)).id == first.id
    with tx(session):
        running_campaign(session, clock, name="EMRT 2026", scope=("emrt",))
    with pytest.raises(InvalidInput, match="several campaigns are open"):
        svc.get_campaign(session, None)
    assert svc.get_campaign(session, "EMRT 2026").name == "EMRT 2026"
    with pytest.raises(NotFound, match="no campaign named"):
        svc.get_campaign(session, "CMRT 1999")


@pytest.fixture
def request_a1(session: Session, clock: FixedClock, suppliers: None) -> Request:
    with tx(session):
        running_campaign(session, clock)
    session.commit()
    return rq.find_request(session, "a1", None)  # codes match case-insensitively


def test_extend_moves_own_due_date_and_replans(session: Session, clock: FixedClock,
                                              request_a1: Request) -> None:
    with tx(session):
        request_a1.next_action_at = clock.now() + timedelta(days=9)
    clock.advance(timedelta(hours=2))
    with tx(session):
        previous = rq.extend_request(session, clock, request_a1, date(2027, 4, 30),
                                     actor="cli:ann", reason="ERP migration")
    assert previous == date(2027, 3, 31) and request_a1.due_date == date(2027, 4, 30)
    assert request_a1.next_action_at == clock.now()
    event = session.exec(select(Event).where(Event.kind == "request.extended")).one()
    assert (event.actor, event.reason, event.request_id) == ("cli:ann", "ERP migration",
                                                             request_a1.id)
    assert event.data == {"previous": "2027-03-31", "due_date": "2027-04-30"}
    other = rq.find_request(session, "B2", None)
    assert other.due_date == date(2027, 3, 31)


@pytest.mark.parametrize(
    ("new_due", "reason", "message"),
    [(date(2027, 3, 31), "x", "not after the current one"), (date(2027, 4, 30), "", "--reason")],
)
def test_extend_refuses(session: Session, clock: FixedClock, request_a1: Request,
                        new_due: date, reason: str, message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        rq.extend_request(session, clock, request_a1, new_due, actor="t", reason=reason)


def test_pause_until_then_resume(session: Session, clock: FixedClock,
                                 request_a1: Request) -> None:
    until = clock.now() + timedelta(days=10)
    with tx(session):
        rq.pause_request(session, clock, request_a1, actor="t", reason="promised", until=until)
    assert request_a1.state == RequestState.PAUSED and request_a1.next_action_at == until
    with pytest.raises(InvalidState, match="only an open request"):
        rq.pause_request(session, clock, request_a1, actor="t", reason="again", until=None)
    clock.advance(timedelta(days=1))
    with tx(session):
        rq.resume_request(session, clock, request_a1, actor="t", reason=None)
    assert request_a1.state == RequestState.OPEN and request_a1.paused_until is None
    assert request_a1.next_action_at == clock.now()
    with pytest.raises(InvalidState, match="not paused"):
        rq.resume_request(session, clock, request_a1, actor="t", reason=None)
    with pytest.raises(InvalidInput, match="not in the future"):
        rq.pause_request(session, clock, request_a1, actor="t", reason="x",
                         until=clock.now() - timedelta(days=1))


def test_exempt_ends_the_ladder_and_blocks_other_actions(session: Session, clock: FixedClock,
                                                        request_a1: Request) -> None:
    with tx(session):
        rq.exempt_request(session, clock, request_a1, actor="t", reason="packaging only")
        rq.note_request(session, clock, request_a1, "called them", actor="cli:bob")
    assert request_a1.state == RequestState.EXEMPT and request_a1.next_action_at is None
    with pytest.raises(InvalidState, match="cannot be extended"):
        rq.extend_request(session, clock, request_a1, date(2027, 5, 1), actor="t", reason="x")
    with pytest.raises(InvalidInput, match="--reason"):
        rq.exempt_request(session, clock, request_a1, actor="t", reason=None)
    view = rq.view_request(session, request_a1)
    assert [e.kind for e in view.events] == ["request.created", "request.exempted",
                                             "request.note"]
    assert view.events[-1].reason == "called them" and view.events[-1].actor == "cli:bob"
    assert {c.role for c in view.contacts} == {"primary", "escalation"}


def test_find_request_errors(session: Session, request_a1: Request) -> None:
    with pytest.raises(NotFound, match="no supplier with code"):
        rq.find_request(session, "ZZ9", None)


def test_templates_the_frozen_ladders_send_must_stay(session: Session, clock: FixedClock,
                                                     suppliers: None) -> None:
    from outreach.mail.template_check import check
    from outreach.mail.template_samples import INTAKE_KINDS
    from outreach.resources import resource_dir

    with tx(session):
        campaign = running_campaign(session, clock)
        frozen = dict(campaign.ladder or {})
        frozen["stages"] = [*frozen["stages"][:-1],
                            {**frozen["stages"][1], "name": "last_call", "template": "last_call"},
                            frozen["stages"][-1]]
        campaign.ladder = frozen
    kinds = svc.frozen_template_kinds(session)
    assert {"request", "reminder", "last_call"} <= kinds
    problems = check(resource_dir("templates") / "email",
                     required_kinds=(*INTAKE_KINDS, *sorted(kinds)))
    assert any("last_call" in p.message for p in problems)
