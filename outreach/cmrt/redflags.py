"""Red-flag lists: smelters the company must look at twice (sanctions, known risks).

The compliance team imports them as a CSV with a header row (layout in
docs/smelter-reference.md): ``list`` (the list's name, e.g. "OFAC SDN"), ``cid``, ``name``,
``country`` and ``reason``. Each row names a smelter by CID, by name (optionally limited to a
country), or both. The validator asks ``RedFlagLists.flags_for`` once per smelter row of a
submission, so the lists are indexed once, when built.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from pathlib import Path

from outreach.cmrt.reference import CID_PATTERN

REQUIRED_COLUMNS = ("list", "reason")
OPTIONAL_COLUMNS = ("cid", "name", "country")
HEADER_HINT = "list,cid,name,country,reason"


def normalise(text: str | None) -> str:
    """A name or country for matching: case-folded, inner whitespace collapsed."""
    return " ".join((text or "").split()).casefold()


@dataclass(frozen=True)
class RedFlag:
    list_name: str
    reason: str
    cid: str | None = None
    name: str | None = None
    country: str | None = None

    @property
    def key(self) -> tuple[str, str, str, str]:
        """What makes an entry distinct: a list names a smelter once."""
        return (normalise(self.list_name), (self.cid or "").upper(), normalise(self.name),
                normalise(self.country))


@dataclass(frozen=True)
class RedFlagLists:
    """Every red-flag entry, indexed by CID and by name for O(1) look-ups."""

    entries: tuple[RedFlag, ...]
    _by_cid: dict[str, tuple[int, ...]] = field(init=False, repr=False, compare=False)
    _by_name: dict[str, tuple[int, ...]] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        by_cid: dict[str, list[int]] = {}
        by_name: dict[str, list[int]] = {}
        for i, entry in enumerate(self.entries):
            if entry.cid:
                by_cid.setdefault(entry.cid.strip().casefold(), []).append(i)
            if normalise(entry.name):
                by_name.setdefault(normalise(entry.name), []).append(i)
        object.__setattr__(self, "_by_cid", {k: tuple(v) for k, v in by_cid.items()})
        object.__setattr__(self, "_by_name", {k: tuple(v) for k, v in by_name.items()})

    def flags_for(self, cid: str | None, name: str | None,
                  country: str | None = None) -> tuple[RedFlag, ...]:
        """The entries a smelter matches: by CID (exact, any case), or by name (any case and
        spacing) when the entry names no country or the same country. In list order."""
        hits = set(self._by_cid.get((cid or "").strip().casefold(), ()))
        wanted_country = normalise(country)
        for i in self._by_name.get(normalise(name), ()):
            entry_country = normalise(self.entries[i].country)
            if not entry_country or entry_country == wanted_country:
                hits.add(i)
        return tuple(self.entries[i] for i in sorted(hits))

    def __len__(self) -> int:
        return len(self.entries)


@dataclass(frozen=True)
class RedFlagProblem:
    line: int
    message: str


@dataclass(frozen=True)
class RedFlagFile:
    entries: tuple[RedFlag, ...]
    problems: tuple[RedFlagProblem, ...]

    def lists(self) -> RedFlagLists:
        return RedFlagLists(self.entries)


class RedFlagFileError(Exception):
    """The whole red-flag file is unusable; ``str()`` says why."""


def read_red_flags(path: Path) -> RedFlagFile:
    """Read a red-flag CSV (see the module docstring)."""
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise RedFlagFileError(f"{path.name} is not UTF-8 text: save it as CSV UTF-8") from exc
    return parse_red_flags(text)


def header_columns(header: list[str]) -> list[str]:
    """Header cells as column names: stripped, case-folded, spaces and dashes as ``_``."""
    columns = [h.strip().casefold().replace(" ", "_").replace("-", "_") for h in header]
    return ["list" if c == "list_name" else c for c in columns]


def parse_red_flags(text: str) -> RedFlagFile:
    reader = csv.reader(io.StringIO(text.removeprefix("\ufeff")))
    header = next(reader, None)
    if header is None:
        raise RedFlagFileError(f"the file is empty: expected a header {HEADER_HINT}")
    columns = header_columns(header)
    missing = [c for c in REQUIRED_COLUMNS if c not in columns]
    if not {"cid", "name"} & set(columns):
        missing.append("cid or name")
    if missing:
        raise RedFlagFileError(f"missing column(s) {', '.join(missing)}; expected "
                               f"{HEADER_HINT}, found "
                               f"{', '.join(h.strip() for h in header) or 'none'}")
    at = {c: columns.index(c) for c in (*REQUIRED_COLUMNS, *OPTIONAL_COLUMNS) if c in columns}
    entries: list[RedFlag] = []
    problems: list[RedFlagProblem] = []
    seen: dict[tuple[str, str, str, str], int] = {}
    for record in reader:
        line = reader.line_num
        if not any(cell.strip() for cell in record):
            continue
        cells = {c: " ".join(record[i].split()) if i < len(record) else ""
                 for c, i in at.items()}
        entry, errors = _entry(cells)
        if entry is not None and entry.key in seen:
            errors.append(f"{_describe(entry)} is listed twice in {entry.list_name!r} "
                          f"(first on line {seen[entry.key]})")
        if errors or entry is None:
            problems.extend(RedFlagProblem(line, e) for e in errors)
            continue
        seen[entry.key] = line
        entries.append(entry)
    return RedFlagFile(tuple(entries), tuple(problems))


def _entry(cells: dict[str, str]) -> tuple[RedFlag | None, list[str]]:
    errors: list[str] = []
    list_name, reason = cells.get("list", ""), cells.get("reason", "")
    cid = cells.get("cid", "").upper() or None
    name = cells.get("name") or None
    country = cells.get("country") or None
    if not list_name:
        errors.append("list is empty: name the list the entry comes from, e.g. OFAC SDN")
    if not reason:
        errors.append("reason is empty: say why the smelter is flagged")
    if cid is None and name is None:
        errors.append("neither cid nor name is given: an entry needs one of them")
    if cid is not None and not CID_PATTERN.match(cid):
        errors.append(f"cid {cells['cid']!r} is not a smelter ID like CID001234")
    if errors:
        return None, errors
    return RedFlag(list_name, reason, cid, name, country), errors


def _describe(entry: RedFlag) -> str:
    if entry.cid:
        return entry.cid
    return repr(entry.name) + (f" ({entry.country})" if entry.country else "")
