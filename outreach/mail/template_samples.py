"""Sample contexts: what ``template check`` renders every template with, and previews show.

They vary what breaks templates in practice: non-ASCII and very long names, no contact name,
markup in a supplier's name, with and without findings, before and after the due date.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, date, datetime

from outreach.mail.compose import plus_address
from outreach.mail.template_context import (
    CampaignInfo,
    CompanyInfo,
    ContactInfo,
    FindingInfo,
    MessageContext,
    RequestInfo,
    SubmissionInfo,
    SupplierInfo,
    blank_attachment_name,
    subject_tag,
)

#: the intake answers (built by the intake part, sent through the outbox) and their outcome
INTAKE_OUTCOMES = {
    "receipt": "accepted",
    "receipt_with_warnings": "accepted_with_warnings",
    "correction": "rejected",
    "unreadable": "unreadable",
}
INTAKE_KINDS = tuple(INTAKE_OUTCOMES)
SAMPLE_TOKEN = "k7m2q9xr4tzp"  # noqa: S105 (a sample reference, not a secret)
_DUE = date(2027, 3, 31)

_FINDINGS = (
    FindingInfo("missing_required", "error", "Declaration", "D8",
                "The company name of the declaring company is required."),
    FindingInfo("smelter_not_listed", "error", "Smelter List", "C12",
                "Tin is declared as necessary, but the Smelter List names no tin smelter."),
    FindingInfo("version_too_old", "error", None, None,
                "This is CMRT 5.12; the survey asks for CMRT 6.01 or newer."),
    FindingInfo("stale_effective_date", "warning", "Declaration", "D17",
                "The effective date 1 January 2024 is more than 12 months before the "
                "reporting year."),
    FindingInfo("smelter_id_unknown", "warning", "Smelter List", "B40",
                "Smelter identification number CID009999 is not in RMI's Smelter Look-up."),
    FindingInfo("note", "info", "Checker", None, "Question 7 was answered with a comment."),
)
_UNREADABLE = (FindingInfo("encrypted", "error", None, None,
                           "The workbook is protected with a password."),)


@dataclass(frozen=True)
class Sample:
    label: str
    context: MessageContext


@dataclass(frozen=True)
class _People:
    label: str
    supplier: SupplierInfo
    contact: ContactInfo
    family: str = "CMRT"
    overdue: int = 0


_PEOPLE = (
    _People("plain", SupplierInfo("ACME-01", "Acme Metals Ltd", "GB", "en"),
            ContactInfo("Pat Lee", "pat.lee@acme.example")),
    _People("non-ASCII names", SupplierInfo("JP-7", "株式会社テスト", "JP", "ja"),
            ContactInfo("Zoë Müller-Łukasiewicz", "zoe@test.example.jp"), overdue=12),
    _People("long names, no contact name",
            SupplierInfo("X" * 64, "Internationale Präzisionswerkzeug- und Metallverarbeitungs"
                         "gesellschaft mit beschränkter Haftung & Co. Kommanditgesellschaft "
                         + "Zweigniederlassung Süd " * 8, "DE", "de"),
            ContactInfo(None, "einkauf.compliance.abteilung@" + "sub." * 10 + "example.de"),
            family="EMRT", overdue=40),
    _People("markup in names", SupplierInfo("ZZ-9", "<script>alert('x')</script> & Söhne",
                                            "US", "en"),
            ContactInfo("O'Brien <b>bold</b>", "ob@example.com")),
)


def _context(kind: str, people: _People, company: CompanyInfo, from_address: str,
             findings: tuple[FindingInfo, ...], submitted: bool) -> MessageContext:
    family = people.family
    outcome = INTAKE_OUTCOMES.get(kind, "rejected")
    return MessageContext(
        supplier=people.supplier,
        contact=people.contact,
        campaign=CampaignInfo(f"{family} 2026", 2026, _DUE, family,
                              "1.1" if family == "EMRT" else "6.01"),
        request=RequestInfo(SAMPLE_TOKEN, _DUE, None if kind in INTAKE_OUTCOMES else kind,
                            1 + (people.overdue > 0), people.overdue),
        company=company,
        reply_address=plus_address(from_address, SAMPLE_TOKEN),
        subject_tag=subject_tag(family, 2026, SAMPLE_TOKEN),
        attachment_name=(blank_attachment_name(family, 2026, people.supplier.code)
                         if kind == "request" and people.label != "long names, no contact name"
                         else None),
        submission=(SubmissionInfo(f"{people.supplier.code} {family} 2026 final.xlsx",
                                   datetime(2027, 3, 2, 14, 5, tzinfo=UTC), outcome)
                    if submitted else None),
        findings=findings,
    )


def _findings_for(kind: str, long: bool) -> tuple[FindingInfo, ...]:
    if kind == "unreadable":
        return _UNREADABLE
    if kind == "receipt":
        return tuple(f for f in _FINDINGS if f.severity == "info")
    if kind == "receipt_with_warnings":
        return tuple(f for f in _FINDINGS if f.severity != "error")
    many = tuple(replace(f, cell=f"C{n}") for n in range(1, 61) for f in _FINDINGS[1:2])
    return _FINDINGS + many if long else _FINDINGS


def sample_contexts(kind: str, company: CompanyInfo, from_address: str) -> list[Sample]:
    """Every sample a template of ``kind`` must render with."""
    if kind == DIGEST_KIND:
        return digest_sample_contexts(company)
    samples: list[Sample] = []
    for people in _PEOPLE:
        long = people.label.startswith("long")
        if kind in INTAKE_OUTCOMES:
            variants = [("findings", _findings_for(kind, long), True)]
            if kind != "correction":
                variants.append(("no findings", (), True))
        else:
            variants = [("nothing received", (), False),
                        ("a rejected file", _findings_for("correction", long), True)]
        for label, findings, submitted in variants:
            samples.append(Sample(f"{people.label}, {label}",
                                  _context(kind, people, company, from_address, findings,
                                           submitted)))
    return samples


def sample_context(kind: str, company: CompanyInfo, from_address: str,
                   language: str | None = None) -> MessageContext:
    """One representative context for a preview (findings where the kind lists them)."""
    context = sample_contexts(kind, company, from_address)[0].context
    if language:
        context = replace(context, supplier=replace(context.supplier, language=language))
    return context


# -- the status digest (kind "digest"): compliance reads it, not a supplier ---------------
DIGEST_KIND = "digest"
SAMPLE_CHART_CID = "coverage-chart.sample@company.example"


def _digest_section(rows: list[dict[str, object]], total: int | None = None
                    ) -> dict[str, object]:
    return {"rows": rows, "total": len(rows) if total is None else total}


def digest_sample_contexts(company: CompanyInfo) -> list[Sample]:
    """What ``template check`` renders the digest with: everything empty (the first digest
    of a new campaign), and every section full with markup and non-ASCII in names, more rows
    than shown, a change since the last digest, paused delivery and the "complete" notice."""
    at = datetime(2027, 3, 2, 8, 0, tzinfo=UTC)
    campaign = {"name": "CMRT 2026", "reporting_year": 2026, "due_date": _DUE,
                "family": "CMRT", "state": "running"}
    empty = _digest_section([])
    group = {"key": "reminder", "in_scope": 0, "accepted": 0, "responded": 0,
             "coverage": "n/a"}
    coverage_empty = {"in_scope": 0, "accepted": 0, "responded": 0, "requests": 0,
                      "coverage": "n/a", "responded_pct": "n/a", "complete": False,
                      "change": {"previous_period": None, "accepted": None,
                                 "responded": None, "coverage_points": None},
                      "rate_per_week": 0.0, "projected": None, "exempt": [],
                      "by_stage": [], "by_country": [], "by_metal": []}
    base = {"company": company, "campaign": campaign, "period": "2027-W09",
            "generated_at": at, "since": at, "complete": False,
            "chart_cid": SAMPLE_CHART_CID, "coverage": coverage_empty,
            "figures": {}, "accepted": empty, "rejected": empty,
            "awaiting_approval": empty,
            "upcoming": {**empty, "note": "campaign 'CMRT 2026' is paused", "days": 7},
            "handed_over": empty, "red_flags": empty, "quarantined": empty,
            "bounced": empty, "failed": empty, "delivery_paused": None}
    name = "<script>alert('x')</script> & Söhne 株式会社"
    supplier = {"code": "ZZ-9", "name": name}
    finding = {"code": "missing_required", "severity": "error", "where": "Declaration D8",
               "message": "The company name of the declaring company is required."}
    full_coverage = {
        **coverage_empty, "in_scope": 120, "accepted": 57, "responded": 80, "requests": 123,
        "coverage": "47.5%", "responded_pct": "66.7%",
        "change": {"previous_period": "2027-W08", "accepted": 9, "responded": 12,
                   "coverage_points": 7.5},
        "rate_per_week": 6.5, "projected": date(2027, 5, 2),
        "exempt": [{"code": "EX-1", "name": name, "reason": "no 3TG in its products"}],
        "by_stage": [{**group, "in_scope": 60, "accepted": 20, "responded": 30,
                      "coverage": "33.3%"}],
        "by_country": [{**group, "key": "DE", "in_scope": 60, "accepted": 20,
                        "responded": 30, "coverage": "33.3%"}],
        "by_metal": [{"metal": "Tin", "suppliers": 40, "smelters": 312}]}
    full = {
        **base, "coverage": full_coverage,
        "accepted": _digest_section([{**supplier, "at": at}], total=80),
        "rejected": _digest_section([{**supplier, "at": at, "filename": "<b>cmrt</b>.xlsx",
                                      "outcome": "rejected", "findings": [finding]}]),
        "awaiting_approval": _digest_section([{**supplier, "stage": "senior_notice",
                                               "since": at}]),
        "upcoming": {**_digest_section([{**supplier, "at": at, "stage": "reminder",
                                         "kind": "send", "to": "pat@zz9.example",
                                         "note": ""}]), "note": None, "days": 7},
        "handed_over": _digest_section([{**supplier, "at": at, "new": True}]),
        "red_flags": _digest_section([{"cid": "CID000001", "name": name, "metal": "Gold",
                                       "country": "Ruritania", "flags": "OECD Annex II",
                                       "suppliers": "ZZ-9, A-1"}]),
        "quarantined": _digest_section([{"id": 3, "at": at, "status": "quarantined",
                                         "sender": "x@unknown.example", "subject": name,
                                         "note": "no token, unknown sender"}]),
        "bounced": _digest_section([{"code": "ZZ-9", "email": "old@zz9.example",
                                     "role": "primary", "at": at}]),
        "failed": _digest_section([{"id": 7, "kind": "reminder", "status": "failed",
                                    "code": "ZZ-9", "to": "old@zz9.example",
                                    "error": "550 no such user"}]),
        "delivery_paused": "535 authentication failed"}
    return [Sample("digest, first of a new campaign", base),  # type: ignore[arg-type]
            Sample("digest, every section full", full),  # type: ignore[arg-type]
            Sample("digest, coverage complete",  # type: ignore[arg-type]
                   {**full, "complete": True, "delivery_paused": None})]
