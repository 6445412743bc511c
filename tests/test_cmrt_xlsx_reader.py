"""The fast .xlsx reader gives exactly calamine's values, or steps aside for calamine.

Every sheet of every reference workbook is compared with calamine cell by cell (value and
type), and small workbooks built here pin down each rule calamine follows: shared, rich and
inline strings, whitespace and line ends, ``_xHHHH_`` escapes, booleans, errors, numbers,
date formats (built-in and custom, 1900 and 1904 systems), empty formula results that still
size the grid, and cells the fast path must not read itself (no ``r=``).
"""

from __future__ import annotations

import io
import random
import zipfile
from pathlib import Path
from typing import Any

import pytest
from python_calamine import CalamineWorkbook

from outreach.cmrt.opening import Opened, open_workbook
from outreach.cmrt.workbook import Workbook, load_workbook_bytes
from outreach.cmrt.xlsx_reader import (
    DATETIME,
    NUMBER,
    UNSURE,
    SharedStrings,
    Unsupported,
    XlsxReader,
    classify_format,
    xml_text,
)

DATA = Path(__file__).parent / "data" / "cmrt"
WORKBOOKS = sorted(str(path.relative_to(DATA)) for path in DATA.rglob("*.xlsx"))


def calamine_grids(data: bytes) -> dict[str, list[list[Any]]]:
    book = CalamineWorkbook.from_filelike(io.BytesIO(data))
    return {
        name: book.get_sheet_by_name(name).to_python(skip_empty_area=False)
        for name in book.sheet_names
    }


def typed(grid: list[list[Any]]) -> list[list[tuple[type, Any]]]:
    """Cells with their types: 1 == 1.0 == True in Python, not for the validator."""
    return [[(type(value), value) for value in row] for row in grid]


def fast_reader(data: bytes) -> XlsxReader:
    archive = zipfile.ZipFile(io.BytesIO(data))
    names = set(archive.namelist())
    return XlsxReader.open(lambda name: archive.read(name) if name in names else None)


# --------------------------------------------------------------------------- real workbooks


@pytest.mark.parametrize("name", WORKBOOKS)
def test_every_sheet_of_every_reference_workbook_equals_calamine(name: str) -> None:
    data = (DATA / name).read_bytes()
    expected = calamine_grids(data)
    reader = fast_reader(data)
    assert list(reader.sheet_names) == list(expected)
    for sheet, grid in expected.items():
        got = reader.grid(sheet)  # never Unsupported on real files: the fast path is used
        assert typed(got) == typed(grid), sheet


@pytest.mark.parametrize("name", WORKBOOKS)
def test_opened_workbooks_read_through_the_fast_path(name: str) -> None:
    opened = open_workbook((DATA / name).read_bytes())
    assert isinstance(opened, Opened)
    workbook = opened.workbook
    assert workbook._fast is not None
    workbook.sheet("Declaration")
    workbook.sheet(workbook.sheet_names[-1])
    assert workbook._book is None  # calamine was never needed


# --------------------------------------------------------------------------- built workbooks

_CT = (
    b'<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/'
    b'package/2006/content-types"><Default Extension="rels" ContentType="application/'
    b'vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" ContentType='
    b'"application/xml"/><Override PartName="/xl/workbook.xml" ContentType="application/'
    b'vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/></Types>'
)
_RELS = (
    b'<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats'
    b'.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.'
    b'openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="xl/'
    b'workbook.xml"/></Relationships>'
)
_REL = b"http://schemas.openxmlformats.org/officeDocument/2006/relationships/"
_WB_RELS = (
    b'<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats'
    b'.org/package/2006/relationships">'
    b'<Relationship Id="rId1" Type="' + _REL + b'worksheet" Target="worksheets/sheet1.xml"/>'
    b'<Relationship Id="rId2" Type="' + _REL + b'sharedStrings" Target="sharedStrings.xml"/>'
    b'<Relationship Id="rId3" Type="' + _REL + b'styles" Target="/xl/styles.xml"/>'
    b"</Relationships>"
)
_MAIN = b'xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"'


def build(
    sheet_data: bytes, strings: bytes = b"", styles: bytes = b"", workbook_pr: bytes = b""
) -> bytes:
    """A one-sheet workbook ("S") with the given sheetData, shared strings and styles."""
    workbook = (
        b'<?xml version="1.0" encoding="UTF-8"?><workbook ' + _MAIN + b' xmlns:r="http://'
        b'schemas.openxmlformats.org/officeDocument/2006/relationships">'
        + workbook_pr
        + b'<sheets><sheet name="S" sheetId="1" r:id="rId1"/></sheets></workbook>'
    )
    sheet = (
        b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\r\n<worksheet '
        + _MAIN
        + b"><sheetData>"
        + sheet_data
        + b"</sheetData></worksheet>"
    )
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml", _CT)
        archive.writestr("_rels/.rels", _RELS)
        archive.writestr("xl/workbook.xml", workbook)
        archive.writestr("xl/_rels/workbook.xml.rels", _WB_RELS)
        archive.writestr("xl/worksheets/sheet1.xml", sheet)
        archive.writestr("xl/sharedStrings.xml", b"<sst " + _MAIN + b">" + strings + b"</sst>")
        style_sheet = b"<styleSheet " + _MAIN + b">" + styles + b"</styleSheet>"
        archive.writestr("xl/styles.xml", style_sheet)
    return out.getvalue()


def assert_like_calamine(data: bytes, *, fast: bool = True) -> list[list[Any]]:
    """The workbook's "S" grid equals calamine's; ``fast``: read without calamine."""
    expected = calamine_grids(data)["S"]
    workbook = load_workbook_bytes(data)
    got = workbook.sheet("S").grid
    assert typed(list(map(list, got))) == typed(expected)
    assert (workbook._book is None) == fast, "fast path used" if not fast else "calamine used"
    return expected


def cells(*values: bytes, attrs: bytes = b"") -> bytes:
    """One cell per row in column A: ``<c r="An"{attrs}>{value}</c>``."""
    return b"".join(
        b'<row r="%d"><c r="A%d"%s>%s</c></row>' % (i + 1, i + 1, attrs, value)
        for i, value in enumerate(values)
    )


def shared(*bodies: bytes) -> tuple[bytes, bytes]:
    """(sheetData referencing each string once, the <si> items)."""
    refs = cells(*(b"<v>%d</v>" % i for i in range(len(bodies))), attrs=b' t="s"')
    return refs, b"".join(b"<si>" + body + b"</si>" for body in bodies)


STRINGS = [
    b"<t>plain</t>",
    b'<t xml:space="preserve">  kept  </t>',
    b"<t>  trimmed\t\n</t>",
    b"<t>&#32;refs trimmed too&#10;</t>",
    "<t>\xa0nbsp and \u3000 stay\xa0</t>".encode(),
    b"<t>a\r\nb\rc\nd</t>",
    b"<t>&amp;&lt;&gt;&quot;&apos;&#x20AC;&#8364;&#13;x</t>",
    b"<t>_x000D_|_x000d_|_x005F_x000D_|_xD83D_|_x00e9_|_xZZZZ_</t>",
    b"<t>_x0020_edge_x0020_</t>",
    b"<t/>",
    b"<t></t>",
    b'<r><t>rich</t></r><r><rPr><b/><sz val="11"/></rPr><t xml:space="preserve"> text</t></r>',
    b"<r><t> a </t></r><r><t> b </t></r>",
    b'<t>base</t><rPh sb="0" eb="1"><t>PHONETIC</t></rPh><phoneticPr fontId="1"/>',
    b"<r><t>x</t></r><rPh><t>P</t></rPh><r><t>y</t></r>",
    b"<t>one</t><t>two</t>",
    "<t>café 中文 Türkçe</t>".encode(),
]


def test_shared_strings_rich_text_whitespace_and_escapes() -> None:
    refs, items = shared(*STRINGS)
    assert_like_calamine(build(refs, items))


def test_shared_string_variants_calamine_would_read_differently_fall_back() -> None:
    refs, items = shared(b"<t>ok</t>", b'<t xml:space="default"> odd </t>')
    assert_like_calamine(build(refs, items), fast=False)
    refs, items = shared(b"<t>ok</t>")
    assert_like_calamine(build(refs, items.replace(b"<si>", b"<si/><si>")), fast=False)


def test_inline_strings() -> None:
    data = cells(
        b"<is><t>inline &amp; plain</t></is>",
        b'<is><r><t>ri</t></r><r><rPr/><t xml:space="preserve">ch </t></r></is>',
        b"<is><t> trimmed </t></is>",
        b"<is><r><t>a</t></r><rPh><t>P</t></rPh></is>",
        attrs=b' t="inlineStr"',
    )
    assert_like_calamine(build(data + b'<row r="9"><c r="B9"><v>1</v></c></row>'))
    assert_like_calamine(build(cells(b"<is/>", attrs=b' t="inlineStr"')), fast=False)


def test_formula_strings_keep_whitespace_and_decode_escapes() -> None:
    data = cells(
        b"<f>A1</f><v> a </v>",
        b"<f>A1</f><v>a\r\nb</v>",
        b"<f>A1</f><v>&#13;x_x000D_</v>",
        b'<f>A1</f><v xml:space="preserve">\r\n kept \r\n</v>',
        b'<f t="shared" si="0"/><v>#not an error</v>',
        attrs=b' t="str"',
    )
    assert_like_calamine(build(data))


def test_booleans_errors_and_numbers() -> None:
    data = (
        cells(b"<v>1</v>", b"<v>0</v>", attrs=b' t="b"')
        + b'<row r="3"><c r="A3" t="e"><f>NA()</f><v>#N/A</v></c>'
        b'<c r="B3" t="e"><v>#DIV/0!</v></c><c r="C3" t="e"><v>#REF!</v></c>'
        b'<c r="D3" t="e"><v>#VALUE!</v></c><c r="E3" t="e"><v>#NAME?</v></c>'
        b'<c r="F3" t="e"><v>#NUM!</v></c><c r="G3" t="e"><v>#NULL!</v></c></row>'
        b'<row r="4"><c r="A4"><v>1</v></c><c r="B4" t="n"><v>-1.5E3</v></c>'
        b'<c r="C4"><v>0.1</v></c><c r="D4"><v>123456789012345678</v></c>'
        b'<c r="E4"><v>.5</v></c><c r="F4"><v>1e-7</v></c><c r="G4"><v>-0</v></c></row>'
    )
    assert_like_calamine(build(data))
    for odd in (b' t="b"><v>TRUE</v>', b"><v>0x10</v>", b' t="e"><v>#FOO</v>'):
        row = b'<row r="1"><c r="A1"' + odd + b"</c></row>"
        try:
            calamine_grids(build(row))
        except Exception:
            continue  # calamine refuses the sheet; the fast path defers to it (tested below)
        assert_like_calamine(build(row), fast=False)


def test_errors_and_empty_formula_strings_size_the_grid_like_calamine() -> None:
    data = (
        b'<row r="1"><c r="A1"><v>1</v></c></row>'
        b'<row r="3"><c r="C3" t="e"><v>#N/A</v></c></row>'
        b'<row r="5"><c r="B5" s="0"/><c r="AB5" t="str"><f>B5&amp;C5</f><v/></c></row>'
        b'<row r="7"><c r="D7" t="str"><f>""</f><v></v></c><c r="E7" t="n"><v/></c>'
        b'<c r="F7" t="str"><f>X</f></c><c r="G7" s="3"/></row>'
    )
    grid = assert_like_calamine(build(data))
    assert (len(grid), len(grid[0])) == (7, 28)
    assert assert_like_calamine(build(b'<row r="1"><c r="A1" s="1"/></row>')) == []
    assert assert_like_calamine(build(b"")) == []


def test_cells_without_references_are_left_to_calamine() -> None:
    data = (
        b'<row><c><v>1</v></c><c t="str"><v>x</v></c></row>'
        b'<row><c r="C2"><v>2</v></c><c><v>3</v></c></row>'
    )
    assert_like_calamine(build(data), fast=False)
    reordered = b'<row r="1"><c s="0" r="A1"><v>1</v></c></row>'
    assert_like_calamine(build(reordered), fast=False)
    spaced = (
        b'<row r="1"><c r="A1"><v >1</v></c>'
        b'<c r="B1" t="str"><v xml:space="preserve" >x</v></c></row>'
    )
    assert_like_calamine(build(spaced), fast=False)


def _styles(formats: dict[int, str], ids: list[int]) -> bytes:
    numfmts = b"".join(
        b'<numFmt numFmtId="%d" formatCode="%s"/>'
        % (ident, code.replace("&", "&amp;").replace('"', "&quot;").encode())
        for ident, code in formats.items()
    )
    xfs = b"".join(b'<xf numFmtId="%d" applyNumberFormat="1"/>' % ident for ident in ids)
    return b"<numFmts>" + numfmts + b"</numFmts><cellXfs>" + xfs + b"</cellXfs>"


CUSTOM = {
    164: "dd-mmm-yyyy",
    165: "yyyy-mm-dd",
    166: "[$-409]d-mmm-yy;@",
    167: "[$-409]mmmm\\ d\\,\\ yyyy;@",
    168: "0.00%",
    169: '#,##0.00 "USD"',
    170: "[Red]0.00",
    171: "General",
    172: "m/d/yyyy h:mm",
    173: "mm:ss.0",
    174: '_("$"* #,##0.00_);_("$"* \\(#,##0.00\\);_("$"* "-"??_);_(@_)',
    175: "@",
    176: "0.0E+00",
}
BUILTIN = [0, 1, 2, 3, 4, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 27, 30, 36,
           37, 40, 45, 46, 47, 48, 49, 50, 57, 58]  # fmt: skip
SERIALS = [b"0", b"0.25", b"0.999999999", b"1", b"1.5", b"59", b"60", b"61", b"100.5",
           b"45408", b"45408.5", b"45408.123456789", b"45408.99999999", b"0.0000001",
           b"2958465", b"2958465.5", b"2958466", b"0.5000000058"]  # fmt: skip


@pytest.mark.parametrize(
    "workbook_pr",
    [
        b"",
        b'<workbookPr date1904="1"/>',
        b'<workbookPr date1904="true"/>',
        b'<workbookPr date1904="false"/>',
    ],
)
def test_dates_times_and_durations_by_number_format(workbook_pr: bytes) -> None:
    ids = BUILTIN + list(CUSTOM)
    rows = b"".join(
        b'<row r="%d">' % (r + 1)
        + b"".join(
            b'<c r="%s%d" s="%d"><v>%s</v></c>' % (_letters(x), r + 1, x, serial)
            for x in range(len(ids))
        )
        + b"</row>"
        for r, serial in enumerate(SERIALS)
    )
    assert_like_calamine(build(rows, styles=_styles(CUSTOM, ids), workbook_pr=workbook_pr))


def test_random_serials_round_like_calamine() -> None:
    rng = random.Random(1755)
    serials = [f"{rng.uniform(0, 80000):.{rng.randint(0, 12)}f}".encode() for _ in range(400)]
    serials += [f"{rng.random():.9f}".encode() for _ in range(100)]
    rows = b"".join(
        b'<row r="%d"><c r="A%d" s="1"><v>%s</v></c><c r="B%d" s="2"><v>%s</v></c>'
        b'<c r="C%d" s="3"><v>%s</v></c></row>' % (i + 1, i + 1, v, i + 1, v, i + 1, v)
        for i, v in enumerate(serials)
    )
    styles = _styles({164: "dd-mmm-yyyy hh:mm:ss"}, [0, 22, 164, 46])
    assert_like_calamine(build(rows, styles=styles))
    assert_like_calamine(build(rows, styles=styles, workbook_pr=b'<workbookPr date1904="1"/>'))


def test_number_formats_it_cannot_vouch_for_are_left_to_calamine() -> None:
    row = b'<row r="1"><c r="A1" s="1"><v>45408.5</v></c></row>'
    for code in ("[h]:mm:ss", "[mm]:ss", "yyyy\\-mm\\-dd;[Red]0"):
        styles = _styles({164: code}, [0, 164])
        assert_like_calamine(build(row, styles=styles), fast=False)
    styles = _styles({14: "yyyy-mm-dd"}, [0, 14])  # a redefined built-in id
    assert_like_calamine(build(row, styles=styles), fast=False)
    text = b'<row r="1"><c r="A1" s="1" t="s"><v>0</v></c></row>'
    styles = _styles({164: "[h]:mm:ss"}, [0, 164])
    assert_like_calamine(build(text, b"<si><t>x</t></si>", styles=styles))  # no number: fast


def _letters(index: int) -> bytes:
    out = b""
    index += 1
    while index:
        index, rest = divmod(index - 1, 26)
        out = bytes([65 + rest]) + out
    return out


# --------------------------------------------------------------------------- units


@pytest.mark.parametrize(
    ("code", "kind"),
    [
        ("General", NUMBER),
        ("0.00", NUMBER),
        ("#,##0_);[Red](#,##0)", NUMBER),
        ('_-"€"\\ * #,##0.00_-;\\-"€"\\ * #,##0.00_-;_-"€"\\ * "-"??_-;_-@_-', NUMBER),
        ("0.0E+00", NUMBER),
        ("dd-mmm-yyyy", DATETIME),
        ("[$-409]d\\-mmm\\-yyyy;@", DATETIME),
        ("yyyy/m/d h:mm AM/PM", DATETIME),
        ("[h]:mm:ss", UNSURE),
        ('0 "days"', NUMBER),
        ('0.00" d"', NUMBER),
        ("0 days", UNSURE),
    ],
)
def test_number_format_classes(code: str, kind: int) -> None:
    assert classify_format(code) == kind


def test_xml_text_rules() -> None:
    assert xml_text(b" a\r\nb ", trim=True) == "a\nb"
    assert xml_text(b" a ", trim=False) == " a "
    assert xml_text(b"&#13;_x000D_", trim=False) == "\r\r"
    with pytest.raises(Unsupported):
        xml_text(b"&nbsp;", trim=False)


def test_shared_strings_are_decoded_on_demand() -> None:
    table = SharedStrings(b"<sst " + _MAIN + b"><si><t>a</t></si><si><t>b &amp; c</t></si></sst>")
    assert len(table) == 2
    assert table.get(1) == "b & c"
    with pytest.raises(Unsupported):
        table.get(2)


def test_workbooks_built_by_hand_still_use_the_public_constructor() -> None:
    from outreach.cmrt.workbook import Sheet

    sheets = {"S": Sheet("S", [["x"]])}
    workbook = Workbook(("S",), None, sheets)  # type: ignore[arg-type]
    assert workbook.sheet("S").cell("A1") == "x"


def test_a_stray_far_cell_gives_a_sparse_grid_of_calamines_size() -> None:
    """calamine would spell out A1:XFD1048576 (17 billion cells); the grid stays lazy."""
    data = build(
        b'<row r="2"><c r="B2" t="s"><v>0</v></c></row>'
        b'<row r="1048576"><c r="XFD1048576" t="inlineStr"><is><t>far</t></is></c></row>',
        b"<si><t>near</t></si>",
    )
    sheet = load_workbook_bytes(data).sheet("S")
    assert len(sheet.grid) == 1_048_576 and len(sheet.grid[0]) == 16_384
    assert sheet.cell("B2") == "near" and sheet.cell("XFD1048576") == "far"
    assert sheet.cell("A1") is None and sheet.at(5_000, 9_000) is None
    assert sheet.grid[-1][-1] == "far" and list(sheet.grid[1][:3]) == ["", "near", ""]
    assert [number for number, row in sheet.rows(1, 3)] == [1, 2, 3]
