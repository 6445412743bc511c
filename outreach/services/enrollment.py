"""Who is asked in a campaign: the suppliers in scope get one request each.

Starting a campaign enrolls every active supplier in scope; a supplier imported (or
reactivated) later joins every running campaign with a due date of its own.
"""

from __future__ import annotations

import secrets
from datetime import date, timedelta

from sqlmodel import Session, select

from outreach.core.clock import Clock, local_date
from outreach.core.enums import CampaignState, RequestState
from outreach.db.audit import record_event
from outreach.db.models import Campaign, Request, Supplier

#: no 0/o, 1/l/i: a token survives being read aloud or retyped; lower case survives mail
_TOKEN_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"  # noqa: S105 (an alphabet, not a secret)
TOKEN_LENGTH = 12


def new_reply_token() -> str:
    """A per-request secret carried in the Reply-To plus-address and the subject."""
    return "".join(secrets.choice(_TOKEN_ALPHABET) for _ in range(TOKEN_LENGTH))


def in_scope(supplier: Supplier, campaign: Campaign) -> bool:
    if not supplier.active:
        return False
    return not campaign.scope_tags or bool(set(campaign.scope_tags) & set(supplier.scope_tags))


def late_due_date(campaign: Campaign, today: date, late_joiner_days: int) -> date:
    """A late joiner gets the campaign's due date, or ``late_joiner_days`` from today if later."""
    return max(campaign.due_date, today + timedelta(days=late_joiner_days))


def enroll(
    session: Session,
    clock: Clock,
    campaign: Campaign,
    *,
    actor: str,
    late_joiner_days: int,
    late: bool,
    company_time_zone: str = "UTC",
) -> list[Request]:
    """Create the missing requests of ``campaign``; return the new ones."""
    assert campaign.id is not None
    asked = set(
        session.exec(select(Request.supplier_id).where(Request.campaign_id == campaign.id)).all()
    )
    now = clock.now()
    today = local_date(clock, company_time_zone)
    due = late_due_date(campaign, today, late_joiner_days) if late else campaign.due_date
    created: list[Request] = []
    suppliers = session.exec(select(Supplier).where(Supplier.active).order_by(Supplier.code))
    for supplier in suppliers:
        if supplier.id in asked or not in_scope(supplier, campaign):
            continue
        request = Request(
            campaign_id=campaign.id,
            supplier_id=supplier.id,
            state=RequestState.OPEN,
            due_date=due,
            next_action_at=now,  # the first stage is due at once; the tick plans the rest
            reply_token=new_reply_token(),
            joined_late=late,
            created_at=now,
            updated_at=now,
        )
        session.add(request)
        created.append(request)
    session.flush()
    for request in created:
        record_event(
            session, clock, actor=actor, kind="request.created",
            reason="joined the running campaign" if late else "campaign started",
            campaign_id=campaign.id, supplier_id=request.supplier_id, request_id=request.id,
            due_date=request.due_date.isoformat(),
        )
    return created


def enroll_late_joiners(
    session: Session, clock: Clock, *, actor: str, late_joiner_days: int,
    company_time_zone: str = "UTC",
) -> dict[str, int]:
    """Give every running (or paused) campaign requests for suppliers it does not ask yet."""
    joined: dict[str, int] = {}
    campaigns = session.exec(
        select(Campaign).where(Campaign.state.in_([CampaignState.RUNNING, CampaignState.PAUSED]))  # type: ignore[attr-defined]
    ).all()
    for campaign in campaigns:
        new = enroll(session, clock, campaign, actor=actor, late_joiner_days=late_joiner_days,
                     late=True, company_time_zone=company_time_zone)
        if new:
            joined[campaign.name] = len(new)
    return joined
