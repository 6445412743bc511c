"""When a message may leave, whatever the ladder says: account and per-contact limits.

Pure: given what was sent recently, ``earliest_send`` says the earliest instant a message
to some recipients may go. Delivery asks it before each send (and waits the message until
then), ``outreach schedule preview`` asks it while simulating, so both agree.

* Account: at most ``per_minute`` messages in any 60 s and ``per_day`` in any 24 h (the
  mail provider's limits; a 5,000-supplier launch is spread out, not refused).
* Contact: no address gets two ladder messages within ``contact_gap``, nor more than
  ``contact_cap`` within ``contact_window``. Answers to something the supplier just did
  (receipt, correction request) are exempt from the contact limits: they are expected at
  once. They still count towards the account limits and towards the contact's history.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

MINUTE = timedelta(minutes=1)
DAY = timedelta(days=1)


@dataclass(frozen=True)
class DeliveryLimits:
    per_minute: int = 30
    per_day: int = 10_000
    contact_gap: timedelta = timedelta(days=3)
    contact_cap: int = 4
    contact_window: timedelta = timedelta(days=30)


@dataclass(frozen=True)
class SendHistory:
    """Recent sends: when each message left, and when each address got one (lower-case)."""

    account: Sequence[datetime] = ()
    contacts: Mapping[str, Sequence[datetime]] = field(default_factory=dict)


def earliest_send(now: datetime, recipients: Iterable[str], history: SendHistory,
                  limits: DeliveryLimits, *, answer: bool = False) -> datetime:
    """The earliest instant ≥ ``now`` at which a message to ``recipients`` may be sent."""
    at = max(now, _window_free(history.account, limits.per_minute, MINUTE, now),
             _window_free(history.account, limits.per_day, DAY, now))
    if answer:
        return at
    for address in recipients:
        sent = sorted(history.contacts.get(address.lower(), ()))
        if sent:
            at = max(at, sent[-1] + limits.contact_gap)
        at = max(at, _window_free(sent, limits.contact_cap, limits.contact_window, now))
    return at


def _window_free(sent: Sequence[datetime], cap: int, window: timedelta, now: datetime
                 ) -> datetime:
    """When fewer than ``cap`` of ``sent`` lie in the ``window`` before an instant ≥ now."""
    recent = sorted(t for t in sent if t > now - window)
    if len(recent) < cap:
        return now
    # the send that must fall out of the window before one more fits
    return recent[len(recent) - cap] + window


def recorded(history: SendHistory, at: datetime, recipients: Iterable[str]) -> SendHistory:
    """``history`` with one more message sent at ``at`` (for simulations)."""
    contacts = {k: list(v) for k, v in history.contacts.items()}
    for address in recipients:
        contacts.setdefault(address.lower(), []).append(at)
    return SendHistory((*history.account, at), contacts)
