"""fill_cmrt: filled-in CMRTs patched into the real RMI blanks, judged by our validator and
(with LibreOffice) by RMI's own Checker."""

from __future__ import annotations

import datetime as dt
import io
import random
import statistics
import time
import zipfile
from dataclasses import replace
from pathlib import Path

import pytest

from outreach.cmrt.fill import (
    METALS,
    Defect,
    Filing,
    MetalUse,
    SmelterPick,
    filing_edits,
    fill_cmrt,
    flawed,
    sample_filing,
    smelter_lookup,
)
from outreach.cmrt.patch import patch_workbook
from outreach.cmrt.validate import Outcome, Result, ValidationContext, validate
from tests.support.libreoffice import (
    INSTALL_HINT,
    checker_count,
    find_soffice,
    recalculate_checker_csv,
)
from tests.support.services import require_service

ROOT = Path(__file__).parent.parent
TEMPLATES = Path(__file__).parent / "data" / "cmrt" / "templates"
SHIPPED = ROOT / "templates" / "cmrt" / "RMI_CMRT_6.5.xlsx"
BLANKS = sorted(TEMPLATES.glob("RMI_CMRT_6*.xlsx"))
CONTEXT = ValidationContext(family="CMRT", reporting_year=2026, today=dt.date(2026, 12, 8))


def _blank(path: Path = SHIPPED) -> bytes:
    return path.read_bytes()


def _sample(blank: bytes, seed: int) -> Filing:
    return sample_filing(random.Random(seed), smelter_lookup(blank))


def _expected_smelters(blank: bytes, filing: Filing) -> list[tuple[str, str]]:
    """(metal, CID or typed name) per row, as the reader must give them back."""
    lookup = smelter_lookup(blank)
    out = []
    for pick in filing.smelters:
        if pick.not_listed:
            out.append((pick.metal, pick.name))
        elif pick.cid:
            out.append((pick.metal, pick.cid))
        else:
            [cid] = {e.cid for e in lookup[pick.metal] if e.name == pick.name}
            out.append((pick.metal, cid))
    return out


def _read_back(result: Result) -> list[tuple[str, str]]:
    return [(item.row.metal, item.row.smelter_id or item.row.name) for item in result.smelters]


def test_the_blanks_are_all_there() -> None:
    versions = {p.stem.removeprefix("RMI_CMRT_") for p in BLANKS}
    assert {"6.01", "6.1", "6.22", "6.31", "6.4", "6.5"} <= versions


@pytest.mark.parametrize("path", [SHIPPED, *BLANKS], ids=lambda p: p.parent.name + "/" + p.stem)
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_a_sample_is_accepted_and_reads_back_as_filled(path: Path, seed: int) -> None:
    blank = _blank(path)
    filing = _sample(blank, seed)
    result = validate(fill_cmrt(blank, filing), CONTEXT)
    assert result.outcome == Outcome.ACCEPTED, [f.as_dict() for f in result.findings]
    assert result.required_missing == 0
    assert result.content is not None
    company = result.content.company
    assert company.name == filing.company_name
    assert (company.contact_name, company.contact_email, company.contact_phone) == (
        filing.contact_name, filing.contact_email, filing.contact_phone)
    assert (company.authorizer, company.authorizer_email) == (
        filing.authorizer_name, filing.authorizer_email)
    assert company.effective_date == filing.effective_date
    assert company.scope_text == filing.scope
    assert _read_back(result) == _expected_smelters(blank, filing)
    assert [(p.number, p.name) for p in result.content.products] == list(filing.products)
    declared = {m.metal for m in filing.metals if m.declared}
    assert {m.metal for m in result.content.metals if m.in_scope} == declared


def test_samples_vary_in_metals_rows_scope_and_dates() -> None:
    blank = _blank()
    filings = [_sample(blank, seed) for seed in range(60)]
    counts = [len(f.smelters) for f in filings]
    assert min(counts) >= 3 and max(counts) <= 40 and len(set(counts)) > 10
    assert len({frozenset(m.metal for m in f.metals if m.declared) for f in filings}) >= 6
    assert {f.scope[0] for f in filings} == {"A", "B", "C"}
    assert any(p.not_listed for f in filings for p in f.smelters)
    assert any(p.name and not p.not_listed for f in filings for p in f.smelters)
    dates = {f.effective_date for f in filings}
    assert len(dates) > 40
    assert all(d is not None and dt.date(2025, 1, 1) <= d <= dt.date(2026, 3, 31) for d in dates)


def test_distinct_seeds_give_distinct_files_and_a_seed_the_same_file() -> None:
    blank = _blank()
    files = [fill_cmrt(blank, _sample(blank, seed)) for seed in range(25)]
    assert len(set(files)) == len(files)
    assert fill_cmrt(blank, _sample(blank, 7)) == files[7]


def test_the_fill_is_a_patch_of_the_blank() -> None:
    """The fast path (cut sheets, copied members) gives what patch_workbook gives."""
    blank = _blank(TEMPLATES / "RMI_CMRT_6.4.xlsx")  # with the pre-filled Tin row
    filing = _sample(blank, 11)
    fast = zipfile.ZipFile(io.BytesIO(fill_cmrt(blank, filing)))
    plain = zipfile.ZipFile(io.BytesIO(patch_workbook(blank, filing_edits(blank, filing))))
    assert fast.namelist() == plain.namelist()
    assert fast.testzip() is None
    assert [n for n in fast.namelist() if fast.read(n) != plain.read(n)] == []


def test_the_blank_stays_the_blank_outside_the_filled_cells() -> None:
    blank = _blank()
    filled = zipfile.ZipFile(io.BytesIO(fill_cmrt(blank, _sample(blank, 5))))
    original = zipfile.ZipFile(io.BytesIO(blank))
    for name in ("xl/media/image1.png", "xl/styles.xml", "xl/sharedStrings.xml"):
        assert filled.read(name) == original.read(name)
    assert b'fullCalcOnLoad="1"' in filled.read("xl/workbook.xml")
    assert "xl/calcChain.xml" not in filled.namelist()


def test_nothing_in_scope_clears_the_blanks_own_smelter_row() -> None:
    blank = _blank(TEMPLATES / "RMI_CMRT_6.4.xlsx")
    filing = _sample(blank, 3)
    none = replace(filing, metals=tuple(MetalUse.not_used(m) for m in METALS), smelters=(),
                   scope="A. Company", products=())
    result = validate(fill_cmrt(blank, none), CONTEXT)
    assert result.outcome == Outcome.ACCEPTED, [f.as_dict() for f in result.findings]
    assert result.smelters == ()
    assert result.content is not None and not any(m.in_scope for m in result.content.metals)


def test_a_smelter_not_listed_keeps_name_and_country() -> None:
    blank = _blank()
    filing = _sample(blank, 2)
    metal = next(m.metal for m in filing.metals if m.declared)
    pick = SmelterPick(metal, name="Kleine Hütte GmbH", country="GERMANY", not_listed=True)
    with_row = replace(filing, smelters=(*filing.smelters, pick))
    result = validate(fill_cmrt(blank, with_row), CONTEXT)
    assert result.outcome == Outcome.ACCEPTED, [f.as_dict() for f in result.findings]
    row = result.smelters[-1].row
    assert (row.metal, row.lookup_name, row.name, row.country) == (
        metal, "Smelter not listed", "Kleine Hütte GmbH", "GERMANY")


@pytest.mark.parametrize("defect", list(Defect))
@pytest.mark.parametrize("path", [SHIPPED, TEMPLATES / "RMI_CMRT_6.01.xlsx"],
                         ids=lambda p: p.stem)
def test_a_defect_is_rejected_with_its_finding(defect: Defect, path: Path) -> None:
    blank = _blank(path)
    flaw = flawed(_sample(blank, 4), random.Random(4), defect)
    assert flaw.defect == defect
    result = validate(fill_cmrt(blank, flaw.filing), CONTEXT)
    assert result.outcome == Outcome.REJECTED
    found = [(f.code, f.sheet, f.cell) for f in result.errors]
    assert (flaw.code, flaw.sheet, flaw.cell) in found, found


def test_defects_are_deterministic_per_seed_and_vary_across_seeds() -> None:
    blank = _blank()
    flaws = [flawed(_sample(blank, seed), random.Random(seed)) for seed in range(40)]
    again = [flawed(_sample(blank, seed), random.Random(seed)) for seed in range(40)]
    assert flaws == again
    assert {f.defect for f in flaws} == set(Defect)
    assert len({f.cell for f in flaws}) > 8


def test_only_cmrt_6_blanks_are_filled() -> None:
    blank = _blank(TEMPLATES / "RMI_EMRT_2.1.xlsx")
    with pytest.raises(ValueError, match=r"CMRT 6\.x"):
        smelter_lookup(blank)


def test_the_look_up_is_the_templates_own() -> None:
    lookup = smelter_lookup(_blank())
    assert set(lookup) == set(METALS)
    gold = lookup["Gold"]
    assert any(e.name == "Smelter not listed" and e.cid == "" for e in gold)
    real = [e for e in gold if e.cid]
    assert len({e.cid for e in real}) > 100
    assert all(e.metal == "Gold" and e.country and e.standard_name for e in real)


def test_a_fill_is_fast() -> None:
    blank = _blank()
    filings = [_sample(blank, seed) for seed in range(12)]
    fill_cmrt(blank, filings[0])  # the blank is prepared once per process
    times = []
    for filing in filings:
        started = time.perf_counter()
        fill_cmrt(blank, filing)
        times.append(time.perf_counter() - started)
    median = statistics.median(times)  # ~50 ms alone; patching the whole package: ~300 ms
    print(f"\nfill_cmrt: median {median * 1000:.0f} ms per file")
    assert median < 0.2, f"fill_cmrt takes {median * 1000:.0f} ms per file"


def test_rmis_checker_recalculated_by_libreoffice_counts_nothing_missing(
    tmp_path: Path,
) -> None:
    soffice = find_soffice()
    require_service(soffice is not None, "LibreOffice (soffice)", INSTALL_HINT)
    assert soffice is not None
    blank = _blank()
    filing = _sample(blank, 9)
    metal = next(m.metal for m in filing.metals if m.declared)
    taken = {p.cid for p in filing.smelters}
    alias = next(e.name for e in smelter_lookup(blank)[metal] if e.cid and e.cid not in taken)
    extra = (SmelterPick(metal, name=alias),  # picked by name, and one the Look-up lacks
             SmelterPick(metal, name="Kleine Hütte GmbH", country="GERMANY", not_listed=True))
    filing = replace(filing, smelters=(*filing.smelters, *extra))
    assert any(p.cid for p in filing.smelters)
    complete = tmp_path / "complete.xlsx"
    complete.write_bytes(fill_cmrt(blank, filing))
    broken = tmp_path / "no_authorizer.xlsx"
    flaw = flawed(_sample(blank, 9), random.Random(9), Defect.NO_AUTHORIZER)
    broken.write_bytes(fill_cmrt(blank, flaw.filing))
    converted = recalculate_checker_csv([complete, broken], tmp_path / "out", soffice=soffice,
                                        sheet_number=6)
    assert checker_count(converted[complete]) == 0
    assert checker_count(converted[broken]) == 1 == validate(broken.read_bytes(),
                                                             CONTEXT).required_missing
