"""The audit trail: every state change of a supplier, campaign or request is an event.

Events are written in the same transaction as the change they describe, and never changed
afterwards: this module's flush guard refuses updates and deletes of ``Event`` rows, and the
database triggers added by the first migration refuse them for any other client too.
"""

from __future__ import annotations

import getpass
import os
from typing import Any

from sqlalchemy import event as sa_event
from sqlalchemy import insert
from sqlalchemy.orm import Session as OrmSession

from outreach.core.clock import Clock
from outreach.db.models import Event
from outreach.errors import OutreachError


class AuditLogIsAppendOnly(OutreachError):
    pass


def record_event(
    session: OrmSession,
    clock: Clock,
    *,
    actor: str,
    kind: str,
    reason: str | None = None,
    campaign_id: int | None = None,
    supplier_id: int | None = None,
    request_id: int | None = None,
    **data: Any,
) -> Event:
    row = Event(
        at=clock.now(),
        actor=actor,
        kind=kind,
        reason=reason,
        campaign_id=campaign_id,
        supplier_id=supplier_id,
        request_id=request_id,
        data=data,
    )
    session.add(row)
    return row


def record_events(session: OrmSession, clock: Clock, events: list[dict[str, Any]]) -> None:
    """Many events in one INSERT (bulk imports); each dict holds ``record_event``'s keywords,
    with details under ``data``."""
    if not events:
        return
    at = clock.now()
    rows = [{"at": at, "reason": None, "campaign_id": None, "supplier_id": None,
             "request_id": None, "data": {}, **event} for event in events]
    session.execute(insert(Event), rows)


def cli_actor(explicit: str | None = None) -> str:
    """Who is acting at the command line: ``--actor``, ``OUTREACH_ACTOR`` or the login name."""
    name = explicit or os.environ.get("OUTREACH_ACTOR")
    if not name:
        try:
            name = getpass.getuser()
        except (KeyError, OSError):
            name = "unknown"
    return f"cli:{name}"


@sa_event.listens_for(OrmSession, "before_flush")
def _refuse_event_changes(session: OrmSession, _context: Any, _instances: Any) -> None:
    for obj in (*session.dirty, *session.deleted):
        if isinstance(obj, Event) and (obj in session.deleted or session.is_modified(obj)):
            raise AuditLogIsAppendOnly("the event log is append-only: events cannot be changed")
