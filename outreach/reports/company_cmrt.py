"""The company's own, consolidated CMRT: RMI's blank with our Declaration and the union of
the accepted suppliers' smelters (``outreach export company-cmrt``).

The workbook is the newest blank shipped with outreach (``mail.blank_template``) patched
by ``cmrt.fill.fill_cmrt`` — cells are written inside the original package, never a
load-and-save, so RMI's drawings, validations, metadata and formulas stay; like any file
outreach writes, it carries no cached formula results and asks Excel / LibreOffice to
recalculate on opening.

What goes in:

* the Declaration's company block from ``[company]`` and ``[company.declaration]`` of the
  settings (the contact is ``company.contact``, the authorizer ``company.senior_officer``),
  effective date = the day of the export, company-level answers A-H and the policy URL as
  configured;
* the Smelter List: every smelter of the consolidated list (``exports.consolidated_smelters``)
  of a CMRT metal — by CID (column A, the template's formulas fill metal and name) when
  the blank's Look-up knows the CID, else as "Smelter not listed" with the name and country
  suppliers gave (at most the template's 2,500 rows; more are reported as left out);
* questions 1-8 per metal, derived conservatively (docs/exports.md):
  - a metal with no smelter in the union: Q1 "No" (nothing reported uses it);
  - a metal with smelters: Q1 "Yes", Q2 "Yes";
  - Q3 (covered countries) and Q4 (CAHRAs): "Yes" if any accepted supplier that declares
    the metal in scope said "Yes"; else "Unknown" if any said "Unknown" or left it blank
    (or no supplier declared the metal); else "No";
  - Q5 (100 % recycled or scrap): "Yes" only if every such supplier said "Yes"; "No" if
    any said "No"; else "Unknown";
  - Q6 (share of relevant suppliers that responded): the campaign's valid response rate
    (accepted / surveyed) in the template's bands;
  - Q7 (all smelters identified): "Yes" only if every such supplier said "Yes" and every
    surveyed supplier returned an accepted CMRT; else "No";
  - Q8 (all smelter information received reported here): "Yes" — the whole union is in the
    Smelter List — unless the list had to be cut at 2,500 rows ("No").
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from sqlmodel import Session, func, select

from outreach.cmrt.fill import METALS, Filing, MetalUse, SmelterPick, fill_cmrt, smelter_lookup
from outreach.core.enums import RequestState
from outreach.db.models import Campaign, Request, Submission
from outreach.mail.blank_template import blank_template
from outreach.reports.exports import Smelter, _stream, accepted_submissions
from outreach.reports.originals import safe_name
from outreach.reports.safe_cells import safe
from outreach.settings import Settings

MAX_SMELTER_ROWS = 2_500


@dataclass(frozen=True)
class CompanyCmrt:
    data: bytes
    filing: Filing
    version: str
    #: smelters that did not fit into the template's rows, or of a metal it lacks
    left_out: tuple[Smelter, ...]
    #: rows written as "Smelter not listed" (no CID, or a CID the blank's Look-up lacks)
    not_listed: int
    valid_rate: float | None


def response_band(rate: float | None) -> str:
    """The CMRT's answer to question 6 for a response rate."""
    if rate is None or rate <= 0:
        return "None"
    if rate >= 1:
        return "100%"
    for floor, band in ((0.9, "Greater than 90%"), (0.75, "Greater than 75%"),
                        (0.5, "Greater than 50%")):
        if rate > floor:
            return band
    return "50% or less"


def _any_yes(answers: Sequence[str]) -> str:
    if not answers:
        return "Unknown"
    words = {a.casefold() for a in answers}
    if "yes" in words:
        return "Yes"
    return "No" if words == {"no"} else "Unknown"


def _all_yes(answers: Sequence[str]) -> str:
    words = {a.casefold() for a in answers}
    if answers and words == {"yes"}:
        return "Yes"
    return "No" if "no" in words else "Unknown"


def metal_answers(session: Session, campaign: Campaign) -> dict[str, list[tuple[str, ...]]]:
    """Per metal, the Q3-Q7 answers of each accepted submission that declares it in scope."""
    assert campaign.id is not None
    accepted = accepted_submissions(campaign.id)
    query = (select(Submission.declaration)
             .join(accepted, accepted.c.id == Submission.id))
    found: dict[str, list[tuple[str, ...]]] = {}
    for (declaration,) in _stream(session, query):
        for metal in (declaration or {}).get("metals") or ():
            if not metal.get("in_scope"):
                continue
            answers = metal.get("answers") or {}
            found.setdefault(str(metal.get("metal", "")).casefold(), []).append(tuple(
                str((answers.get(str(n)) or {}).get("text") or "").strip()
                for n in range(3, 8)))
    return found


def valid_rate(session: Session, campaign: Campaign) -> float | None:
    rows = session.exec(select(Request.state, func.count())
                        .where(Request.campaign_id == campaign.id)
                        .group_by(Request.state)).all()
    surveyed = sum(n for state, n in rows if state != RequestState.EXEMPT)
    valid = sum(n for state, n in rows if state == RequestState.ACCEPTED)
    return valid / surveyed if surveyed else None


def build_filing(settings: Settings, smelters: Iterable[Smelter],
                 answers: dict[str, list[tuple[str, ...]]], rate: float | None,
                 lookup_cids: dict[str, set[str]], today: date
                 ) -> tuple[Filing, tuple[Smelter, ...], int]:
    company, declaration = settings.company, settings.company.declaration
    picks: list[SmelterPick] = []
    left_out: list[Smelter] = []
    not_listed = 0
    used: set[str] = set()
    for smelter in smelters:
        metal = next((m for m in METALS if m.casefold() == smelter.metal.casefold()), None)
        if metal is None or len(picks) >= MAX_SMELTER_ROWS:
            left_out.append(smelter)
            continue
        used.add(metal)
        if smelter.cid and smelter.cid in lookup_cids.get(metal, set()):
            picks.append(SmelterPick(metal, cid=smelter.cid))
        else:
            not_listed += 1
            picks.append(SmelterPick(metal, name=safe(smelter.name)[:250],
                                     country=safe(smelter.country)[:100], not_listed=True))
    cut = any(s for s in left_out if s.metal in METALS)
    metals = []
    for metal in METALS:
        if metal not in used:
            metals.append(MetalUse.not_used(metal))
            continue
        said = answers.get(metal.casefold(), [])
        q3 = _any_yes([a[0] for a in said])
        q4 = _any_yes([a[1] for a in said])
        q5 = _all_yes([a[2] for a in said])
        q7 = "Yes" if (_all_yes([a[4] for a in said]) == "Yes" and rate is not None
                       and rate >= 1) else "No"
        metals.append(MetalUse.in_scope(metal, q3=q3, q4=q4, q5=q5, q6=response_band(rate),
                                        q7=q7, q8="No" if cut else "Yes"))
    filing = Filing(
        company_name=company.name,
        contact_name=company.contact.name,
        contact_email=str(company.contact.email),
        contact_phone=declaration.contact_phone,
        authorizer_name=company.senior_officer.name,
        authorizer_title=company.senior_officer.title,
        authorizer_email=str(company.senior_officer.email),
        authorizer_phone=declaration.authorizer_phone,
        effective_date=today,
        metals=tuple(metals),
        scope=declaration.scope,
        scope_description=declaration.scope_description,
        company_id=declaration.unique_id,
        company_id_authority=declaration.unique_id_authority,
        address=declaration.address,
        company_answers=tuple(declaration.company_answers),
        policy_url=declaration.policy_url,
        smelters=tuple(picks),
    )
    return filing, tuple(left_out), not_listed


def company_cmrt(session: Session, settings: Settings, campaign: Campaign,
                 smelters: list[Smelter], *, today: date) -> CompanyCmrt:
    blank = blank_template("CMRT")
    lookup: dict[str, set[str]] = {}
    for metal, entries in smelter_lookup(blank.data).items():
        lookup[metal] = {e.cid for e in entries if e.cid}
    rate = valid_rate(session, campaign)
    filing, left_out, not_listed = build_filing(
        settings, smelters, metal_answers(session, campaign), rate, lookup, today)
    return CompanyCmrt(fill_cmrt(blank.data, filing), filing, blank.version, left_out,
                       not_listed, rate)


def write_company_cmrt(result: CompanyCmrt, out_dir: Path, company_name: str) -> Path:
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"{safe_name(company_name, 60)}_CMRT_{result.version}.xlsx"
    temporary = path.with_name(f".{path.name}.part")
    temporary.write_bytes(result.data)
    temporary.replace(path)
    return path


def describe(result: CompanyCmrt) -> dict[str, Any]:
    return {"version": result.version, "smelters": len(result.filing.smelters),
            "not_listed": result.not_listed, "left_out": len(result.left_out),
            "metals": [m.metal for m in result.filing.metals if m.declared]}
