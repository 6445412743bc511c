"""Template identification and the re-implemented Checker, against RMI's own files.

The reference counts in ``EXPECTED.csv`` are what Excel cached in ``Checker!D2``; the same
files re-saved by openpyxl (which drops every cached formula value) must give the same
count, and small synthetic grids pin down each gating rule.
"""

from __future__ import annotations

import csv
import io
import os
import warnings
from collections.abc import Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from outreach.cmrt.checker import (
    LOOKUP,
    CheckerResult,
    required_missing,
    selected_minerals,
    text,
)
from outreach.cmrt.identify import TemplateId, identify, version_key
from outreach.cmrt.workbook import Sheet, Workbook, load_workbook_bytes, parse_ref

DATA = Path(__file__).parent / "data" / "cmrt"
EXCEL_DEFAULT_PASSWORD = "VelvetSweatshop"


def _expected_rows() -> list[dict[str, str]]:
    with (DATA / "EXPECTED.csv").open(newline="", encoding="utf-8") as handle:
        return [row for row in csv.DictReader(handle) if row["template"]]


EXPECTED = _expected_rows()


def _read_bytes(path: Path) -> bytes:
    """File bytes, decrypted locally when it is an Excel-default-password OLE2 file."""
    data = path.read_bytes()
    if data[:4] == b"\xd0\xcf\x11\xe0":
        msoffcrypto = pytest.importorskip("msoffcrypto")
        office = msoffcrypto.OfficeFile(io.BytesIO(data))
        if office.is_encrypted():
            office.load_key(password=EXCEL_DEFAULT_PASSWORD)
            out = io.BytesIO()
            office.decrypt(out)
            data = out.getvalue()
    return data


def _load(path: Path) -> Workbook:
    return load_workbook_bytes(_read_bytes(path))


# --------------------------------------------------------------------------- reference files


@pytest.mark.parametrize("row", EXPECTED, ids=[row["file"] for row in EXPECTED])
def test_identify_reference_files(row: dict[str, str]) -> None:
    template = identify(_load(DATA / row["file"]))
    assert template is not None
    assert (template.family, template.version) == (row["template"], row["version"])
    assert template.version_key == version_key(row["version"])


CHECKED = [row for row in EXPECTED if row["checker_remaining"]]


@pytest.mark.parametrize("row", CHECKED, ids=[row["file"] for row in CHECKED])
def test_checker_count_matches_excel(row: dict[str, str]) -> None:
    wb = _load(DATA / row["file"])
    template = identify(wb)
    assert template is not None
    result = required_missing(wb, template)
    assert result.count == int(row["checker_remaining"])
    assert len(result.missing) == result.count
    assert all(m.message and m.sheet and m.cell for m in result.missing)


OUTDATED = [row for row in EXPECTED if not row["checker_remaining"]]


@pytest.mark.parametrize("row", OUTDATED, ids=[row["file"] for row in OUTDATED])
def test_templates_without_checker_give_no_count(row: dict[str, str]) -> None:
    wb = _load(DATA / row["file"])
    template = identify(wb)
    assert template is not None
    assert required_missing(wb, template) == CheckerResult(None, ())


def test_sk_return_misses_only_the_product_number() -> None:
    wb = _load(DATA / "returns/CMRT_6.4_SK_specialty.xlsx")
    template = identify(wb)
    assert template is not None
    (missing,) = required_missing(wb, template).missing
    assert (missing.sheet, missing.cell, missing.checker_row) == ("Product List", "B6", 64)


RESAVED_SUBSET = (
    "returns/CMRT_6.4_JX_Advanced_Metals.xlsx",
    "returns/CMRT_6.4_SK_specialty.xlsx",
    "templates/RMI_CMRT_6.31.xlsx",
    "templates/RMI_CMRT_6.4.xlsx",
    "templates/RMI_EMRT_1.3.xlsx",
    "templates/RMI_EMRT_2.1.xlsx",
)


def _resave(source: str, target: str) -> None:
    """openpyxl round trip: keeps formulas and constants, drops every cached formula value."""
    import openpyxl

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "Conditional Formatting extension is not supported"
        openpyxl.load_workbook(source).save(target)


@pytest.fixture(scope="session")
def resaved(tmp_path_factory: pytest.TempPathFactory) -> Mapping[str, Path]:
    """The subset re-saved once per session (~8 s each, so in parallel across CPUs)."""
    pytest.importorskip("openpyxl")
    folder = tmp_path_factory.mktemp("cmrt_resaved")
    targets = {name: folder / Path(name).name for name in RESAVED_SUBSET}
    workers = max(1, min(len(targets), os.cpu_count() or 1))
    with ProcessPoolExecutor(max_workers=workers) as pool:
        jobs = [pool.submit(_resave, str(DATA / n), str(t)) for n, t in targets.items()]
        for job in jobs:
            job.result()
    return targets


@pytest.mark.parametrize("name", RESAVED_SUBSET)
def test_checker_count_without_cached_values(name: str, resaved: Mapping[str, Path]) -> None:
    expected = next(int(r["checker_remaining"]) for r in EXPECTED if r["file"] == name)
    wb = _load(resaved[name])
    assert wb.sheet("Checker").cell("D2") is None  # the round trip really dropped the cache
    template = identify(wb)
    assert template is not None
    assert required_missing(wb, template).count == expected


def test_cid_rows_without_cached_metal_and_name_resolve_via_lookup() -> None:
    """JX return with B/C blanked on every CID row, as a non-Excel writer leaves them."""
    real = _load(DATA / "returns/CMRT_6.4_JX_Advanced_Metals.xlsx")
    smelters = real.sheet("Smelter List")
    grid = [list(row) for row in smelters.grid]
    blanked = 0
    for row in grid[4:]:
        if len(row) > 2 and row[0]:
            row[1] = row[2] = ""
            blanked += 1
    assert blanked > 0
    sheets = {name: real.sheet(name) for name in ("Declaration", "Product List", LOOKUP)}
    sheets["Smelter List"] = Sheet("Smelter List", grid)
    wb = Workbook(tuple(sheets), None, sheets)  # type: ignore[arg-type]
    assert required_missing(wb, CMRT64).count == 0
    without_lookup = {k: v for k, v in sheets.items() if k != LOOKUP}
    wb = Workbook(tuple(without_lookup), None, without_lookup)  # type: ignore[arg-type]
    assert required_missing(wb, CMRT64).count > 0


# --------------------------------------------------------------------------- synthetic grids


def _grid(cells: Mapping[str, Any]) -> list[list[Any]]:
    if not cells:
        return []
    coords = {parse_ref(ref): value for ref, value in cells.items()}
    rows = max(r for r, _ in coords) + 1
    cols = max(c for _, c in coords) + 1
    grid: list[list[Any]] = [[""] * cols for _ in range(rows)]
    for (r, c), value in coords.items():
        grid[r][c] = value
    return grid


def _workbook(sheets: Mapping[str, Mapping[str, Any] | Sequence[Sequence[Any]]]) -> Workbook:
    """A Workbook whose sheets are pre-built (never touches a parser)."""
    built: dict[str, Sheet] = {}
    for name, content in sheets.items():
        grid = _grid(content) if isinstance(content, Mapping) else [list(r) for r in content]
        built[name] = Sheet(name, grid)
    return Workbook(tuple(built), None, built)  # type: ignore[arg-type]


CMRT64 = TemplateId("CMRT", "6.4", (6, 4))
METAL_ROWS = {"Tantalum": 0, "Tin": 1, "Gold": 2, "Tungsten": 3}


def _complete_declaration() -> dict[str, Any]:
    cells: dict[str, Any] = {
        "J3": "Revision 6.4\nApril 26, 2024",
        "D8": "Acme Metals Ltd.",
        "D9": "A. Company",
        "D15": "Jane Doe",
        "D16": "jane@acme.example",
        "D17": "+1 555 0100",
        "D18": "John Roe",
        "D20": "john@acme.example",
        "D22": 45400.0,
    }
    for question in range(1, 9):
        for offset in range(4):
            cells[f"D{26 + 6 * (question - 1) + offset}"] = "Yes"
    for row in (75, 77, 79, 81, 83, 85, 87, 89):
        cells[f"D{row}"] = "Yes"
    cells["G77"] = "https://acme.example/policy"
    return cells


def _smelter_rows(metals: Sequence[str] = tuple(METAL_ROWS)) -> list[list[Any]]:
    rows: list[list[Any]] = [[""] * 5 for _ in range(4)]
    rows += [["", metal, f"{metal} Smelter Co.", "", "CHINA"] for metal in metals]
    return rows


def _cmrt(
    declaration: Mapping[str, Any] | None = None,
    smelters: Sequence[Sequence[Any]] | None = None,
    products: Mapping[str, Any] | None = None,
    lookup: Sequence[Sequence[Any]] | None = None,
) -> Workbook:
    sheets: dict[str, Any] = {
        "Declaration": _complete_declaration() if declaration is None else declaration,
        "Smelter List": _smelter_rows() if smelters is None else smelters,
        "Product List": products or {},
    }
    if lookup is not None:
        sheets["Smelter Look-up"] = [[""] * 5 for _ in range(4)] + [list(r) for r in lookup]
    return _workbook(sheets)


def _without(cells: Mapping[str, Any], *refs: str) -> dict[str, Any]:
    return {ref: value for ref, value in cells.items() if ref not in refs}


def _metal_q2_to_q8(metal: str) -> list[str]:
    offset = METAL_ROWS[metal]
    return [f"D{26 + 6 * (question - 1) + offset}" for question in range(2, 9)]


def _cells(result: CheckerResult) -> list[str]:
    return [m.cell for m in result.missing]


def _with(cells: Mapping[str, Any], **changes: Any) -> dict[str, Any]:
    return {**cells, **changes}


DECL = _complete_declaration()
TIN_OUT = _with(_without(DECL, *_metal_q2_to_q8("Tin")), D27="No")
ALL_NO = _without(
    {
        **{
            ref: v
            for ref, v in DECL.items()
            if not (ref.startswith("D") and 26 <= int(ref[1:]) <= 89)
        },
        **{f"D{26 + i}": "No" for i in range(4)},
    },
    "G77",
)

CASES: list[tuple[str, Workbook, list[str]]] = [
    ("complete declaration", _cmrt(), []),
    (
        "Q1 No for tin drops its Q2-Q8 and smelters",
        _cmrt(TIN_OUT, _smelter_rows(["Tantalum", "Gold", "Tungsten"])),
        [],
    ),
    (
        "Q1 'NO' compares case-insensitively",
        _cmrt(_with(TIN_OUT, D27="NO"), _smelter_rows(["Tantalum", "Gold", "Tungsten"])),
        [],
    ),
    (
        "Q1 ' no\t' is not 'No' to the Checker (Excel compares exactly; LibreOffice agrees)",
        _cmrt(_with(TIN_OUT, D27=" no\t"), _smelter_rows(["Tantalum", "Gold", "Tungsten"])),
        [*_metal_q2_to_q8("Tin"), "B5"],
    ),
    (
        "Q1 Yes keeps tin Q2-Q8 and smelters required",
        _cmrt(_with(TIN_OUT, D27="Yes"), _smelter_rows(["Tantalum", "Gold", "Tungsten"])),
        [*_metal_q2_to_q8("Tin"), "B5"],
    ),
    (
        "Q2 No (after Q1 Yes) also drops Q3-Q8 and smelters",
        _cmrt(
            _with(_without(DECL, *_metal_q2_to_q8("Tin")[1:]), D33="No"),
            _smelter_rows(["Tantalum", "Gold", "Tungsten"]),
        ),
        [],
    ),
    (
        "Q2..Q8 answered while Q1 blank still count as missing",
        _cmrt(_without(DECL, "D26")),
        ["D26", *_metal_q2_to_q8("Tantalum")],
    ),
    ("all metals No removes A-H and smelters", _cmrt(ALL_NO, _smelter_rows([])), []),
    ("B=Yes without URL", _cmrt(_without(DECL, "G77")), ["G77"]),
    ("B=Yes with a one-character URL", _cmrt(_with(DECL, G77="x")), ["G77"]),
    ("B=No needs no URL", _cmrt(_with(_without(DECL, "G77"), D77="No")), []),
    (
        "scope C needs D10",
        _cmrt(_with(DECL, D9="C. User defined [Specify in 'Description of scope']")),
        ["D10"],
    ),
    ("scope C with D10", _cmrt(_with(DECL, D9="C. User defined", D10="Widgets division")), []),
    (
        "scope B needs Product List B6",
        _cmrt(_with(DECL, D9="B. Product (or List of Products)")),
        ["B6"],
    ),
    (
        "scope B with a product number",
        _cmrt(_with(DECL, D9="B. Product (or List of Products)"), products={"B6": "PN-1"}),
        [],
    ),
    (
        "scope B with product name only",
        _cmrt(_with(DECL, D9="B. Product (or List of Products)"), products={"C6": "Widget"}),
        ["B6"],
    ),
    ("e-mails without @", _cmrt(_with(DECL, D16="jane.acme.example", D20="N/A")), ["D16", "D20"]),
    ("numeric 0 company name is blank", _cmrt(_with(DECL, D8=0.0)), ["D8"]),
    (
        "text '0' and whitespace-only are filled to the Checker (text is never = 0)",
        _cmrt(_with(DECL, D8="0", D15=" \t\t", D17="\t")),
        [],
    ),
    ("authorizer phone D21 is optional", _cmrt(_without(DECL, "D21")), []),
    (
        "Smelter not listed without name/country",
        _cmrt(
            smelters=[
                *_smelter_rows(),
                ["", "Gold", "Smelter not listed", "", "CHINA"],
                ["", "Tin", "Smelter Not Listed", "Foo", 0],
            ]
        ),
        ["D9"],
    ),
    (
        "Smelter not listed with name and country",
        _cmrt(smelters=[*_smelter_rows(), ["", "Gold", "Smelter not listed", "Golden Co", "PERU"]]),
        [],
    ),
    (
        "metal without a look-up name does not count",
        _cmrt(
            smelters=[
                *_smelter_rows(["Tantalum", "Gold", "Tungsten"]),
                ["", "Tin", "", "", ""],
                ["", "Tin", 0.0, "", ""],
            ]
        ),
        ["B5"],
    ),
    (
        "CID only (no cached values) resolves through Smelter Look-up",
        _cmrt(
            smelters=[
                *_smelter_rows(["Tantalum", "Gold", "Tungsten"]),
                ["CID001234 ", "", "", "", ""],
            ],
            lookup=[["Tin", "Alias Tin", "Standard Tin Smelter", "CHINA", "CID001234"]],
        ),
        [],
    ),
    (
        "unknown CID resolves to nothing",
        _cmrt(
            smelters=[
                *_smelter_rows(["Tantalum", "Gold", "Tungsten"]),
                ["CID999999", "", "", "", ""],
            ],
            lookup=[["Tin", "Alias Tin", "Standard Tin Smelter", "CHINA", "CID001234"]],
        ),
        ["B5"],
    ),
]


@pytest.mark.parametrize(
    ("wb", "expected"), [(wb, exp) for _, wb, exp in CASES], ids=[c[0] for c in CASES]
)
def test_cmrt6_gating(wb: Workbook, expected: list[str]) -> None:
    result = required_missing(wb, CMRT64)
    assert _cells(result) == expected
    assert result.count == len(expected)


def test_blank_cmrt6_grid_gives_52() -> None:
    result = required_missing(_cmrt({}, []), CMRT64)
    assert result.count == 52
    rows = [m.checker_row for m in result.missing]
    assert (
        rows == sorted(rows)
        and 6 not in rows
        and 56 not in rows
        and 64 not in rows
        and 69 not in rows
    )


def test_messages_are_actionable() -> None:
    result = required_missing(_cmrt({}, []), CMRT64)
    by_row = {m.checker_row: m.message for m in result.missing}
    assert by_row[4] == "Declaration D8: provide your company name"
    assert (
        by_row[66]
        == "Smelter List: list the tin smelters in your supply chain (or answer Q1/Q2 'No' for tin)"
    )


def test_not_listed_message_names_the_rows() -> None:
    wb = _cmrt(smelters=[*_smelter_rows(), ["", "Gold", "Smelter not listed", "", ""]])
    (missing,) = required_missing(wb, CMRT64).missing
    assert (missing.sheet, missing.cell, missing.checker_row) == ("Smelter List", "D9", 69)
    assert "row" in missing.message and "9" in missing.message


# --------------------------------------------------------------------------- EMRT synthetic


def _emrt2_declaration(minerals: Sequence[str]) -> dict[str, Any]:
    slots = ("D12", "E12", "G12", "D13", "E13", "G13")
    defaults = ("Cobalt", "Copper", "Graphite", "Lithium", "Mica", "Nickel")
    cells: dict[str, Any] = {}
    for slot, name in zip(slots, defaults, strict=True):
        cells[slot] = name if name in minerals else f"(Delete {name})"
    return cells


def test_emrt2_selection_is_sorted_and_drops_deleted() -> None:
    declaration = Sheet("Declaration", _grid(_emrt2_declaration(["Nickel", "Cobalt"])))
    assert selected_minerals(declaration) == ["Cobalt", "Nickel"]


def test_emrt2_rows_follow_selection() -> None:
    emrt21 = TemplateId("EMRT", "2.1", (2, 1))
    all_six = required_missing(
        _workbook(
            {
                "Declaration": _emrt2_declaration(
                    ["Cobalt", "Copper", "Graphite", "Lithium", "Mica", "Nickel"]
                )
            }
        ),
        emrt21,
    )
    assert all_six.count == 68
    two = required_missing(
        _workbook({"Declaration": _emrt2_declaration(["Cobalt", "Mica"])}), emrt21
    )
    # 8 company + 2 x (Q1..Q7) + A, B + 2 x C + D..G + 2 smelter lists
    assert two.count == 8 + 14 + 2 + 2 + 4 + 2
    none = required_missing(_workbook({"Declaration": _emrt2_declaration([])}), emrt21)
    assert [m.checker_row for m in none.missing] == [4, 5, 7, 9, 10, 11, 12, 13, 15]


def test_emrt2_q1_not_declaring_removes_the_mineral() -> None:
    emrt21 = TemplateId("EMRT", "2.1", (2, 1))
    cells = {**_emrt2_declaration(["Cobalt"]), "D30": "Not declaring"}
    result = required_missing(_workbook({"Declaration": cells}), emrt21)
    assert [m.checker_row for m in result.missing] == [4, 5, 9, 10, 11, 12, 13, 15]


def test_emrt1_unknown_q1_removes_q2_onwards() -> None:
    emrt13 = TemplateId("EMRT", "1.3", (1, 3))
    blank = {"D28": "No", "D29": "No"}
    assert required_missing(_workbook({"Declaration": blank}), emrt13).count == 31
    both_unknown = {**blank, "D26": "Unknown", "D27": "not applicable for this declaration"}
    result = required_missing(_workbook({"Declaration": both_unknown}), emrt13)
    assert [m.checker_row for m in result.missing] == [4, 5, 7, 8, 9, 10, 11, 13]


def test_emrt1_survey_other_format_needs_description() -> None:
    emrt13 = TemplateId("EMRT", "1.3", (1, 3))
    cells = {"D28": "No", "D29": "No", "D79": "Yes, Using Other Format (Describe)"}
    result = required_missing(_workbook({"Declaration": cells}), emrt13)
    assert "G79" in _cells(result) and "D79" not in _cells(result)


# --------------------------------------------------------------------------- identify synthetic


@pytest.mark.parametrize(
    ("sheets", "expected"),
    [
        (
            {
                "Declaration": {"J3": "Revision 6.4\nApril 26, 2024"},
                "Smelter List": {"W3": "Tantalum", "X3": "Tin", "Y3": "Tungsten", "Z3": "Gold"},
            },
            ("CMRT", "6.4"),
        ),
        (
            {
                "Declaration": {},
                "Smelter List": {
                    "Q3": "Version 1.3 | April 26, 2024",
                    "AA3": "Cobalt",
                    "AB3": "Mica",
                },
            },
            ("EMRT", "1.3"),
        ),
        (
            {
                "Declaration": {"J3": "Revision 2.2\nOctober 28, 2020"},
                "L": {"A2": "DeclarationD2", "D2": "Cobalt Reporting Template (CRT)"},
            },
            ("CRT", "2.2"),
        ),
        (
            {
                "Declaration": {"J3": "Revision 1.3\nOctober 17, 2025"},
                "Minerals Scope": {},
                "Mine List": {},
            },
            ("AMRT", "1.3"),
        ),
        ({"Declaration": {}, "Mine List": {"M3": "Revision 2.0\nApril 25, 2025"}}, ("EMRT", "2.0")),
        (
            {
                "Declaration": {"I3": "Revision", "J3": "1.   July 18th 2011"},
                "L": {"A1": "DeclarationD2", "D1": "Conflict Minerals Reporting Template"},
            },
            ("CMRT", "1"),
        ),
    ],
)
def test_identify_synthetic(
    sheets: Mapping[str, Mapping[str, Any]], expected: tuple[str, str]
) -> None:
    template = identify(_workbook(sheets))
    assert template is not None
    assert (template.family, template.version) == expected


def test_identify_ignores_visible_labels() -> None:
    wb = _workbook(
        {"Declaration": {"D2": "Conflict Minerals Reporting Template (CMRT)", "B8": "Company Name"}}
    )
    assert identify(wb) is None


def test_version_key_orders_like_rmi() -> None:
    versions = ["2.03", "2.03a", "3.01", "6.01", "6.1", "6.22", "6.31", "6.4", "6.5"]
    assert sorted(versions, key=version_key) == versions
    assert version_key("1.11") < version_key("1.2") < version_key("1.3") < version_key("2.0")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, ""),
        (0, ""),
        (0.0, ""),
        ("0", ""),
        (" \t", ""),
        ("#N/A", ""),
        ("Acme\t\t", "Acme"),
        (12.0, "12"),
    ],
)
def test_text_hygiene(value: Any, expected: str) -> None:
    assert text(value) == expected
