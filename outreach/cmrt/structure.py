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


def layout_mismatches(wb: Workbook, family: str) -> list[str]:
    """The anchors that are not where the newest known layout of ``family`` has them."""
    anchors = ANCHORS.get(family, ())
    if not wb.has(LABELS_SHEET):
        return ["the hidden label sheet 'L'"]
    wanted = {sheet + cell for sheet, cell, _ in anchors}
    found: dict[str, str] = {}
    for _, row in wb.sheet(LABELS_SHEET).rows(1):
        if len(row) > 3:
            key = text(row[1]) + text(row[2])  # sheet, cell (column A is a formula of them)
            if key in wanted:
                found[key] = text(row[3]).lower()
    return [f"{sheet}!{cell} ({start!r}…)" for sheet, cell, start in anchors
            if not found.get(sheet + cell, "").startswith(start)]
