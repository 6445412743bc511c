"""When digests are due: rows in ``digests``, one per (campaign, period), created ahead.

Rule (``[digest]`` settings): weekly on ``weekday`` at ``hour``; daily at ``hour`` from
``daily_weeks_before_due`` weeks before the campaign's due date up to the due date itself;
weekly again after it. Hours are in the company's zone (``campaign.time_zone`` setting: a
campaign row has no zone of its own). A weekly period is named by its ISO week
("2027-W05"), a daily one by its date ("2027-03-14").

``ensure_next_digest`` keeps exactly one ``due`` row per running or paused campaign: it
creates the next occurrence after now when there is none. Two processes racing to create it
meet the unique constraint; the loser's savepoint rolls back and it carries on. After an
outage the one due row is sent late, once, and the next is planned from then: no backlog
of stale digests.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from outreach.core.clock import Clock
from outreach.core.enums import CampaignState
from outreach.db.models import Campaign, Digest
from outreach.settings import DigestSettings

DUE, SENT, SKIPPED = "due", "sent", "skipped"
COMPLETE_PERIOD = "complete"
#: campaigns that get digests
DIGEST_STATES = (CampaignState.RUNNING, CampaignState.PAUSED)


@dataclass(frozen=True)
class Occurrence:
    period: str
    due_at: datetime
    daily: bool


def is_daily(day: date, due_date: date, config: DigestSettings) -> bool:
    weeks = config.daily_weeks_before_due
    return weeks > 0 and due_date - timedelta(weeks=weeks) < day <= due_date


def next_occurrence(after: datetime, due_date: date, config: DigestSettings,
                    tz: str = "UTC") -> Occurrence:
    """The first digest time strictly after ``after``."""
    zone = ZoneInfo(tz)
    day = after.astimezone(zone).date()
    for offset in range(0, 9):
        candidate = day + timedelta(days=offset)
        daily = is_daily(candidate, due_date, config)
        if not daily and candidate.weekday() != config.weekday:
            continue
        at = datetime.combine(candidate, time(config.hour), tzinfo=zone)
        if at <= after:
            continue
        if daily:
            return Occurrence(candidate.isoformat(), at.astimezone(ZoneInfo("UTC")), True)
        year, week, _ = candidate.isocalendar()
        return Occurrence(f"{year}-W{week:02d}", at.astimezone(ZoneInfo("UTC")), False)
    raise AssertionError("a weekday recurs within 8 days")  # pragma: no cover


def ensure_next_digest(session: Session, clock: Clock, campaign: Campaign,
                       config: DigestSettings, tz: str = "UTC") -> Digest | None:
    """The campaign's pending digest row, created when there is none (None: no digests for
    a campaign in this state). Call inside a write transaction."""
    assert campaign.id is not None
    pending = session.exec(select(Digest).where(Digest.campaign_id == campaign.id)
                           .where(Digest.status == DUE)
                           .where(Digest.period != COMPLETE_PERIOD)
                           .order_by(col(Digest.due_at))).first()
    if pending is not None or campaign.state not in DIGEST_STATES:
        return pending
    now = clock.now()
    after = now
    latest = session.exec(select(Digest.due_at).where(Digest.campaign_id == campaign.id)
                          .where(Digest.period != COMPLETE_PERIOD)
                          .order_by(col(Digest.due_at).desc())).first()
    if latest is not None and latest > after:
        after = latest
    while True:
        occurrence = next_occurrence(after, campaign.due_date, config, tz)
        exists = session.exec(select(Digest.id).where(Digest.campaign_id == campaign.id)
                              .where(Digest.period == occurrence.period)).first()
        if exists is None:
            break
        after = occurrence.due_at  # that period was already sent (e.g. on demand)
    row = Digest(campaign_id=campaign.id, period=occurrence.period, due_at=occurrence.due_at,
                 status=DUE, created_at=now)
    try:
        with session.begin_nested():
            session.add(row)
    except IntegrityError:  # another process created it first: theirs is the row
        return session.exec(select(Digest).where(Digest.campaign_id == campaign.id)
                            .where(Digest.period == occurrence.period)).first()
    return row


def due_digests(session: Session, clock: Clock) -> list[int]:
    """Ids of digest rows whose time has come, oldest first."""
    return list(session.exec(select(Digest.id).where(Digest.status == DUE)
                             .where(col(Digest.due_at) <= clock.now())
                             .order_by(col(Digest.due_at), col(Digest.id))).all())
