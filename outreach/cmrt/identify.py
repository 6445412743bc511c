"""Which RMI reporting template (family and version) a workbook is.

Only fixed cells are read (FORMAT.md §2.3): the revision stamp in ``Declaration!J3`` with the
Smelter List / Mine List stamps as fallbacks, and the family from language-independent
signals (sheet set, the hidden metal list of the Smelter List, the English column of the
hidden ``L`` label sheet). Visible labels are never read: they are formulas evaluated in the
supplier's UI language, so a Chinese-saved template would defeat any text match.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from outreach.cmrt.workbook import Sheet, Workbook

Family = Literal["CMRT", "EMRT", "CRT", "AMRT"]

# "Revision 6.4\nApril 26, 2024", "Version 1.3 | April 26, 2024", "'Revision 2.03a July 25th 2013'".
_STAMP = re.compile(r"(?:revision|version)\s*:?\s*(\d+(?:\.\d+)*[a-z]?)", re.IGNORECASE)
# CMRT 1.00 writes the number alone in J3 ("1.   July 18th 2011") with "Revision" in I3.
_BARE_NUMBER = re.compile(r"^\s*(\d+(?:\.\d+)*[a-z]?)\.?(?:\s|$)", re.IGNORECASE)
_VERSION_PARTS = re.compile(r"^(\d+)((?:\.\d+)*)([a-z]?)$", re.IGNORECASE)

# (sheet, cell) holding a revision stamp, most reliable first (FORMAT.md §2.3).
_STAMP_CELLS: tuple[tuple[str, str], ...] = (
    ("Declaration", "J3"),
    ("Smelter List", "Q3"),
    ("Smelter List", "O3"),
    ("Smelter List", "N3"),
    ("Mine List", "M3"),
    ("Smelter and Mine List", "R3"),
)

# English titles in L!D (row key "DeclarationD2"); checked in order, lower-case substrings.
_TITLES: tuple[tuple[str, Family], ...] = (
    ("conflict minerals reporting template", "CMRT"),
    ("extended mineral", "EMRT"),
    ("cobalt reporting template", "CRT"),
    ("additional minerals reporting template", "AMRT"),
    ("pilot reporting template", "AMRT"),
)


@dataclass(frozen=True)
class TemplateId:
    """A template family and version; ``version_key`` orders versions the way RMI numbers them.

    RMI minor numbers are decimal fractions (6.31 < 6.4, 1.11 < 1.2), so each minor digit is
    its own key element: "6.31" → (6, 3, 1), "6.4" → (6, 4), "2.03a" → (2, 0, 3, 1).
    """

    family: Family
    version: str
    version_key: tuple[int, ...]


def version_key(version: str) -> tuple[int, ...]:
    """Sortable key for an RMI version string (see ``TemplateId``); () if unparseable."""
    match = _VERSION_PARTS.match(version.strip())
    if not match:
        return ()
    key = [int(match.group(1))]
    for part in match.group(2).split(".")[1:]:
        key.extend(int(digit) for digit in part)
    if match.group(3):
        key.append(ord(match.group(3).lower()) - 96)
    return tuple(key)


def identify(wb: Workbook) -> TemplateId | None:
    """Family and version of an RMI template, or None when either cannot be established."""
    version = _version(wb)
    if version is None:
        return None
    family = _family(wb)
    if family is None:
        return None
    return TemplateId(family, version, version_key(version))


def _version(wb: Workbook) -> str | None:
    for sheet_name, ref in _STAMP_CELLS:
        if not wb.has(sheet_name):
            continue
        found = _stamp(wb.sheet(sheet_name).cell(ref))
        if found:
            return found
    if wb.has("Declaration"):
        declaration = wb.sheet("Declaration")
        label = declaration.cell("I3")
        if isinstance(label, str) and label.strip().lower() == "revision":
            value = declaration.cell("J3")
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                return f"{value:g}"
            if isinstance(value, str):
                match = _BARE_NUMBER.match(value)
                if match:
                    return match.group(1)
    return None


def _stamp(value: object) -> str | None:
    if not isinstance(value, str):
        return None
    match = _STAMP.search(value)
    return match.group(1).lower() if match else None


def _family(wb: Workbook) -> Family | None:
    """Cheap signals first; the ``L`` sheet (~10 ms to parse) only when they are inconclusive."""
    if wb.has("Standard Smelter Names"):  # CMRT 2.x-3.x look-up sheet; no other family had it
        return "CMRT"
    if wb.has("Minerals Scope"):
        return "AMRT"
    if wb.has("Smelter List"):
        family = _family_from_metal_list(wb.sheet("Smelter List"))
        if family:
            return family
    if wb.has("L"):
        family = _family_from_labels(wb.sheet("L"))
        if family:
            return family
    if wb.has("Mine List"):
        return "EMRT"
    return None


def _family_from_metal_list(smelters: Sheet) -> Family | None:
    """Hidden DV source of Smelter List column B: W3:Z3 (CMRT 6.x) or AA3:AB3 (EMRT 1.x)."""
    cmrt = {_lower(smelters.cell(ref)) for ref in ("W3", "X3", "Y3", "Z3")}
    if {"tantalum", "tin", "tungsten", "gold"} <= cmrt:
        return "CMRT"
    emrt = {_lower(smelters.cell(ref)) for ref in ("AA3", "AB3")}
    if emrt == {"cobalt", "mica"}:
        return "EMRT"
    return None


def _family_from_labels(labels: Sheet) -> Family | None:
    for _, row in labels.rows(1):
        if row and row[0] == "DeclarationD2":
            title = _lower(row[3]) if len(row) > 3 else ""
            for needle, family in _TITLES:
                if needle in title:
                    return family
            return None
    return None


def _lower(value: object) -> str:
    return value.strip().lower() if isinstance(value, str) else ""
