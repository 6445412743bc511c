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
