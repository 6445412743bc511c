from __future__ import annotations

import io
import zipfile
from pathlib import Path

import pytest

from outreach.cmrt.opening import Opened, open_workbook
from outreach.cmrt.workbook import SheetUnreadable, parse_ref

RETURN = Path(__file__).parent / "data" / "cmrt" / "returns" / "CMRT_6.4_JX_Advanced_Metals.xlsx"


def test_cells_are_addressed_like_excel() -> None:
    assert parse_ref("A1") == (0, 0)
    assert parse_ref("d9") == (8, 3)
    assert parse_ref("AB2504") == (2503, 27)
    with pytest.raises(ValueError, match="not a cell reference"):
        parse_ref("9D")
    opened = open_workbook(RETURN.read_bytes())
    assert isinstance(opened, Opened)
    declaration = opened.workbook.sheet("Declaration")
    assert declaration.cell("D8") == "JX Advanced Metals Corporation"
    assert declaration.cell("ZZ9999") is None


def test_damage_inside_a_sheet_is_a_typed_error() -> None:
    source = zipfile.ZipFile(io.BytesIO(RETURN.read_bytes()))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for item in source.infolist():
            data = source.read(item)
            if item.filename.startswith("xl/worksheets/sheet"):
                data = b"<worksheet><sheetData><row r='1'><c r='A1' t='s'><v>9999999"
            target.writestr(item, data)
    opened = open_workbook(out.getvalue())
    assert isinstance(opened, Opened)  # the container is sound; the sheet XML is not
    with pytest.raises(SheetUnreadable, match="Declaration"):
        opened.workbook.sheet("Declaration")



def test_formula_cells_are_known_for_xlsx_and_unknown_for_xls() -> None:
    opened = open_workbook(RETURN.read_bytes())
    assert isinstance(opened, Opened)
    formulas = opened.workbook.formulas("Smelter List")
    assert formulas is not None
    assert {"B40", "C40"} <= formulas  # the template's look-up formulas
    assert "B5" not in formulas  # JX typed values over rows 5-31
    legacy = RETURN.parents[1] / "legacy" / "CMRT_3.01_GoerTech_encrypted.xls"
    xls = open_workbook(legacy.read_bytes())
    assert isinstance(xls, Opened)
    assert xls.workbook.formulas("Declaration") is None
