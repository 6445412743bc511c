"""The smelter reference embedded in each template, and the RMAP status file."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from outreach.cmrt.reference import (
    RmapStatus,
    StatusFileError,
    parse_rmap_status,
    reference_from_workbook,
)
from outreach.cmrt.workbook import load_workbook_bytes

DATA = Path(__file__).parent / "data" / "cmrt" / "templates"


def _reference(name: str):
    return reference_from_workbook(load_workbook_bytes((DATA / name).read_bytes()), name)


@pytest.mark.parametrize(
    ("template", "unique_cids", "metals"),
    [
        # unique CID counts from FORMAT.md §3.7 (pseudo-rows excluded)
        ("RMI_CMRT_6.4.xlsx", 368, {"Gold", "Tin", "Tantalum", "Tungsten"}),
        ("RMI_CMRT_6.5.xlsx", 349, {"Gold", "Tin", "Tantalum", "Tungsten"}),
        ("RMI_CMRT_6.01.xlsx", 311, {"Gold", "Tin", "Tantalum", "Tungsten"}),
        ("RMI_EMRT_2.1.xlsx", None, {"Cobalt", "Copper", "Graphite", "Lithium", "Mica",
                                     "Nickel"}),
    ],
)
def test_reference_lists_every_smelter_once(template: str, unique_cids: int | None,
                                            metals: set[str]) -> None:
    ref = _reference(template)
    if unique_cids is not None:
        assert len(ref) == unique_cids
    assert {s.metal for s in ref.smelters.values()} <= metals | {"Natural Graphite"}
    assert all(s.cid.startswith("CID") and len(s.cid) == 9 for s in ref.smelters.values())


def test_aliases_resolve_to_the_standard_smelter() -> None:
    ref = _reference("RMI_CMRT_6.4.xlsx")
    smelter = ref.get("cid002763")
    assert smelter is not None and smelter.metal == "Gold" and smelter.country == "ITALY"
    assert ref.find("gold", "  8853   S.P.A. ") == smelter
    assert ref.find("Tin", "8853 S.p.A.") is None  # a name belongs to one metal
    assert ref.find("Gold", "Smelter not listed") is None
    multi = [s for s in ref.smelters.values() if len(s.aliases) > 1]
    assert multi, "some smelters are known under several names"
    for s in multi[:5]:
        for alias in s.aliases:
            assert ref.find(s.metal, alias) == s


def test_rmap_status_file() -> None:
    parsed = parse_rmap_status(
        "CID,Status,As of\n"
        "CID002763,Conformant,2026-11-30\n"
        "cid000015, active ,2026-11-30\n"
        "CID001234,Not Participating,2026-10-01\n"
        "\n"
        "CID1234,conformant,2026-11-30\n"
        "CID000999,suspended,2026-11-30\n"
        "CID000998,active,30/11/2026\n"
        "CID002763,active,2026-11-30\n"
    )
    statuses = {r.cid: r.status for r in parsed.rows}
    assert statuses == {"CID002763": RmapStatus.CONFORMANT, "CID000015": RmapStatus.ACTIVE,
                        "CID001234": RmapStatus.NOT_PARTICIPATING}
    assert parsed.rows[0].as_of == date(2026, 11, 30)
    problems = [(p.line, p.message.split(" ")[0]) for p in parsed.problems]
    assert problems == [(6, "cid"), (7, "status"), (8, "as_of"), (9, "CID002763")]
    assert "listed twice (first on line 2)" in parsed.problems[-1].message


@pytest.mark.parametrize(("text", "message"), [("", "empty"),
                                               ("cid,state\n", "missing column")])
def test_rmap_status_file_errors(text: str, message: str) -> None:
    with pytest.raises(StatusFileError, match=message):
        parse_rmap_status(text)
