"""The tick ends expired pauses; `outreach run` ticks until SIGTERM and stops cleanly."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

from sqlmodel import Session, select

from outreach.core.clock import FixedClock
from outreach.core.enums import RequestState
from outreach.db.models import Event, Request
from outreach.services import campaigns as svc
from outreach.services import requests as rq
from outreach.services.tick import tick
from tests.support.factories import import_lines, running_campaign, supplier_line, tx


def _setup(session: Session, clock: FixedClock, tmp_path: Path) -> tuple[Request, Request]:
    with tx(session):
        import_lines(session, clock, tmp_path / "s.csv", [supplier_line("A1"),
                                                          supplier_line("B2")])
        running_campaign(session, clock)
        a1, b2 = rq.find_request(session, "A1", None), rq.find_request(session, "B2", None)
        rq.pause_request(session, clock, a1, actor="t", reason="promised",
                         until=clock.now() + timedelta(days=10))
        rq.pause_request(session, clock, b2, actor="t", reason="until told", until=None)
    return a1, b2


def test_tick_reopens_requests_whose_pause_ended(session: Session, clock: FixedClock,
                                                  tmp_path: Path) -> None:
    a1, b2 = _setup(session, clock, tmp_path)
    clock.advance(timedelta(days=9, hours=23))
    with tx(session):
        assert tick(session, clock).resumed == 0
    clock.advance(timedelta(hours=1))
    with tx(session):
        assert tick(session, clock).resumed == 1
    assert a1.state == RequestState.OPEN and a1.paused_until is None
    assert a1.next_action_at == clock.now()
    assert b2.state == RequestState.PAUSED  # paused by hand: waits for a person
    event = session.exec(select(Event).where(Event.kind == "request.resumed")).one()
    assert (event.actor, event.reason) == ("system:scheduler", "the pause ended")
    with tx(session):
        assert tick(session, clock).resumed == 0  # a doubled tick does nothing


def test_tick_ignores_closed_campaigns(session: Session, clock: FixedClock,
                                       tmp_path: Path) -> None:
    a1, _ = _setup(session, clock, tmp_path)
    with tx(session):
        svc.close_campaign(session, clock, svc.get_campaign(session, None), actor="t",
                           reason="done")
    clock.advance(timedelta(days=11))
    with tx(session):
        assert tick(session, clock).resumed == 0
    assert a1.state == RequestState.CLOSED


def test_run_ticks_until_sigterm(tmp_path: Path, db_url: str) -> None:
    env = {**os.environ, "OUTREACH_DATABASE__URL": db_url, "OUTREACH_DATA": str(tmp_path / "d"),
           "OUTREACH_LOGGING__FORMAT": "json"}
    cmd = [sys.executable, "-m", "outreach"]
    subprocess.run([*cmd, "db", "upgrade"], env=env, check=True, capture_output=True)
    csv = tmp_path / "s.csv"
    from tests.support.factories import HEADER
    csv.write_text(f"{HEADER}\n{supplier_line('A1')}\n", encoding="utf-8")
    for args in (["supplier", "import", str(csv)],
                 ["campaign", "create", "C", "--year", "2026", "--due", "2099-01-01"],
                 ["campaign", "start"],
                 ["request", "pause", "A1", "--reason", "x", "--until", "2098-01-01"]):
        subprocess.run([*cmd, *args], env=env, check=True, capture_output=True)
    # the service runs years later (a fixed clock): its first tick must end the pause
    env["OUTREACH_CLOCK__MODE"] = "fixed"
    env["OUTREACH_CLOCK__START"] = "2098-06-01T00:00:00Z"
    proc = subprocess.Popen([*cmd, "run"], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            shown = subprocess.run([*cmd, "request", "show", "A1", "--json"], env=env,
                                   capture_output=True, text=True)
            if '"state": "open"' in shown.stdout:
                break
            time.sleep(0.2)
        else:
            raise AssertionError("the service did not resume the request")
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=20)
    assert proc.returncode == 0, err
    assert "service.started" in err and "service.stopped" in err
    assert "request.resumed" in err
