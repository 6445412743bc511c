"""``validate(data, context) -> Result``: a returned workbook's verdict, from bytes alone.

Pure library (no database, mail or scheduler). The pipeline, each step able to end it:

1. open the bytes (``opening``): what is not a sound workbook is ``unreadable``;
2. identify family and version from the documented cells (``identify``), never from labels;
3. gate the template: the campaign's family, the minimum version ("please use the current
   template"), the sheets the layout needs ("modified template"); a version newer than any
   known one is read with the newest known layout once its label anchors are where that
   layout has them (``structure``), with a warning;
4. count what RMI's own Checker requires (``checker``): each missing field is an error;
5. read the content (``content``: company, scope, answers, smelters, products), run the
   stricter rules (``rules``) and classify every smelter (reference, RMAP status, red flags).

Severity policy (``findings``): what RMI's Checker requires is an error, stricter findings
are warnings by default, adjustable per code. Outcome: errors → ``rejected``; warnings →
``accepted_with_warnings``; else ``accepted`` (``info`` findings never change it).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import date
from enum import StrEnum
from functools import cache
from typing import Any

from outreach.cmrt.checker import (
    DECLARATION,
    SMELTER_LIST,
    has_cached_values,
    required_missing,
    text,
)
from outreach.cmrt.content import Company, Content, read_content
from outreach.cmrt.findings import Finding, Severity, apply_policy, cap_per_code
from outreach.cmrt.identify import TemplateId, identify, version_key
from outreach.cmrt.layout import layout_for
from outreach.cmrt.opening import OpenLimits, Unreadable, open_workbook
from outreach.cmrt.redflags import RedFlagLists
from outreach.cmrt.reference import SmelterReference, StatusRow, reference_from_workbook
from outreach.cmrt.rules import Classified, RuleContext, check
from outreach.cmrt.structure import layout_mismatches, product_columns
from outreach.cmrt.workbook import SheetUnreadable, Workbook

__all__ = ["Finding", "Outcome", "Result", "Severity", "ValidationContext", "validate",
           "validate_workbook"]


class Outcome(StrEnum):
    ACCEPTED = "accepted"
    ACCEPTED_WITH_WARNINGS = "accepted_with_warnings"
    REJECTED = "rejected"
    UNREADABLE = "unreadable"


#: the verdicts that cover a supplier (stored as their string values)
ACCEPTED_OUTCOMES: frozenset[Outcome] = frozenset({Outcome.ACCEPTED,
                                                  Outcome.ACCEPTED_WITH_WARNINGS})


#: the newest release of each family whose layout this version of outreach knows
NEWEST_KNOWN = {"CMRT": "6.5", "EMRT": "2.1"}
#: sheets every known layout of a family has; a workbook without them is a modified template
REQUIRED_SHEETS = {
    "CMRT": ("Declaration", "Smelter List", "Product List", "Smelter Look-up"),
    "EMRT": ("Declaration", "Smelter List", "Product List", "Smelter Look-up"),
}
CURRENT_TEMPLATE_HINT = {
    "CMRT": "the current RMI Conflict Minerals Reporting Template (CMRT 6.5 or newer)",
    "EMRT": "the current RMI Extended Minerals Reporting Template (EMRT 2.1 or newer)",
}


@dataclass(frozen=True)
class ValidationContext:
    """What the campaign expects, and what outreach knows about smelters.

    ``family`` None accepts CMRT and EMRT. ``reporting_year`` enables the stale-date rule
    (``outreach.core.reporting_period``), ``today`` the future-date rule. ``reference`` is
    the newest imported RMI list (the workbook's own Smelter Look-up is consulted for what
    it lacks); ``rmap_status`` and ``red_flags`` classify each smelter. ``severity`` maps a
    finding code to "error", "warning", "info" or "off".
    """

    family: str | None = "CMRT"
    min_versions: dict[str, str] = field(default_factory=lambda: {"CMRT": "6.01",
                                                                   "EMRT": "1.1"})
    limits: OpenLimits = field(default_factory=OpenLimits)
    reporting_year: int | None = None
    today: date | None = None
    reference: SmelterReference | None = None
    rmap_status: Mapping[str, StatusRow] = field(default_factory=dict)
    red_flags: RedFlagLists | None = None
    severity: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Result:
    outcome: Outcome
    template: str | None = None
    version: str | None = None
    #: the count comparable to the workbook's own Checker (None: no Checker applies)
    required_missing: int | None = None
    findings: tuple[Finding, ...] = ()
    #: what the workbook says (None when it was not read that far)
    content: Content | None = None
    #: each smelter row with its reference entry, RMAP status and red flags
    smelters: tuple[Classified, ...] = ()

    @property
    def company(self) -> Company | None:
        return self.content.company if self.content else None

    @property
    def errors(self) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings if f.severity == Severity.ERROR)

    def as_dict(self) -> dict[str, Any]:
        content = self.content.as_dict() if self.content else None
        return {
            "template": self.template, "version": self.version, "outcome": str(self.outcome),
            "required_missing": self.required_missing,
            "findings": [f.as_dict() for f in self.findings],
            "company": content["company"] if content else None,
            "metals": content["metals"] if content else [],
            "company_answers": content["company_answers"] if content else [],
            "smelters": [_smelter_dict(item) for item in self.smelters],
            "products": content["products"] if content else [],
        }


def _smelter_dict(item: Classified) -> dict[str, Any]:
    row = item.row
    return {
        "row": row.row, "metal": row.metal, "name": row.display_name,
        "lookup_name": row.lookup_name, "country": row.country, "cid": row.smelter_id or None,
        "known": item.known is not None,
        "standard_name": item.known.standard_name if item.known else None,
        "rmap_status": str(item.status) if item.status else None,
        "rmap_as_of": item.status_as_of.isoformat() if item.status_as_of else None,
        "red_flags": [{"list": f.list_name, "reason": f.reason} for f in item.red_flags],
        "mine": row.mine_name or None, "mine_country": row.mine_country or None,
        "recycled": row.recycled or None,
    }


def _rejected(template: TemplateId | None, code: str, message: str, **where: str) -> Result:
    return Result(
        Outcome.REJECTED,
        template.family if template else None,
        template.version if template else None,
        findings=(Finding(code, Severity.ERROR, message, **where),),
    )


def validate(data: bytes, context: ValidationContext | None = None) -> Result:
    """The verdict on one returned workbook. Never raises for bad input."""
    ctx = context or ValidationContext()
    opened = open_workbook(data, ctx.limits)
    if isinstance(opened, Unreadable):
        return _unreadable(opened.code, opened.message)
    return validate_workbook(opened.workbook, ctx)


def validate_workbook(wb: Workbook, context: ValidationContext | None = None) -> Result:
    """The verdict on an already opened workbook (``validate`` after its opening step)."""
    try:
        return _judge(wb, context or ValidationContext())
    except SheetUnreadable as exc:
        return _unreadable("damaged_sheet", f"The workbook is damaged: {exc}. Please open it "
                                            "in Excel, save it again and resend it.")


def _unreadable(code: str, message: str) -> Result:
    return Result(Outcome.UNREADABLE,
                  findings=(Finding(f"unreadable.{code}", Severity.ERROR, message),))


def _judge(wb: Workbook, ctx: ValidationContext) -> Result:
    template = identify(wb)
    if template is None:
        return _rejected(None, "not_a_template",
                         "This workbook is not an RMI reporting template (no revision stamp in "
                         "Declaration J3): please fill in and return the RMI CMRT we sent.",
                         sheet=DECLARATION, cell="J3")
    family, version = template.family, template.version
    hint = CURRENT_TEMPLATE_HINT.get(ctx.family or family, "the current RMI template")
    if ctx.family and family != ctx.family:
        return _rejected(template, "wrong_template",
                         f"This is an {family} {version}, but we asked for the {ctx.family}: "
                         f"please use {hint}.")
    minimum = ctx.min_versions.get(family)
    if family not in NEWEST_KNOWN or minimum is None:
        return _rejected(template, "unsupported_template",
                         f"{family} {version} is not a template this survey accepts: please "
                         f"use {hint}.")
    if template.version_key < version_key(minimum):
        return _rejected(template, "outdated_template",
                         f"{family} {version} is outdated (the oldest version we accept is "
                         f"{minimum}): please use {hint}.", sheet=DECLARATION, cell="J3")
    missing_sheets = [s for s in REQUIRED_SHEETS[family] if not wb.has(s)]
    if missing_sheets:
        return _rejected(template, "modified_template",
                         f"The workbook lacks the sheet(s) {', '.join(missing_sheets)} of the "
                         f"{family} {version}: RMI does not accept modified templates; please "
                         f"use {hint} unchanged.")
    findings: list[Finding] = []
    layout_id = template
    newest = NEWEST_KNOWN[family]
    if template.version_key > version_key(newest):
        mismatches = layout_mismatches(wb, family)
        if mismatches:
            return _rejected(template, "modified_template",
                             f"{family} {version} is newer than the versions outreach knows and "
                             f"its layout differs from {family} {newest} (not found: "
                             f"{'; '.join(mismatches[:3])}): please use {hint}, or ask us "
                             "to update outreach.", sheet=DECLARATION, cell="J3")
        layout_id = TemplateId(family, newest, version_key(newest))
        findings.append(Finding(
            "newer_template", Severity.WARNING,
            f"{family} {version} is newer than the versions outreach knows; it was read with "
            f"the {family} {newest} layout after checking its structure.", DECLARATION, "J3"))
    checked = required_missing(wb, layout_id)
    findings.extend(
        Finding("required_missing", Severity.ERROR, m.message, m.sheet, m.cell)
        for m in checked.missing
    )
    layout = layout_for(layout_id)
    if layout is not None and layout_id is not template:  # newer: its own Product List
        layout = replace(layout, product_columns=product_columns(wb, layout.product_columns))
    content: Content | None = None
    smelters: tuple[Classified, ...] = ()
    if layout is not None:
        own = cache(lambda: reference_from_workbook(wb, "workbook"))
        content = read_content(wb, layout, own)
        rule_context = RuleContext(
            layout=layout, reporting_year=ctx.reporting_year, today=ctx.today,
            reference=ctx.reference, own_reference=own, countries=cache(lambda: _countries(wb)),
            rmap_status=ctx.rmap_status, red_flags=ctx.red_flags,
            cached_values=has_cached_values(wb),
            smelter_formulas=lambda: wb.formulas(SMELTER_LIST))
        stricter, smelters = check(content, rule_context)
        findings.extend(stricter)
    final = cap_per_code(apply_policy(findings, ctx.severity))
    return Result(_outcome(final), family, version, checked.count, tuple(final), content,
                  smelters)


def _outcome(findings: list[Finding]) -> Outcome:
    if any(f.severity == Severity.ERROR for f in findings):
        return Outcome.REJECTED
    if any(f.severity == Severity.WARNING for f in findings):
        return Outcome.ACCEPTED_WITH_WARNINGS
    return Outcome.ACCEPTED


def _countries(wb: Workbook) -> frozenset[str]:
    """Country names of the template's hidden ``C`` sheet (column B), upper-case."""
    if not wb.has("C"):
        return frozenset()
    return frozenset(text(row[1]).upper() for _, row in wb.sheet("C").rows(1)
                     if len(row) > 1 and text(row[1]))
