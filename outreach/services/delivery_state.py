"""Whether delivery runs: a person's pause, and the circuit breaker.

One row (``DeliveryState``). Failures that would repeat for every message — the server
refusing our login, a policy block, a quota, the server unreachable again and again — open
the circuit: delivery stops for every message and an alert goes out, until a person has
fixed the cause and runs ``outreach delivery resume``. A person can pause on purpose too
(``outreach delivery pause --reason``). Deciding goes on meanwhile; messages wait in the
outbox and leave in order once delivery resumes.
"""

from __future__ import annotations

import structlog
from sqlmodel import Session

from outreach.core.clock import Clock
from outreach.db.audit import record_event
from outreach.db.models import DeliveryState
from outreach.errors import InvalidInput, InvalidState

log = structlog.get_logger(__name__)

#: connection failures in a row that open the circuit
CONNECTION_FAILURES_TO_OPEN = 5
SYSTEM = "system:delivery"


def delivery_state(session: Session, clock: Clock) -> DeliveryState:
    state = session.get(DeliveryState, 1)
    if state is None:
        state = DeliveryState(id=1, updated_at=clock.now())
        session.add(state)
        session.flush()
    return state


def pause(session: Session, clock: Clock, *, actor: str, reason: str | None) -> DeliveryState:
    why = (reason or "").strip()
    if not why:
        raise InvalidInput("say why with --reason: it goes into the audit trail and the digest")
    state = delivery_state(session, clock)
    if state.paused:
        raise InvalidState(f"delivery is already paused since "
                           f"{state.paused_at.isoformat() if state.paused_at else '?'}: "
                           f"{state.reason}")
    _open(session, clock, state, actor, why)
    return state


def open_circuit(session: Session, clock: Clock, reason: str) -> bool:
    """Stop all delivery because of ``reason``; False if it was already stopped."""
    state = delivery_state(session, clock)
    if state.paused:
        return False
    _open(session, clock, state, SYSTEM, reason)
    return True


def resume(session: Session, clock: Clock, *, actor: str, reason: str | None) -> DeliveryState:
    state = delivery_state(session, clock)
    if not state.paused:
        raise InvalidState("delivery is not paused")
    previous = state.reason
    now = clock.now()
    state.paused, state.reason, state.paused_by, state.paused_at = False, None, None, None
    state.connection_failures, state.updated_at = 0, now
    record_event(session, clock, actor=actor, kind="delivery.resumed", reason=reason,
                 paused_for=previous)
    log.info("delivery.resumed", actor=actor)
    return state


def connection_failed(session: Session, clock: Clock, detail: str) -> bool:
    """Count a connection failure; open the circuit after too many in a row (True then)."""
    state = delivery_state(session, clock)
    state.connection_failures += 1
    state.updated_at = clock.now()
    if state.connection_failures >= CONNECTION_FAILURES_TO_OPEN and not state.paused:
        _open(session, clock, state, SYSTEM,
              f"the mail server could not be reached {state.connection_failures} times in a "
              f"row (last: {detail})")
        return True
    return False


def connection_succeeded(session: Session, clock: Clock) -> None:
    state = delivery_state(session, clock)
    if state.connection_failures:
        state.connection_failures, state.updated_at = 0, clock.now()


def _open(session: Session, clock: Clock, state: DeliveryState, actor: str, why: str) -> None:
    now = clock.now()
    state.paused, state.reason, state.paused_by, state.paused_at = True, why, actor, now
    state.updated_at = now
    record_event(session, clock, actor=actor, kind="delivery.paused", reason=why)
    log.warning("delivery.paused", actor=actor, reason=why)
