"""Required fields still missing, computed exactly like the template's own Checker sheet.

The workbook's Checker sheet (and its cached ``D2`` count) is never read: files saved by
tools other than Excel carry no cached formula results, and a supplier can paste over
anything. Instead the Checker formulas of each template family are re-implemented here
(FORMAT.md §3.5 for CMRT 6.x, §7 for EMRT 1.x / 2.x, verified against the formulas in the
official templates), including their gating (a metal answered "No" in Q1/Q2 drops its other
questions and its smelter requirement) and their quirks (CMRT 6.x reads Q2..Q8 only when
Q1 = "Yes"; EMRT 1.1/1.11 also want a URL when A = "Yes" and do not count "Smelter not
listed" rows).

Values are cleaned first (FORMAT.md §2.4): surrounding whitespace and tabs stripped, numeric
0 / "0" and Excel error values are blank, answers compare case-insensitively, numeric 1 is
"100%".

Templates without a Checker sheet (CMRT before 6.0, CRT, AMRT, unknown families) are not an
error: ``required_missing`` returns ``CheckerResult(count=None, missing=())`` so the caller
can report "outdated/unsupported template" without a try/except around every file.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from outreach.cmrt.identify import TemplateId
from outreach.cmrt.workbook import CellValue, Sheet, Workbook

DECLARATION = "Declaration"
SMELTER_LIST = "Smelter List"
PRODUCT_LIST = "Product List"
LOOKUP = "Smelter Look-up"
CHECKER = "Checker"

SCOPE_COMPANY = "a. company"
SCOPE_PRODUCT = "b. product (or list of products)"
NOT_LISTED = "smelter not listed"

_EXCEL_ERRORS = frozenset(
    {"#n/a", "#ref!", "#value!", "#div/0!", "#name?", "#num!", "#null!", "#getting_data"}
)
_WHITESPACE = " \t\r\n\xa0"


@dataclass(frozen=True)
class MissingField:
    """One Checker line that is required and not complete, with a message a supplier can act on."""

    sheet: str
    cell: str
    checker_row: int
    message: str


@dataclass(frozen=True)
class CheckerResult:
    """``count`` = what ``Checker!D2`` would show; None when the template has no Checker."""

    count: int | None
    missing: tuple[MissingField, ...]


NO_CHECKER = CheckerResult(None, ())


def required_missing(wb: Workbook, template: TemplateId) -> CheckerResult:
    """Recompute the template's Checker for ``wb``; ``count=None`` if it has no Checker.

    Also ``count=None`` when the Declaration sheet itself is absent (a modified template):
    there is nothing the Checker could have counted, and structure checks report that.
    """
    key = template.version_key
    if not wb.has(DECLARATION):
        return NO_CHECKER
    if template.family == "CMRT" and key[:1] == (6,):
        missing = _cmrt6(wb)
    elif template.family == "EMRT" and key[:1] == (1,):
        missing = _emrt1(wb, legacy_layout=key < (1, 2))
    elif template.family == "EMRT" and key[:1] == (2,):
        missing = _emrt2(wb, smelter_last_row=2504 if key < (2, 1) else 2497)
    else:
        return NO_CHECKER
    found = tuple(missing)
    return CheckerResult(len(found), found)


# --------------------------------------------------------------------------- value hygiene


def text(value: CellValue) -> str:
    """Cell as stripped text; blank ("") for empty, 0, "0" and Excel errors (§2.2, §2.4)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, (int, float)):
        return "" if value == 0 else f"{value:g}"
    if isinstance(value, (dt.datetime, dt.date, dt.time)):
        return value.isoformat()
    cleaned = str(value).strip(_WHITESPACE)
    if cleaned == "0" or cleaned.lower() in _EXCEL_ERRORS:
        return ""
    return cleaned


def answer(value: CellValue) -> str:
    """Answer for comparison: lower-case cleaned text; numeric 1 (%-formatted list entry) → 100%."""
    if isinstance(value, (int, float)) and not isinstance(value, bool) and value == 1:
        return "100%"
    return text(value).lower()


def excel_text(value: CellValue) -> str:
    """A cell the way the Checker's formulas see it: exact text, no trimming.

    The Checker tests ``IF(B4=0, missing)`` where B4 is ``=Declaration!D8``: an empty cell
    and the number 0 are missing, but any text is not — not even "   " or "0" (Excel never
    equals text to a number) — and its gates compare ``="No"`` exactly (case-insensitive,
    so "No\t" is not "No"). Excel error values make the Checker's own count an error; they
    are counted as missing here. ``text`` is the cleaned reading for everything else.
    """
    if value is None:
        return ""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, (int, float)):
        return "" if value == 0 else f"{value:g}"
    if isinstance(value, (dt.datetime, dt.date, dt.time)):
        return value.isoformat()
    raw = str(value)
    return "" if raw.strip().lower() in _EXCEL_ERRORS else raw


def _choice(value: CellValue) -> str:
    """An answer as the Checker's ``="Yes"`` comparisons see it: case-insensitive, exact."""
    return excel_text(value).lower()


def _has_at(value: CellValue) -> bool:
    return "@" in excel_text(value)


def has_cached_values(wb: Workbook) -> bool:
    """Whether the file carries formula results (Excel always caches ``Checker!D2``).

    Files saved by tools other than Excel carry none; only then are Smelter List rows
    resolved from column A through the Look-up, the way Excel would recalculate them. In a
    file with cached values a blank B/C is blank for the Checker too.
    """
    if not wb.has(CHECKER):
        return False
    return excel_text(wb.sheet(CHECKER).cell("D2")) != "" or wb.sheet(CHECKER).cell("D2") == 0


# --------------------------------------------------------------------------- smelter list


@dataclass(frozen=True)
class SmelterScan:
    """What the Checker asks of the Smelter List, gathered in one pass over its rows."""

    metals: frozenset[str]  # lower-case metals with a row whose look-up (C) is filled
    not_listed: bool  # any row with C = "Smelter not listed"
    not_listed_incomplete: tuple[int, ...]  # such rows lacking D (name) or E (country)


def scan_smelters(wb: Workbook, last_row: int) -> SmelterScan:
    """One pass over Smelter List rows 5..end; metals counted only up to ``last_row``.

    The Checker's ``COUNTIF(B, metal) > 0 AND COUNTIF(B&C, metal&"?*") > 0`` is read as
    "some row has exactly that metal (any case) and a non-empty look-up". When the file
    carries no cached formula results (``has_cached_values``) and column A holds a CID, B
    and C are resolved through the Smelter Look-up sheet as Excel's recalculation would.
    """
    if not wb.has(SMELTER_LIST):
        return SmelterScan(frozenset(), False, ())
    resolve = not has_cached_values(wb)
    lookup: dict[str, tuple[str, str]] | None = None
    formulas: frozenset[str] | None = None
    metals: set[str] = set()
    not_listed = False
    incomplete: list[int] = []
    for row_number, row in wb.sheet(SMELTER_LIST).rows(5):
        head = row[:3]
        if not any(head):  # fast path for the ~2,500 empty rows: "", None and 0 are falsy
            continue
        cid, metal, name = (excel_text(value) for value in (*head, None, None)[:3])
        if not (cid or metal or name):
            continue
        if resolve and cid and not (metal and name):
            if lookup is None:
                lookup = cid_lookup(wb)
                formulas = wb.formulas(SMELTER_LIST)
            resolved = lookup.get(cid.strip().upper(), ("", ""))
            # Excel recalculates B/C only where they still hold the template's formula; a
            # supplier's blank typed over it stays blank
            if not metal and (formulas is None or f"B{row_number}" in formulas):
                metal = resolved[0]
            if not name and (formulas is None or f"C{row_number}" in formulas):
                name = resolved[1]
        if metal and name and row_number <= last_row:
            metals.add(metal.lower())
        if name.strip().lower() == NOT_LISTED:
            not_listed = True
            smelter_name = excel_text(row[3]) if len(row) > 3 else ""
            country = excel_text(row[4]) if len(row) > 4 else ""
            if not (smelter_name and country):
                incomplete.append(row_number)
    return SmelterScan(frozenset(metals), not_listed, tuple(incomplete))


def cid_lookup(wb: Workbook) -> dict[str, tuple[str, str]]:
    """CID (col E, upper-case) → (metal col A, standard name col C); first alias row wins.
    Read once per distinct look-up sheet (``Workbook.derived``); do not change the result."""
    if not wb.has(LOOKUP):
        return {}
    return wb.derived(LOOKUP, "cid_lookup", _cid_lookup)


def _cid_lookup(wb: Workbook) -> dict[str, tuple[str, str]]:
    table: dict[str, tuple[str, str]] = {}
    for _, row in wb.sheet(LOOKUP).rows(5):
        if len(row) < 5:
            continue
        cid = text(row[4]).upper()
        if cid and cid not in table:
            table[cid] = (text(row[0]), text(row[2]))
    return table


# --------------------------------------------------------------------------- shared rules


@dataclass(frozen=True)
class _Field:
    checker_row: int
    cell: str
    message: str
    kind: str = "text"  # "text" | "email"


def _company(declaration: Sheet, fields: Iterable[_Field]) -> Iterable[MissingField]:
    """Always-required company block cells: non-blank, or containing "@" for e-mails."""
    for field in fields:
        value = declaration.cell(field.cell)
        complete = _has_at(value) if field.kind == "email" else bool(excel_text(value))
        if not complete:
            yield MissingField(DECLARATION, field.cell, field.checker_row, field.message)


def _scope_rules(
    wb: Workbook, declaration: Sheet, description_row: int, product_row: int
) -> tuple[list[MissingField], list[MissingField]]:
    """Scope C (anything but A/B, once chosen) needs D10; scope B needs Product List B6."""
    scope = _choice(declaration.cell("D9"))
    description: list[MissingField] = []
    product: list[MissingField] = []
    description_given = excel_text(declaration.cell("D10"))
    if scope and scope not in (SCOPE_COMPANY, SCOPE_PRODUCT) and not description_given:
        description.append(
            MissingField(
                DECLARATION,
                "D10",
                description_row,
                "Declaration D10: describe the scope of this declaration "
                "(required for scope 'C. User defined')",
            )
        )
    if scope == SCOPE_PRODUCT:
        first_product = wb.sheet(PRODUCT_LIST).cell("B6") if wb.has(PRODUCT_LIST) else None
        if not excel_text(first_product):
            product.append(
                MissingField(
                    PRODUCT_LIST,
                    "B6",
                    product_row,
                    "Product List B6: list the product numbers this declaration covers "
                    "(scope 'B. Product' was chosen)",
                )
            )
    return description, product


def _not_listed(scan: SmelterScan, checker_row: int) -> list[MissingField]:
    if not scan.not_listed or not scan.not_listed_incomplete:
        return []
    rows = ", ".join(str(r) for r in scan.not_listed_incomplete[:10])
    more = "" if len(scan.not_listed_incomplete) <= 10 else ", …"
    first = scan.not_listed_incomplete[0]
    return [
        MissingField(
            SMELTER_LIST,
            f"D{first}",
            checker_row,
            f"Smelter List rows {rows}{more}: 'Smelter not listed' is selected, so give the "
            "smelter name (column D) and country (column E)",
        )
    ]


def _question(metal: str, number: int | str, cell: str, checker_row: int) -> MissingField:
    return MissingField(
        DECLARATION,
        cell,
        checker_row,
        f"Declaration {cell}: answer question {number} for {metal}",
    )


def _company_question(letter: str, cell: str, checker_row: int) -> MissingField:
    return MissingField(
        DECLARATION,
        cell,
        checker_row,
        f"Declaration {cell}: answer company-level question {letter}",
    )


def _url(cell: str, letter: str, checker_row: int) -> MissingField:
    return MissingField(
        DECLARATION,
        cell,
        checker_row,
        f"Declaration {cell}: give the URL of your sourcing policy in the comment "
        f"(question {letter} is answered 'Yes')",
    )


def _smelters_needed(metal: str, checker_row: int, gate: str) -> MissingField:
    return MissingField(
        SMELTER_LIST,
        "B5",
        checker_row,
        f"Smelter List: list the {metal.lower()} smelters in your supply chain "
        f"(or answer {gate} 'No' for {metal.lower()})",
    )


# --------------------------------------------------------------------------- CMRT 6.x

_CMRT6_METALS = ("Tantalum", "Tin", "Gold", "Tungsten")  # Declaration row order n+1..n+4
_CMRT6_COMPANY = (
    _Field(4, "D8", "Declaration D8: provide your company name"),
    _Field(5, "D9", "Declaration D9: choose the declaration scope"),
    _Field(7, "D15", "Declaration D15: provide a contact name"),
    _Field(
        8,
        "D16",
        "Declaration D16: provide the contact's e-mail address (must contain '@')",
        "email",
    ),
    _Field(9, "D17", "Declaration D17: provide the contact's phone number"),
    _Field(10, "D18", "Declaration D18: name the authorized company representative"),
    _Field(
        11,
        "D20",
        "Declaration D20: provide the authorizer's e-mail address (must contain '@')",
        "email",
    ),
    _Field(12, "D22", "Declaration D22: provide the effective date (DD-MMM-YYYY)"),
)
# (letter, answer cell, Checker row) for company-level questions A..H; B's URL is G77 row 56.
_CMRT6_COMPANY_QUESTIONS = (
    ("A", "D75", 54), ("B", "D77", 55), ("C", "D79", 57), ("D", "D81", 58),
    ("E", "D83", 59), ("F", "D85", 60), ("G", "D87", 62), ("H", "D89", 63),
)  # fmt: skip


def _cmrt6(wb: Workbook) -> list[MissingField]:
    """CMRT 6.01-6.5 Checker rows 4-69 (identical formulas in all six releases).

    Q2 counts as answered only when Q1 = "Yes", Q3-Q8 only when Q1 and Q2 = "Yes" (the
    Checker reads them through ``IF(Q1="Yes", …, 0)``), and each is required unless Q1 or
    the gated Q2 says "No".
    """
    declaration = wb.sheet(DECLARATION)
    out = list(_company(declaration, _CMRT6_COMPANY))
    description, product = _scope_rules(wb, declaration, 6, 64)
    out.extend(description)

    q1 = [_choice(declaration.at(25 + i, 3)) for i in range(4)]
    q2_raw = [_choice(declaration.at(31 + i, 3)) for i in range(4)]
    q2 = [q2_raw[i] if q1[i] == "yes" else "" for i in range(4)]
    in_scope = [not (q1[i] == "no" or q2[i] == "no") for i in range(4)]
    for i, metal in enumerate(_CMRT6_METALS):
        if not q1[i]:
            out.append(_question(metal, 1, f"D{26 + i}", 14 + i))
    for i, metal in enumerate(_CMRT6_METALS):
        if q1[i] != "no" and not q2[i]:
            out.append(_question(metal, 2, f"D{32 + i}", 19 + i))
    for number in range(3, 9):
        first = 26 + 6 * (number - 1)
        for i, metal in enumerate(_CMRT6_METALS):
            gated = q1[i] == "yes" and q2[i] == "yes"
            if in_scope[i] and not (gated and excel_text(declaration.at(first - 1 + i, 3))):
                out.append(_question(metal, number, f"D{first + i}", 14 + 5 * (number - 1) + i))

    if any(in_scope):
        for letter, cell, row in _CMRT6_COMPANY_QUESTIONS:
            if not excel_text(declaration.cell(cell)):
                out.append(_company_question(letter, cell, row))
            url_needed = letter == "B" and _choice(declaration.cell(cell)) == "yes"
            if url_needed and len(excel_text(declaration.cell("G77"))) <= 1:
                out.append(_url("G77", "B", 56))
    out.extend(product)

    scan = scan_smelters(wb, 2504)
    for i, metal in enumerate(_CMRT6_METALS):
        if in_scope[i] and metal.lower() not in scan.metals:
            out.append(_smelters_needed(metal, 65 + i, "Q1/Q2"))
    out.extend(_not_listed(scan, 69))
    return sorted(out, key=lambda m: m.checker_row)


# --------------------------------------------------------------------------- EMRT 1.x

_EMRT1_COMPANY = (
    _Field(4, "D8", "Declaration D8: provide your company name"),
    _Field(5, "D9", "Declaration D9: choose the declaration scope"),
    _Field(7, "D15", "Declaration D15: provide a contact name"),
    _Field(
        8,
        "D16",
        "Declaration D16: provide the contact's e-mail address (must contain '@')",
        "email",
    ),
    _Field(9, "D17", "Declaration D17: provide the contact's phone number"),
    _Field(10, "D18", "Declaration D18: name the authorized company representative"),
    _Field(
        11,
        "D20",
        "Declaration D20: provide the authorizer's e-mail address (must contain '@')",
        "email",
    ),
    _Field(13, "D22", "Declaration D22: provide the effective date (DD-MMM-YYYY)"),
)
_EMRT1_NOT_IN_SCOPE = frozenset({"no", "unknown", "not applicable for this declaration"})
_EMRT1_ROWS = ("Cobalt", "Mica", "the hidden placeholder row 3", "the hidden placeholder row 4")
_EMRT1_E_ANSWERS = frozenset({"no", "yes, in conformance with ipc1755 (e.g. emrt)"})
_EMRT1_E_DESCRIBE = "yes, using other format (describe)"


def _emrt1(wb: Workbook, legacy_layout: bool) -> list[MissingField]:
    """EMRT 1.1-1.3 Checker (cobalt + mica, two hidden placeholder rows per question).

    1.1/1.11 (``legacy_layout``) also require a URL (G69) when A = "Yes", sit one Checker
    row lower from question B on and do not count "Smelter not listed" rows (its line lies
    outside their ``SUM(H4:H62)``). The placeholder rows D28/D29 ship as "No".
    """
    declaration = wb.sheet(DECLARATION)
    out = list(_company(declaration, _EMRT1_COMPANY))
    shift = 1 if legacy_layout else 0
    description, product = _scope_rules(wb, declaration, 6, 59 + shift)
    out.extend(description)

    q1 = [_choice(declaration.at(25 + i, 3)) for i in range(4)]
    q2 = [_choice(declaration.at(31 + i, 3)) for i in range(2)]
    in_scope = [
        q1[0] not in _EMRT1_NOT_IN_SCOPE and q2[0] not in _EMRT1_NOT_IN_SCOPE,
        q1[1] not in _EMRT1_NOT_IN_SCOPE and q2[1] not in _EMRT1_NOT_IN_SCOPE,
        q1[2] != "no",
        q1[3] != "no",
    ]
    for i, metal in enumerate(_EMRT1_ROWS):
        if not q1[i]:
            out.append(_question(metal, 1, f"D{26 + i}", 15 + i))
    for i, metal in enumerate(_EMRT1_ROWS[:2]):
        if q1[i] not in _EMRT1_NOT_IN_SCOPE and not q2[i]:
            out.append(_question(metal, 2, f"D{32 + i}", 20 + i))
    for number in range(3, 8):
        first = 26 + 6 * (number - 1)
        for i, metal in enumerate(_EMRT1_ROWS):
            if number == 4 and i == 1:  # Q4 is cobalt-only; the Checker has no gate for D45
                continue
            if in_scope[i] and not excel_text(declaration.at(first - 1 + i, 3)):
                out.append(_question(metal, number, f"D{first + i}", 23 + 5 * (number - 3) + i))

    company_scope = in_scope[0] or in_scope[1]
    if company_scope:
        out.extend(_emrt1_company_questions(declaration, in_scope, shift, legacy_layout))
    out.extend(product)

    scan = scan_smelters(wb, 2499 if legacy_layout else 2500)
    for i, metal in enumerate(_EMRT1_ROWS[:2]):
        if in_scope[i] and metal.lower() not in scan.metals:
            out.append(_smelters_needed(metal, 60 + shift + i, "Q1/Q2"))
    if not legacy_layout:
        out.extend(_not_listed(scan, 64))
    return sorted(out, key=lambda m: m.checker_row)


def _emrt1_company_questions(
    declaration: Sheet, in_scope: Sequence[bool], shift: int, legacy_layout: bool
) -> Iterable[MissingField]:
    if not excel_text(declaration.cell("D69")):
        yield _company_question("A", "D69", 48)
    if (
        legacy_layout
        and _choice(declaration.cell("D69")) == "yes"
        and len(excel_text(declaration.cell("G69"))) <= 1
    ):
        yield _url("G69", "A", 49)
    if not excel_text(declaration.cell("D71")):
        yield _company_question("B", "D71", 49 + shift)
    if _choice(declaration.cell("D71")) == "yes" and len(excel_text(declaration.cell("G71"))) <= 1:
        yield _url("G71", "B", 50 + shift)
    for i, (metal, cell) in enumerate((("cobalt", "D74"), ("mica", "D75"))):
        if in_scope[i] and not excel_text(declaration.cell(cell)):
            yield MissingField(
                DECLARATION, cell, 52 + shift + i,
                f"Declaration {cell}: answer company-level question C for {metal}",
            )  # fmt: skip
    if not excel_text(declaration.cell("D77")):
        yield _company_question("D", "D77", 54 + shift)
    survey = _choice(declaration.cell("D79"))
    if survey == _EMRT1_E_DESCRIBE:
        if not excel_text(declaration.cell("G79")):
            yield MissingField(
                DECLARATION, "G79", 55 + shift,
                "Declaration G79: describe the other survey format you use (question E)",
            )  # fmt: skip
    elif survey not in _EMRT1_E_ANSWERS:
        yield _company_question("E", "D79", 55 + shift)
    if not excel_text(declaration.cell("D81")):
        yield _company_question("F", "D81", 57 + shift)
    if not excel_text(declaration.cell("D83")):
        yield _company_question("G", "D83", 58 + shift)


# --------------------------------------------------------------------------- EMRT 2.x

_EMRT2_COMPANY = (
    _Field(4, "D8", "Declaration D8: provide your company name"),
    _Field(5, "D9", "Declaration D9: choose the declaration scope"),
    _Field(9, "D19", "Declaration D19: provide a contact name"),
    _Field(
        10,
        "D20",
        "Declaration D20: provide the contact's e-mail address (must contain '@')",
        "email",
    ),
    _Field(11, "D21", "Declaration D21: provide the contact's phone number"),
    _Field(12, "D22", "Declaration D22: name the authorized company representative"),
    _Field(
        13,
        "D24",
        "Declaration D24: provide the authorizer's e-mail address (must contain '@')",
        "email",
    ),
    _Field(15, "D26", "Declaration D26: provide the effective date (DD-MMM-YYYY)"),
)
# The ten selection slots (row 12 then 13) and the "other" name under each (rows 14/15).
_EMRT2_SLOTS = ("D12", "E12", "G12", "H12", "I12", "D13", "E13", "G13", "H13", "I13")
_EMRT2_Q1_OUT = frozenset({"no", "unknown", "not declaring"})
_EMRT2_Q2_OUT = frozenset({"no", "unknown"})
_EMRT2_CHECKED_SLOTS = 6  # the Checker has formulas for the first six sorted minerals only


def selected_minerals(declaration: Sheet) -> list[str]:
    """Minerals in scope, sorted like the hidden P12:AA21 network (case-insensitive).

    A slot set to "(Delete …)" falls back to the name typed two rows below it, as
    ``P12 = IF(D12="(Delete Cobalt)", D14, D12)`` does; computed from the inputs so that
    files without cached values give the same answer.
    """
    names: list[str] = []
    for ref in _EMRT2_SLOTS:
        value = excel_text(declaration.cell(ref))
        if value.lower().startswith("(delete"):
            value = excel_text(declaration.cell(f"{ref[0]}{int(ref[1:]) + 2}"))
        if value:
            names.append(value)
    return sorted(names, key=str.lower)


def _emrt2(wb: Workbook, smelter_last_row: int) -> list[MissingField]:
    """EMRT 2.0/2.1 Checker: up to six sorted minerals, ten rows per question block."""
    declaration = wb.sheet(DECLARATION)
    out = list(_company(declaration, _EMRT2_COMPANY))
    description, product = _scope_rules(wb, declaration, 6, 112)
    out.extend(description)
    minerals = selected_minerals(declaration)[:_EMRT2_CHECKED_SLOTS]
    if not minerals:
        out.append(
            MissingField(DECLARATION, "D12", 7, "Declaration D12:G13: select the minerals in scope")
        )
    q1 = [_choice(declaration.at(29 + i, 3)) for i in range(len(minerals))]
    q2 = [_choice(declaration.at(41 + i, 3)) for i in range(len(minerals))]
    q2_needed = [q not in _EMRT2_Q1_OUT for q in q1]
    in_scope = [q2_needed[i] and q2[i] not in _EMRT2_Q2_OUT for i in range(len(minerals))]
    for i, mineral in enumerate(minerals):
        if not q1[i]:
            out.append(_question(mineral, 1, f"D{30 + i}", 17 + i))
        if q2_needed[i] and not q2[i]:
            out.append(_question(mineral, 2, f"D{42 + i}", 28 + i))
    for number in range(3, 8):
        first = 30 + 12 * (number - 1)
        for i, mineral in enumerate(minerals):
            if in_scope[i] and not excel_text(declaration.at(first - 1 + i, 3)):
                out.append(_question(mineral, number, f"D{first + i}", 17 + 11 * (number - 1) + i))
    if any(in_scope):
        out.extend(_emrt2_company_questions(declaration, minerals, in_scope))
    out.extend(product)
    scan = scan_smelters(wb, smelter_last_row)
    for i, mineral in enumerate(minerals):
        if in_scope[i] and mineral.lower() not in scan.metals:
            out.append(_smelters_needed(mineral, 114 + i, "Q1/Q2"))
    out.extend(_not_listed(scan, 124))
    return sorted(out, key=lambda m: m.checker_row)


def _emrt2_company_questions(
    declaration: Sheet, minerals: Sequence[str], in_scope: Sequence[bool]
) -> Iterable[MissingField]:
    if not excel_text(declaration.cell("D115")):
        yield _company_question("A", "D115", 94)
    if not excel_text(declaration.cell("D117")):
        yield _company_question("B", "D117", 95)
    url = excel_text(declaration.cell("G117"))
    if _choice(declaration.cell("D117")) == "yes" and len(url) <= 1:
        yield _url("G117", "B", 96)
    for i, mineral in enumerate(minerals):
        cell = f"D{120 + i}"
        if in_scope[i] and not excel_text(declaration.cell(cell)):
            yield MissingField(
                DECLARATION, cell, 98 + i,
                f"Declaration {cell}: answer company-level question C for {mineral}",
            )  # fmt: skip
    for letter, cell, row in (
        ("D", "D131", 108),
        ("E", "D133", 109),
        ("F", "D135", 110),
        ("G", "D137", 111),
    ):
        if not excel_text(declaration.cell(cell)):
            yield _company_question(letter, cell, row)
