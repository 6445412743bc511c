"""The answer lists in ``layout`` are the templates' own (their hidden list cells)."""

from __future__ import annotations

from pathlib import Path

import pytest

from outreach.cmrt.checker import answer
from outreach.cmrt.identify import identify
from outreach.cmrt.layout import SCOPES, layout_for
from outreach.cmrt.workbook import Workbook, load_workbook_bytes

TEMPLATES = Path(__file__).parent / "data" / "cmrt" / "templates"


def _load(name: str) -> Workbook:
    return load_workbook_bytes((TEMPLATES / name).read_bytes())


def _list(wb: Workbook, column: str, first: int, last: int) -> frozenset[str]:
    sheet = wb.sheet("Declaration")
    return frozenset(answer(sheet.cell(f"{column}{row}")) for row in range(first, last + 1))


# (template, question → (list column, first row, last row)) as the data validations say
CMRT_STATIC = {1: ("B", 96, 97), 2: ("B", 96, 97), 3: ("B", 96, 98), 4: ("B", 96, 98),
               5: ("B", 96, 98), 6: ("B", 99, 104), 7: ("B", 96, 97), 8: ("B", 96, 97)}
CMRT_DYNAMIC = {1: ("B", 96, 97), 2: ("G", 96, 97), 3: ("D", 96, 98), 4: ("D", 96, 98),
                5: ("D", 96, 98), 6: ("E", 96, 101), 7: ("D", 96, 97), 8: ("D", 96, 97)}
EMRT1 = {1: ("B", 90, 93), 2: ("B", 90, 92), 4: ("B", 90, 92), 5: ("B", 98, 103),
         6: ("B", 90, 92), 7: ("B", 90, 92)}
EMRT2 = {1: ("B", 144, 147), 2: ("B", 144, 146), 3: ("B", 144, 146), 4: ("B", 144, 146),
         5: ("B", 151, 157), 6: ("B", 144, 146), 7: ("B", 144, 146)}
CASES = [
    ("RMI_CMRT_6.01.xlsx", CMRT_STATIC), ("RMI_CMRT_6.22.xlsx", CMRT_STATIC),
    ("RMI_CMRT_6.31.xlsx", CMRT_DYNAMIC), ("RMI_CMRT_6.5.xlsx", CMRT_DYNAMIC),
    ("RMI_EMRT_1.1.xlsx", EMRT1), ("RMI_EMRT_1.3.xlsx", EMRT1),
    ("RMI_EMRT_2.0.xlsx", EMRT2), ("RMI_EMRT_2.1.xlsx", EMRT2),
]


@pytest.mark.parametrize(("name", "lists"), CASES, ids=[c[0] for c in CASES])
def test_question_lists_match_the_template(name: str, lists: dict) -> None:
    wb = _load(name)
    template = identify(wb)
    assert template is not None
    layout = layout_for(template)
    assert layout is not None
    metal = (layout.metals or ("Cobalt",))[0]
    for number, (column, first, last) in lists.items():
        assert layout.question(number).allowed_for(metal) == _list(wb, column, first, last), (
            name, number)


@pytest.mark.parametrize(("name", "company"), [
    ("RMI_CMRT_6.5.xlsx", {"A": ("B", 96, 97), "E": ("B", 105, 107), "H": ("B", 108, 111)}),
    ("RMI_CMRT_6.01.xlsx", {"A": ("B", 96, 97), "E": ("B", 105, 107), "H": ("B", 108, 111)}),
    ("RMI_EMRT_1.3.xlsx", {"A": ("B", 90, 91), "D": ("B", 105, 106), "E": ("B", 107, 109)}),
    ("RMI_EMRT_2.1.xlsx", {"A": ("B", 144, 145), "D": ("B", 159, 160), "E": ("B", 161, 163)}),
])
def test_company_question_lists_match_the_template(name: str, company: dict) -> None:
    wb = _load(name)
    template = identify(wb)
    assert template is not None
    layout = layout_for(template)
    assert layout is not None
    by_letter = {q.letter: q for q in layout.company_questions}
    for letter, (column, first, last) in company.items():
        got = by_letter[letter].allowed
        want = _list(wb, column, first, last)
        # CMRT E also takes the L sheet's translation "IPC-1755 [e.g., CMRT]" (FORMAT.md §3.3)
        assert want <= got and len(got - want) <= 1, (name, letter, got ^ want)


def test_per_metal_lists_and_scopes() -> None:
    emrt = _load("RMI_EMRT_1.3.xlsx")
    template = identify(emrt)
    assert template is not None
    layout = layout_for(template)
    assert layout is not None
    q3 = layout.question(3)
    assert q3.allowed_for("Cobalt") == _list(emrt, "B", 94, 97)
    assert q3.allowed_for("Mica") == _list(emrt, "B", 110, 113)
    mica_c = next(q for q in layout.company_questions if q.metal == "Mica")
    assert mica_c.allowed == _list(emrt, "B", 118, 120)
    assert not layout.question(4).asks("Mica")
    cmrt = _load("RMI_CMRT_6.5.xlsx").sheet("Declaration")
    assert {answer(cmrt.cell(c)) for c in ("P9", "Q9", "R9")} == set(SCOPES)


@pytest.mark.parametrize("name", sorted(p.name for p in TEMPLATES.glob("*.xlsx")))
def test_product_columns_found_by_label_agree_with_the_layout(name: str) -> None:
    """How a newer release (CMRT 6.6 adds requester columns) gets its Product List read."""
    from outreach.cmrt.structure import product_columns

    wb = _load(name)
    template = identify(wb)
    assert template is not None
    layout = layout_for(template)
    assert layout is not None
    assert product_columns(wb, (None,) * 5) == layout.product_columns
