"""Filled-in CMRTs made from the real RMI blank: ``fill_cmrt(blank, filing) -> bytes``.

A ``Filing`` is what a supplier declares (company block, per-metal answers to questions 1-8,
company-level answers A-H, smelters, products). ``fill_cmrt`` writes it into an official
CMRT 6.x blank with ``patch.patch_workbook`` (no load-and-save: RMI's drawings, validations
and formulas stay), the way a non-computing tool would save it: no cached formula results,
``fullCalcOnLoad`` set, so Excel and LibreOffice recalculate on opening and our validator
resolves the Smelter List from its Look-up (FORMAT.md §2.2).

Cells are those of ``layout.CMRT6`` (company block, question rows, company questions).
Smelter rows picked by CID get only column A: the template's own B/C formulas fill in the
metal and name from the Look-up, as when a supplier types a CID (Option A of the Smelter
List). Rows picked by name get B (metal) and C (the Look-up name); "Smelter not listed"
rows get B, C, D (name) and E (country). The test data's RMI Checker, recalculated by
LibreOffice, counts 0 missing on a complete filing (tests/test_cmrt_fill.py).

``sample_filing`` makes a realistic, varied, complete filing from a seeded ``Random``;
``flawed`` turns one into a filing with one defect the validator rejects, and says which
finding it must give. Both are deterministic per seed, and so is ``fill_cmrt``'s output.

Speed: the blank is prepared once per process (cached values stripped, look-up read);
each fill then patches only the Declaration, Smelter List and Product List parts and copies
every other zip member compressed as it is — about 55 ms per file (CMRT 6.5) instead of
about 300 ms for a plain ``patch_workbook`` of the whole package; the first fill of a blank
costs about 0.5 s more.

Limitations: CMRT 6.x only (EMRT blanks raise ``ValueError``); comments (column G of the
Declaration, K-Q of the Smelter List) are not written; the one row CMRT 6.4's blank ships
pre-filled is emptied, but its column F (a typed number in the blank) stays empty.
"""

from __future__ import annotations

import datetime as dt
import io
import random
import re
import struct
import zipfile
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from enum import StrEnum
from functools import lru_cache

from outreach.cmrt.checker import DECLARATION, LOOKUP, PRODUCT_LIST, SMELTER_LIST, text
from outreach.cmrt.identify import identify
from outreach.cmrt.layout import CMRT6
from outreach.cmrt.patch import Formula, PatchValue, patch_workbook
from outreach.cmrt.reference import CID_PATTERN, PSEUDO_NAMES
from outreach.cmrt.workbook import load_workbook_bytes

__all__ = [
    "COMPANY_QUESTIONS", "METALS", "Defect", "Filing", "Flaw", "LookupEntry", "MetalUse",
    "SmelterPick", "filing_edits", "fill_cmrt", "flawed", "sample_filing", "smelter_lookup",
]

METALS: tuple[str, ...] = CMRT6.metals or ()
SCOPE_COMPANY = "A. Company"
SCOPE_PRODUCT = "B. Product (or List of Products)"
SCOPE_USER = "C. User defined [Specify in 'Description of scope']"
SURVEY_CMRT = "Yes, in conformance with IPC1755 (e.g., CMRT)"
NOT_LISTED = "Smelter not listed"
#: company-level answers A-H: a policy (not published, so B needs no URL), audited smelters
#: required, due diligence, CMRT survey, review, corrective action, no SEC/EU filing
COMPANY_QUESTIONS: tuple[str, ...] = ("Yes", "No", "Yes", "Yes", SURVEY_CMRT, "Yes", "Yes",
                                      "No")
UNKNOWN_CID = "CID999999"
FIRST_SMELTER_ROW = 5
FIRST_PRODUCT_ROW = 6


# --------------------------------------------------------------------------- what is declared


@dataclass(frozen=True)
class MetalUse:
    """One metal's answers to questions 1-8 ("" = left blank).

    Questions 3-8 count only when Q1 and Q2 are "Yes" (the metal is in scope); for any other
    metal they should stay blank, as the template's lists leave them.
    """

    metal: str
    answers: tuple[str, ...]  # Q1..Q8

    @classmethod
    def in_scope(cls, metal: str, q3: str = "No", q4: str = "No", q5: str = "No",
                 q6: str = "Greater than 90%", q7: str = "Yes", q8: str = "Yes") -> MetalUse:
        return cls(metal, ("Yes", "Yes", q3, q4, q5, q6, q7, q8))

    @classmethod
    def not_used(cls, metal: str) -> MetalUse:
        """Q1 "No": not intentionally added or used."""
        return cls(metal, ("No", "", "", "", "", "", "", ""))

    @classmethod
    def not_remaining(cls, metal: str) -> MetalUse:
        """Q1 "Yes", Q2 "No": used in production, none remains in the product."""
        return cls(metal, ("Yes", "No", "", "", "", "", "", ""))

    @property
    def declared(self) -> bool:
        return self.answers[0] == "Yes" and self.answers[1] == "Yes"


@dataclass(frozen=True)
class SmelterPick:
    """One Smelter List row: by ``cid`` (column A), by Look-up ``name`` (B, C), or, with
    ``not_listed``, a smelter the Look-up lacks (``name`` in D, ``country`` in E)."""

    metal: str
    cid: str = ""
    name: str = ""
    country: str = ""
    not_listed: bool = False


@dataclass(frozen=True)
class Filing:
    company_name: str
    contact_name: str
    contact_email: str
    contact_phone: str
    authorizer_name: str
    authorizer_title: str
    authorizer_email: str
    authorizer_phone: str
    effective_date: dt.date | None
    metals: tuple[MetalUse, ...] = tuple(MetalUse.not_used(m) for m in METALS)
    scope: str = SCOPE_COMPANY
    scope_description: str = ""
    company_id: str = ""
    company_id_authority: str = ""
    address: str = ""
    #: answers to the company-level questions A-H ("" = blank); B "Yes" wants ``policy_url``
    company_answers: tuple[str, ...] = COMPANY_QUESTIONS
    policy_url: str = ""
    smelters: tuple[SmelterPick, ...] = ()
    products: tuple[tuple[str, str], ...] = ()  # (number, name)
    language: str = "English"

    def metal(self, name: str) -> MetalUse:
        return next(m for m in self.metals if m.metal == name)


@dataclass(frozen=True)
class LookupEntry:
    """One row of a template's ``Smelter Look-up`` sheet (one per alias)."""

    metal: str
    name: str  # column B, what the Smelter List's column C offers
    standard_name: str
    country: str
    cid: str  # "" for the pseudo-entries "Smelter not listed" / "not yet identified"


Lookup = Mapping[str, Sequence[LookupEntry]]


# --------------------------------------------------------------------------- the blank


@dataclass(frozen=True)
class _Sheet:
    """One sheet part of the prepared blank, indexed for cutting it after a row."""

    member: str
    xml: str
    data_end: int  # where ``</sheetData>`` starts
    rows: tuple[tuple[int, int], ...]  # (row number, offset of its <row>), in order
    shared: tuple[tuple[int, int], ...]  # (first row, last row) of each shared formula


@dataclass(frozen=True)
class _Blank:
    version_key: tuple[int, ...]
    #: the blank without cached values, fullCalcOnLoad set, no calculation chain
    prepared: bytes
    #: the package parts patch_workbook reads besides the sheets
    parts: tuple[tuple[str, bytes], ...]
    sheets: dict[str, _Sheet]
    lookup: dict[str, list[LookupEntry]]
    #: Smelter List rows the blank already fills (CMRT 6.4 ships one Tin row)
    prefilled_rows: tuple[int, ...]
    #: cells of B/C that hold the template's look-up formula
    formulas: frozenset[str]


def smelter_lookup(blank: bytes) -> dict[str, list[LookupEntry]]:
    """The template's own Smelter Look-up, metal → entries in sheet order."""
    return _prepare(blank).lookup


@lru_cache(maxsize=16)
def _prepare(blank: bytes) -> _Blank:
    wb = load_workbook_bytes(blank)
    template = identify(wb)
    if template is None or template.family != "CMRT" or template.version_key[:1] != (6,):
        found = f"{template.family} {template.version}" if template else "not an RMI template"
        raise ValueError(f"fill_cmrt needs a CMRT 6.x blank ({found})")
    lookup: dict[str, list[LookupEntry]] = {}
    for _, row in wb.sheet(LOOKUP).rows(5):
        cells = [text(v) for v in (*row[:5], *[None] * (5 - len(row[:5])))]
        if cells[0] and cells[1]:
            cid = cells[4].upper() if CID_PATTERN.match(cells[4].upper()) else ""
            lookup.setdefault(cells[0], []).append(
                LookupEntry(cells[0], cells[1], cells[2], cells[3], cid))
    prefilled = tuple(number for number, row in wb.sheet(SMELTER_LIST).rows(5, 2504)
                      if any(text(v) for v in row[:5]))
    formulas = wb.formulas(SMELTER_LIST) or frozenset()
    prepared = patch_workbook(blank, {})
    with zipfile.ZipFile(io.BytesIO(prepared)) as archive:
        members = _sheet_members(archive)
        sheets = {name: _index(member, archive.read(member).decode("utf-8"))
                  for name, member in members.items()}
        needed = {"[content_types].xml", "_rels/.rels", "xl/workbook.xml",
                  "xl/_rels/workbook.xml.rels"}
        parts = tuple((info.filename, archive.read(info)) for info in archive.infolist()
                      if info.filename.lower() in needed)
    return _Blank(template.version_key, prepared, parts, sheets, lookup, prefilled,
                  frozenset(c for c in formulas if c[:1] in "BC"))


_ROW = re.compile(r'<row\b[^>]*?\br="(\d+)"')
_SHARED = re.compile(
    r'<f\b(?=[^>]*\bt="shared")[^>]*\bref="\$?[A-Z]+\$?(\d+)(?::\$?[A-Z]+\$?(\d+))?"')


def _index(member: str, xml: str) -> _Sheet:
    end = xml.rfind("</sheetData>")
    if end < 0 or "<sheetData" not in xml:
        raise ValueError(f"{member}: not a worksheet the fill can cut (no plain <sheetData>)")
    rows = tuple((int(m.group(1)), m.start()) for m in _ROW.finditer(xml, 0, end))
    shared = tuple((int(m.group(1)), int(m.group(2) or m.group(1)))
                   for m in _SHARED.finditer(xml, 0, end))
    return _Sheet(member, xml, end, rows, shared)


def _cut(sheet: _Sheet, last_row: int) -> tuple[str, str]:
    """The sheet without its rows after ``last_row`` (and after any shared formula group
    starting at or before it, which an edit could unshare), and those rows' XML."""
    cut = last_row
    while True:
        reach = max((bottom for top, bottom in sheet.shared if top <= cut), default=cut)
        if reach <= cut:
            break
        cut = reach
    position = next((offset for number, offset in sheet.rows if number > cut), sheet.data_end)
    return (sheet.xml[:position] + sheet.xml[sheet.data_end:],
            sheet.xml[position:sheet.data_end])


def _sheet_members(archive: zipfile.ZipFile) -> dict[str, str]:
    """Zip member names of the sheets a fill edits, through workbook.xml and its rels."""
    workbook = archive.read("xl/workbook.xml").decode("utf-8")
    rels = archive.read("xl/_rels/workbook.xml.rels").decode("utf-8")
    targets: dict[str, str] = {}
    for element in re.findall(r"<Relationship\b[^>]*>", rels):
        rid, target = re.search(r'\bId="([^"]+)"', element), re.search(r'\bTarget="([^"]+)"',
                                                                         element)
        if rid and target:
            targets[rid.group(1)] = target.group(1)
    found: dict[str, str] = {}
    names = {info.filename.lower(): info.filename for info in archive.infolist()}
    for element in re.findall(r"<sheet\b[^>]*>", workbook):
        name, rid = re.search(r'\bname="([^"]+)"', element), re.search(r'\br:id="([^"]+)"',
                                                                         element)
        if name and rid and name.group(1) in (DECLARATION, SMELTER_LIST, PRODUCT_LIST):
            target = targets.get(rid.group(1), "").lstrip("/")
            member = names.get((target if target.startswith("xl/") else f"xl/{target}").lower())
            if member:
                found[name.group(1)] = member
    if len(found) != 3:
        raise ValueError("the blank lacks the Declaration, Smelter List or Product List part")
    return found


# --------------------------------------------------------------------------- filling


def fill_cmrt(blank: bytes, filing: Filing) -> bytes:
    """``blank`` (an RMI CMRT 6.x .xlsx) with ``filing`` written in; deterministic.

    Only the rows an edit touches are handed to ``patch_workbook`` (each sheet is cut after
    them and put together again), and every untouched zip member is copied compressed as it
    is, so a fill costs a fraction of patching the whole package.
    """
    prepared = _prepare(blank)
    edits = _edits(filing, prepared)
    rests: dict[str, str] = {}
    mini = io.BytesIO()
    with zipfile.ZipFile(mini, "w", zipfile.ZIP_STORED) as archive:
        for name, content in prepared.parts:
            archive.writestr(zipfile.ZipInfo(name), content)
        for sheet_name, cells in edits.items():
            sheet = prepared.sheets[sheet_name]
            last = max(int(re.sub(r"^[A-Z]+", "", ref)) for ref in cells)
            kept, rests[sheet.member] = _cut(sheet, last)
            archive.writestr(zipfile.ZipInfo(sheet.member), kept.encode("utf-8"))
    patched = patch_workbook(mini.getvalue(), edits, drop_cached_values=False)
    replaced: dict[str, bytes] = {}
    with zipfile.ZipFile(io.BytesIO(patched)) as archive:
        for name, content in prepared.parts:
            if archive.read(name) != content:
                raise ValueError(f"patching the blank changed {name}")  # pragma: no cover
        for member, rest in rests.items():
            xml = archive.read(member).decode("utf-8")
            end = xml.rfind("</sheetData>")
            replaced[member] = (xml[:end] + rest + xml[end:]).encode("utf-8")
    return _splice(prepared.prepared, replaced)


def filing_edits(blank: bytes, filing: Filing) -> dict[str, dict[str, PatchValue]]:
    """The cell edits ``fill_cmrt`` makes ({sheet: {cell: value}}), for ``patch_workbook``."""
    return _edits(filing, _prepare(blank))


def _edits(filing: Filing, blank: _Blank) -> dict[str, dict[str, PatchValue]]:
    cells = CMRT6.company
    declaration: dict[str, PatchValue] = {
        "D3": filing.language or None,
        cells.name: filing.company_name or None,
        cells.scope: filing.scope or None,
        cells.scope_description: filing.scope_description or None,
        cells.unique_id: filing.company_id or None,
        cells.unique_id_authority: filing.company_id_authority or None,
        cells.address: filing.address or None,
        cells.contact_name: filing.contact_name or None,
        cells.contact_email: filing.contact_email or None,
        cells.contact_phone: filing.contact_phone or None,
        cells.authorizer: filing.authorizer_name or None,
        cells.authorizer_title: filing.authorizer_title or None,
        cells.authorizer_email: filing.authorizer_email or None,
        cells.authorizer_phone: filing.authorizer_phone or None,
        cells.effective_date: filing.effective_date,
    }
    numeric_100 = blank.version_key < (6, 3, 1)  # 6.01-6.22 list "100%" as the number 1
    by_metal = {use.metal: use for use in filing.metals}
    for index, metal in enumerate(METALS):
        use = by_metal.get(metal)
        for question in CMRT6.questions:
            answer = use.answers[question.number - 1] if use else ""
            value: PatchValue = answer or None
            if answer == "100%" and numeric_100:
                value = 1
            declaration[f"D{question.first_row + index}"] = value
    for number, question in enumerate(CMRT6.company_questions):
        answer = filing.company_answers[number] if number < len(filing.company_answers) else ""
        declaration[question.cell] = answer or None
        declaration[question.comment_cell] = None
    url_cell = next(q for q in CMRT6.company_questions if q.letter == CMRT6.url_question)
    declaration[url_cell.comment_cell] = filing.policy_url or None
    smelters: dict[str, PatchValue] = {}
    for row in blank.prefilled_rows:  # back to an empty row of the template
        smelters.update({f"A{row}": None, f"D{row}": None, f"F{row}": None,
                         f"B{row}": _lookup_formula(row, "A"),
                         f"C{row}": _lookup_formula(row, "C")})
    for row, pick in enumerate(filing.smelters, FIRST_SMELTER_ROW):
        if pick.cid and not pick.not_listed:
            smelters[f"A{row}"] = pick.cid
            for column, source in (("B", "A"), ("C", "C")):
                if f"{column}{row}" not in blank.formulas:
                    smelters[f"{column}{row}"] = _lookup_formula(row, source)
        else:
            smelters[f"A{row}"] = None
            smelters[f"B{row}"] = pick.metal
            smelters[f"C{row}"] = NOT_LISTED if pick.not_listed else pick.name
            if pick.not_listed:
                smelters[f"D{row}"] = pick.name or None
                smelters[f"E{row}"] = pick.country or None
    products: dict[str, PatchValue] = {}
    for row, (number, name) in enumerate(filing.products, FIRST_PRODUCT_ROW):
        products[f"B{row}"] = number or None
        products[f"C{row}"] = name or None
    edits: dict[str, dict[str, PatchValue]] = {DECLARATION: declaration}
    if smelters:
        edits[SMELTER_LIST] = smelters
    if products:
        edits[PRODUCT_LIST] = products
    return edits


def _lookup_formula(row: int, column: str) -> Formula:
    """The template's own B/C formula of a Smelter List row (metal / name from column A)."""
    return Formula(f"IF(LEN(A{row})=0,\"\",INDEX('Smelter Look-up'!${column}:${column},"
                   f"MATCH($A{row},'Smelter Look-up'!$E:$E,0)))")


# --------------------------------------------------------------------------- zip splicing

_LOCAL = struct.Struct("<IHHHHHIIIHH")
_CENTRAL = struct.Struct("<IHHHHHHIIIHHHHHII")
_END = struct.Struct("<IHHHHIIH")
_UTF8_NAME = 0x800


def _splice(package: bytes, replaced: Mapping[str, bytes]) -> bytes:
    """``package`` with some members' content replaced (deflated at level 1, which is fast
    and about as small on sheet XML); every other member's compressed bytes are copied."""
    with zipfile.ZipFile(io.BytesIO(package)) as archive:
        infos = archive.infolist()
    body = bytearray()
    directory = bytearray()
    for info in infos:
        name = info.filename.encode("utf-8")
        if info.filename in replaced:
            content = replaced[info.filename]
            squeezer = zlib.compressobj(1, zlib.DEFLATED, -15)
            payload: bytes | memoryview = squeezer.compress(content) + squeezer.flush()
            method, crc, size = zipfile.ZIP_DEFLATED, zlib.crc32(content), len(content)
        else:
            start = _data_start(package, info)
            payload = memoryview(package)[start:start + info.compress_size]
            method, crc, size = info.compress_type, info.CRC, info.file_size
        year, month, day, hour, minute, second = info.date_time
        dos_time = hour << 11 | minute << 5 | second // 2
        dos_date = (year - 1980) << 9 | month << 5 | day
        offset = len(body)
        body += _LOCAL.pack(0x04034B50, 20, _UTF8_NAME, method, dos_time, dos_date, crc,
                            len(payload), size, len(name), 0)
        body += name
        body += payload
        directory += _CENTRAL.pack(0x02014B50, 20, 20, _UTF8_NAME, method, dos_time, dos_date,
                                   crc, len(payload), size, len(name), 0, 0, 0, 0,
                                   info.external_attr, offset)
        directory += name
    end = _END.pack(0x06054B50, 0, 0, len(infos), len(infos), len(directory), len(body), 0)
    return bytes(body + directory + end)


def _data_start(package: bytes, info: zipfile.ZipInfo) -> int:
    header = _LOCAL.unpack_from(package, info.header_offset)
    return info.header_offset + _LOCAL.size + header[9] + header[10]


# --------------------------------------------------------------------------- samples

_FIRST = ("Anna", "Jonas", "Mei", "Hiroshi", "Priya", "Carlos", "Sofia", "Lukas", "Emma",
          "Wei", "Olga", "Mateo", "Yuki", "Fatima", "Noah", "Ingrid", "Ravi", "Chloé")
_LAST = ("Schmidt", "Chen", "Tanaka", "Sharma", "García", "Novak", "Müller", "Kowalski",
         "Rossi", "Larsen", "Kim", "Dubois", "Okafor", "Silva", "Nguyen", "Berg")
_WORDS = ("Precision", "Nordic", "Pacific", "Delta", "Apex", "Summit", "Orion", "Vector",
          "Harbor", "Crystal", "Meridian", "Atlas", "Falcon", "Granite", "Lumen", "Helix")
_TRADES = ("Electronics", "Components", "Connectors", "Metals", "Circuits", "Plating",
           "Cable", "Devices", "Magnetics", "Solder", "Assemblies", "Sensors")
_LEGAL = ("GmbH", "Ltd.", "Inc.", "Co., Ltd.", "S.A.", "AB", "K.K.", "s.r.o.", "LLC", "B.V.")
_CITIES = (("Stuttgart", "Germany", "+49 711"), ("Shenzhen", "China", "+86 755"),
           ("Osaka", "Japan", "+81 6"), ("Austin, TX", "USA", "+1 512"),
           ("Brno", "Czech Republic", "+420 5"), ("Penang", "Malaysia", "+60 4"),
           ("Eindhoven", "Netherlands", "+31 40"), ("Pune", "India", "+91 20"))
_TITLES = ("CEO", "Managing Director", "VP Quality", "Head of Compliance",
           "Director Supply Chain", "General Counsel", "COO")
_PRODUCTS = ("Connector", "Relay", "Capacitor", "Sensor module", "Cable harness", "PCB assembly",
             "Solder paste", "Power supply")
_STANDALONE = ("GERMANY", "CHINA", "JAPAN", "MALAYSIA", "INDONESIA", "BRAZIL")
_PERCENT = ("100%", "Greater than 90%", "Greater than 75%", "Greater than 50%",
            "50% or less", "None")
_FILING_H = ("No", "Yes, with the SEC", "Yes, with the EU", "Yes, with the SEC and the EU")


def sample_filing(
    rng: random.Random,
    lookup: Lookup,
    *,
    company_name: str | None = None,
    contact_email: str | None = None,
    dated_between: tuple[dt.date, dt.date] = (dt.date(2025, 1, 1), dt.date(2026, 3, 31)),
    smelter_rows: tuple[int, int] = (3, 40),
) -> Filing:
    """A complete, realistic filing: 1-4 metals in scope, ``smelter_rows`` rows picked from
    ``lookup`` (mostly by CID, some by name, now and then one "Smelter not listed"), a
    company, people and a date in ``dated_between``. The default dates are neither stale
    nor in the future for reporting year 2026 (``core.reporting_period``)."""
    first, last = rng.choice(_FIRST), rng.choice(_LAST)
    boss_first, boss_last = rng.choice(_FIRST), rng.choice(_LAST)
    name = company_name or (f"{rng.choice(_WORDS)} {rng.choice(_TRADES)} "
                            f"{rng.choice(_LEGAL)}")
    domain = "".join(ch for ch in name.split()[0].lower() if ch.isalnum()) + "-" + \
        f"{rng.randrange(10, 100)}.example"
    city, country, dial = rng.choice(_CITIES)
    available = [m for m in METALS if any(e.cid for e in lookup.get(m, ()))]
    declared = set(rng.sample(available, rng.randint(1, len(available))))
    metals = tuple(_metal_use(rng, metal, metal in declared) for metal in METALS)
    smelters = _picks(rng, lookup, sorted(declared, key=METALS.index), smelter_rows)
    scope = rng.choices((SCOPE_COMPANY, SCOPE_PRODUCT, SCOPE_USER), (6, 3, 1))[0]
    products = tuple((f"{rng.choice('ABCDEFGHKMNPRSTX')}{rng.randrange(1000, 99999)}-"
                      f"{rng.randrange(10, 99)}", f"{rng.choice(_PRODUCTS)} {rng.choice(_WORDS)} "
                      f"{rng.randrange(1, 40)}")
                     for _ in range(rng.randint(1, 6) if scope == SCOPE_PRODUCT else 0))
    public_policy = rng.random() < 0.7
    company = ["Yes" if rng.random() < 0.85 else "No" for _ in range(8)]
    company[1] = "Yes" if public_policy else "No"
    company[4] = SURVEY_CMRT if rng.random() < 0.9 else "No"
    company[7] = rng.choice(_FILING_H)
    start, end = dated_between
    return Filing(
        company_name=name,
        contact_name=f"{first} {last}",
        contact_email=contact_email or f"{_ascii(first)}.{_ascii(last)}@{domain}",
        contact_phone=f"{dial} {rng.randrange(100000, 9999999)}",
        authorizer_name=f"{boss_first} {boss_last}",
        authorizer_title=rng.choice(_TITLES),
        authorizer_email=f"{_ascii(boss_first)}.{_ascii(boss_last)}@{domain}",
        authorizer_phone=f"{dial} {rng.randrange(100000, 9999999)}" if rng.random() < 0.6
        else "",
        effective_date=start + dt.timedelta(days=rng.randrange((end - start).days + 1)),
        metals=metals,
        scope=scope,
        scope_description=(f"All {rng.choice(_TRADES).lower()} shipped from {city}"
                           if scope == SCOPE_USER else ""),
        company_id=str(rng.randrange(100_000_000, 999_999_999)) if rng.random() < 0.5 else "",
        company_id_authority="DUNS" if rng.random() < 0.5 else "",
        address=f"{rng.randrange(1, 200)} {rng.choice(_WORDS)} Road, {city}, {country}",
        company_answers=tuple(company),
        policy_url=f"https://www.{domain}/responsible-minerals" if public_policy else "",
        smelters=smelters,
        products=products,
    )


def _metal_use(rng: random.Random, metal: str, declared: bool) -> MetalUse:
    if not declared:
        return MetalUse.not_used(metal) if rng.random() < 0.7 else MetalUse.not_remaining(metal)
    risky = ("No", "No", "No", "Unknown", "Yes")
    return MetalUse.in_scope(
        metal, q3=rng.choice(risky), q4=rng.choice(risky), q5=rng.choice(("No", "No", "Unknown")),
        q6=rng.choice(_PERCENT), q7=rng.choice(("Yes", "Yes", "No")),
        q8=rng.choice(("Yes", "Yes", "No")))


def _picks(rng: random.Random, lookup: Lookup, metals: list[str],
           rows: tuple[int, int]) -> tuple[SmelterPick, ...]:
    by_cid = {metal: sorted({e.cid for e in lookup[metal] if e.cid}) for metal in metals}
    room = sum(len(cids) for cids in by_cid.values())
    total = min(max(rng.randint(*rows), len(metals)), room)
    unlisted = total > len(metals) and rng.random() < 0.15
    total -= unlisted
    share = {metal: 1 for metal in metals}
    for metal in rng.choices(metals, [len(by_cid[m]) for m in metals], k=total - len(metals)):
        if share[metal] < len(by_cid[metal]):
            share[metal] += 1
    picks: list[SmelterPick] = []
    for metal in metals:
        for cid in rng.sample(by_cid[metal], share[metal]):
            if rng.random() < 0.2:  # chosen by name in column C instead of the CID
                aliases = [e.name for e in lookup[metal] if e.cid == cid
                           and e.name.casefold() not in PSEUDO_NAMES]
                picks.append(SmelterPick(metal, name=rng.choice(aliases)))
            else:
                picks.append(SmelterPick(metal, cid=cid))
    if unlisted:
        metal = rng.choice(metals)
        picks.append(SmelterPick(metal, name=f"{rng.choice(_WORDS)} {metal} Refining Co.",
                                 country=rng.choice(_STANDALONE), not_listed=True))
    rng.shuffle(picks)
    return tuple(picks)


def _ascii(name: str) -> str:
    return name.lower().translate(str.maketrans("éüíáóç", "euiaoc"))


# --------------------------------------------------------------------------- defects


class Defect(StrEnum):
    NO_COMPANY_NAME = "no_company_name"
    NO_AUTHORIZER = "no_authorizer"
    CONTACT_EMAIL_WITHOUT_AT = "contact_email_without_at"
    AUTHORIZER_EMAIL_WITHOUT_AT = "authorizer_email_without_at"
    NO_EFFECTIVE_DATE = "no_effective_date"
    BLANK_ANSWER = "blank_answer"  # one of Q3-Q8 of a declared metal left blank
    NO_SMELTERS = "no_smelters"  # a declared metal without any Smelter List row
    UNKNOWN_CID = "unknown_cid"  # a CID the template's Look-up does not have


@dataclass(frozen=True)
class Flaw:
    """A filing with one defect, and the finding the validator must give for it."""

    defect: Defect
    filing: Filing
    code: str
    sheet: str
    cell: str


def flawed(filing: Filing, rng: random.Random, defect: Defect | None = None) -> Flaw:
    """``filing`` with ``defect`` (a random one when None) that makes it ``rejected``."""
    chosen = defect or rng.choice(list(Defect))
    cells = CMRT6.company
    company = {
        Defect.NO_COMPANY_NAME: ("company_name", cells.name),
        Defect.NO_AUTHORIZER: ("authorizer_name", cells.authorizer),
        Defect.NO_EFFECTIVE_DATE: ("effective_date", cells.effective_date),
    }
    if chosen in company:
        attribute, cell = company[chosen]
        broken = replace(filing, **{attribute: None if attribute == "effective_date" else ""})
        return Flaw(chosen, broken, "required_missing", DECLARATION, cell)
    if chosen in (Defect.CONTACT_EMAIL_WITHOUT_AT, Defect.AUTHORIZER_EMAIL_WITHOUT_AT):
        contact = chosen == Defect.CONTACT_EMAIL_WITHOUT_AT
        attribute = "contact_email" if contact else "authorizer_email"
        address = getattr(filing, attribute) or "someone@example.com"
        broken = replace(filing, **{attribute: address.replace("@", rng.choice((" at ", ".")))})
        cell = cells.contact_email if contact else cells.authorizer_email
        return Flaw(chosen, broken, "required_missing", DECLARATION, cell)
    declared = [m for m in filing.metals if m.declared]
    if not declared:
        raise ValueError(f"{chosen}: the filing declares no metal in scope")
    use = rng.choice(declared)
    index = METALS.index(use.metal)
    if chosen == Defect.BLANK_ANSWER:
        number = rng.randrange(3, 9)
        answers = tuple("" if i == number - 1 else a for i, a in enumerate(use.answers))
        metals = tuple(replace(m, answers=answers) if m is use else m for m in filing.metals)
        cell = f"D{CMRT6.question(number).first_row + index}"
        return Flaw(chosen, replace(filing, metals=metals), "required_missing", DECLARATION,
                    cell)
    if chosen == Defect.NO_SMELTERS:
        kept = tuple(p for p in filing.smelters if p.metal != use.metal)
        return Flaw(chosen, replace(filing, smelters=kept), "required_missing", SMELTER_LIST,
                    "B5")
    row = rng.randrange(len(filing.smelters) + 1)
    picks = list(filing.smelters)
    picks.insert(row, SmelterPick(use.metal, cid=UNKNOWN_CID))
    return Flaw(chosen, replace(filing, smelters=tuple(picks)), "smelter_id_not_in_template",
                SMELTER_LIST, f"A{FIRST_SMELTER_ROW + row}")

