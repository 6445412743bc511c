"""validate(): outcomes on every reference workbook, template gating, and the CLI."""

from __future__ import annotations

import csv
import io
import json
import zipfile
from pathlib import Path

import pytest

from outreach.cli import main
from outreach.cmrt.validate import Outcome, Severity, ValidationContext, validate

DATA = Path(__file__).parent / "data" / "cmrt"
ROWS = list(csv.DictReader((DATA / "EXPECTED.csv").open(encoding="utf-8")))
JX = DATA / "returns" / "CMRT_6.4_JX_Advanced_Metals.xlsx"


@pytest.mark.parametrize("row", ROWS, ids=[r["file"] for r in ROWS])
def test_every_reference_file_gets_its_expected_outcome(row: dict[str, str]) -> None:
    result = validate((DATA / row["file"]).read_bytes(), ValidationContext(family=None))
    assert str(result.outcome) == row["expected_outcome"].split(" ")[0]
    if row["checker_remaining"]:
        assert result.required_missing == int(row["checker_remaining"])
        missing = [f for f in result.findings if f.code == "required_missing"]
        assert len(missing) == result.required_missing
    if "outdated" in row["expected_outcome"]:
        assert result.findings[0].code == "outdated_template"
        assert "please use the current RMI" in result.findings[0].message
    if row["template"]:
        assert (result.template, result.version) == (row["template"], row["version"])


def test_wrong_family_and_minimum_version() -> None:
    emrt = validate((DATA / "templates" / "RMI_EMRT_2.1.xlsx").read_bytes())
    assert emrt.outcome == Outcome.REJECTED and emrt.findings[0].code == "wrong_template"
    old = validate((DATA / "templates" / "RMI_CMRT_6.31.xlsx").read_bytes(),
                   ValidationContext(min_versions={"CMRT": "6.4"}))
    assert old.findings[0].code == "outdated_template" and "6.4" in old.findings[0].message


def _patched(path: Path, member: str, old: bytes, new: bytes) -> bytes:
    return _patched_bytes(path.read_bytes(), member, old, new)


def _patched_bytes(workbook: bytes, member: str, old: bytes, new: bytes) -> bytes:
    source = zipfile.ZipFile(io.BytesIO(workbook))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for item in source.infolist():
            data = source.read(item)
            if item.filename == member:
                assert old in data
                data = data.replace(old, new)
            target.writestr(item, data)
    return out.getvalue()


def test_newer_version_is_read_with_the_newest_layout_and_a_warning() -> None:
    data = _patched(JX, "xl/sharedStrings.xml", b"Revision 6.4", b"Revision 6.6")
    result = validate(data)
    assert (result.version, result.outcome) == ("6.6", Outcome.ACCEPTED_WITH_WARNINGS)
    assert [f.code for f in result.findings if f.severity != Severity.INFO] == [
        "newer_template"]
    assert result.company is not None and result.company.name.startswith("JX")


def test_newer_version_whose_layout_moved_is_a_modified_template() -> None:
    # a future release that moved the effective date down one row: the L sheet says so
    data = _patched(JX, "xl/sharedStrings.xml", b"Revision 6.4", b"Revision 6.6")
    data = _patched_bytes(data, "xl/sharedStrings.xml", b"<t>Effective Date (*):</t>",
                          b"<t>Authorizer phone:</t>")
    result = validate(data)
    assert (result.outcome, result.findings[0].code) == (Outcome.REJECTED, "modified_template")
    assert "Declaration!B22" in result.findings[0].message


def test_a_missing_sheet_is_a_modified_template() -> None:
    data = _patched(JX, "xl/workbook.xml", b'name="Product List"', b'name="Products"')
    result = validate(data)
    assert result.outcome == Outcome.REJECTED
    assert result.findings[0].code == "modified_template"
    assert "Product List" in result.findings[0].message


def test_cli_reports_and_exit_codes(capsys) -> None:
    assert main(["validate", str(JX)]) == 0
    assert "accepted" in capsys.readouterr().out
    assert main(["validate", str(DATA / "returns"), "--json"]) == 8
    report = json.loads(capsys.readouterr().out)
    assert [Path(r["file"]).name for r in report] == [
        "CMRT_6.4_JX_Advanced_Metals.xlsx", "CMRT_6.4_SK_specialty.xlsx"]
    sk = report[1]
    assert {k: sk[k] for k in ("template", "version", "outcome", "required_missing")} == {
        "template": "CMRT", "version": "6.4", "outcome": "rejected", "required_missing": 1}
    assert sk["findings"][0] | {"message": "..."} == {
        "code": "required_missing", "severity": "error", "sheet": "Product List",
        "cell": "B6", "message": "..."}
    assert main(["validate", "/nonexistent/x.xlsx"]) == 6
    assert main(["validate", str(JX), "--family", "CRT"]) == 6


def test_cli_context_options(tmp_path: Path, capsys) -> None:
    status = tmp_path / "rmap.csv"
    status.write_text("cid,status,as_of\nCID002544,conformant,2026-11-30\n", encoding="utf-8")
    flags = tmp_path / "flags.csv"
    flags.write_text("list,cid,name,country,reason\nSanctions,CID002082,,,listed 2026-10\n",
                     encoding="utf-8")
    assert main(["validate", str(JX), "--json", "--reporting-year", "2026",
                 "--rmap-status", str(status), "--red-flags", str(flags)]) == 0
    [report] = json.loads(capsys.readouterr().out)
    assert report["outcome"] == "accepted_with_warnings"
    found = {f["code"] for f in report["findings"]}
    assert {"date_stale", "smelter_red_flag", "smelter_not_conformant"} <= found
    assert report["smelters"][0] | {"rmap_as_of": None} == report["smelters"][0] | {
        "cid": "CID002544", "rmap_status": "conformant", "rmap_as_of": None}
    assert report["company"]["name"] == "JX Advanced Metals Corporation"

    bad = tmp_path / "bad.csv"
    bad.write_text("cid,status,as_of\nCID12,conformant,2026-11-30\n", encoding="utf-8")
    assert main(["validate", str(JX), "--rmap-status", str(bad)]) == 6
    assert "line 2" in capsys.readouterr().err
    assert main(["validate", str(JX), "--reference", str(status)]) == 6


def test_cli_severity_from_config(tmp_path: Path, capsys) -> None:
    config = tmp_path / "outreach.toml"
    config.write_text('[validation.severity]\ndate_stale = "error"\n', encoding="utf-8")
    assert main(["--config", str(config), "validate", str(JX), "--reporting-year", "2026"]) == 8
    assert "date_stale" in capsys.readouterr().out
    config.write_text('[validation.severity]\nrequired_missing = "off"\n', encoding="utf-8")
    assert main(["--config", str(config), "validate", str(JX)]) != 0
    assert "validation.severity" in capsys.readouterr().err
