"""``outreach.cmrt.patch``: cells written into the sheet XML, everything else left alone.

Checked on RMI's own files (a real return with a calculation chain and shared formulas, a
blank template) and on small openpyxl-made workbooks for the structural cases (gaps between
rows, rows without ``r``, no shared-string table, array formulas).
"""

from __future__ import annotations

import datetime as dt
import io
import re
import zipfile
from pathlib import Path

import openpyxl
import pytest
from openpyxl.worksheet.formula import ArrayFormula

from outreach.cmrt.patch import (
    Formula,
    excel_serial,
    patch_workbook,
    shift_formula,
    strip_cached_values,
)
from outreach.cmrt.validate import validate
from outreach.cmrt.workbook import load_workbook_bytes

DATA = Path(__file__).parent / "data" / "cmrt"
RETURN = DATA / "returns" / "CMRT_6.4_JX_Advanced_Metals.xlsx"
TEMPLATE = DATA / "templates" / "RMI_CMRT_6.5.xlsx"


def _members(data: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return {info.filename: archive.read(info) for info in archive.infolist()}


def _openpyxl(data: bytes, **kwargs: bool) -> openpyxl.Workbook:
    return openpyxl.load_workbook(io.BytesIO(data), **kwargs)


def _small_workbook(build: object = None) -> bytes:
    """A small openpyxl-made .xlsx: Sheet 'Data' with rows 1, 3 and 5 (gaps on purpose)."""
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.title = "Data"
    sheet["B1"] = "first"
    sheet["D1"] = 4
    sheet["B3"] = "third"
    sheet["C5"] = "=B1&B3"
    if callable(build):
        build(book)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


# --------------------------------------------------------------------------- round trips


def test_values_round_trip_through_the_validator_reader_and_openpyxl() -> None:
    edits = {
        "Declaration": {
            "D8": "Acme & <Sons> GmbH",
            "D15": "  padded  ",
            "D16": "ops@acme.example",
            "D17": 4930123456,
            "D22": dt.date(2025, 1, 31),
            "D26": "Yes",
            "D21": None,
            "G77": "line one\nline two",
        },
        "Smelter List": {"A5": "CID000211", "K5": 2.5, "L5": True},
    }
    patched = patch_workbook(TEMPLATE.read_bytes(), edits)

    wb = load_workbook_bytes(patched)
    declaration = wb.sheet("Declaration")
    assert declaration.cell("D8") == "Acme & <Sons> GmbH"
    assert declaration.cell("D15") == "  padded  "
    assert declaration.cell("D17") == 4930123456
    assert declaration.cell("D26") == "Yes"
    assert declaration.cell("G77") == "line one\nline two"
    smelters = wb.sheet("Smelter List")
    assert smelters.cell("A5") == "CID000211"
    assert smelters.cell("K5") == 2.5
    assert smelters.cell("L5") is True

    book = _openpyxl(patched)
    assert book["Declaration"]["D8"].value == "Acme & <Sons> GmbH"
    assert book["Declaration"]["D22"].value == dt.datetime(2025, 1, 31)  # noqa: DTZ001 (style kept)
    assert book["Declaration"]["D22"].number_format == \
        _openpyxl(TEMPLATE.read_bytes())["Declaration"]["D22"].number_format
    assert book["Declaration"]["D16"].value == "ops@acme.example"
    assert book["Smelter List"]["L5"].value is True


def test_characters_xml_cannot_carry_survive_as_ooxml_escapes() -> None:
    text = "tab\there, bell\x07, cr\r, literal _x0041_ stays"
    patched = patch_workbook(_small_workbook(), {"Data": {"A1": text}})
    xml = _members(patched)["xl/worksheets/sheet1.xml"].decode()
    assert "bell_x0007_, cr_x000D_, literal _x005F_x0041_ stays" in xml
    assert load_workbook_bytes(patched).sheet("Data").cell("A1") == text  # decoded like Excel


def test_existing_cells_keep_their_style_and_none_clears_only_the_value() -> None:
    original = _members(RETURN.read_bytes())["xl/worksheets/sheet4.xml"].decode()
    d8 = re.search(r'<c r="D8"[^>]*>', original)
    assert d8 is not None and 't="s"' in d8.group(0)
    patched = patch_workbook(RETURN.read_bytes(), {"Declaration": {"D8": None, "D19": "CEO"}})
    sheet = _members(patched)["xl/worksheets/sheet4.xml"].decode()
    style = re.search(r's="(\d+)"', d8.group(0))
    assert style is not None
    assert f'<c r="D8" s="{style.group(1)}"/>' in sheet
    assert load_workbook_bytes(patched).sheet("Declaration").cell("D8") is None
    assert validate(patched).required_missing == 1  # only the company name is now missing


def test_new_rows_and_cells_are_inserted_in_order() -> None:
    patched = patch_workbook(
        _small_workbook(),
        {"Data": {"A2": "new row 2", "A1": "before B1", "C1": "between", "F1": 6,
                  "B4": 4.0, "A9": "after the end", "E5": dt.datetime(2024, 2, 29, 12)}},  # noqa: DTZ001
    )
    xml = _members(patched)["xl/worksheets/sheet1.xml"].decode()
    rows = [int(r) for r in re.findall(r'<row r="(\d+)"', xml)]
    assert rows == sorted(rows) == [1, 2, 3, 4, 5, 9]
    row1 = re.search(r'<row r="1".*?</row>', xml)
    assert row1 is not None
    assert re.findall(r'<c r="([A-Z]+)1"', row1.group(0)) == ["A", "B", "C", "D", "F"]
    assert re.search(r'<dimension ref="A1:F9"/>', xml)

    sheet = _openpyxl(patched)["Data"]
    assert [sheet[ref].value for ref in ("A1", "B1", "C1", "D1", "F1")] == \
        ["before B1", "first", "between", 4, 6]
    assert sheet["A2"].value == "new row 2"
    assert sheet["B4"].value == 4
    assert sheet["A9"].value == "after the end"
    assert sheet["E5"].value == pytest.approx(excel_serial(dt.datetime(2024, 2, 29, 12)))  # noqa: DTZ001
    assert sheet["C5"].value == "=B1&B3"  # untouched formula in a touched row


def test_rows_without_r_attributes_are_numbered_before_inserting() -> None:
    source = _members(_small_workbook())
    xml = source["xl/worksheets/sheet1.xml"].decode()
    # rows 1, 3, 5 → implicit rows without r would renumber them, so keep 1..3 contiguous
    stripped = re.sub(r'<row r="(\d+)"', "<row", xml.replace('<row r="3"', '<row r="2"')
                      .replace('r="B3"', 'r="B2"').replace('<row r="5"', '<row r="3"')
                      .replace('r="C5"', 'r="C3"'))
    assert "<row r=" not in stripped
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        for name, content in source.items():
            archive.writestr(name, stripped if name == "xl/worksheets/sheet1.xml" else content)
    patched = patch_workbook(out.getvalue(), {"Data": {"A5": "five", "A2": "two"}})
    sheet = _openpyxl(patched)["Data"]
    assert sheet["B1"].value == "first"
    assert sheet["B2"].value == "third"
    assert sheet["A2"].value == "two"
    assert sheet["C3"].value == "=B1&B3"
    assert sheet["A5"].value == "five"


# --------------------------------------------------------------------------- strings


def test_shared_strings_are_reused_or_appended() -> None:
    data = RETURN.read_bytes()
    before = _members(data)["xl/sharedStrings.xml"].decode()
    unique_before = len(re.findall(r"<si\b", before))
    existing = load_workbook_bytes(data).sheet("Declaration").cell("D8")
    patched = patch_workbook(
        data,
        {"Declaration": {"D8": "Brand-new Company", "D15": existing, "D18": "Brand-new Company"}},
        shared_strings=True,
    )
    members = _members(patched)
    after = members["xl/sharedStrings.xml"].decode()
    assert len(re.findall(r"<si\b", after)) == unique_before + 1
    assert f'uniqueCount="{unique_before + 1}"' in after
    sheet = members["xl/worksheets/sheet4.xml"].decode()
    assert "inlineStr" not in sheet
    assert re.search(r'<c r="D8"[^>]* t="s"><v>\d+</v></c>', sheet)
    declaration = load_workbook_bytes(patched).sheet("Declaration")
    assert declaration.cell("D8") == declaration.cell("D18") == "Brand-new Company"
    assert declaration.cell("D15") == existing
    assert _openpyxl(patched)["Declaration"]["D8"].value == "Brand-new Company"


def test_a_shared_string_table_is_created_when_the_workbook_has_none() -> None:
    source = _members(_small_workbook(lambda book: book["Data"].delete_rows(1, 5)))
    source.pop("xl/sharedStrings.xml", None)
    source["xl/_rels/workbook.xml.rels"] = re.sub(
        rb"<Relationship [^>]*sharedStrings[^>]*/>", b"", source["xl/_rels/workbook.xml.rels"]
    )
    source["[Content_Types].xml"] = re.sub(
        rb"<Override [^>]*sharedStrings[^>]*/>", b"", source["[Content_Types].xml"]
    )
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        for name, content in source.items():
            archive.writestr(name, content)
    patched = patch_workbook(out.getvalue(), {"Data": {"B2": "hello"}}, shared_strings=True)
    members = _members(patched)
    assert "xl/sharedStrings.xml" in members
    assert b"sharedStrings.xml" in members["xl/_rels/workbook.xml.rels"]
    assert b'PartName="/xl/sharedStrings.xml"' in members["[Content_Types].xml"]
    assert _openpyxl(patched)["Data"]["B2"].value == "hello"
    assert load_workbook_bytes(patched).sheet("Data").cell("B2") == "hello"


# --------------------------------------------------------------------------- formulas


def test_writing_over_a_formula_replaces_it() -> None:
    patched = patch_workbook(TEMPLATE.read_bytes(), {"Smelter List": {"B5": "Tin", "C5": None}})
    sheet = _openpyxl(patched)["Smelter List"]
    assert sheet["B5"].value == "Tin"
    assert sheet["C5"].value is None
    assert str(sheet["B6"].value).startswith("=IF(LEN(A6)=0")  # the next row keeps its own
    xml = _members(patched)["xl/worksheets/sheet5.xml"].decode()
    b5 = re.search(r'<c r="B5".*?</c>', xml)
    assert b5 is not None and "<f" not in b5.group(0)


def test_overwriting_a_shared_formula_anchor_gives_the_group_its_own_formulas() -> None:
    data = TEMPLATE.read_bytes()
    checker = _members(data)["xl/worksheets/sheet6.xml"].decode()
    assert re.search(r'<c r="G4"[^>]*><f t="shared" ref="G4:G7" si="\d+"', checker)
    patched = patch_workbook(data, {"Checker": {"G4": 0}})
    sheet = _openpyxl(patched)["Checker"]
    assert sheet["G4"].value == 0
    assert [sheet[f"G{r}"].value for r in (5, 6, 7)] == \
        ["=IF(B5=0,1,0)", "=IF(B6=0,1,0)", "=IF(B7=0,1,0)"]
    assert sheet["G8"].value == _openpyxl(data)["Checker"]["G8"].value


def test_a_formula_can_be_written() -> None:
    patched = patch_workbook(_small_workbook(), {"Data": {"E1": Formula("=D1*2")}})
    assert _openpyxl(patched)["Data"]["E1"].value == "=D1*2"


def test_cells_of_a_multi_cell_array_formula_are_refused() -> None:
    def build(book: openpyxl.Workbook) -> None:
        book["Data"]["E1"] = ArrayFormula("E1:E3", "=B1:B3")

    data = _small_workbook(build)
    with pytest.raises(ValueError, match="array formula E1:E3"):
        patch_workbook(data, {"Data": {"E2": 1}})
    patch_workbook(data, {"Data": {"F2": 1}})  # next to it is fine


def test_shift_formula_moves_relative_references_only() -> None:
    assert shift_formula("IF(B5=0,1,0)", 1, 0) == "IF(B6=0,1,0)"
    assert shift_formula("$A5+A$5+$A$5+A5", 2, 1) == "$A7+B$5+$A$5+B7"
    assert shift_formula("SUM('Smelter Look-up'!A:A)+SorP!C1:D2", 1, 1) == \
        "SUM('Smelter Look-up'!B:B)+SorP!D2:E3"
    assert shift_formula('IF(C5="Smelter not listed B5",LOG10(A1),Sheet1!A1)', 3, 0) == \
        'IF(C8="Smelter not listed B5",LOG10(A4),Sheet1!A4)'
    assert shift_formula("SUM(1:2)+SL+CL", 1, 0) == "SUM(2:3)+SL+CL"
    assert shift_formula("A1", -1, 0) == "#REF!"


# --------------------------------------------------------------------------- recalculation


def test_cached_values_and_the_calculation_chain_are_dropped() -> None:
    data = RETURN.read_bytes()
    original = _members(data)
    assert "xl/calcChain.xml" in original
    patched = patch_workbook(data, {"Declaration": {"D8": "Acme"}})
    members = _members(patched)
    assert "xl/calcChain.xml" not in members
    assert b"calcChain" not in members["xl/_rels/workbook.xml.rels"]
    assert b"calcChain" not in members["[Content_Types].xml"]
    assert re.search(rb'<calcPr [^>]*fullCalcOnLoad="1"', members["xl/workbook.xml"])
    for name, content in members.items():
        if name.startswith("xl/worksheets/sheet"):
            cached = re.search(rb"</f><v|<f [^>]*/><v", content)
            assert cached is None, f"{name} keeps a cached formula value"
    # formulas survive, only results are gone: openpyxl's cached view shows nothing
    assert _openpyxl(patched, data_only=True)["Checker"]["D2"].value is None
    assert _openpyxl(patched)["Checker"]["D2"].value == '=IF(H70=0,"0",H70)'
    # what the validator counts does not depend on the cached values
    assert validate(patched).required_missing == validate(data).required_missing == 0
    # everything but the touched parts is byte-identical
    touched = {"xl/workbook.xml", "xl/_rels/workbook.xml.rels", "[Content_Types].xml",
               "xl/calcChain.xml"}
    for name, content in original.items():
        if name not in touched and not name.startswith("xl/worksheets/sheet"):
            assert members[name] == content, name
    assert list(members) == [n for n in original if n != "xl/calcChain.xml"]


def test_keeping_cached_values_touches_only_the_edited_sheet() -> None:
    data = RETURN.read_bytes()
    original = _members(data)
    patched = patch_workbook(data, {"Declaration": {"D8": "Acme"}}, drop_cached_values=False)
    members = _members(patched)
    changed = {name for name in original if members.get(name) != original[name]}
    assert changed == {"xl/worksheets/sheet4.xml"}
    assert _openpyxl(patched, data_only=True)["Checker"]["D2"].value == "0"
    # a replaced formula makes the calculation chain stale: it goes
    patched = patch_workbook(data, {"Smelter List": {"R5": "x"}}, drop_cached_values=False)
    assert "xl/calcChain.xml" not in _members(patched)


def test_calc_pr_is_added_when_absent() -> None:
    source = _members(_small_workbook())
    source["xl/workbook.xml"] = re.sub(rb"<calcPr[^>]*/>", b"", source["xl/workbook.xml"])
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        for name, content in source.items():
            archive.writestr(name, content)
    patched = patch_workbook(out.getvalue(), {})
    workbook = _members(patched)["xl/workbook.xml"].decode()
    assert '<calcPr fullCalcOnLoad="1"/>' in workbook
    assert workbook.index("<calcPr") > workbook.index("</sheets>")
    assert _openpyxl(patched)["Data"]["B1"].value == "first"


def test_strip_cached_values_leaves_plain_cells_alone() -> None:
    xml = ('<worksheet><sheetData><row r="1"><c r="A1" t="s"><v>3</v></c>'
           '<c r="B1" t="str" vm="1"><f>A1&amp;"x"</f><v>abc</v></c>'
           '<c r="C1"><f t="shared" si="0"/><v>2</v></c></row></sheetData></worksheet>')
    stripped = strip_cached_values(xml)
    assert stripped == ('<worksheet><sheetData><row r="1"><c r="A1" t="s"><v>3</v></c>'
                        '<c r="B1"><f>A1&amp;"x"</f></c>'
                        '<c r="C1"><f t="shared" si="0"/></c></row></sheetData></worksheet>')
    assert strip_cached_values(stripped) is None


# --------------------------------------------------------------------------- bad input


def test_an_unknown_sheet_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match=r"no sheet 'Declarations'.*'Declaration'"):
        patch_workbook(TEMPLATE.read_bytes(), {"Declarations": {"D8": "x"}})


def test_sheet_names_match_case_insensitively_as_in_excel() -> None:
    patched = patch_workbook(TEMPLATE.read_bytes(), {"declaration": {"D8": "x"}})
    assert load_workbook_bytes(patched).sheet("Declaration").cell("D8") == "x"


@pytest.mark.parametrize(
    ("edits", "message"),
    [
        ({"Data": {"D0": 1}}, "not a single-cell reference"),
        ({"Data": {"A1:B2": 1}}, "not a single-cell reference"),
        ({"Data": {"XFE1": 1}}, "not a single-cell reference"),
        ({"Data": {"A1": float("nan")}}, "not a number"),
        ({"Data": {"A1": object()}}, "cannot write"),
        ({"Data": {"A1": dt.datetime(2025, 1, 1, tzinfo=dt.UTC)}}, "time zone"),
    ],
)
def test_bad_edits_are_refused(edits: dict[str, dict[str, object]], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        patch_workbook(_small_workbook(), edits)  # type: ignore[arg-type]


def test_not_a_workbook_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="not a zip"):
        patch_workbook(b"GIF89a not a workbook", {})
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("hello.txt", "hi")
    with pytest.raises(ValueError, match="officeDocument"):
        patch_workbook(out.getvalue(), {})


def test_excel_serial_numbers() -> None:
    assert excel_serial(dt.date(1900, 1, 1)) == 1
    assert excel_serial(dt.date(1900, 3, 1)) == 61  # after Excel's phantom 29-Feb-1900
    assert excel_serial(dt.date(2025, 1, 31)) == 45688
    assert excel_serial(dt.datetime(2025, 1, 31, 18)) == 45688.75  # noqa: DTZ001
    assert excel_serial(dt.time(6)) == 0.25
    assert excel_serial(dt.date(2025, 1, 31), date1904=True) == 45688 - 1462
