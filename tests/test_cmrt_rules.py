"""The stricter rules, the structured reading and the severity policy, on real workbooks."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from outreach.cmrt.findings import (
    CODES,
    PER_CODE_CAP,
    Finding,
    Severity,
    apply_policy,
    check_severity_overrides,
)
from outreach.cmrt.patch import patch_workbook
from outreach.cmrt.redflags import RedFlag, RedFlagLists
from outreach.cmrt.reference import RmapStatus, StatusRow, reference_from_rows
from outreach.cmrt.validate import Outcome, Result, ValidationContext, validate, validate_workbook
from outreach.core.reporting_period import is_stale, stale_before
from tests.support.grids import edited

DATA = Path(__file__).parent / "data" / "cmrt"
JX = DATA / "returns" / "CMRT_6.4_JX_Advanced_Metals.xlsx"
SK = DATA / "returns" / "CMRT_6.4_SK_specialty.xlsx"
EMRT21 = DATA / "templates" / "RMI_EMRT_2.1.xlsx"


def judge(path: Path, context: ValidationContext | None = None, **sheets: dict) -> Result:
    edits = {name.replace("_", " "): cells for name, cells in sheets.items()}
    return validate_workbook(edited(path, edits), context)


def codes(result: Result, severity: Severity | None = None) -> list[str]:
    return [f.code for f in result.findings
            if f.code != "required_missing" and (severity is None or f.severity == severity)]


def only(result: Result, code: str) -> Finding:
    found = [f for f in result.findings if f.code == code]
    assert len(found) == 1, (code, result.findings)
    return found[0]


# --------------------------------------------------------------------------- baseline


def test_a_correct_return_is_accepted_and_read_in_full() -> None:
    result = validate(JX.read_bytes())
    assert result.outcome == Outcome.ACCEPTED, result.findings
    assert not codes(result, Severity.WARNING)
    company = result.company
    assert company is not None
    assert (company.name, company.scope, company.contact_email) == (
        "JX Advanced Metals Corporation", "B", "ohnogi.tomoki.hp2@jx-nmm.com")
    assert company.effective_date == dt.date(2024, 5, 30)
    assert result.content is not None
    scope = {m.metal: m.in_scope for m in result.content.metals}
    assert scope == {"Tantalum": True, "Tin": False, "Gold": False, "Tungsten": True}
    tantalum = result.content.metal("tantalum")
    assert tantalum is not None and tantalum.answers[6].text == "100%"
    assert len(result.smelters) == 27
    first = result.smelters[0]
    assert (first.row.row, first.row.metal, first.row.smelter_id) == (5, "Tantalum", "CID002544")
    assert first.known is not None and first.known.country == "THAILAND"
    assert [p.number for p in result.content.products] == [
        "Sputtering Target", "Sputtering Target", "Tantalum parts"]
    as_json = result.as_dict()
    assert as_json["company"]["effective_date"] == "2024-05-30"
    assert as_json["smelters"][0]["cid"] == "CID002544"
    assert as_json["metals"][0]["answers"]["1"]["text"] == "Yes"


def test_rows_without_cached_values_are_read_through_the_look_up() -> None:
    # saved by a tool that keeps no formula results: the Checker resolves column A again
    resaved = validate(patch_workbook(JX.read_bytes(), {}))
    assert (resaved.outcome, resaved.required_missing) == (Outcome.ACCEPTED, 0)
    # the content reader completes a row from column A whatever else is blank
    blanked = {f"{col}{row}": None for row in range(5, 32) for col in "BCEFGHIJ"}
    result = judge(JX, Smelter_List=blanked)
    original = validate(JX.read_bytes())
    assert [(s.row.metal, s.row.smelter_id) for s in result.smelters] == [
        (s.row.metal, s.row.smelter_id) for s in original.smelters]
    # the country comes from the look-up (row 10's supplier had blanked column E)
    assert [s.row.country.upper() for s in result.smelters if s.row.row != 10] == [
        s.row.country.upper() for s in original.smelters if s.row.row != 10]
    assert next(s.row.country for s in result.smelters if s.row.row == 10) == "KAZAKHSTAN"


# --------------------------------------------------------------------------- declaration


def test_a_contact_address_that_is_not_one_is_named_in_the_message() -> None:
    result = judge(JX, Declaration={"D16": "a,b@x.com"})
    finding = only(result, "email_invalid")
    assert finding.message.startswith(
        "Declaration D16: the contact e-mail 'a,b@x.com' is not a valid address")
    assert (finding.sheet, finding.cell, finding.severity) == ("Declaration", "D16",
                                                               Severity.WARNING)
    assert result.outcome == Outcome.ACCEPTED_WITH_WARNINGS
    assert "email_invalid" not in codes(judge(JX, Declaration={"D20": "Jörg.Müller@firma.de"}))


@pytest.mark.parametrize(("cell", "value"), [
    ("D26", "Maybe"), ("D38", "Perhaps"), ("D56", "80%"), ("D83", "Yes"), ("D89", "Yes"),
    ("D9", "Company"),
])
def test_answers_outside_the_templates_lists(cell: str, value: str) -> None:
    finding = only(judge(JX, Declaration={cell: value}), "answer_invalid")
    assert finding.cell == cell and f"'{value}'" in finding.message
    assert "choose one of" in finding.message


@pytest.mark.parametrize(("cell", "value"), [
    ("D26", "yes\t\t"), ("D26", " YES "), ("D56", 1.0), ("D83", "Yes, in conformance with "
                                                             "IPC-1755 [e.g., CMRT]"),
])
def test_answer_hygiene_is_not_a_finding(cell: str, value: object) -> None:
    assert "answer_invalid" not in codes(judge(JX, Declaration={cell: value}))


def test_answers_for_metals_out_of_scope_are_noted_not_held_against() -> None:
    result = judge(JX, Declaration={"D39": "Yes"})  # tin: Q1 = No
    finding = only(result, "answer_out_of_scope")
    assert finding.severity == Severity.INFO and finding.cell == "D39"
    assert result.outcome == Outcome.ACCEPTED


@pytest.mark.parametrize(("value", "expected"), [
    (dt.datetime(2026, 3, 1), dt.date(2026, 3, 1)), (46082.0, dt.date(2026, 3, 1)),  # noqa: DTZ001 - cells hold naive dates
    ("01-Mar-2026", dt.date(2026, 3, 1)), ("1-MAR-2026", dt.date(2026, 3, 1)),
    ("2026-03-01", dt.date(2026, 3, 1)), ("1 March 2026", dt.date(2026, 3, 1)),
])
def test_effective_dates_in_the_forms_suppliers_store_them(value: object,
                                                           expected: dt.date) -> None:
    result = judge(JX, Declaration={"D22": value})
    assert result.company is not None and result.company.effective_date == expected
    assert "date_invalid" not in codes(result)


@pytest.mark.parametrize("value", ["05/06/2024", "soon", "31-Feb-2026", True])
def test_dates_that_are_no_dates(value: object) -> None:
    finding = only(judge(JX, Declaration={"D22": value}), "date_invalid")
    assert finding.cell == "D22" and "enter it as DD-MMM-YYYY" in finding.message


def test_dates_before_the_template_allows() -> None:
    finding = only(judge(JX, Declaration={"D22": "2005-01-01"}), "date_invalid")
    assert "01-Jan-2005 is before 31-Dec-2006" in finding.message


def test_future_and_stale_dates_against_the_campaign() -> None:
    future = judge(JX, ValidationContext(today=dt.date(2024, 5, 1)))
    assert "in the future" in only(future, "date_future").message
    stale = judge(JX, ValidationContext(reporting_year=2026, today=dt.date(2026, 12, 7)))
    message = only(stale, "date_stale").message
    assert "30-May-2024" in message and "2026 reporting period" in message
    assert "01-Jan-2025 or later" in message
    fresh = judge(JX, ValidationContext(reporting_year=2025, today=dt.date(2026, 12, 7)))
    assert "date_stale" not in codes(fresh) and "date_future" not in codes(fresh)


def test_one_definition_of_stale() -> None:
    assert stale_before(2026) == dt.date(2025, 1, 1)
    assert is_stale(dt.date(2024, 12, 31), 2026) and not is_stale(dt.date(2025, 1, 1), 2026)


def test_policy_url_and_other_survey_format() -> None:
    url = only(judge(JX, Declaration={"G77": "see our website"}), "url_invalid")
    assert url.cell == "G77" and "'see our website'" in url.message
    assert "url_invalid" not in codes(judge(JX, Declaration={"G77": "www.jx-nmm.com/policy"}))
    other = judge(JX, Declaration={"D83": "Yes, using other format (describe)", "G83": None})
    assert only(other, "description_missing").cell == "G83"


def test_scope_b_products_without_numbers() -> None:
    result = judge(SK, Product_List={"B6": "WF6-01", "C7": "Second product"})
    assert result.required_missing == 0
    finding = only(result, "product_number_missing")
    assert finding.cell == "B7" and "'Second product'" in finding.message
    # row 6 without a number is the Checker's finding, not reported twice
    assert "product_number_missing" not in codes(validate(SK.read_bytes()))


# --------------------------------------------------------------------------- smelter list


def test_smelter_ids_malformed_unknown_of_another_metal_or_disagreeing() -> None:
    result = judge(JX, Smelter_List={
        "A5": "CID12", "F5": None,
        "A6": "CID999999", "F6": None,
        "A7": "CID002549", "F7": "CID002550",
        "A8": "CID002082", "F8": None, "B8": "Tantalum",  # a tungsten smelter
    })
    assert only(result, "smelter_id_malformed").cell == "A5"
    unknown = only(result, "smelter_id_not_in_template")
    assert unknown.severity == Severity.ERROR and "CID999999" in unknown.message
    assert result.outcome == Outcome.REJECTED
    pasted = judge(JX, Smelter_List={"A6": None, "F6": "CID999999"})  # values, no formulas
    assert only(pasted, "smelter_id_unknown").cell == "F6"
    assert only(result, "smelter_id_mismatch").cell == "A7"
    wrong = only(result, "smelter_wrong_metal")
    assert wrong.cell == "B8" and "is a tungsten smelter, not tantalum" in wrong.message


def test_an_imported_newer_reference_list_knows_more_smelters() -> None:
    newer = reference_from_rows([("Tantalum", "New Smelter", "New Smelter", "PERU",
                                  "CID999999")])
    result = judge(JX, ValidationContext(reference=newer),
                   Smelter_List={"A6": "CID999999", "F6": None})
    assert "smelter_id_unknown" not in codes(result)
    # the supplier's (older) template still cannot resolve it: a warning, not an error
    assert only(result, "smelter_id_not_in_template").severity == Severity.WARNING
    assert result.smelters[1].known is not None and result.smelters[1].known.country == "PERU"


def test_unidentified_smelters_contradict_question_7() -> None:
    result = judge(JX, Smelter_List={"A5": None, "C5": "Smelter not yet identified",
                                     "F5": None})
    assert only(result, "smelter_not_identified").cell == "C5"
    contradiction = only(result, "answer_contradicts_smelters")
    assert contradiction.cell == "D62" and "1 'Smelter not yet identified'" in (
        contradiction.message)


def test_not_listed_smelters_with_unknown_country() -> None:
    result = judge(JX, Smelter_List={"A5": None, "C5": "Smelter not listed", "F5": None,
                                     "D5": "Acme Refining", "E5": "ATLANTIS"})
    assert result.required_missing == 0
    assert only(result, "smelter_country_invalid").cell == "E5"
    ok = judge(JX, Smelter_List={"A5": None, "C5": "Smelter not listed", "F5": None,
                                 "D5": "Acme Refining", "E5": "Peru"})
    assert "smelter_country_invalid" not in codes(ok)


def test_rows_for_metals_out_of_scope_or_of_no_template_metal() -> None:
    result = judge(JX, Smelter_List={"B32": "Tin", "C32": "Alpha Metals",
                                     "B33": "Gold (Au)", "C33": "Someone"})
    assert only(result, "smelter_out_of_scope").cell == "B32"
    assert only(result, "smelter_metal_invalid").cell == "B33"
    lookup = judge(JX, Smelter_List={"B32": "Tantalum"})
    assert only(lookup, "smelter_lookup_missing").cell == "C32"


def test_repeated_rows_are_noted_but_one_row_per_mine_is_not_a_repeat() -> None:
    # rows 22-26: one smelter, five mines; rows 27 and 31: one smelter, mine country differs
    assert "smelter_duplicate" not in codes(validate(JX.read_bytes()))
    # row 31 again, by its ID alone, in a file saved without cached values
    result = validate(patch_workbook(JX.read_bytes(), {"Smelter List": {"A32": "CID002320"}}))
    repeat = only(result, "smelter_duplicate")
    assert repeat.cell == "A32" and "repeats row 31" in repeat.message
    assert repeat.severity == Severity.INFO and result.outcome == Outcome.ACCEPTED


def test_red_flags_and_rmap_status_classify_every_smelter() -> None:
    flags = RedFlagLists((RedFlag("Sanctions", "listed 2026-10", cid="CID002082"),
                          RedFlag("Watch", "press reports", name="ulba metallurgical plant jsc",
                                  country="Kazakhstan")))
    status = {"CID002544": StatusRow("CID002544", RmapStatus.CONFORMANT, dt.date(2026, 11, 30)),
              "CID002549": StatusRow("CID002549", RmapStatus.ACTIVE, dt.date(2026, 11, 30))}
    result = validate(JX.read_bytes(), ValidationContext(red_flags=flags, rmap_status=status))
    flagged = [f for f in result.findings if f.code == "smelter_red_flag"]
    assert [f.cell for f in flagged] == ["C9", "C22", "C23", "C24", "C25", "C26"]
    assert "'Sanctions': listed 2026-10" in flagged[1].message
    assert result.outcome == Outcome.ACCEPTED_WITH_WARNINGS
    by_row = {s.row.row: s for s in result.smelters}
    assert by_row[5].status == RmapStatus.CONFORMANT and by_row[6].status == RmapStatus.ACTIVE
    assert by_row[7].status is None and [f.list_name for f in by_row[22].red_flags] == [
        "Sanctions"]
    not_conformant = [f for f in result.findings if f.code == "smelter_not_conformant"]
    assert all(f.severity == Severity.INFO for f in not_conformant)
    assert "CID002549 (active)" in not_conformant[0].message
    assert result.as_dict()["smelters"][0]["rmap_status"] == "conformant"


def test_many_rows_with_one_mistake_are_summarised() -> None:
    rows = {f"A{r}": f"CID{r}" for r in range(40, 80)}
    rows |= {f"B{r}": "Tantalum" for r in range(40, 80)}
    result = judge(JX, Smelter_List=rows)
    assert codes(result).count("smelter_id_malformed") == PER_CODE_CAP
    summary = only(result, "findings_truncated")
    assert summary.message.startswith("15 more finding(s) of the kind 'smelter_id_malformed'")
    assert summary.severity == Severity.WARNING


# --------------------------------------------------------------------------- policy


def test_severity_is_configurable_per_code_but_not_for_the_checker() -> None:
    wrong_mail = {"Declaration": {"D16": "a,b@x.com"}}
    strict = validate_workbook(edited(JX, wrong_mail),
                               ValidationContext(severity={"email_invalid": "error"}))
    assert strict.outcome == Outcome.REJECTED
    quiet = validate_workbook(edited(JX, wrong_mail),
                              ValidationContext(severity={"email_invalid": "off"}))
    assert quiet.outcome == Outcome.ACCEPTED and "email_invalid" not in codes(quiet)
    assert check_severity_overrides({"email_invalid": "error", "date_stale": "info"}) == []
    problems = check_severity_overrides({"required_missing": "warning", "nope": "error",
                                         "date_stale": "loud"})
    assert len(problems) == 3 and "always an error" in problems[0]
    kept = apply_policy([Finding("required_missing", Severity.ERROR, "x")],
                        {"required_missing": "off"})
    assert [f.severity for f in kept] == [Severity.ERROR]
    assert all(code.default in Severity for code in CODES.values())


# --------------------------------------------------------------------------- EMRT


def test_emrt_2_content_follows_the_selected_minerals() -> None:
    result = judge(EMRT21, ValidationContext(family="EMRT"),
                   Declaration={"D12": "(Delete Cobalt)", "E12": "(Delete Copper)",
                                "D30": "Yes", "D31": "Not declaring", "D32": "Maybe",
                                "D120": "Yes, when more processors are validated"})
    assert result.content is not None
    assert [m.metal for m in result.content.metals] == ["Graphite", "Lithium", "Mica", "Nickel"]
    assert [m.in_scope for m in result.content.metals] == [True, False, True, True]
    invalid = only(result, "answer_invalid")
    assert invalid.cell == "D32" and "question 1 for mica" in invalid.message
    company_c = [a for a in result.content.company_answers if a.letter == "C"]
    assert [a.metal for a in company_c] == ["Graphite", "Lithium", "Mica", "Nickel"]


def test_every_finding_code_is_documented() -> None:
    doc = (Path(__file__).parents[1] / "docs" / "validation.md").read_text(encoding="utf-8")
    for code in CODES.values():
        assert f"| `{code.code}` | {code.default} |" in doc, code.code


def test_what_the_checker_reads_differently_from_a_person_is_explained() -> None:
    padded = judge(JX, Declaration={"D27": "No "})  # tin: the Checker no longer sees "No"
    assert only(padded, "answer_padded").message.startswith(
        "Declaration D27: the answer 'No' has extra spaces or tabs")
    assert padded.outcome == Outcome.REJECTED and padded.required_missing == 8
    blank = judge(JX, Declaration={"D8": "   ", "D15": "0"})
    assert [f.cell for f in blank.findings if f.code == "field_blank"] == ["D8", "D15"]
    assert blank.required_missing == 0 and blank.outcome == Outcome.ACCEPTED_WITH_WARNINGS
    # a CID whose B/C were cleared in a file Excel saved: the Checker misses the row
    cleared = judge(JX, Smelter_List={f"{c}{r}": None for r in range(5, 21) for c in "BC"})
    assert cleared.required_missing == 1
    assert [f.cell for f in cleared.findings if f.code == "smelter_columns_blank"][:2] == [
        "B5", "B6"]
    # the same in a file without cached values: JX's B/C of rows 5-31 are typed values, so
    # blanking them leaves no formula for Excel to recalculate
    blanks = {f"{c}{r}": None for r in range(5, 21) for c in "BC"}
    resaved = validate(patch_workbook(JX.read_bytes(), {"Smelter List": blanks}))
    assert resaved.required_missing == 1
    assert "smelter_columns_blank" in codes(resaved)
    # while rows whose B/C still hold the template's formulas are recalculated, no finding
    ids_only = validate(patch_workbook(JX.read_bytes(), {"Smelter List": {"A40": "CID002544"}}))
    assert "smelter_columns_blank" not in codes(ids_only) and ids_only.required_missing == 0
