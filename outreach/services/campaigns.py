"""Campaign lifecycle: create (draft) → start (running) ⇄ pause → close.

Starting freezes the ladder into the campaign row and enrolls every active supplier in scope.
Every transition is an event with who did it and why.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from datetime import date
from typing import Any

import structlog
from sqlmodel import Session, col, func, select

from outreach.core.clock import Clock, local_date
from outreach.core.enums import ACTIVE_REQUEST_STATES, CampaignState, RequestState, TemplateFamily
from outreach.core.ladder import Ladder
from outreach.db.audit import record_event
from outreach.db.models import Campaign, Request, Supplier
from outreach.errors import InvalidInput, InvalidState, NotFound
from outreach.services.enrollment import enroll

log = structlog.get_logger(__name__)

_VERSION = re.compile(r"^\d+\.\d+[a-z]?$")


@dataclass(frozen=True)
class NewCampaign:
    name: str
    reporting_year: int
    due_date: date
    template_family: TemplateFamily
    min_version: str
    scope_tags: tuple[str, ...] = ()


def create_campaign(
    session: Session, clock: Clock, spec: NewCampaign, *, actor: str, company_time_zone: str
) -> Campaign:
    name = spec.name.strip()
    if not name:
        raise InvalidInput("a campaign needs a name, e.g. 'CMRT 2026'")
    if session.exec(select(Campaign).where(Campaign.name == name)).first():
        raise InvalidInput(f"a campaign named {name!r} exists already: choose another name")
    if not 2000 <= spec.reporting_year <= 2100:
        raise InvalidInput(f"reporting year {spec.reporting_year} is not a plausible year")
    if not _VERSION.match(spec.min_version):
        raise InvalidInput(f"minimum template version {spec.min_version!r} should look like 6.01")
    today = local_date(clock, company_time_zone)
    if spec.due_date <= today:
        raise InvalidInput(f"due date {spec.due_date} is not after today ({today})")
    now = clock.now()
    campaign = Campaign(
        name=name, reporting_year=spec.reporting_year, due_date=spec.due_date,
        template_family=spec.template_family, min_version=spec.min_version,
        scope_tags=sorted({t.lower() for t in spec.scope_tags}),
        state=CampaignState.DRAFT, created_at=now,
    )
    session.add(campaign)
    session.flush()
    record_event(session, clock, actor=actor, kind="campaign.created", campaign_id=campaign.id,
                 reporting_year=spec.reporting_year, due_date=spec.due_date.isoformat(),
                 template_family=str(spec.template_family), min_version=spec.min_version,
                 scope_tags=campaign.scope_tags)
    log.info("campaign.created", campaign=campaign.name)
    return campaign


def get_campaign(session: Session, ref: str | None) -> Campaign:
    """A campaign by name or id; with no ``ref``, the only one not closed."""
    if ref is None:
        candidates = session.exec(
            select(Campaign).where(Campaign.state != CampaignState.CLOSED).order_by(Campaign.id)
        ).all()
        if len(candidates) == 1:
            return candidates[0]
        if not candidates:
            raise NotFound("there is no open campaign: create one with `outreach campaign create`")
        names = ", ".join(repr(c.name) for c in candidates)
        raise InvalidInput(f"several campaigns are open ({names}): name one with --campaign")
    campaign = session.exec(select(Campaign).where(Campaign.name == ref)).first()
    if campaign is None and ref.isdigit():
        campaign = session.get(Campaign, int(ref))
    if campaign is None:
        raise NotFound(f"no campaign named {ref!r}: `outreach campaign list` shows them")
    return campaign


def _transition(
    session: Session, clock: Clock, campaign: Campaign, *, to: CampaignState, kind: str,
    allowed_from: set[CampaignState], actor: str, reason: str | None, **data: Any,
) -> None:
    if campaign.state not in allowed_from:
        raise InvalidState(
            f"campaign {campaign.name!r} is {campaign.state}: it cannot become {to} "
            f"(only from {', '.join(sorted(allowed_from))})"
        )
    previous = campaign.state
    campaign.state = to
    record_event(session, clock, actor=actor, kind=f"campaign.{kind}", reason=reason,
                 campaign_id=campaign.id, previous=str(previous), **data)
    log.info(f"campaign.{kind}", campaign=campaign.name, previous=str(previous))


def start_campaign(
    session: Session, clock: Clock, campaign: Campaign, ladder: Ladder, *, actor: str,
    late_joiner_days: int, company_time_zone: str,
) -> list[Request]:
    in_scope = session.exec(select(func.count()).select_from(Supplier).where(Supplier.active)).one()
    if not in_scope:
        raise InvalidState("there are no active suppliers: run `outreach supplier import FILE` "
                           "before starting a campaign")
    campaign.ladder = ladder.model_dump(mode="json")
    campaign.started_at = clock.now()
    _transition(session, clock, campaign, to=CampaignState.RUNNING, kind="started",
                allowed_from={CampaignState.DRAFT}, actor=actor, reason=None,
                stages=[s.name for s in ladder.stages])
    requests = enroll(session, clock, campaign, actor=actor, late_joiner_days=late_joiner_days,
                      late=False, company_time_zone=company_time_zone)
    if not requests:
        raise InvalidState(f"no active supplier matches the scope tags {campaign.scope_tags} of "
                           f"campaign {campaign.name!r}")
    return requests


def pause_campaign(session: Session, clock: Clock, campaign: Campaign, *, actor: str,
                   reason: str | None) -> None:
    campaign.paused_at = clock.now()
    _transition(session, clock, campaign, to=CampaignState.PAUSED, kind="paused",
                allowed_from={CampaignState.RUNNING}, actor=actor, reason=reason)


def resume_campaign(session: Session, clock: Clock, campaign: Campaign, *, actor: str,
                    reason: str | None) -> None:
    _transition(session, clock, campaign, to=CampaignState.RUNNING, kind="resumed",
                allowed_from={CampaignState.PAUSED}, actor=actor, reason=reason,
                paused_since=campaign.paused_at.isoformat() if campaign.paused_at else None)
    campaign.paused_at = None


def close_campaign(session: Session, clock: Clock, campaign: Campaign, *, actor: str,
                   reason: str | None) -> int:
    """Close the campaign; requests still waiting for an answer close with it."""
    now = clock.now()
    waiting = session.exec(
        select(Request).where(Request.campaign_id == campaign.id,
                              Request.state.in_(ACTIVE_REQUEST_STATES))  # type: ignore[attr-defined]
    ).all()
    campaign.closed_at = now
    _transition(session, clock, campaign, to=CampaignState.CLOSED, kind="closed",
                allowed_from={CampaignState.DRAFT, CampaignState.RUNNING, CampaignState.PAUSED},
                actor=actor, reason=reason, open_requests=len(waiting))
    for request in waiting:
        request.state, request.next_action_at, request.updated_at = RequestState.CLOSED, None, now
        record_event(session, clock, actor=actor, kind="request.closed",
                     reason=reason or "campaign closed", campaign_id=campaign.id,
                     supplier_id=request.supplier_id, request_id=request.id)
    return len(waiting)


def request_counts(session: Session, campaign_id: int) -> Counter[str]:
    rows = session.exec(
        select(Request.state, func.count()).where(Request.campaign_id == campaign_id)
        .group_by(Request.state)
    ).all()
    return Counter({str(state): int(n) for state, n in rows})


# --------------------------------------------------------------------------- ladder update


@dataclass(frozen=True)
class LadderUpdate:
    campaign: Campaign
    previous: Ladder
    ladder: Ladder
    changes: dict[str, Any]
    #: open requests whose next_action_at was set to now (the next tick re-plans them)
    replanned: int


def ladder_changes(old: Ladder, new: Ladder) -> dict[str, Any]:
    """What differs between two ladders: stages added/removed, fields changed per stage."""
    old_names = [s.name for s in old.stages]
    new_names = [s.name for s in new.stages]
    changed: dict[str, dict[str, list[Any]]] = {}
    for stage in new.stages:
        if stage.name not in old_names:
            continue
        before = old.stage(stage.name).model_dump(mode="json")
        after = stage.model_dump(mode="json")
        diff = {k: [before.get(k), v] for k, v in after.items() if before.get(k) != v}
        if diff:
            changed[stage.name] = diff
    wide_old = old.model_dump(mode="json", exclude={"stages"})
    wide_new = new.model_dump(mode="json", exclude={"stages"})
    return {
        "added": [n for n in new_names if n not in old_names],
        "removed": [n for n in old_names if n not in new_names],
        "reordered": [n for n in old_names if n in new_names] != [
            n for n in new_names if n in old_names],
        "changed": changed,
        "settings": {k: [wide_old.get(k), v] for k, v in wide_new.items()
                     if wide_old.get(k) != v},
    }


def check_ladder_update(session: Session, campaign: Campaign, new: Ladder) -> Ladder:
    """Refuse an update that cannot apply; return the campaign's current (frozen) ladder."""
    if campaign.state != CampaignState.RUNNING or campaign.ladder is None:
        hint = ("a draft campaign freezes the configured ladder when it starts"
                if campaign.state == CampaignState.DRAFT else
                "resume it first" if campaign.state == CampaignState.PAUSED else
                "a closed campaign sends nothing more")
        raise InvalidState(f"campaign {campaign.name!r} is {campaign.state}: only a running "
                           f"campaign's ladder can be updated ({hint})")
    old = Ladder.model_validate(campaign.ladder)
    names = {s.name for s in new.stages}
    rows = session.exec(
        select(Request.stage, Request.awaiting_approval, Supplier.code)
        .join(Supplier, Supplier.id == Request.supplier_id)
        .where(Request.campaign_id == campaign.id,
               Request.state.in_(ACTIVE_REQUEST_STATES))  # type: ignore[attr-defined]
        .order_by(Supplier.code)
    ).all()
    in_use: dict[str, list[str]] = {}
    for stage, waiting, code in rows:
        for name in {stage, waiting} - {None}:
            if name not in names:
                in_use.setdefault(str(name), []).append(code)
    if in_use:
        name, codes = sorted(in_use.items())[0]
        others = "".join(f"; stage {n!r} too ({len(c)})" for n, c in sorted(in_use.items())[1:])
        raise InvalidState(
            f"the configured ladder drops stage {name!r}, but {len(codes)} open request(s) of "
            f"campaign {campaign.name!r} are at it (e.g. supplier {codes[0]}){others}: keep the "
            "stage in [ladder] so they know where they stand, then update again")
    if old == new:
        raise InvalidInput(f"campaign {campaign.name!r} already runs the configured ladder: "
                           "nothing to update (edit [ladder] in the config first)")
    return old


def update_ladder(session: Session, clock: Clock, campaign: Campaign, new: Ladder, *,
                  actor: str, reason: str | None) -> LadderUpdate:
    """Replace a running campaign's frozen ladder; its open requests re-plan on the next tick."""
    if not reason or not reason.strip():
        raise InvalidInput("say why with --reason: it goes into the audit trail "
                           "(update the ladder)")
    old = check_ladder_update(session, campaign, new)
    changes = ladder_changes(old, new)
    now = clock.now()
    campaign.ladder = new.model_dump(mode="json")
    waiting = session.exec(select(Request).where(Request.campaign_id == campaign.id,
                                                 Request.state == RequestState.OPEN)).all()
    for request in waiting:  # the convention: a schedule change re-plans at the next tick
        request.next_action_at = request.updated_at = now
    record_event(session, clock, actor=actor, kind="campaign.ladder_updated",
                 reason=reason.strip(), campaign_id=campaign.id, replanned=len(waiting),
                 stages_before=[s.name for s in old.stages],
                 stages_after=[s.name for s in new.stages], changes=changes)
    log.info("campaign.ladder_updated", campaign=campaign.name, replanned=len(waiting))
    return LadderUpdate(campaign, old, new, changes, len(waiting))


def frozen_template_kinds(session: Session) -> set[str]:
    """Template kinds the ladders frozen into running or paused campaigns send: an edited
    template set must still have them, whatever the configured ladder says now."""
    kinds: set[str] = set()
    for frozen in session.exec(select(Campaign.ladder).where(
            col(Campaign.state).in_([CampaignState.RUNNING, CampaignState.PAUSED]))).all():
        if frozen:
            kinds.update(s["template"] for s in frozen.get("stages", []) if s.get("template"))
    return kinds
