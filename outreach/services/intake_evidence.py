"""What the database says about a reply's references: the ``Evidence`` ``core.match`` reads.

Tokens name requests, our Message-IDs name outbound messages (and so requests), the sender's
address names contacts, its domain names suppliers. A poll pass builds one
:class:`DomainIndex` (every supplier's domains and its contacts' domains) and reuses it for
every message, so matching costs a few indexed queries per reply.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from sqlalchemy import func
from sqlmodel import Session, col, select

from outreach.core.enums import ACTIVE_REQUEST_STATES, CampaignState
from outreach.core.match import Candidate, Evidence
from outreach.db.models import Campaign, Contact, OutboundMessage, Request, Supplier
from outreach.intake.classify import Classification

_LIVE_CAMPAIGNS = (CampaignState.RUNNING, CampaignState.PAUSED)


@dataclass
class DomainIndex:
    """Domain → supplier ids, and each supplier's domains and contact addresses."""

    by_domain: dict[str, set[int]] = field(default_factory=dict)
    domains: dict[int, frozenset[str]] = field(default_factory=dict)
    addresses: dict[int, frozenset[str]] = field(default_factory=dict)
    codes: dict[int, str] = field(default_factory=dict)

    @classmethod
    def load(cls, session: Session) -> DomainIndex:
        index = cls()
        domains: dict[int, set[str]] = {}
        addresses: dict[int, set[str]] = {}
        for supplier_id, code, listed in session.exec(
                select(Supplier.id, Supplier.code, Supplier.email_domains)).all():
            assert supplier_id is not None
            index.codes[supplier_id] = code
            domains[supplier_id] = {d.lower().lstrip("@") for d in listed or () if d}
            addresses[supplier_id] = set()
        for supplier_id, email in session.exec(select(Contact.supplier_id, Contact.email)).all():
            address = email.lower()
            addresses.setdefault(supplier_id, set()).add(address)
            domains.setdefault(supplier_id, set()).add(address.rpartition("@")[2])
        for supplier_id, names in domains.items():
            index.domains[supplier_id] = frozenset(names)
            for name in names:
                index.by_domain.setdefault(name, set()).add(supplier_id)
        index.addresses = {k: frozenset(v) for k, v in addresses.items()}
        return index


def gather_evidence(session: Session, index: DomainIndex, classification: Classification,
                    sender: str | None, families: frozenset[str]) -> Evidence:
    sender = (sender or "").lower() or None
    token_values = [t.value for t in classification.tokens]
    by_token_rows = _requests(session, col(Request.reply_token).in_(token_values)) \
        if token_values else []
    order = {value: i for i, value in enumerate(token_values)}
    by_token_rows.sort(key=lambda pair: order.get(pair[0].reply_token, 0))
    found_tokens = {r.reply_token for r, _ in by_token_rows}
    thread_ids = threaded_requests(session, classification.our_message_ids)
    by_thread_rows = _requests(session, col(Request.id).in_(thread_ids)) if thread_ids else []
    by_sender_rows: list[tuple[Request, Campaign]] = []
    by_domain_rows: list[tuple[Request, Campaign]] = []
    if sender:
        suppliers = {s for s in session.exec(
            select(Contact.supplier_id).where(func.lower(Contact.email) == sender)).all()}
        if suppliers:
            by_sender_rows = _requests(session, col(Request.supplier_id).in_(suppliers))
        domain_suppliers = index.by_domain.get(sender.rpartition("@")[2], set()) - suppliers
        if domain_suppliers and not suppliers:
            by_domain_rows = _requests(session, col(Request.supplier_id).in_(domain_suppliers))
    return Evidence(
        sender=sender,
        by_token=_candidates(index, by_token_rows),
        by_thread=_candidates(index, by_thread_rows),
        by_sender=_candidates(index, by_sender_rows),
        by_domain=_candidates(index, by_domain_rows),
        families=families,
        unknown_tokens=tuple(t for t in token_values if t not in found_tokens),
    )


def candidate_for(session: Session, index: DomainIndex, request_id: int) -> Candidate | None:
    rows = _requests(session, col(Request.id) == request_id)
    candidates = _candidates(index, rows)
    return candidates[0] if candidates else None


def _requests(session: Session, condition: object) -> list[tuple[Request, Campaign]]:
    rows = session.exec(select(Request, Campaign)
                        .join(Campaign, col(Campaign.id) == Request.campaign_id)
                        .where(condition)  # type: ignore[arg-type]
                        .order_by(col(Campaign.id).desc())).all()
    return [(r, c) for r, c in rows]


def threaded_requests(session: Session, message_ids: Iterable[str]) -> list[int]:
    """The requests whose outbound messages have these Message-IDs, each once."""
    ids = list(message_ids)
    if not ids:
        return []
    rows = session.exec(select(OutboundMessage.request_id)
                        .where(col(OutboundMessage.message_id).in_(ids))).all()
    return list(dict.fromkeys(r for r in rows if r is not None))


def _candidates(index: DomainIndex, rows: list[tuple[Request, Campaign]]
                ) -> tuple[Candidate, ...]:
    result = []
    for request, campaign in rows:
        assert request.id is not None and campaign.id is not None
        result.append(Candidate(
            request_id=request.id, supplier_id=request.supplier_id,
            supplier_code=index.codes.get(request.supplier_id, str(request.supplier_id)),
            family=str(campaign.template_family),
            active=request.state in ACTIVE_REQUEST_STATES and campaign.state in _LIVE_CAMPAIGNS,
            domains=index.domains.get(request.supplier_id, frozenset()),
            addresses=index.addresses.get(request.supplier_id, frozenset()),
            campaign_id=campaign.id))
    return tuple(result)
