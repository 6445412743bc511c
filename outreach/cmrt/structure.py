"""Does a workbook of a version newer than any known one still have a known layout?

A new RMI release may move cells (EMRT 2.0 moved the whole company block). Labels are
never read from the visible cells (they are formulas in the supplier's language), but
every template's hidden ``L`` sheet keys each English label by its sheet and cell
(B "Declaration", C "B8" → D "Company Name (*):"). If the anchors of the layout we would read with
are where that layout expects them, the cells we read mean what we think.
"""

from __future__ import annotations

from outreach.cmrt.checker import text
from outreach.cmrt.workbook import Workbook

LABELS_SHEET = "L"

#: (sheet, cell, how the English label there starts) per family, for the newest layouts
ANCHORS: dict[str, tuple[tuple[str, str, str], ...]] = {
    "CMRT": (
        ("Declaration", "B8", "company name"),
        ("Declaration", "B15", "contact name"),
        ("Declaration", "B22", "effective date"),
        ("Declaration", "B25", "1)"),
        ("Declaration", "B67", "8)"),
        ("Declaration", "B75", "a."),
        ("Declaration", "B89", "h."),
        ("Smelter List", "A4", "smelter identification"),
        ("Smelter List", "E4", "smelter country"),
    ),
    "EMRT": (
        ("Declaration", "B8", "company name"),
        ("Declaration", "B19", "contact name"),
        ("Declaration", "B26", "effective date"),
        ("Declaration", "B29", "1)"),
        ("Declaration", "B101", "7)"),
        ("Declaration", "B115", "a."),
        ("Declaration", "B137", "g."),
        ("Smelter List", "A4", "smelter identification"),
        ("Smelter List", "E4", "smelter country"),
    ),
}


def labels(wb: Workbook) -> dict[tuple[str, str], str]:
    """(sheet, cell) → English label, lower-case, from the ``L`` sheet (columns B, C, D;
    column A is a formula of B and C, so files without cached values lack it)."""
    found: dict[tuple[str, str], str] = {}
    if wb.has(LABELS_SHEET):
        for _, row in wb.sheet(LABELS_SHEET).rows(1):
            if len(row) > 3:
                found[(text(row[1]), text(row[2]))] = text(row[3]).lower()
    return found


ProductColumns = tuple[str | None, str | None, str | None, str | None, str | None]


def product_columns(wb: Workbook, default: ProductColumns) -> ProductColumns:
    """Product List columns (number, name, requester number, requester name, comment) by
    their header labels: CMRT 6.6 adds requester columns as EMRT 2.1 did, unseen as a file."""
    headers = {cell[:-1]: label for (sheet, cell), label in labels(wb).items()
               if sheet == "Product List" and cell.endswith("5") and len(cell) == 2
               and cell[:-1].isalpha()}
    if not headers:
        return default

    def find(*words: str, exclude: str = "") -> str | None:
        for column, label in sorted(headers.items()):
            if all(w in label for w in words) and not (exclude and exclude in label):
                return column
        return None

    number = find("number", exclude="requester")
    if number is None:
        return default
    return (number, find("name", exclude="requester"), find("requester", "number"),
            find("requester", "name"), find("comment"))


def layout_mismatches(wb: Workbook, family: str) -> list[str]:
    """The anchors that are not where the newest known layout of ``family`` has them."""
    anchors = ANCHORS.get(family, ())
    if not wb.has(LABELS_SHEET):
        return ["the hidden label sheet 'L'"]
    found = labels(wb)
    return [f"{sheet}!{cell} ({start!r}…)" for sheet, cell, start in anchors
            if not found.get((sheet, cell), "").startswith(start)]
