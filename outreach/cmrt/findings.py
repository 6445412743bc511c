"""Findings: what the validator says about a workbook, each with a stable code.

Severity policy (the issue's and RMI's): what RMI's own Checker requires is an ``error``, and
so are the template gates (not a template, outdated, modified, unreadable); the stricter
findings outreach adds are ``warning`` by default and can be set per code to ``error``,
``warning``, ``info`` or ``off`` (``[validation.severity]`` in the config). ``info`` findings
are reported but never change the outcome. Codes never change meaning once released:
downstream (digests, exports, templates an admin wrote) key on them.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

#: findings of one code listed one by one before the rest are summarised in one finding
PER_CODE_CAP = 25
#: listed in full whatever their number: each is one line of RMI's Checker (at most ~70)
UNCAPPED = frozenset({"required_missing"})


class Severity(StrEnum):
    ERROR = "error"
    WARNING = "warning"
    INFO = "info"


OFF = "off"


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
class Code:
    code: str
    default: Severity
    meaning: str
    adjustable: bool = True


_FIXED = (
    Code("required_missing", Severity.ERROR,
         "a field RMI's Checker requires is missing (counted like Checker!D2)", False),
    Code("not_a_template", Severity.ERROR, "not an RMI reporting template", False),
    Code("wrong_template", Severity.ERROR, "another template family than the campaign's", False),
    Code("unsupported_template", Severity.ERROR, "a template family this survey does not take",
         False),
    Code("outdated_template", Severity.ERROR, "older than the campaign's minimum version", False),
    Code("modified_template", Severity.ERROR, "the template's structure was changed", False),
    Code("unreadable", Severity.ERROR,
         "the file cannot be read (unreadable.<reason>: encrypted, damaged, not a workbook …)",
         False),
    Code("findings_truncated", Severity.INFO,
         "more findings of one code than are listed (carries their severity)", False),
)
_ADJUSTABLE = (
    Code("newer_template", Severity.WARNING,
         "a version newer than outreach knows, read with the newest known layout"),
    Code("answer_invalid", Severity.WARNING, "an answer that is not one of the template's list"),
    Code("answer_padded", Severity.WARNING,
         "an answer with extra spaces or tabs, which RMI's Checker does not recognise"),
    Code("field_blank", Severity.WARNING,
         "a required company field holding only spaces, tabs or '0' (filled to the Checker)"),
    Code("smelter_columns_blank", Severity.WARNING,
         "a row with a CID in column A whose metal/smelter columns were cleared"),
    Code("answer_out_of_scope", Severity.INFO,
         "an answer given for a metal the declaration puts out of scope"),
    Code("answer_contradicts_smelters", Severity.WARNING,
         "'all smelters identified' answered Yes while the list has unidentified smelters"),
    Code("high_risk_answer", Severity.INFO,
         "smelters source from covered countries or conflict-affected and high-risk areas"),
    Code("email_invalid", Severity.WARNING, "a contact or authorizer e-mail that is no address"),
    Code("date_invalid", Severity.WARNING, "an effective date that is not a date"),
    Code("date_future", Severity.WARNING, "an effective date in the future"),
    Code("date_stale", Severity.WARNING,
         "an effective date more than 12 months before the reporting period"),
    Code("url_invalid", Severity.WARNING, "the sourcing-policy URL comment is not a web address"),
    Code("description_missing", Severity.WARNING,
         "'other format (describe)' chosen without a description"),
    Code("product_number_missing", Severity.WARNING,
         "a Product List row without a product number (scope B)"),
    Code("product_duplicate", Severity.INFO, "the same product (number and name) listed twice"),
    Code("smelter_metal_invalid", Severity.WARNING,
         "a Smelter List row whose metal is not one of the template's"),
    Code("smelter_lookup_missing", Severity.WARNING,
         "a Smelter List row with a metal but no smelter chosen or identified"),
    Code("smelter_id_malformed", Severity.WARNING, "a smelter ID that is not CID + 6 digits"),
    Code("smelter_id_not_in_template", Severity.ERROR,
         "a CID typed in column A that the template's own Look-up lacks: its formulas and "
         "RMI's Checker show #N/A (a warning when outreach's newer list knows it)"),
    Code("smelter_id_unknown", Severity.WARNING, "a smelter ID not in the RMI reference list"),
    Code("smelter_wrong_metal", Severity.WARNING,
         "a smelter ID that belongs to another metal than the row's"),
    Code("smelter_id_mismatch", Severity.WARNING,
         "column A (ID entered) and F (ID resolved) disagree"),
    Code("smelter_not_identified", Severity.WARNING, "a 'Smelter not yet identified' row"),
    Code("smelter_country_invalid", Severity.WARNING,
         "a 'Smelter not listed' row whose country is not in the template's country list"),
    Code("smelter_out_of_scope", Severity.WARNING,
         "a smelter row for a metal the declaration puts out of scope"),
    Code("smelter_duplicate", Severity.INFO,
         "a smelter row repeated (same metal, smelter and mine) — harmless, merged in reports"),
    Code("smelter_red_flag", Severity.WARNING, "a smelter on one of the configured red-flag lists"),
    Code("smelter_not_conformant", Severity.INFO,
         "smelters that are not RMAP conformant (or whose status is unknown)"),
)
CODES: dict[str, Code] = {c.code: c for c in (*_FIXED, *_ADJUSTABLE)}
LEVELS = ("error", "warning", "info", OFF)


def check_severity_overrides(overrides: Mapping[str, str]) -> list[str]:
    """Problems with a ``code → level`` mapping, as messages naming the code."""
    problems = []
    for code, level in overrides.items():
        known = CODES.get(code)
        if known is None:
            problems.append(f"{code!r} is not a finding code (known: "
                            f"{', '.join(c.code for c in _ADJUSTABLE)})")
        elif not known.adjustable:
            problems.append(f"{code!r} is what RMI's Checker or the template gate requires "
                            "and is always an error")
        elif level not in LEVELS:
            problems.append(f"{code!r}: {level!r} is not one of {', '.join(LEVELS)}")
    return problems


def apply_policy(findings: Iterable[Finding], overrides: Mapping[str, str]) -> list[Finding]:
    """Findings with the configured severity; ``off`` ones dropped."""
    out: list[Finding] = []
    for finding in findings:
        level = overrides.get(finding.code)
        known = CODES.get(finding.code.split(".")[0])
        if level is None or known is None or not known.adjustable:
            out.append(finding)
        elif level != OFF:
            out.append(Finding(finding.code, Severity(level), finding.message, finding.sheet,
                               finding.cell))
    return out


def cap_per_code(findings: Iterable[Finding], cap: int = PER_CODE_CAP) -> list[Finding]:
    """At most ``cap`` findings per code, then one ``findings_truncated`` summary per code.

    A 2,500-row smelter list with the same mistake on every row stays readable; the summary
    keeps the severity of what it stands for, so the outcome does not change.
    """
    counts: Counter[str] = Counter()
    out: list[Finding] = []
    dropped: dict[str, list[Finding]] = defaultdict(list)
    for finding in findings:
        counts[finding.code] += 1
        if counts[finding.code] <= cap or finding.code in UNCAPPED:
            out.append(finding)
        else:
            dropped[finding.code].append(finding)
    for code, rest in dropped.items():
        first = rest[0]
        worst = min((f.severity for f in rest), key=list(Severity).index)
        out.append(Finding("findings_truncated", worst,
                           f"{len(rest)} more finding(s) of the kind '{code}' (from "
                           f"{first.sheet} {first.cell} on) are not listed one by one; fix "
                           "those above and check the rest the same way", first.sheet,
                           first.cell))
    return out
