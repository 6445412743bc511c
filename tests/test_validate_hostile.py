"""Hostile and odd files through the whole ``validate()``: a specific verdict, never a crash.

``tests/test_cmrt_opening.py`` covers the opening step byte by byte; here each file goes
through identification, the Checker, the content reader and the rules, and must come out
with the outcome and finding code named, in bounded time and memory (a worksheet claiming a
cell at XFD1048576 must not make the reader allocate 17 billion cells).
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Callable
from functools import cache
from pathlib import Path

import pytest

from outreach.cmrt.opening import OpenLimits
from outreach.cmrt.patch import patch_workbook
from outreach.cmrt.reference import reference_from_workbook
from outreach.cmrt.validate import Outcome, ValidationContext, validate
from outreach.cmrt.workbook import load_workbook_bytes

DATA = Path(__file__).parent / "data" / "cmrt"
JX = DATA / "returns" / "CMRT_6.4_JX_Advanced_Metals.xlsx"
DECLARATION_XML = "xl/worksheets/sheet4.xml"  # JX's Declaration (workbook.xml rId4)
SMELTER_XML = "xl/worksheets/sheet5.xml"


@cache
def jx() -> bytes:
    return JX.read_bytes()


def rezip(data: bytes, change: Callable[[str, bytes], bytes | None]) -> bytes:
    """A copy of the zip with members changed (None drops the member)."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as source, \
            zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for item in source.infolist():
            body = change(item.filename, source.read(item))
            if body is not None:
                target.writestr(item.filename, body)
    return out.getvalue()


def in_member(name: str, old: bytes, new: bytes) -> Callable[[str, bytes], bytes]:
    def change(member: str, body: bytes) -> bytes:
        if member != name:
            return body
        assert old in body, (name, old)
        return body.replace(old, new)
    return change


def far_cell(sheet: str) -> bytes:
    row = b'<row r="1048576"><c r="XFD1048576" t="inlineStr"><is><t>x</t></is></c></row>'
    return rezip(jx(), in_member(sheet, b"</sheetData>", row + b"</sheetData>"))


def far_cells_without_references() -> bytes:
    """A last row of 16,384 positional cells: the fast reader hands such XML to calamine,
    which would try to allocate 17 billion cells and abort the process."""
    row = b'<row r="1048576">' + b"<c><v>1</v></c>" * 16_384 + b"</row>"
    return rezip(jx(), in_member(DECLARATION_XML, b"</sheetData>", row + b"</sheetData>"))


def damaged_declaration() -> bytes:
    return rezip(jx(), lambda m, b: b[: len(b) // 2] if m == DECLARATION_XML else b)


def without(member: str) -> bytes:
    return rezip(jx(), lambda m, b: None if m == member else b)


def shared_string(old: bytes, new: bytes) -> bytes:
    return rezip(jx(), in_member("xl/sharedStrings.xml", old, new))


FIRST, LAST = 5, 2504  # the Smelter List's data rows


@cache
def in_scope_cids() -> list[str]:
    """Tantalum and tungsten CIDs (JX declares those two in scope) from JX's own look-up."""
    reference = reference_from_workbook(load_workbook_bytes(jx()))
    return sorted(s.cid for s in reference.smelters.values()
                  if s.metal in ("Tantalum", "Tungsten"))


@cache
def full_smelter_list() -> bytes:
    """JX's 27 rows, then rows 32-2504 identified by column A only (the template's formulas
    fill the rest), saved without cached values: 2,500 rows."""
    cids = in_scope_cids()
    rows: dict[str, object] = {f"A{row}": cids[row % len(cids)] for row in range(32, LAST + 1)}
    reference = reference_from_workbook(load_workbook_bytes(jx()))
    for row in range(2502, LAST + 1):  # JX's B/C formulas end at row 2501: type them
        smelter = reference.smelters[cids[row % len(cids)]]
        rows |= {f"B{row}": smelter.metal, f"C{row}": smelter.standard_name}
    return patch_workbook(jx(), {"Smelter List": rows})


@cache
def garbage_smelter_list() -> bytes:
    rows = {f"A{row}": f"SMELTER-{row}" for row in range(FIRST, LAST + 1)}
    rows |= {f"F{row}": None for row in range(FIRST, LAST + 1)}
    return patch_workbook(jx(), {"Smelter List": rows})


FORMULA_LOOKING = {"D8": '=HYPERLINK("http://attacker.example","Acme")',
                   "D15": "+cmd|' /C calc'!A0", "D17": "@SUM(1+1)", "D19": "-2+3",
                   "D14": "\u202e evil \ufeff 名前 Zoë"}


CASES: list[tuple[str, Callable[[], bytes], Outcome, str]] = [
    ("empty", lambda: b"", Outcome.UNREADABLE, "unreadable.empty"),
    ("pdf", lambda: b"%PDF-1.7\n" + b"0" * 500, Outcome.UNREADABLE, "unreadable.pdf"),
    ("truncated", lambda: jx()[: len(jx()) // 3], Outcome.UNREADABLE, "unreadable.truncated"),
    ("declaration sheet xml cut in half", damaged_declaration, Outcome.UNREADABLE,
     "unreadable.damaged_sheet"),
    ("far cell in the declaration", lambda: far_cell(DECLARATION_XML), Outcome.ACCEPTED, ""),
    ("far cell in the smelter list", lambda: far_cell(SMELTER_XML), Outcome.ACCEPTED, ""),
    ("16,384 positional cells in the last row", far_cells_without_references,
     Outcome.UNREADABLE, "unreadable.damaged_sheet"),
    ("no revision stamp", lambda: shared_string(b"Revision 6.4", b"Our own form"),
     Outcome.REJECTED, "not_a_template"),
    ("stamp of an old release", lambda: shared_string(b"Revision 6.4", b"Revision 4.10"),
     Outcome.REJECTED, "outdated_template"),
    ("stamp of a release far ahead", lambda: shared_string(b"Revision 6.4", b"Revision 9.9"),
     Outcome.ACCEPTED_WITH_WARNINGS, "newer_template"),
    ("smelter list sheet removed", lambda: rezip(jx(), in_member(
        "xl/workbook.xml", b'name="Smelter List"', b'name="Smelters"')),
     Outcome.REJECTED, "modified_template"),
    ("styles part missing", lambda: without("xl/styles.xml"), Outcome.ACCEPTED, ""),
    ("calc chain missing", lambda: without("xl/calcChain.xml"), Outcome.ACCEPTED, ""),
    ("saved without any cached value", lambda: patch_workbook(jx(), {}), Outcome.ACCEPTED, ""),
    ("2,500 smelter rows by CID only", full_smelter_list, Outcome.ACCEPTED, ""),
    ("2,500 smelter rows of garbage IDs", garbage_smelter_list,
     Outcome.ACCEPTED_WITH_WARNINGS, "findings_truncated"),
    ("formula-looking text", lambda: patch_workbook(jx(), {"Declaration": FORMULA_LOOKING}),
     Outcome.ACCEPTED, ""),
    ("error value as an answer", lambda: patch_workbook(jx(), {"Declaration": {"D26": "#N/A"}}),
     Outcome.REJECTED, "required_missing"),
    ("a megabyte in the company name", lambda: patch_workbook(
        jx(), {"Declaration": {"D8": "Acme " * 200_000}}), Outcome.ACCEPTED, ""),
]


@pytest.mark.parametrize(("name", "build", "outcome", "code"), CASES,
                         ids=[c[0] for c in CASES])
def test_hostile_file_gets_a_specific_verdict(name: str, build: Callable[[], bytes],
                                              outcome: Outcome, code: str) -> None:
    result = validate(build(), ValidationContext())
    assert result.outcome == outcome, (name, result.findings[:3])
    if code:
        assert code in {f.code for f in result.findings}, (name, result.findings[:3])
    for finding in result.findings:
        assert finding.message[:1].isupper() or finding.message[:1].isdigit()
        assert "Traceback" not in finding.message


def test_a_size_cap_set_in_the_context_is_honoured() -> None:
    result = validate(jx(), ValidationContext(limits=OpenLimits(max_bytes=100_000)))
    assert result.outcome == Outcome.UNREADABLE
    assert result.findings[0].code == "unreadable.too_large"


def test_a_full_smelter_list_is_read_row_by_row() -> None:
    result = validate(full_smelter_list())
    assert len(result.smelters) == LAST - FIRST + 1
    assert all(item.known is not None for item in result.smelters)
    assert {item.row.metal for item in result.smelters} == {"Tantalum", "Tungsten"}


def test_garbage_ids_are_listed_25_times_then_summarised() -> None:
    result = validate(garbage_smelter_list())
    malformed = [f for f in result.findings if f.code == "smelter_id_malformed"]
    assert len(malformed) == 25 and malformed[0].cell == "A5"
    [summary] = [f for f in result.findings if f.code == "findings_truncated"]
    assert summary.message.startswith("2475 more finding(s) of the kind 'smelter_id_malformed'")


def test_formula_looking_text_is_data_kept_verbatim() -> None:
    result = validate(patch_workbook(jx(), {"Declaration": FORMULA_LOOKING}))
    assert result.company is not None
    assert result.company.name == FORMULA_LOOKING["D8"]
    assert result.company.contact_name == FORMULA_LOOKING["D15"]


def test_the_extent_of_a_sheet_counts_positions_and_skips_empty_cells() -> None:
    from outreach.cmrt.workbook import value_extent

    xml = (b'<sheetData><row r="3"><c r="B3"><v>1</v></c><c><v>2</v></c><c r="Z3"/></row>'
           b"<row><c><v>x</v></c></row><row r=\"9\"><c r=\"AA9\" s=\"1\"/></row></sheetData>")
    assert value_extent(xml) == (4, 3)
