"""The stricter checks, beyond RMI's Checker: each a pure function of the content read.

Every finding names its sheet and cell and says, in words a supplier can act on, what is
wrong and what to do. Default severities, the per-code policy and the cap on findings per
code live in ``findings``; these functions only say what they see.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date

from email_validator import EmailNotValidError, validate_email

from outreach.cmrt.checker import DECLARATION, PRODUCT_LIST, SMELTER_LIST
from outreach.cmrt.content import Answer, Content, SmelterRow
from outreach.cmrt.dates import EARLIEST
from outreach.cmrt.findings import Finding, Severity
from outreach.cmrt.layout import (
    OTHER_FORMAT,
    SCOPES,
    Layout,
    company_questions_for,
)
from outreach.cmrt.redflags import RedFlag, RedFlagLists
from outreach.cmrt.reference import CID_PATTERN, RmapStatus, Smelter, SmelterReference, StatusRow
from outreach.core.reporting_period import is_stale, stale_before

_URL = re.compile(r"^(https?://|www\.)\S+$|^[\w-]+(\.[\w-]+)+(/\S*)?$", re.IGNORECASE)

#: the template's own spelling of every list entry, for messages
_SPELLING = {s.lower(): s for s in (
    "Yes", "No", "Unknown", "100%", "Greater than 90%", "Greater than 75%", "Greater than 50%",
    "50% or less", "None", "Did not survey", "Not declaring",
    "Not applicable for this declaration", "DRC only", "India and/or Madagascar only",
    "Yes, when more processors are validated", "Yes, in conformance with IPC1755 (e.g., CMRT)",
    "Yes, in conformance with IPC-1755 [e.g., CMRT]",
    "Yes, in conformance with IPC1755 (e.g. EMRT)", "Yes, using other format (describe)",
    "Yes, with the SEC", "Yes, with the EU", "Yes, with the SEC and the EU",
    "A. Company", "B. Product (or List of Products)",
    "C. User defined [Specify in 'Description of scope']",
)}


@dataclass(frozen=True)
class Classified:
    """A smelter row as compliance sees it: who it is, its RMAP status, its red flags."""

    row: SmelterRow
    known: Smelter | None
    status: RmapStatus | None
    status_as_of: date | None
    red_flags: tuple[RedFlag, ...]


@dataclass(frozen=True)
class RuleContext:
    layout: Layout
    reporting_year: int | None
    today: date | None
    #: the newest reference list outreach has (imported), consulted before the workbook's own
    reference: SmelterReference | None
    #: the workbook's own Smelter Look-up, parsed only when a CID is not found above
    own_reference: Callable[[], SmelterReference | None]
    #: country names of the template's hidden ``C`` sheet (upper-case), parsed when needed
    countries: Callable[[], frozenset[str]]
    rmap_status: Mapping[str, StatusRow] = field(default_factory=dict)
    red_flags: RedFlagLists | None = None
    #: the file carries formula results (saved by Excel): see checker.has_cached_values
    cached_values: bool = True
    #: cells of the Smelter List holding formulas (None: unknown), read when needed
    smelter_formulas: Callable[[], frozenset[str] | None] = lambda: None

    def checker_misses(self, row: SmelterRow) -> bool:
        """A row identified by column A only, whose B/C the Checker will not see filled:
        blank in a file with cached values, or typed over (no formula) in one without."""
        if not row.completed:
            return False
        if self.cached_values:
            return True
        formulas = self.smelter_formulas()
        return formulas is not None and not {f"B{row.row}", f"C{row.row}"} <= formulas

    def lookup(self, cid: str) -> Smelter | None:
        found = self.reference.get(cid) if self.reference is not None else None
        if found is None:
            own = self.own_reference()
            found = own.get(cid) if own is not None else None
        return found


def check(content: Content, ctx: RuleContext) -> tuple[list[Finding], tuple[Classified, ...]]:
    """All stricter findings for ``content``, and its smelters classified."""
    classified = classify(content.smelters, ctx)
    findings: list[Finding] = []
    for rule in (_answers, _company_block, _dates, _products):
        findings.extend(rule(content, ctx))
    findings.extend(_smelters(content, ctx, classified))
    return findings, classified


def classify(rows: Iterable[SmelterRow], ctx: RuleContext) -> tuple[Classified, ...]:
    out = []
    for row in rows:
        cid = row.smelter_id
        known = ctx.lookup(cid) if CID_PATTERN.match(cid) else None
        status = ctx.rmap_status.get(cid)
        flags: tuple[RedFlag, ...] = ()
        if ctx.red_flags is not None:
            names = {row.display_name, known.standard_name if known else ""} - {""}
            found = {flag: None for name in (names or {""})
                     for flag in ctx.red_flags.flags_for(cid or None, name or None,
                                                         row.country or None)}
            flags = tuple(found)
        out.append(Classified(row, known, status.status if status else None,
                              status.as_of if status else None, tuple(flags)))
    return tuple(out)


def _warn(code: str, message: str, sheet: str, cell: str) -> Finding:
    return Finding(code, Severity.WARNING, message, sheet, cell)


def _info(code: str, message: str, sheet: str, cell: str) -> Finding:
    return Finding(code, Severity.INFO, message, sheet, cell)


def _listing(allowed: Iterable[str]) -> str:
    return ", ".join(f"'{_SPELLING.get(a, a)}'" for a in sorted(allowed, key=_order))


def _order(entry: str) -> tuple[int, str]:
    ranking = ("yes", "no", "unknown", "100%", "greater than 90%", "greater than 75%",
               "greater than 50%", "50% or less", "none")
    return (ranking.index(entry) if entry in ranking else len(ranking), entry)


# --------------------------------------------------------------------------- declaration


def _answers(content: Content, ctx: RuleContext) -> Iterator[Finding]:
    layout = ctx.layout
    scope = content.company
    if scope.scope_text and scope.scope is None:
        yield _warn("answer_invalid",
                    f"Declaration {layout.company.scope}: the scope '{scope.scope_text[:80]}' is "
                    f"not one of the template's; choose one of {_listing(SCOPES)}", DECLARATION,
                    layout.company.scope)
    for metal in content.metals:
        for number, given in metal.answers.items():
            if not given.text:
                continue
            question = layout.question(number)
            allowed = question.allowed_for(metal.metal)
            if given.normalised not in allowed:
                yield _invalid(given, f"question {number} for {metal.metal.lower()}", allowed)
            elif given.padded:
                yield _padded(given)
            elif not metal.in_scope and number > 2:
                yield _info("answer_out_of_scope",
                            f"Declaration {given.cell}: question {number} is answered for "
                            f"{metal.metal.lower()}, which questions 1-2 put out of scope; "
                            "the answer is ignored", DECLARATION, given.cell)
            elif number in (3, 4) and layout.family == "CMRT" and given.normalised == "yes":
                origin = ("covered countries" if number == 3
                          else "conflict-affected and high-risk areas")
                yield _info("high_risk_answer",
                            f"Declaration {given.cell}: {metal.metal.lower()} is declared to come "
                            f"from {origin} (question {number}: Yes)", DECLARATION, given.cell)
    by_cell = {q.cell: q for q in company_questions_for(
        layout, tuple(m.metal for m in content.metals))}
    for company in content.company_answers:
        given = company.answer
        question = by_cell[given.cell]
        if given.text and given.normalised not in question.allowed:
            label = f"company-level question {company.letter}" + (
                f" for {company.metal.lower()}" if company.metal else "")
            yield _invalid(given, label, question.allowed)
        elif given.padded:
            yield _padded(given)
        if company.letter == layout.url_question and given.normalised == "yes":
            url = given.comment
            if len(url) > 1 and not _URL.match(url.strip()):
                cell = "G" + given.cell[1:]
                yield _warn("url_invalid",
                            f"Declaration {cell}: question {company.letter} says the sourcing "
                            f"policy is public, but '{url[:80]}' is not a web address: give the "
                            "policy's URL (e.g. https://www.example.com/policy)",
                            DECLARATION, cell)
        if (company.letter == layout.survey_question and layout.family == "CMRT"
                and given.normalised == OTHER_FORMAT and not given.comment):
            cell = "G" + given.cell[1:]
            yield _warn("description_missing",
                        f"Declaration {cell}: question {company.letter} says you survey suppliers "
                        "with another format: describe it in the comment", DECLARATION, cell)


def _padded(given: Answer) -> Finding:
    answer = _SPELLING.get(given.normalised, given.text)
    return _warn("answer_padded",
                 f"Declaration {given.cell}: the answer '{answer}' has extra spaces or tabs, so "
                 f"RMI's Checker does not read it as '{answer}'; choose it from the list again",
                 DECLARATION, given.cell)


def _invalid(given: Answer, what: str, allowed: Iterable[str]) -> Finding:
    return _warn("answer_invalid",
                 f"Declaration {given.cell}: '{given.text[:80]}' is not an answer to {what}; "
                 f"choose one of {_listing(allowed)}", DECLARATION, given.cell)


def _company_block(content: Content, ctx: RuleContext) -> Iterator[Finding]:
    cells = ctx.layout.company
    for cell in content.company.blank_looking:
        yield _warn("field_blank",
                    f"Declaration {cell}: holds only spaces, tabs or '0', which RMI's Checker "
                    "counts as filled in; enter the real value", DECLARATION, cell)
    for label, address, cell in (("contact", content.company.contact_email, cells.contact_email),
                                 ("authorizer", content.company.authorizer_email,
                                  cells.authorizer_email)):
        if "@" not in address:  # blank or no "@": the Checker already requires it
            continue
        try:
            validate_email(address, check_deliverability=False)
        except EmailNotValidError:
            yield _warn("email_invalid",
                        f"Declaration {cell}: the {label} e-mail '{address[:80]}' is not a valid "
                        "address: give one address such as name@company.com", DECLARATION, cell)


def _dates(content: Content, ctx: RuleContext) -> Iterator[Finding]:
    company = content.company
    cell = ctx.layout.company.effective_date
    written, effective = company.effective_date_text, company.effective_date
    if not written:
        return  # blank: the Checker requires it
    example = "e.g. 31-Jan-2026"
    if effective is None:
        yield _warn("date_invalid",
                    f"Declaration {cell}: the effective date '{written[:40]}' is not a date; "
                    f"enter it as DD-MMM-YYYY, {example}", DECLARATION, cell)
        return
    shown = effective.strftime("%d-%b-%Y")
    if effective < EARLIEST:
        yield _warn("date_invalid",
                    f"Declaration {cell}: the effective date {shown} is before 31-Dec-2006, "
                    f"which the template does not allow; enter the date of this declaration, "
                    f"{example}", DECLARATION, cell)
    elif ctx.today is not None and effective > ctx.today:
        yield _warn("date_future",
                    f"Declaration {cell}: the effective date {shown} is in the future; enter "
                    "the date this declaration was completed", DECLARATION, cell)
    elif ctx.reporting_year is not None and is_stale(effective, ctx.reporting_year):
        floor = stale_before(ctx.reporting_year).strftime("%d-%b-%Y")
        yield _warn("date_stale",
                    f"Declaration {cell}: the effective date {shown} is more than 12 months "
                    f"before the {ctx.reporting_year} reporting period; please send a "
                    f"declaration updated for {ctx.reporting_year} (dated {floor} or later)",
                    DECLARATION, cell)


def _products(content: Content, ctx: RuleContext) -> Iterator[Finding]:
    if content.company.scope != "B":
        return
    seen: dict[str, int] = {}
    for product in content.products:
        if not product.number:
            if product.row == 6:
                continue  # Product List B6: the Checker already requires it
            label = product.name[:60] or product.requester_number[:60] or product.comment[:60]
            yield _warn("product_number_missing",
                        f"Product List B{product.row}: '{label}' has no product number; scope B "
                        "needs the number of every product the declaration covers",
                        PRODUCT_LIST, f"B{product.row}")
            continue
        key = f"{product.number.casefold()}|{product.name.casefold()}"
        if key in seen:
            yield _info("product_duplicate",
                        f"Product List B{product.row}: product '{product.number[:60]}' is "
                        f"already listed in row {seen[key]}", PRODUCT_LIST, f"B{product.row}")
        else:
            seen[key] = product.row


# --------------------------------------------------------------------------- smelter list


def _smelters(content: Content, ctx: RuleContext, classified: tuple[Classified, ...]
              ) -> Iterator[Finding]:
    metals = {m.metal.lower(): m for m in content.metals}
    seen: dict[tuple[str, str, str], int] = {}
    unidentified: Counter[str] = Counter()
    for item in classified:
        row = item.row
        where = f"Smelter List row {row.row}"
        metal = row.metal.lower()
        declared = metals.get(metal)
        if row.metal and declared is None:
            yield _warn("smelter_metal_invalid",
                        f"{where}: '{row.metal[:40]}' is not a metal of this template; choose one "
                        f"of {', '.join(m.metal for m in content.metals) or 'the listed metals'}",
                        SMELTER_LIST, f"B{row.row}")
        elif declared is not None and not declared.in_scope:
            yield _warn("smelter_out_of_scope",
                        f"{where}: a {metal} smelter is listed, but questions 1-2 declare "
                        f"{metal} out of scope; correct the answers or remove the row",
                        SMELTER_LIST, f"B{row.row}")
        if ctx.checker_misses(row):
            yield _warn("smelter_columns_blank",
                        f"{where}: column A holds {row.cid_input} but the metal and smelter "
                        "columns (B, C) are empty, so RMI's Checker does not count the row; "
                        "enter the ID in column A again (or choose metal and smelter)",
                        SMELTER_LIST, f"B{row.row}")
        if row.metal and not (row.lookup_name or row.smelter_id):
            yield _warn("smelter_lookup_missing",
                        f"{where}: choose the smelter in column C (Smelter Look-up) or enter its "
                        "smelter ID in column A", SMELTER_LIST, f"C{row.row}")
        yield from _identification(item, ctx, where)
        if row.not_yet_identified:
            unidentified[metal] += 1
            yield _warn("smelter_not_identified",
                        f"{where}: 'Smelter not yet identified' — please identify the {metal} "
                        "smelter (ask your supplier) and resend", SMELTER_LIST, f"C{row.row}")
        if row.not_listed and row.country and row.country.upper() not in ctx.countries():
            countries = ctx.countries()
            if countries:
                yield _warn("smelter_country_invalid",
                            f"{where}: '{row.country[:40]}' is not a country of the template's "
                            "list; choose the smelter's country in column E",
                            SMELTER_LIST, f"E{row.row}")
        key = _identity(row)
        if key is not None:
            if key in seen:
                yield _info("smelter_duplicate",
                            f"{where}: repeats row {seen[key]} (same {metal} smelter and mine); "
                            "one of them can be removed", SMELTER_LIST, f"A{row.row}")
            else:
                seen[key] = row.row
        for flag in item.red_flags:
            yield _warn("smelter_red_flag",
                        f"{where}: {row.display_name[:60]} ({row.smelter_id or 'no ID'}) is on "
                        f"the list '{flag.list_name}': {flag.reason}", SMELTER_LIST, f"C{row.row}")
    yield from _contradictions(content, ctx, unidentified)
    yield from _not_conformant(ctx, classified)


def _identification(item: Classified, ctx: RuleContext, where: str) -> Iterator[Finding]:
    row = item.row
    typed, resolved = row.cid_input.upper(), row.cid.upper()
    for column, value in (("A", typed), ("F", resolved)):
        if value and not CID_PATTERN.match(value):
            yield _warn("smelter_id_malformed",
                        f"{where}: '{value[:40]}' in column {column} is not a smelter ID; RMI "
                        "smelter IDs are 'CID' and six digits, e.g. CID001234",
                        SMELTER_LIST, f"{column}{row.row}")
            return
    if typed and resolved and typed != resolved:
        yield _warn("smelter_id_mismatch",
                    f"{where}: the smelter ID entered in column A ({typed}) differs from the one "
                    f"in column F ({resolved}); re-enter the ID in column A",
                    SMELTER_LIST, f"A{row.row}")
        return
    cid = row.smelter_id
    if not cid:
        return
    in_template = ctx.own_reference()
    if typed and (in_template is None or in_template.get(typed) is None):
        # the template's formulas look column A up in its own list: B, C, F turn #N/A and
        # RMI's Checker shows #N/A instead of a count
        known_later = item.known is not None
        yield Finding(
            "smelter_id_not_in_template", Severity.WARNING if known_later else Severity.ERROR,
            f"{where}: smelter ID {typed} is not in this template's Smelter Look-up, so the "
            "template cannot fill in the smelter and RMI's Checker shows an error; "
            + ("it is in RMI's newer list: send the current RMI template, or choose 'Smelter "
               "not listed' and give the name and country" if known_later else
               "check the ID, or choose 'Smelter not listed' and give the name and country"),
            SMELTER_LIST, f"A{row.row}")
        return
    if item.known is None:
        yield _warn("smelter_id_unknown",
                    f"{where}: smelter ID {cid} is not in RMI's smelter reference list; check the "
                    "ID, or choose 'Smelter not listed' and give the name and country",
                    SMELTER_LIST, f"{'A' if typed else 'F'}{row.row}")
    elif row.metal and item.known.metal.lower() != row.metal.lower():
        yield _warn("smelter_wrong_metal",
                    f"{where}: smelter ID {cid} ({item.known.standard_name}) is a "
                    f"{item.known.metal.lower()} smelter, not {row.metal.lower()}",
                    SMELTER_LIST, f"B{row.row}")


def _identity(row: SmelterRow) -> tuple[str, str, str] | None:
    """What makes two rows the same: metal, smelter, and the mine reported (column N/O).

    Suppliers list one smelter on several rows, one per mine it sources from; only rows
    that repeat all of it are duplicates.
    """
    if not row.metal:
        return None
    mine = f"{row.mine_name.casefold()}|{row.mine_country.casefold()}"
    if row.smelter_id and CID_PATTERN.match(row.smelter_id):
        return (row.metal.lower(), row.smelter_id, mine)
    if row.not_listed and row.name:
        return (row.metal.lower(), f"{row.name.casefold()}|{row.country.casefold()}", mine)
    return None


def _contradictions(content: Content, ctx: RuleContext, unidentified: Counter[str]
                    ) -> Iterator[Finding]:
    number = ctx.layout.identified_question
    for metal in content.metals:
        given = metal.answers.get(number)
        count = unidentified[metal.metal.lower()]
        if metal.in_scope and given is not None and given.normalised == "yes" and count:
            yield _warn("answer_contradicts_smelters",
                        f"Declaration {given.cell}: question {number} says all "
                        f"{metal.metal.lower()} smelters are identified, but the Smelter List "
                        f"has {count} 'Smelter not yet identified' row(s) for "
                        f"{metal.metal.lower()}", DECLARATION, given.cell)


def _not_conformant(ctx: RuleContext, classified: tuple[Classified, ...]) -> Iterator[Finding]:
    if not ctx.rmap_status:
        return
    by_metal: dict[str, list[str]] = defaultdict(list)
    for item in classified:
        row = item.row
        if row.not_listed or row.not_yet_identified or not row.smelter_id:
            continue
        if item.status != RmapStatus.CONFORMANT:
            state = item.status.replace("_", " ") if item.status else "status unknown"
            by_metal[row.metal.lower()].append(f"{row.smelter_id} ({state})")
    for metal, entries in sorted(by_metal.items()):
        shown = ", ".join(entries[:10]) + (", …" if len(entries) > 10 else "")
        yield _info("smelter_not_conformant",
                    f"Smelter List: {len(entries)} {metal} smelter(s) are not RMAP conformant: "
                    f"{shown}", SMELTER_LIST, "A5")
