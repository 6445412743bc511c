"""Which request a supplier's reply answers, and whether its sender may answer it. Pure.

The evidence, strongest first: the reply token (plus-address or subject tag), then
``In-Reply-To``/``References`` naming one of our Message-IDs, then the sender's address
among a supplier's contacts, then the sender's domain among a supplier's e-mail domains.

Who may close a request: a token or thread only says which request the mail is about, not
that its sender speaks for the supplier. A sender among the supplier's contacts or in its
domains is accepted (a colleague in the domain is offered as a new contact); anyone else
is quarantined for a person, so a stranger can never close a supplier's request.

When a supplier has several requests open (a CMRT and an EMRT campaign), the template of
the workbooks attached decides; without one, the token's request, or the only open one.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

Method = Literal["token", "thread", "sender", "domain", "manual"]


@dataclass(frozen=True)
class Candidate:
    """A request some piece of evidence points at, with what we know of its supplier."""

    request_id: int
    supplier_id: int
    supplier_code: str
    #: the campaign's template family ("CMRT", "EMRT")
    family: str
    #: the request still wants an answer (open or paused)
    active: bool
    #: the supplier's e-mail domains and its contacts' domains, lower-case
    domains: frozenset[str]
    #: the supplier's contact addresses, lower-case
    addresses: frozenset[str]
    #: newer campaigns first when nothing else decides
    campaign_id: int = 0


@dataclass(frozen=True)
class Evidence:
    sender: str | None
    #: requests named by a reply token, in the order the tokens were found
    by_token: tuple[Candidate, ...] = ()
    #: requests whose messages the reply references
    by_thread: tuple[Candidate, ...] = ()
    #: requests of suppliers with the sender among their contacts
    by_sender: tuple[Candidate, ...] = ()
    #: requests of suppliers with the sender's domain among theirs
    by_domain: tuple[Candidate, ...] = ()
    #: template families of the workbooks attached (from their bytes)
    families: frozenset[str] = frozenset()
    #: tokens found that name no request (mistyped, or from another installation)
    unknown_tokens: tuple[str, ...] = ()


@dataclass(frozen=True)
class Matched:
    request_id: int
    supplier_id: int
    method: Method
    #: the sender is not among the supplier's contacts (a colleague in its domain)
    new_sender: bool = False


@dataclass(frozen=True)
class Quarantined:
    """Plausibly a supplier's reply, but not to be trusted without a person."""

    reason: str
    #: the request the evidence points at, for ``outreach inbox assign`` to confirm
    suggested_request_id: int | None = None


@dataclass(frozen=True)
class NotOurs:
    reason: str


MatchResult = Matched | Quarantined | NotOurs


def match_reply(evidence: Evidence, *, looks_like_survey: bool) -> MatchResult:
    """Decide who a reply belongs to. ``looks_like_survey``: it carries a file or mentions
    the survey, so a reply from an unknown sender is quarantined rather than ignored."""
    sender = (evidence.sender or "").lower()
    domain = sender.rpartition("@")[2]
    referenced: tuple[tuple[Method, tuple[Candidate, ...]], ...] = (
        ("token", evidence.by_token), ("thread", evidence.by_thread))
    for method, candidates in referenced:
        if not candidates:
            continue
        chosen = _choose(candidates, evidence.families)
        if sender and sender in chosen.addresses:
            return Matched(chosen.request_id, chosen.supplier_id, method)
        if domain and domain in chosen.domains:
            return Matched(chosen.request_id, chosen.supplier_id, method,
                           new_sender=True)
        return Quarantined(
            f"the reply {_how(method)} request of supplier {chosen.supplier_code}, but "
            f"comes from {sender or 'an unknown sender'}, which is neither one of the "
            f"supplier's contacts nor in its domains ({_domains(chosen)})",
            chosen.request_id)
    known: tuple[tuple[Method, tuple[Candidate, ...]], ...] = (
        ("sender", evidence.by_sender), ("domain", evidence.by_domain))
    for method, candidates in known:
        if not candidates:
            continue
        suppliers = {c.supplier_id for c in candidates}
        if len(suppliers) > 1:
            codes = ", ".join(sorted({c.supplier_code for c in candidates}))
            return Quarantined(f"the sender {sender} belongs to several suppliers ({codes})")
        chosen_or_none = _choose_without_token(candidates, evidence.families)
        if chosen_or_none is None:
            families = ", ".join(sorted({c.family for c in candidates if c.active}))
            return Quarantined(
                f"{sender} has several requests open ({families}) and the reply carries "
                "no workbook that says which one it answers",
                next(c.request_id for c in candidates if c.active))
        return Matched(chosen_or_none.request_id, chosen_or_none.supplier_id, method,
                       new_sender=method == "domain")
    if looks_like_survey:
        unknown = (f" (the reference {', '.join(evidence.unknown_tokens)} names no request)"
                   if evidence.unknown_tokens else "")
        return Quarantined(f"{sender or 'an unknown sender'} is not a contact of any "
                           f"supplier and the reply names no request of ours{unknown}")
    return NotOurs("no reference to a request of ours and the sender is not a supplier's")


def _how(method: str) -> str:
    return "carries the reference of a" if method == "token" else "answers a message of a"


def _domains(candidate: Candidate) -> str:
    return ", ".join(sorted(candidate.domains)) or "none known"


def _choose(candidates: Sequence[Candidate], families: frozenset[str]) -> Candidate:
    """Among requests named by the evidence: the workbook's family, then active ones."""
    return sorted(candidates, key=lambda c: (families and c.family not in families,
                                             not c.active))[0]


def _choose_without_token(candidates: Iterable[Candidate],
                          families: frozenset[str]) -> Candidate | None:
    """The supplier's request the reply answers, or None when that is ambiguous."""
    unique = {c.request_id: c for c in candidates}.values()
    active = [c for c in unique if c.active] or sorted(unique, key=lambda c: -c.campaign_id)
    if families:
        fitting = [c for c in active if c.family in families]
        if len(fitting) == 1:
            return fitting[0]
        if fitting:
            active = fitting
    if len(active) == 1 or not any(c.active for c in active):
        return sorted(active, key=lambda c: -c.campaign_id)[0]
    return None
