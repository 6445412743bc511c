"""The red-flag list parser and matcher (pure)."""

from __future__ import annotations

from pathlib import Path

import pytest

from outreach.cmrt.redflags import (
    RedFlag,
    RedFlagFileError,
    RedFlagLists,
    parse_red_flags,
    read_red_flags,
)

HEADER = "list,cid,name,country,reason"


def _parse(*lines: str, header: str = HEADER):
    return parse_red_flags("\n".join([header, *lines]) + "\n")


def test_rows_by_cid_by_name_and_both() -> None:
    parsed = _parse(
        "OFAC SDN,cid001234,,,sanctioned 2025-06",
        'Watch list,,"  Foo   Metals ",Russian Federation,adverse media',
        "Watch list,CID000999,Bar Smelting,,owner sanctioned",
    )
    assert parsed.problems == ()
    assert parsed.entries == (
        RedFlag("OFAC SDN", "sanctioned 2025-06", cid="CID001234"),
        RedFlag("Watch list", "adverse media", name="Foo Metals", country="Russian Federation"),
        RedFlag("Watch list", "owner sanctioned", cid="CID000999", name="Bar Smelting"),
    )


def test_columns_in_any_order_any_case_and_optional_columns_absent() -> None:
    parsed = parse_red_flags("\ufeffReason,CID,List\nsanctioned,CID001234,OFAC SDN\n")
    assert parsed.entries == (RedFlag("OFAC SDN", "sanctioned", cid="CID001234"),)
    by_name = parse_red_flags("list_name,Name,reason\nEU,Foo,why\n")
    assert by_name.entries == (RedFlag("EU", "why", name="Foo"),)


@pytest.mark.parametrize(
    ("line", "message"),
    [
        (",CID001234,,,why", "list is empty"),
        ("OFAC,CID001234,,,", "reason is empty"),
        ("OFAC,,,Russia,why", "neither cid nor name"),
        ("OFAC,CID12,,,why", "cid 'CID12' is not a smelter ID"),
        ("OFAC,1234,Foo,,why", "cid '1234' is not a smelter ID"),
    ],
)
def test_bad_rows_are_reported_by_line_and_left_out(line: str, message: str) -> None:
    parsed = _parse("OFAC,CID000001,,,fine", line, "OFAC,CID000002,,,fine too")
    assert [e.cid for e in parsed.entries] == ["CID000001", "CID000002"]
    assert [p.line for p in parsed.problems] == [3]
    assert message in parsed.problems[0].message


def test_an_entry_listed_twice_is_a_problem_on_the_second_line() -> None:
    parsed = _parse(
        "OFAC,CID001234,,,first",
        "",
        "ofac,cid001234,,,second",         # same list, same smelter: different case only
        "EU,CID001234,,,another list",     # another list may name it too
        "OFAC,,Foo  Metals,russia,x",
        "OFAC,,foo metals,Russia,y",
        "OFAC,,foo metals,China,z",        # another country is another entry
    )
    assert [(p.line, p.message) for p in parsed.problems] == [
        (4, "CID001234 is listed twice in 'ofac' (first on line 2)"),
        (7, "'foo metals' (Russia) is listed twice in 'OFAC' (first on line 6)"),
    ]
    assert [e.reason for e in parsed.entries] == ["first", "another list", "x", "z"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "the file is empty"),
        ("list,cid,name\nOFAC,CID001234,\n", "missing column(s) reason"),
        ("list,country,reason\nOFAC,CN,x\n", "missing column(s) cid or name"),
        ("cid,status,as_of\nCID001234,active,2026-01-01\n",
         "missing column(s) list, reason; expected list,cid,name,country,reason, found cid"),
    ],
)
def test_a_file_without_the_columns_is_refused_whole(text: str, message: str) -> None:
    with pytest.raises(RedFlagFileError) as caught:
        parse_red_flags(text)
    assert message in str(caught.value)


def test_read_refuses_non_utf8(tmp_path: Path) -> None:
    path = tmp_path / "flags.csv"
    path.write_bytes(f"{HEADER}\nOFAC,,Fundición Süd,,x\n".encode("cp1252"))
    with pytest.raises(RedFlagFileError, match="not UTF-8"):
        read_red_flags(path)
    path.write_text(f"{HEADER}\nOFAC,,Fundición Süd,,x\n", encoding="utf-8-sig")
    assert read_red_flags(path).entries[0].name == "Fundición Süd"


@pytest.fixture
def lists() -> RedFlagLists:
    return RedFlagLists((
        RedFlag("OFAC SDN", "sanctioned", cid="CID001234"),
        RedFlag("Watch", "media", name="Foo Metals", country="Russian Federation"),
        RedFlag("Watch", "owner", cid="CID000999", name="Bar Smelting"),
        RedFlag("EU", "listed", cid="cid001234"),
    ))


def test_cid_matches_exactly_in_any_case(lists: RedFlagLists) -> None:
    assert [f.list_name for f in lists.flags_for(" cid001234 ", None)] == ["OFAC SDN", "EU"]
    assert lists.flags_for("CID00123", None) == ()
    assert lists.flags_for("CID0012345", None) == ()
    assert lists.flags_for(None, None) == ()
    assert lists.flags_for("", "") == ()


def test_name_matches_in_any_case_and_spacing_when_the_country_agrees(
        lists: RedFlagLists) -> None:
    hit = lists.flags_for(None, "  foo   METALS", "russian  federation")
    assert [f.reason for f in hit] == ["media"]
    assert lists.flags_for(None, "Foo Metals", "China") == ()
    assert lists.flags_for(None, "Foo Metals") == ()  # the entry names a country
    assert lists.flags_for(None, "Foo Metal", "Russian Federation") == ()
    # an entry without a country matches the name in any country
    assert [f.reason for f in lists.flags_for(None, "bar smelting", "PERU")] == ["owner"]


def test_cid_or_name_each_match_once_in_list_order(lists: RedFlagLists) -> None:
    both = lists.flags_for("CID000999", "Bar Smelting")
    assert [f.reason for f in both] == ["owner"]
    mixed = lists.flags_for("CID001234", "Bar Smelting")
    assert [f.reason for f in mixed] == ["sanctioned", "owner", "listed"]


class _NoScan(tuple):
    """Entries that refuse to be iterated once armed: a look-up must use the indexes."""

    armed = False

    def __iter__(self):
        if self.armed:
            raise AssertionError("flags_for scanned the entries")
        return super().__iter__()


def test_lookups_use_the_indexes_built_once(lists: RedFlagLists) -> None:
    entries = _NoScan(lists.entries)
    indexed = RedFlagLists(entries)
    entries.armed = True
    assert [f.reason for f in indexed.flags_for("CID001234", "foo metals",
                                                 "Russian Federation")] == [
        "sanctioned", "media", "listed"]
    assert indexed.flags_for("CID000000", "nobody") == ()
    assert len(indexed) == 4
    assert RedFlagLists(()).flags_for("CID001234", "x", "y") == ()
