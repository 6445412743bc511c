"""``validate(data, context) -> Result``: a returned workbook's verdict, from bytes alone.

Pure library (no database, mail or scheduler). The pipeline, each step able to end it:

1. open the bytes (``opening``): what is not a sound workbook is ``unreadable``;
2. identify family and version from the documented cells (``identify``), never from labels;
3. gate the template: the campaign's family, the minimum version ("please use the current
   template"), the sheets the layout needs ("modified template"); a version newer than any
   known one is read with the newest known layout, with a warning;
4. count what RMI's own Checker requires (``checker``): each missing field is an error.

Severity policy: what RMI's Checker requires is an error, stricter findings are warnings.
Outcome: errors → ``rejected``; only warnings → ``accepted_with_warnings``; else ``accepted``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from outreach.cmrt.checker import DECLARATION, required_missing, text
from outreach.cmrt.identify import TemplateId, identify, version_key
from outreach.cmrt.opening import OpenLimits, Unreadable, open_workbook
from outreach.cmrt.workbook import SheetUnreadable, Workbook


class Outcome(StrEnum):
    ACCEPTED = "accepted"
    ACCEPTED_WITH_WARNINGS = "accepted_with_warnings"
    REJECTED = "rejected"
    UNREADABLE = "unreadable"


class Severity(StrEnum):
    ERROR = "error"
    WARNING = "warning"


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
    """What the campaign expects. ``family`` None accepts CMRT and EMRT."""

    family: str | None = "CMRT"
    min_versions: dict[str, str] = field(default_factory=lambda: {"CMRT": "6.01",
                                                                   "EMRT": "1.1"})
    limits: OpenLimits = field(default_factory=OpenLimits)


@dataclass(frozen=True)
class Finding:
    code: str
    severity: Severity
    message: str
    sheet: str | None = None
    cell: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"code": self.code, "severity": str(self.severity), "sheet": self.sheet,
                "cell": self.cell, "message": self.message}


@dataclass(frozen=True)
class Result:
    outcome: Outcome
    template: str | None = None
    version: str | None = None
    company: str | None = None
    #: the count comparable to the workbook's own Checker (None: no Checker applies)
    required_missing: int | None = None
    findings: tuple[Finding, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        return {"template": self.template, "version": self.version,
                "outcome": str(self.outcome), "company": self.company,
                "required_missing": self.required_missing,
                "findings": [f.as_dict() for f in self.findings]}


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
    try:
        return _judge(opened.workbook, ctx)
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
    layout = template
    newest = NEWEST_KNOWN[family]
    if template.version_key > version_key(newest):
        layout = TemplateId(family, newest, version_key(newest))
        findings.append(Finding(
            "newer_template", Severity.WARNING,
            f"{family} {version} is newer than the versions outreach knows; it was read with "
            f"the {family} {newest} layout after checking its sheets.", DECLARATION, "J3"))
    checked = required_missing(wb, layout)
    findings.extend(
        Finding("required_missing", Severity.ERROR, m.message, m.sheet, m.cell)
        for m in checked.missing
    )
    errors = any(f.severity == Severity.ERROR for f in findings)
    outcome = (Outcome.REJECTED if errors else
               Outcome.ACCEPTED_WITH_WARNINGS if findings else Outcome.ACCEPTED)
    company = text(wb.sheet(DECLARATION).cell("D8")) or None
    return Result(outcome, family, version, company, checked.count, tuple(findings))
