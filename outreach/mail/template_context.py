"""The context every e-mail template receives (the contract of docs/email-templates.md).

Templates see these names: ``supplier``, ``contact``, ``campaign``, ``request``, ``company``,
``reply_address``, ``subject_tag``, ``attachment_name``, ``submission`` and ``findings``.
Each is a frozen dataclass (or a tuple of them), so a misspelt field is an undefined-variable
error, never an empty string. Build one with :func:`message_context` from the database rows.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Protocol

from outreach.mail.compose import plus_address


@dataclass(frozen=True)
class SupplierInfo:
    code: str
    name: str
    country: str | None
    language: str


@dataclass(frozen=True)
class ContactInfo:
    #: None when the supplier file gave only an address: templates greet generically
    name: str | None
    email: str


@dataclass(frozen=True)
class CampaignInfo:
    name: str
    reporting_year: int
    due_date: date
    family: str
    min_version: str


@dataclass(frozen=True)
class RequestInfo:
    token: str
    #: this supplier's own due date (an extension moves it; the campaign's stays)
    due_date: date
    #: the ladder stage sending the message (None for intake answers)
    stage: str | None
    #: 1 for the first send of a stage, 2 for its first repeat, ...
    repeat: int
    #: whole days past the due date, 0 when not overdue
    days_overdue: int


@dataclass(frozen=True)
class PersonInfo:
    name: str
    title: str
    email: str


@dataclass(frozen=True)
class CompanyInfo:
    name: str
    #: the person named in every footer as the one to contact
    contact: PersonInfo
    #: signs the senior-officer notice
    senior_officer: PersonInfo


@dataclass(frozen=True)
class SubmissionInfo:
    filename: str
    received_at: datetime
    #: accepted, accepted_with_warnings, rejected or unreadable
    outcome: str


@dataclass(frozen=True)
class FindingInfo:
    code: str
    #: error, warning or info
    severity: str
    sheet: str | None
    cell: str | None
    message: str


@dataclass(frozen=True)
class MessageContext:
    supplier: SupplierInfo
    contact: ContactInfo
    campaign: CampaignInfo
    request: RequestInfo
    company: CompanyInfo
    #: where the supplier's answer goes: the compliance mailbox, plus-addressed with the token
    reply_address: str
    #: "[CMRT 2026 · ref <token>]": every subject carries it, so answers find their request
    subject_tag: str
    #: the file name of the attached blank template, None when nothing is attached
    attachment_name: str | None = None
    #: the workbook an intake answer is about (None: nothing received yet)
    submission: SubmissionInfo | None = None
    findings: tuple[FindingInfo, ...] = ()

    def as_mapping(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.__dataclass_fields__}


# -- building the context from rows --------------------------------------------------------
class SupplierRow(Protocol):
    code: str
    name: str
    country: str | None
    language: str


class ContactRow(Protocol):
    name: str | None
    email: str


class CampaignRow(Protocol):
    name: str
    reporting_year: int
    due_date: date
    template_family: Any
    min_version: str


class RequestRow(Protocol):
    reply_token: str
    due_date: date
    stage: str | None
    stage_repeat: int


class SubmissionRow(Protocol):
    filename: str
    received_at: datetime
    outcome: str | None


class PersonSettingsLike(Protocol):
    name: str
    title: str
    email: str


class CompanySettingsLike(Protocol):
    name: str
    contact: PersonSettingsLike
    senior_officer: PersonSettingsLike


def subject_tag(family: str, reporting_year: int, token: str) -> str:
    return f"[{family} {reporting_year} · ref {token}]"


def blank_attachment_name(family: str, reporting_year: int, supplier_code: str) -> str:
    """``CMRT_2026_ACME-01.xlsx``: a sample name (the outbox uses
    ``blank_template(family).filename_for(code)``)."""
    code = re.sub(r"[^A-Za-z0-9._-]+", "-", supplier_code).strip("-.") or "supplier"
    return f"{family}_{reporting_year}_{code}.xlsx"


def company_info(company: CompanySettingsLike) -> CompanyInfo:
    def person(p: PersonSettingsLike) -> PersonInfo:
        return PersonInfo(name=p.name, title=p.title, email=str(p.email))

    return CompanyInfo(name=company.name, contact=person(company.contact),
                       senior_officer=person(company.senior_officer))


def finding_info(item: Any) -> FindingInfo:
    """A finding from ``outreach.cmrt`` (dataclass) or as stored on a Submission (dict)."""
    get = item.get if isinstance(item, Mapping) else (lambda key: getattr(item, key, None))
    return FindingInfo(code=str(get("code")), severity=str(get("severity")),
                       sheet=get("sheet") or None, cell=get("cell") or None,
                       message=str(get("message")))


def message_context(
    *,
    supplier: SupplierRow,
    contact: ContactRow,
    campaign: CampaignRow,
    request: RequestRow,
    company: CompanySettingsLike,
    from_address: str,
    today: date,
    stage: str | None = None,
    repeat: int | None = None,
    attachment_name: str | None = None,
    submission: SubmissionRow | None = None,
    findings: Iterable[Any] = (),
) -> MessageContext:
    """The template context for one message. ``today`` is the company's local date (from
    the injected clock); ``stage``/``repeat`` default to what the request row says."""
    family = str(getattr(campaign.template_family, "value", campaign.template_family))
    token = request.reply_token
    return MessageContext(
        supplier=SupplierInfo(code=supplier.code, name=supplier.name, country=supplier.country,
                              language=supplier.language or "en"),
        contact=ContactInfo(name=contact.name or None, email=contact.email),
        campaign=CampaignInfo(name=campaign.name, reporting_year=campaign.reporting_year,
                              due_date=campaign.due_date, family=family,
                              min_version=campaign.min_version),
        request=RequestInfo(token=token, due_date=request.due_date,
                            stage=request.stage if stage is None else stage,
                            repeat=max(1, request.stage_repeat if repeat is None else repeat),
                            days_overdue=max(0, (today - request.due_date).days)),
        company=company_info(company),
        reply_address=plus_address(from_address, token),
        subject_tag=subject_tag(family, campaign.reporting_year, token),
        attachment_name=attachment_name,
        submission=None if submission is None else SubmissionInfo(
            filename=submission.filename, received_at=submission.received_at,
            outcome=submission.outcome or ""),
        findings=tuple(finding_info(f) for f in findings),
    )
