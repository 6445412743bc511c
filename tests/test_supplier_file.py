"""The supplier file reader: every validation, both formats, and the generated examples."""

from __future__ import annotations

import datetime as dt
import runpy
from pathlib import Path

import pytest
from openpyxl import Workbook

from outreach.core.enums import ContactRole
from outreach.imports.sample_suppliers import generate_suppliers, write_supplier_file
from outreach.imports.supplier_file import (
    COLUMNS,
    ContactRow,
    RowProblem,
    SupplierFile,
    SupplierFileError,
    read_supplier_file,
)

REPO = Path(__file__).resolve().parents[1]
VALID = {
    "code": "S-1",
    "name": "Acme Components Inc.",
    "contacts": "primary: Li Wei <li.wei@acme.example>",
}


# --------------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------------


def csv_file(tmp_path: Path, text: str, name: str = "suppliers.csv") -> Path:
    path = tmp_path / name
    path.write_bytes(text.encode("utf-8"))
    return path


def xlsx_file(tmp_path: Path, sheets: dict[str, list[list[object]]], name: str = "s.xlsx") -> Path:
    workbook = Workbook()
    workbook.remove(workbook.active)
    for title, rows in sheets.items():
        sheet = workbook.create_sheet(title)
        for row in rows:
            sheet.append(row)
    path = tmp_path / name
    workbook.save(path)
    return path


def one_row(tmp_path: Path, **overrides: str) -> SupplierFile:
    """Read a CSV holding VALID with ``overrides`` (all columns present)."""
    path = tmp_path / "one.csv"
    write_supplier_file([{**VALID, **overrides}], path)
    return read_supplier_file(path)


def file_error(path: Path) -> str:
    with pytest.raises(SupplierFileError) as caught:
        read_supplier_file(path)
    return str(caught.value)


# --------------------------------------------------------------------------------------------
# row problems: one table, one row each
# --------------------------------------------------------------------------------------------

ROW_PROBLEMS = [
    # (id, overrides, column, substrings of the message)
    (
        "bad address",
        {"contacts": "primary: li.wei@@acme.example"},
        "contacts",
        ["'li.wei@@acme.example'", "not valid"],
    ),
    (
        "address with name but no brackets",
        {"contacts": "primary: Li Wei li@acme.example"},
        "contacts",
        ["'Name <email>'"],
    ),
    (
        "unknown role",
        {"contacts": "buyer: x@acme.example; primary: a@acme.example"},
        "contacts",
        ["unknown contact role 'buyer'", "primary, escalation, senior_officer"],
    ),
    ("no primary", {"contacts": "escalation: a@acme.example"}, "contacts", ["no primary contact"]),
    ("empty contacts", {"contacts": ""}, "contacts", ["contacts is empty"]),
    (
        "same address, two names",
        {"contacts": "primary: A <a@acme.example>; primary: B <a@acme.example>"},
        "contacts",
        ["listed twice as primary"],
    ),
    (
        "contacts separated by comma",
        {"contacts": "primary: a@acme.example, escalation: b@acme.example"},
        "contacts",
        ["separate contacts with ';'"],
    ),
    ("empty code", {"code": ""}, "code", ["code is empty"]),
    ("code with space", {"code": "AB 12"}, "code", ["'AB 12'", "a space", "letters A-Z"]),
    ("code too long", {"code": "X" * 65}, "code", ["65 characters", "at most 64"]),
    ("empty name", {"name": ""}, "name", ["name is empty"]),
    ("country name", {"country": "Germany"}, "country", ["'Germany'", "use DE"]),
    ("country alpha-3", {"country": "DEU"}, "country", ["'DEU'", "use DE"]),
    ("country UK", {"country": "UK"}, "country", ["use GB"]),
    ("country unknown", {"country": "XX"}, "country", ["'XX'", "such as CN, DE or US"]),
    (
        "time zone unknown",
        {"time_zone": "Mars/Olympus"},
        "time_zone",
        ["'Mars/Olympus'", "IANA time zone"],
    ),
    (
        "time zone abbreviation",
        {"country": "CN", "time_zone": "CST"},
        "time_zone",
        ["'CST'", "for CN use one of Asia/Shanghai"],
    ),
    ("language name", {"language": "German"}, "language", ["'German'", "use de"]),
    ("language country code", {"language": "cn"}, "language", ["use zh"]),
    ("language unknown", {"language": "xx"}, "language", ["'xx'", "ISO 639-1"]),
    ("language bad region", {"language": "pt-XX"}, "language", ["'XX'", "region"]),
    ("language without 639-1 code", {"language": "yue"}, "language", ["'yue'", "ISO 639-1"]),
    (
        "bad domain",
        {"email_domains": "acme..example"},
        "email_domains",
        ["'acme..example'", "not a valid domain"],
    ),
    (
        "address as domain",
        {"email_domains": "sales@acme.example"},
        "email_domains",
        ["write just the domain", "'acme.example'"],
    ),
    (
        "bad buyer address",
        {"buyer": "Anna <anna@@procurement.example>"},
        "buyer",
        ["'anna@@procurement.example'", "not valid"],
    ),
    (
        "bad tag",
        {"scope_tags": "cmrt, conflict minerals"},
        "scope_tags",
        ["'conflict minerals'", "'conflict_minerals'"],
    ),
]


@pytest.mark.parametrize(
    ("overrides", "column", "expected"),
    [case[1:] for case in ROW_PROBLEMS],
    ids=[case[0] for case in ROW_PROBLEMS],
)
def test_row_problem(
    tmp_path: Path, overrides: dict[str, str], column: str, expected: list[str]
) -> None:
    result = one_row(tmp_path, **overrides)
    assert result.rows == ()
    assert not result.ok and result.invalid_lines == (2,)
    messages = [p.message for p in result.problems if p.column == column]
    assert messages, result.problems
    for text in expected:
        assert any(text in m for m in messages), (text, messages)
    assert all(p.line == 2 for p in result.problems)


def test_every_problem_of_a_row_is_reported_and_only_that_row_is_left_out(tmp_path: Path) -> None:
    path = tmp_path / "s.csv"
    bad = {
        "code": "AB 1",
        "name": "",
        "contacts": "li@acme.example",
        "country": "Germany",
        "language": "German",
        "scope_tags": "a b",
    }
    write_supplier_file([VALID, bad, {**VALID, "code": "S-3"}], path)
    result = read_supplier_file(path)
    assert [row.code for row in result.rows] == ["S-1", "S-3"]
    by_column = {}
    for problem in result.problems:
        assert problem.line == 3 and problem.code == "AB 1"
        by_column.setdefault(problem.column, []).append(problem.message)
    assert set(by_column) == {"code", "name", "contacts", "country", "language", "scope_tags"}
    assert len(by_column["contacts"]) == 2  # no role, and therefore no primary
    assert str(result.problems[0]).startswith("line 3, code: ")


def test_duplicate_code_ignoring_case_is_a_problem_on_the_later_line(tmp_path: Path) -> None:
    path = tmp_path / "s.csv"
    write_supplier_file([VALID, {**VALID, "code": "s-1", "name": "Other"}], path)
    result = read_supplier_file(path)
    assert [row.line for row in result.rows] == [2]
    assert result.problems == (RowProblem(3, "code", "s-1", result.problems[0].message),)
    assert "already used on line 2" in result.problems[0].message


def test_value_without_header_is_a_problem_hinting_at_quotes(tmp_path: Path) -> None:
    path = csv_file(tmp_path, "code,name,contacts\nS-1,Acme, Inc.,primary: a@acme.example\n")
    result = read_supplier_file(path)
    stray = [p for p in result.problems if p.column is None]
    assert len(stray) == 1 and "column D" in stray[0].message
    assert "double quotes" in stray[0].message


# --------------------------------------------------------------------------------------------
# normalisation of valid values
# --------------------------------------------------------------------------------------------

NORMALISED = [
    ("country case", {"country": "de"}, "country", "DE"),
    ("country empty", {"country": ""}, "country", None),
    ("time zone", {"time_zone": "Asia/Shanghai"}, "time_zone", "Asia/Shanghai"),
    ("time zone spelling", {"time_zone": "america/new york"}, "time_zone", "America/New_York"),
    ("time zone empty", {"time_zone": ""}, "time_zone", None),
    ("language default", {"language": ""}, "language", "en"),
    ("language case", {"language": "ZH"}, "language", "zh"),
    ("language region", {"language": "PT-br"}, "language", "pt-BR"),
    ("language underscore", {"language": "zh_tw"}, "language", "zh-TW"),
    (
        "domains derived",
        {
            "contacts": "primary: a@Zeta.example; escalation: b@alpha.example; "
            "primary: c@zeta.example"
        },
        "email_domains",
        ("alpha.example", "zeta.example"),
    ),
    (
        "domains given",
        {"email_domains": "B.example; a.example, @c.example,,a.example"},
        "email_domains",
        ("a.example", "b.example", "c.example"),
    ),
    (
        "buyer mailbox",
        {"buyer": "Anna Schmidt <Anna@Procurement.EXAMPLE>"},
        "buyer",
        "Anna Schmidt <Anna@procurement.example>",
    ),
    ("buyer address", {"buyer": "tom@procurement.example"}, "buyer", "tom@procurement.example"),
    ("buyer name", {"buyer": "Tom  Becker"}, "buyer", "Tom Becker"),
    ("buyer empty", {"buyer": ""}, "buyer", None),
    ("tags", {"scope_tags": "EMRT, cmrt; tin, cmrt"}, "scope_tags", ("cmrt", "emrt", "tin")),
    ("tags empty", {"scope_tags": ""}, "scope_tags", ()),
    ("whitespace", {"name": "  Acme\u00a0\t GmbH \u200b"}, "name", "Acme GmbH"),
    ("code kept as written", {"code": "Ab.9_x-1"}, "code", "Ab.9_x-1"),
]


@pytest.mark.parametrize(
    ("overrides", "attribute", "expected"),
    [case[1:] for case in NORMALISED],
    ids=[case[0] for case in NORMALISED],
)
def test_normalised_value(
    tmp_path: Path, overrides: dict[str, str], attribute: str, expected: object
) -> None:
    result = one_row(tmp_path, **overrides)
    assert result.problems == ()
    assert getattr(result.rows[0], attribute) == expected


CONTACTS = [
    (
        "roles spelled freely",
        "Primary: a@acme.example; Senior Officer: b@acme.example; senior-officer: c@acme.example; "
        "SENIOR_OFFICER: d@acme.example; escalation : e@acme.example",
        [
            ("primary", None, "a@acme.example"),
            ("senior_officer", None, "b@acme.example"),
            ("senior_officer", None, "c@acme.example"),
            ("senior_officer", None, "d@acme.example"),
            ("escalation", None, "e@acme.example"),
        ],
    ),
    (
        "exact duplicate collapsed",
        "primary: Li <li@acme.example>; primary: Li <li@ACME.example>",
        [("primary", "Li", "li@acme.example")],
    ),
    (
        "several per role, one address in two roles",
        "primary: A <a@acme.example>; primary: b@acme.example; senior_officer: A <a@acme.example>;",
        [
            ("primary", "A", "a@acme.example"),
            ("primary", None, "b@acme.example"),
            ("senior_officer", "A", "a@acme.example"),
        ],
    ),
    (
        "quoted name with separators",
        'primary: "Müller; Hans" <Hans@Müller.EXAMPLE>',
        [("primary", "Müller; Hans", "Hans@müller.example")],
    ),
    (
        "non-ASCII name",
        "primary: 李伟 <li.wei@szjm.example>",
        [("primary", "李伟", "li.wei@szjm.example")],
    ),
]


@pytest.mark.parametrize(
    ("contacts", "expected"), [c[1:] for c in CONTACTS], ids=[c[0] for c in CONTACTS]
)
def test_contacts(
    tmp_path: Path, contacts: str, expected: list[tuple[str, str | None, str]]
) -> None:
    result = one_row(tmp_path, contacts=contacts)
    assert result.problems == ()
    assert result.rows[0].contacts == tuple(
        ContactRow(ContactRole(role), email, name) for role, name, email in expected
    )


# --------------------------------------------------------------------------------------------
# file-level errors
# --------------------------------------------------------------------------------------------

FILE_ERRORS = [
    (
        "missing required column",
        b"code,name\nS-1,Acme\n",
        "s.csv",
        ["missing required column 'contacts'", "Columns found: code, name."],
    ),
    (
        "unknown column",
        b"code,name,contacs\nS-1,Acme,primary: a@acme.example\n",
        "s.csv",
        [
            "unknown column 'contacs'",
            "did you mean 'contacts'",
            "Expected columns: code, name, contacts (required); country, time_zone",
        ],
    ),
    ("duplicate column", b"code,name,contacts,Code\n", "s.csv", ["'code' appears twice"]),
    (
        "not UTF-8",
        "code,name,contacts\nS-1,Müller GmbH,primary: a@b.example\n".encode("cp1252"),
        "s.csv",
        ["not valid UTF-8", "line 2", "CSV UTF-8"],
    ),
    ("UTF-16", "code,name,contacts\n".encode("utf-16"), "s.csv", ["UTF-16", "CSV UTF-8"]),
    ("empty file", b"", "s.csv", ["no supplier rows"]),
    ("only blank lines", b"\n,,\n\n", "s.csv", ["no supplier rows"]),
    ("header only", b"code,name,contacts\r\n", "s.csv", ["no supplier rows"]),
    ("header and blank rows", b"code,name,contacts\n\n, ,\n,,\n", "s.csv", ["no supplier rows"]),
    (
        "unclosed quote",
        b'code,name,contacts\nS-1,"Acme,primary: a@b.example\nS-2,B,x\n',
        "s.csv",
        ["line 2", "never closed"],
    ),
    ("workbook named .csv", b"PK\x03\x04rest", "s.csv", ["looks like an Excel workbook"]),
    ("not really xlsx", b"code,name,contacts\n", "s.xlsx", ["not a valid Excel workbook", "CSV"]),
    ("broken zip xlsx", b"PK\x03\x04garbage", "s.xlsx", ["not a valid Excel workbook"]),
    ("old xls", b"\xd0\xcf\x11\xe0", "s.xls", [".xls files are not supported"]),
    ("unknown suffix", b"code,name,contacts\n", "s.txt", ["unsupported file type '.txt'", ".csv"]),
    ("no suffix", b"", "suppliers", ["no suffix"]),
]


@pytest.mark.parametrize(
    ("content", "name", "expected"), [c[1:] for c in FILE_ERRORS], ids=[c[0] for c in FILE_ERRORS]
)
def test_file_error(tmp_path: Path, content: bytes, name: str, expected: list[str]) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    message = file_error(path)
    for text in expected:
        assert text in message, message


def test_missing_file_is_a_file_error(tmp_path: Path) -> None:
    assert "cannot read the file" in file_error(tmp_path / "absent.csv")
    assert "cannot read the file" in file_error(tmp_path / "absent.xlsx")


def test_empty_workbook_has_no_supplier_rows(tmp_path: Path) -> None:
    assert "no supplier rows" in file_error(xlsx_file(tmp_path, {"Sheet": []}))
    header_only = xlsx_file(tmp_path, {"Suppliers": [["code", "name", "contacts"]]}, "h.xlsx")
    assert "no supplier rows" in file_error(header_only)


# --------------------------------------------------------------------------------------------
# CSV format
# --------------------------------------------------------------------------------------------


def test_semicolon_csv(tmp_path: Path) -> None:
    path = csv_file(
        tmp_path,
        "code;name;contacts;scope_tags\n"
        'S-1;Acme, Inc.;"primary: a@acme.example; escalation: b@acme.example";cmrt, tin\n',
    )
    (row,) = read_supplier_file(path).rows
    assert row.name == "Acme, Inc."
    assert [c.role for c in row.contacts] == [ContactRole.PRIMARY, ContactRole.ESCALATION]
    assert row.scope_tags == ("cmrt", "tin")


def test_excel_sep_directive_line(tmp_path: Path) -> None:
    path = csv_file(tmp_path, "sep=;\ncode;name;contacts\nS-1;Acme, Inc.;primary: a@acme.example\n")
    (row,) = read_supplier_file(path).rows
    assert (row.line, row.name) == (3, "Acme, Inc.")


def test_bom_and_header_spelling(tmp_path: Path) -> None:
    path = csv_file(
        tmp_path,
        "\ufeff Code ,NAME,Contacts,Time Zone,Email-Domains,scope  tags\r\n"
        "S-1,Acme,primary: a@acme.example,Europe/Berlin,acme.example,cmrt\r\n",
    )
    result = read_supplier_file(path)
    assert result.problems == ()
    assert result.rows[0].time_zone == "Europe/Berlin"
    assert result.rows[0].email_domains == ("acme.example",)


def test_multiline_quoted_fields_keep_physical_line_numbers(tmp_path: Path) -> None:
    path = csv_file(
        tmp_path,
        "code,name,contacts\n"
        'S-1,"Acme\nComponents","primary: a@acme.example;\nescalation: b@acme.example\n"\n'
        "S-2,Beta,primary: bad@@beta.example\n"
        'S-3,"Gamma\r\nGmbH",primary: c@gamma.example\n',
    )
    result = read_supplier_file(path)
    assert [(row.line, row.name) for row in result.rows] == [
        (2, "Acme Components"),
        (7, "Gamma GmbH"),
    ]
    assert len(result.rows[0].contacts) == 2
    assert [(p.line, p.code) for p in result.problems] == [(6, "S-2")]  # record 2 is lines 2-5


def test_blank_rows_are_skipped(tmp_path: Path) -> None:
    path = csv_file(
        tmp_path,
        "\ncode,name,contacts\n\nS-1,A,primary: a@acme.example\n,,\n \t, ,\n"
        "S-2,B,primary: b@b.example\n",
    )
    result = read_supplier_file(path)
    assert [(row.line, row.code) for row in result.rows] == [(4, "S-1"), (7, "S-2")]
    assert result.problems == ()


def test_progress_is_reported_per_row_and_ends_complete(tmp_path: Path) -> None:
    path = tmp_path / "s.csv"
    write_supplier_file([{**VALID, "code": f"S-{i}"} for i in range(5)], path)
    calls: list[tuple[int, int | None]] = []
    read_supplier_file(path, on_progress=lambda done, total: calls.append((done, total)))
    assert calls == [(0, 5), (1, 5), (2, 5), (3, 5), (4, 5), (5, 5), (5, 5)]


# --------------------------------------------------------------------------------------------
# XLSX format
# --------------------------------------------------------------------------------------------


def test_xlsx_numeric_codes_and_messy_cells(tmp_path: Path) -> None:
    path = xlsx_file(
        tmp_path,
        {
            "Sheet1": [
                ["Code", "Name", "Contacts", "Country", None, None],
                [10023, " Müller\u00a0 GmbH\t", "primary: a@mueller.example", "de", None, None],
                [10024.0, "Beta", "primary:\tb@beta.example", None],
                [10025.5, "Gamma", "primary: c@gamma.example"],
            ]
        },
    )
    result = read_supplier_file(path)
    assert [(row.code, row.name, row.country) for row in result.rows] == [
        ("10023", "Müller GmbH", "DE"),
        ("10024", "Beta", None),
        ("10025.5", "Gamma", None),
    ]


def test_xlsx_date_and_error_cells_are_problems(tmp_path: Path) -> None:
    path = xlsx_file(
        tmp_path,
        {
            "Suppliers": [
                ["code", "name", "contacts"],
                [dt.date(2024, 3, 12), "A", "primary: a@acme.example"],
                ["S-2", "#N/A", "primary: b@acme.example"],
            ]
        },
    )
    result = read_supplier_file(path)
    assert result.rows == ()
    assert [(p.line, p.column) for p in result.problems] == [(2, "code"), (3, "name")]
    assert "format the column as Text" in result.problems[0].message
    assert "#N/A" in result.problems[1].message


def test_xlsx_suppliers_sheet_is_chosen_over_the_first(tmp_path: Path) -> None:
    path = xlsx_file(
        tmp_path,
        {
            "Instructions": [["Fill in the Suppliers sheet"]],
            "Suppliers": [["code", "name", "contacts"], ["S-1", "A", "primary: a@acme.example"]],
        },
    )
    assert [row.code for row in read_supplier_file(path).rows] == ["S-1"]


def test_xlsx_first_sheet_without_suppliers_sheet(tmp_path: Path) -> None:
    path = xlsx_file(
        tmp_path,
        {
            "Lieferanten": [["code", "name", "contacts"], ["S-1", "A", "primary: a@acme.example"]],
            "Other": [["nothing"]],
        },
        name="s.xlsm",
    )
    assert [row.code for row in read_supplier_file(path).rows] == ["S-1"]


def test_xlsx_line_numbers_are_row_numbers(tmp_path: Path) -> None:
    rows: list[list[object]] = [
        [None],
        ["code", "name", "contacts"],
        ["S-1", "A", "primary: a@acme.example"],
        [None, None, None],
        [],
        ["S-2", "B", "primary: bad@@acme.example"],
        ["S-3", "C", "primary: c@acme.example", None, "stray"],
    ]
    result = read_supplier_file(xlsx_file(tmp_path, {"Suppliers": rows}))
    assert [row.line for row in result.rows] == [3]
    assert [(p.line, p.column) for p in result.problems] == [(6, "contacts"), (7, None)]
    assert "column E" in result.problems[1].message


# --------------------------------------------------------------------------------------------
# examples and generator
# --------------------------------------------------------------------------------------------


def test_example_file_has_no_problems() -> None:
    result = read_supplier_file(REPO / "examples" / "suppliers.csv")
    assert result.problems == ()
    assert len(result.rows) >= 8
    rows = {row.code: row for row in result.rows}
    assert rows["10023"].name == "Müller Präzisionsteile GmbH"
    assert any(row.country is None and row.time_zone is None for row in result.rows)
    roles = [c.role for c in rows["10023"].contacts]
    assert roles.count(ContactRole.PRIMARY) >= 2


@pytest.fixture(scope="module")
def generated() -> list[dict[str, str]]:
    return generate_suppliers(2000, seed=7)


@pytest.mark.parametrize("suffix", [".csv", ".xlsx"])
def test_generated_rows_round_trip(
    tmp_path: Path, generated: list[dict[str, str]], suffix: str
) -> None:
    path = tmp_path / f"suppliers{suffix}"
    write_supplier_file(generated, path)
    result = read_supplier_file(path)
    assert result.problems == ()
    assert [row.code for row in result.rows] == [row["code"] for row in generated]
    assert [row.name for row in result.rows] == [row["name"] for row in generated]
    assert [row.line for row in result.rows] == list(range(2, 2002))


def test_csv_and_xlsx_read_identically(tmp_path: Path) -> None:
    rows = generate_suppliers(200, seed=3)
    write_supplier_file(rows, tmp_path / "s.csv")
    write_supplier_file(rows, tmp_path / "s.xlsx")
    from_csv = read_supplier_file(tmp_path / "s.csv").rows
    assert from_csv == read_supplier_file(tmp_path / "s.xlsx").rows


def test_generator_is_deterministic_and_varied(generated: list[dict[str, str]]) -> None:
    assert generate_suppliers(50, seed=7) == generated[:50]
    assert generate_suppliers(50, seed=8) != generated[:50]
    assert set(generated[0]) == set(COLUMNS)
    countries = {row["country"] for row in generated}
    assert {"CN", "TW", "JP", "KR", "DE", "US", "MX", "MY", "TH", "VN", "IN", "PL"} <= countries
    assert any(not row["name"].isascii() for row in generated)
    assert all(".example" in row["contacts"] for row in generated)
    assert any("senior" in row["contacts"].lower() for row in generated)
    assert len({row["code"] for row in generated}) == len(generated)


def test_writer_rejects_unknown_suffix_and_columns(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"use \.csv or \.xlsx"):
        write_supplier_file([VALID], tmp_path / "s.ods")
    with pytest.raises(ValueError, match="unknown columns"):
        write_supplier_file([{**VALID, "contacs": "x"}], tmp_path / "s.csv")


def test_writer_keeps_formula_like_text_as_text(tmp_path: Path) -> None:
    path = tmp_path / "s.xlsx"
    write_supplier_file([{**VALID, "name": "=HYPERLINK(1)"}], path)
    assert read_supplier_file(path).rows[0].name == "=HYPERLINK(1)"


def test_generate_script(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    script = runpy.run_path(str(REPO / "examples" / "generate_suppliers.py"))
    out = tmp_path / "g.xlsx"
    assert script["main"](["--count", "25", "--seed", "2", str(out)]) == 0
    assert "wrote 25 suppliers" in capsys.readouterr().out
    assert len(read_supplier_file(out).rows) == 25
