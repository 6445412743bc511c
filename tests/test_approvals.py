"""Approving gated stages and pausing delivery, on SQLite and PostgreSQL."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlmodel import Session, select

from outreach.core.clock import FixedClock
from outreach.db.models import Approval, Event, Request, Supplier
from outreach.errors import InvalidInput, InvalidState
from outreach.services import approvals as svc
from outreach.services import delivery_state as delivery
from tests.support.factories import import_lines, running_campaign, supplier_line, tx


@pytest.fixture
def request_row(session: Session, clock: FixedClock, tmp_path: Path) -> Request:
    with tx(session):
        import_lines(session, clock, tmp_path / "s.csv",
                     [supplier_line("A1"), supplier_line("B2")])
        running_campaign(session, clock)
    supplier = session.exec(select(Supplier).where(Supplier.code == "A1")).one()
    return session.exec(select(Request).where(Request.supplier_id == supplier.id)).one()


def test_a_waiting_stage_is_approved_once_and_rescheduled(
        session: Session, clock: FixedClock, request_row: Request) -> None:
    with tx(session):
        request_row.awaiting_approval = "senior_notice"
        request_row.next_action_at = None
    assert [p.stage for p in svc.pending_approvals(session)] == ["senior_notice"]
    with tx(session):
        stage = svc.approve(session, clock, request_row, actor="cli:ann", reason="checked")
    assert stage == "senior_notice"
    assert request_row.awaiting_approval is None and request_row.next_action_at == clock.now()
    assert svc.approved_stages(session, request_row.id) == {"senior_notice"}
    event = session.exec(select(Event).where(Event.kind == "request.approved")).one()
    assert (event.actor, event.reason, event.data) == ("cli:ann", "checked",
                                                      {"stage": "senior_notice"})
    assert svc.pending_approvals(session) == []
    with pytest.raises(InvalidState, match="already approved"):
        svc.approve(session, clock, request_row, actor="cli:ann", reason=None,
                    stage="senior_notice")


def test_approving_in_advance_and_what_cannot_be_approved(
        session: Session, clock: FixedClock, request_row: Request) -> None:
    with pytest.raises(InvalidState, match="nothing waits for approval"):
        svc.approve(session, clock, request_row, actor="cli:ann", reason=None)
    with pytest.raises(InvalidInput, match="does not wait for approval"):
        svc.approve(session, clock, request_row, actor="cli:ann", reason=None, stage="reminder")
    with pytest.raises(InvalidInput, match="no stage 'nope'"):
        svc.approve(session, clock, request_row, actor="cli:ann", reason=None, stage="nope")
    with tx(session):
        svc.approve(session, clock, request_row, actor="cli:ann", reason="pre-cleared",
                    stage="handover")
    assert request_row.next_action_at is not None  # untouched: nothing was waiting
    assert session.exec(select(Approval.stage)).all() == ["handover"]


def test_delivery_pause_resume_and_the_circuit(session: Session, clock: FixedClock) -> None:
    with pytest.raises(InvalidInput, match="--reason"):
        delivery.pause(session, clock, actor="cli:ann", reason=" ")
    with tx(session):
        for _ in range(delivery.CONNECTION_FAILURES_TO_OPEN - 1):
            assert not delivery.connection_failed(session, clock, "connection refused")
        delivery.connection_succeeded(session, clock)
        assert delivery.delivery_state(session, clock).connection_failures == 0
        opened = [delivery.connection_failed(session, clock, "connection refused")
                  for _ in range(delivery.CONNECTION_FAILURES_TO_OPEN)]
    assert opened[-1] and not any(opened[:-1])
    state = delivery.delivery_state(session, clock)
    assert state.paused and "could not be reached 5 times" in (state.reason or "")
    assert not delivery.open_circuit(session, clock, "535 login refused")  # already open
    with pytest.raises(InvalidState, match="already paused"):
        delivery.pause(session, clock, actor="cli:ann", reason="maintenance")
    with tx(session):
        delivery.resume(session, clock, actor="cli:ann", reason="server back")
    assert not delivery.delivery_state(session, clock).paused
    kinds = session.exec(select(Event.kind).order_by(Event.id)).all()
    assert kinds[-2:] == ["delivery.paused", "delivery.resumed"]
    with pytest.raises(InvalidState, match="not paused"):
        delivery.resume(session, clock, actor="cli:ann", reason=None)
