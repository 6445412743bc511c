"""A compressed survey season: the service's own jobs on a stepped clock, with simulated suppliers.

:func:`run_season` builds a fresh data directory (SQLite, migrated), imports generated
suppliers, starts a campaign, then loops: ``tick_once`` (decide what is due), ``deliver_once``
(send the outbox), the simulated suppliers read what reached them and answer into the
Maildir, ``poll_mailbox`` (intake: verdicts and answers), ``deliver_once`` again (the answers),
approvals — then the clock moves on to the next thing due (at least a quarter hour, at most a
day). These are exactly the jobs ``outreach run`` schedules; only time is simulated.

Mail: ``mail="smtp"`` (the demo) starts an in-process SMTP server the service sends through
(``smtp.transport = "smtp"``, plain text on 127.0.0.1); ``mail="local"`` (``simulate``)
uses the local outbox transport (``.eml`` files), read back by the season. Either way
replies go into ``<data>/maildir``, which the service polls (``imap.source = "maildir"``).

Approval-gated stages (the senior officer's notice, the hand-over) are approved by the demo
itself, with actor ``demo`` and a reason that says so.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import getaddresses, parseaddr
from pathlib import Path
from typing import Any, Literal

from sqlmodel import col, func, select

from outreach import scheduler
from outreach.bootstrap import App, build
from outreach.core.clock import FixedClock
from outreach.core.enums import ACTIVE_REQUEST_STATES, RequestState
from outreach.core.ladder import Ladder
from outreach.db.engine import transaction, write_transaction
from outreach.db.migrate import upgrade
from outreach.db.models import (
    Campaign,
    Digest,
    InboundMessage,
    OutboundMessage,
    Request,
    Submission,
    Supplier,
)
from outreach.demo.profiles import PROFILES, Profile, assign
from outreach.demo.reports import write_reports
from outreach.demo.suppliers import SimSupplier, Suppliers
from outreach.imports.sample_suppliers import generate_suppliers, write_supplier_file
from outreach.imports.supplier_file import read_supplier_file
from outreach.mail.local_transport import deliver_to_maildir
from outreach.mail.transport import Envelope
from outreach.services import approvals, campaigns
from outreach.services.campaigns import NewCampaign
from outreach.services.import_suppliers import import_suppliers
from outreach.settings import Settings

ACTOR = "demo"
APPROVAL_REASON = "approved by the demo itself (in a real season a person runs `outreach approve`)"
#: a Monday in January: the season surveys the year that just ended
DEFAULT_START = datetime(2026, 1, 12, 6, 0, tzinfo=UTC)
SENT = "sent"
MAIL_LABELS = {"supplier_reply": "mail: from a supplier",
               "auto_reply": "mail: auto-reply (not an answer)",
               "bounce": "mail: bounce (contact marked bounced)"}


@dataclass
class SeasonConfig:
    suppliers: int = 60
    seed: int = 0
    profiles: Sequence[Profile] = tuple(PROFILES.values())
    ladder: Ladder | None = None
    mail: Literal["smtp", "local"] = "smtp"
    start: datetime = DEFAULT_START
    due_days: int = 45
    max_days: int = 240
    #: how long the season keeps running after the last request closed (answers, digest)
    settle_days: int = 2
    #: write the digest, the exports and the consolidated CMRT at the end
    reports: bool = True


@dataclass
class Snapshot:
    """What the live display shows."""

    now: datetime
    day: int
    in_scope: int = 0
    by_state: dict[str, int] = field(default_factory=dict)
    sent_by_kind: dict[str, int] = field(default_factory=dict)
    replies: dict[str, int] = field(default_factory=dict)
    approved: dict[str, int] = field(default_factory=dict)

    @property
    def accepted(self) -> int:
        return self.by_state.get(RequestState.ACCEPTED.value, 0)

    @property
    def coverage(self) -> float:
        return self.accepted / self.in_scope if self.in_scope else 0.0


@dataclass(frozen=True)
class SupplierOutcome:
    code: str
    profile: str
    responsive: bool
    state: str
    emails: int  # every e-mail we sent this supplier (ladder and answers)
    ladder_emails: int
    senior_notice: bool
    accepted_day: int | None  # days from the campaign start


@dataclass
class SeasonResult:
    settings: Settings
    campaign: str
    ladder: Ladder
    snapshot: Snapshot
    outcomes: list[SupplierOutcome]
    seconds: float
    smtp_messages: int | None = None
    reports: list[Path] = field(default_factory=list)
    #: parts of the reports that could not be written, in words
    missing: list[str] = field(default_factory=list)

    @property
    def responsive_covered(self) -> bool:
        return all(o.state == RequestState.ACCEPTED for o in self.outcomes if o.responsive)

    @property
    def unresponsive_handed_over(self) -> bool:
        return all(o.state == RequestState.HANDED_OVER for o in self.outcomes
                   if not o.responsive)


def demo_settings(settings: Settings, *, smtp_port: int | None,
                  ladder: Ladder | None = None) -> Settings:
    """The embedded defaults, adjusted for a simulation: SQLite in the data directory, our
    SMTP server (or the local outbox), the data directory's Maildir, account limits raised
    (no real account)."""
    smtp = settings.smtp.model_copy(update=(
        {"transport": "smtp", "host": "127.0.0.1", "port": smtp_port, "security": "none",
         "username": None, "password": None, "timeout_seconds": 30.0}
        if smtp_port is not None else {"transport": "local"}))
    imap = settings.imap.model_copy(update={"source": "maildir", "folders": ["INBOX"]})
    # no real account behind it: the account limits are lifted; the per-contact gap and
    # cap stay as configured (they protect suppliers, and the season shows them working)
    delivery = settings.delivery.model_copy(update={"per_minute": 10_000,
                                                    "per_day": 1_000_000})
    # always a fresh SQLite file in the data directory, even if a database URL is set
    database = settings.database.model_copy(update={"url": None})
    update: dict[str, Any] = {"smtp": smtp, "imap": imap, "delivery": delivery,
                              "database": database}
    if ladder is not None:
        update["ladder"] = ladder
    return settings.model_copy(update=update)


# --------------------------------------------------------------------------- setting up


def _primary(contacts: str) -> tuple[str, str]:
    """(display name, address) of the first contact of a supplier-file cell."""
    first = contacts.split(";")[0].partition(":")[2].strip()
    name, address = parseaddr(first)
    return name, address


def _supplier_rows(count: int, profiles: list[Profile], seed: int
                   ) -> tuple[list[dict[str, str]], list[SimSupplier]]:
    rows = generate_suppliers(count, seed=seed)
    sims = []
    for row, profile in zip(rows, profiles, strict=True):
        _name, primary = _primary(row["contacts"])
        domain = primary.rpartition("@")[2]
        dead = None
        if profile.needs_dead_address:
            dead = f"former.buyer@{domain}"
            row["contacts"] = f"primary: Former Buyer <{dead}>; {row['contacts']}"
        sims.append(SimSupplier(code=row["code"], name=row["name"], profile=profile,
                                primary=primary, colleague=f"cmrt.desk@{domain}", dead=dead))
    return rows, sims


def _setup(app: App, config: SeasonConfig, clock: FixedClock) -> tuple[Campaign, list[SimSupplier]]:
    settings = app.settings
    upgrade(app.engine)
    profiles = assign(list(config.profiles), config.suppliers, config.seed)
    rows, sims = _supplier_rows(config.suppliers, profiles, config.seed)
    supplier_file = settings.data / "suppliers.csv"
    write_supplier_file(rows, supplier_file)
    tz = settings.campaign.time_zone
    with transaction(app.sessions) as session:
        import_suppliers(session, clock, read_supplier_file(supplier_file), actor=ACTOR,
                         company_time_zone=tz)
    year = clock.now().year - 1
    spec = NewCampaign(name=f"CMRT {year}", reporting_year=year,
                       due_date=clock.now().date() + timedelta(days=config.due_days),
                       template_family=settings.campaign.template_family,
                       min_version=settings.campaign.min_version)
    with transaction(app.sessions) as session:
        campaign = campaigns.create_campaign(session, clock, spec, actor=ACTOR,
                                             company_time_zone=tz)
        campaigns.start_campaign(session, clock, campaign, settings.ladder, actor=ACTOR,
                                 late_joiner_days=settings.campaign.late_joiner_days,
                                 company_time_zone=tz)
        session.flush()
        session.expunge(campaign)
    return campaign, sims


# --------------------------------------------------------------------------- mail routes


class _Outbox:
    """Our mail as it left: from the SMTP server, or from the local outbox folder."""

    def __init__(self, server: Any, outbox_dir: Path) -> None:
        self.server = server
        self.outbox_dir = outbox_dir
        self._read: set[str] = set()

    def take(self) -> list[tuple[tuple[str, ...], bytes]]:
        if self.server is not None:
            return [(m.recipients, m.data) for m in self.server.take()]
        taken = []
        if self.outbox_dir.is_dir():
            for path in sorted(self.outbox_dir.glob("*.eml")):
                if path.name in self._read:
                    continue
                self._read.add(path.name)
                raw = path.read_bytes()
                head = raw.split(b"\n", 2)
                line = next((h for h in head if h.startswith(b"X-Envelope-To:")), b"")
                recipients = tuple(a for _, a in getaddresses(
                    [line.partition(b":")[2].decode("utf-8", "replace").strip()]) if a)
                taken.append((recipients, raw))
        return taken


# --------------------------------------------------------------------------- the loop


ProgressFn = Callable[[Snapshot], None]


def run_season(settings: Settings, config: SeasonConfig | None = None, *,
               progress: ProgressFn | None = None) -> SeasonResult:
    """Run a whole season in ``settings.data`` (which must be new or empty)."""
    config = config or SeasonConfig()
    started = time.monotonic()
    server = None
    if config.mail == "smtp":
        from outreach.demo.mail_server import DemoSmtpServer

        server = DemoSmtpServer().start()
    try:
        live = demo_settings(settings, smtp_port=server.port if server else None,
                             ladder=config.ladder)
        clock = FixedClock(config.start)
        app = build(live, clock=clock, check_schema=False)
        try:
            result = _run(app, clock, config, server, progress)
        finally:
            app.close()
    finally:
        if server is not None:
            server.stop()
    result.seconds = time.monotonic() - started
    return result


def _run(app: App, clock: FixedClock, config: SeasonConfig, server: Any,
         progress: ProgressFn | None) -> SeasonResult:
    settings = app.settings
    campaign, sims = _setup(app, config, clock)
    assert campaign.id is not None
    maildir = settings.maildir_path
    our_address = str(settings.mail.from_address)
    kinds: dict[str, str | None] = {}

    def kind_of(message_id: str) -> str | None:
        if message_id not in kinds:
            with app.sessions() as session:
                kinds[message_id] = session.exec(
                    select(OutboundMessage.kind)
                    .where(OutboundMessage.message_id == message_id)).first()
        return kinds[message_id]

    def to_mailbox(raw: bytes) -> None:
        deliver_to_maildir(maildir, Envelope(sender="supplier-mail@demo.example",
                                             recipients=[our_address], message=raw))

    people = Suppliers(sims, kind_of, to_mailbox, our_address, seed=config.seed,
                       reporting_year=campaign.reporting_year)
    outbox = _Outbox(server, settings.outbox_dir)
    approved: Counter[str] = Counter()
    scheduler.poll_mailbox(app)  # the first poll sets the (empty) Maildir's baseline
    start = clock.now()
    end = start + timedelta(days=config.max_days)
    shown_day = -1
    settled_at: datetime | None = None

    digest_job: Callable[[App], object] | None = getattr(scheduler, "digest_once", None)

    def route() -> None:
        for recipients, raw in outbox.take():
            people.receive(recipients, raw, clock.now())

    while clock.now() < end:
        now = clock.now()
        scheduler.tick_once(app)
        if digest_job is not None:  # the status digest for compliance, when one is due
            digest_job(app)
        scheduler.deliver_once(app)
        route()
        if people.act(now):
            scheduler.poll_mailbox(app)
            scheduler.deliver_once(app)  # the answers go out at once
            route()
        with write_transaction(app.sessions) as session:
            for pending in approvals.pending_approvals(session, campaign.id):
                approvals.approve(session, clock, pending.request, actor=ACTOR,
                                  reason=APPROVAL_REASON)
                approved[pending.stage] += 1
        day = (now - start).days
        if progress is not None and day != shown_day:
            shown_day = day
            progress(snapshot(app, campaign.id, now, day, approved))
        open_requests, next_at = _pending(app, campaign.id)
        if not open_requests and people.next_due() is None:
            settled_at = settled_at or now
            if now - settled_at >= timedelta(days=config.settle_days):
                break
        candidates = [t for t in (next_at, people.next_due()) if t is not None]
        target = min(candidates) if candidates else now + timedelta(days=1)
        target = max(now + timedelta(minutes=15), min(target, now + timedelta(days=1)))
        clock.set(target)

    final = snapshot(app, campaign.id, clock.now(), (clock.now() - start).days, approved)
    if progress is not None:
        progress(final)
    ladder = Ladder.model_validate(campaign.ladder)
    result = SeasonResult(settings, campaign.name, ladder, final,
                          outcomes(app, campaign.id, sims, start), 0.0,
                          smtp_messages=server.accepted if server is not None else None)
    if config.reports:
        result.reports = write_reports(app, settings.data / "reports", missing=result.missing)
    return result


def _pending(app: App, campaign_id: int) -> tuple[int, datetime | None]:
    """Open requests, and the earliest time the service has something to do."""
    with app.sessions() as session:
        open_requests = session.exec(
            select(func.count()).select_from(Request)
            .where(Request.campaign_id == campaign_id)
            .where(col(Request.state).in_(list(ACTIVE_REQUEST_STATES)))).one()
        next_request = session.exec(
            select(func.min(Request.next_action_at))
            .where(Request.campaign_id == campaign_id)
            .where(col(Request.state).in_(list(ACTIVE_REQUEST_STATES)))).one()
        next_mail = session.exec(
            select(func.min(OutboundMessage.next_attempt_at))
            .where(col(OutboundMessage.status).in_(["queued", "retry", "deferred"]))).one()
        next_digest = session.exec(select(func.min(Digest.due_at))
                                   .where(Digest.campaign_id == campaign_id)
                                   .where(Digest.status == "due")).one()
    times = [_aware(t) for t in (next_request, next_mail, next_digest) if t is not None]
    return int(open_requests), (min(times) if times else None)


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def snapshot(app: App, campaign_id: int, now: datetime, day: int,
             approved: Counter[str] | None = None) -> Snapshot:
    with app.sessions() as session:
        by_state = dict(session.exec(
            select(Request.state, func.count()).where(Request.campaign_id == campaign_id)
            .group_by(Request.state)).all())
        sent = dict(session.exec(
            select(OutboundMessage.kind, func.count()).where(OutboundMessage.status == SENT)
            .group_by(OutboundMessage.kind)).all())
        verdicts = dict(session.exec(
            select(Submission.outcome, func.count()).where(col(Submission.request_id).is_not(None))
            .group_by(Submission.outcome)).all())
        inbound = dict(session.exec(
            select(InboundMessage.classification, func.count())
            .group_by(InboundMessage.classification)).all())
        attention = session.exec(select(func.count()).select_from(InboundMessage)
                                 .where(InboundMessage.status == "attention")).one()
    replies = {f"file {k or 'not judged'}": int(v) for k, v in verdicts.items()}
    for key, value in inbound.items():
        if key:
            replies[MAIL_LABELS.get(key, f"mail: {key}")] = int(value)
    if attention:
        replies["mail: needs a person (a question)"] = int(attention)
    states = {str(getattr(k, "value", k)): int(v) for k, v in by_state.items()}
    in_scope = sum(v for k, v in states.items() if k != RequestState.EXEMPT.value)
    return Snapshot(now, day, in_scope, states, {str(k): int(v) for k, v in sent.items()},
                    replies, dict(approved or {}))


def outcomes(app: App, campaign_id: int, sims: list[SimSupplier],
             start: datetime) -> list[SupplierOutcome]:
    ladder_kinds = {"request", "reminder", "follow_up", "senior_notice"}
    with app.sessions() as session:
        rows = session.exec(select(Supplier.code, Request)
                            .join(Request, col(Request.supplier_id) == Supplier.id)
                            .where(Request.campaign_id == campaign_id)).all()
        mails = session.exec(select(OutboundMessage.request_id, OutboundMessage.kind,
                                    OutboundMessage.stage)
                             .where(OutboundMessage.status == SENT)).all()
    by_request: dict[int, list[tuple[str, str | None]]] = {}
    for request_id, kind, stage in mails:
        if request_id is not None:
            by_request.setdefault(request_id, []).append((kind, stage))
    requests = {code: request for code, request in rows}
    result = []
    for sim in sims:
        request = requests[sim.code]
        sent = by_request.get(request.id or 0, [])
        accepted = _aware(request.accepted_at) if request.accepted_at else None
        result.append(SupplierOutcome(
            code=sim.code, profile=sim.profile.name, responsive=sim.profile.responsive,
            state=str(getattr(request.state, "value", request.state)), emails=len(sent),
            ladder_emails=sum(1 for kind, _ in sent if kind in ladder_kinds),
            senior_notice=any(kind == "senior_notice" for kind, _ in sent),
            accepted_day=(accepted - start).days if accepted else None))
    return result


def profile_table(result: SeasonResult) -> list[tuple[str, int, int, int, str]]:
    """Per profile: suppliers, accepted, handed over, mean e-mails per supplier."""
    table: dict[str, list[SupplierOutcome]] = {}
    for outcome in result.outcomes:
        table.setdefault(outcome.profile, []).append(outcome)
    rows = []
    for name, items in table.items():
        rows.append((name, len(items),
                     sum(o.state == RequestState.ACCEPTED for o in items),
                     sum(o.state == RequestState.HANDED_OVER for o in items),
                     f"{sum(o.emails for o in items) / len(items):.1f}"))
    order = list(PROFILES)
    return sorted(rows, key=lambda r: order.index(r[0]) if r[0] in order else len(order))


__all__ = ["APPROVAL_REASON", "SeasonConfig", "SeasonResult", "Snapshot", "SupplierOutcome",
           "demo_settings", "profile_table", "run_season", "snapshot"]
