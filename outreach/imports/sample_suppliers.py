"""Deterministic, realistic example supplier files in the documented layout.

Used by ``examples/generate_suppliers.py`` and the tests: a large file that looks like a
real supplier base (many countries, scripts and spellings) is the cheapest way to prove
the reader and the import are correct and fast before a customer sends theirs. All
domains are under the reserved ``.example`` TLD, so no generated address can reach anyone.
"""

from __future__ import annotations

import csv
import random
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter

from outreach.imports.supplier_file import COLUMNS, SUPPLIERS_SHEET

__all__ = ["generate_suppliers", "write_supplier_file"]


@dataclass(frozen=True)
class _Country:
    """What a supplier in one country looks like: zones, language, names, people."""

    code: str
    zones: tuple[str, ...]
    languages: tuple[str, ...]
    stems: tuple[tuple[str, str], ...]  # (name as written, ASCII slug for the domain)
    forms: tuple[str, ...]  # legal-form patterns around "{stem}"
    people: tuple[tuple[str, str], ...]  # (display name, ASCII "first.last")
    weight: int

    def __post_init__(self) -> None:
        if len(self.people) < 3:  # _contacts draws up to three distinct people
            raise ValueError(f"{self.code}: at least three people are needed")


def _stems(
    prefixes: Iterable[tuple[str, str]], cores: Iterable[tuple[str, str]], sep: str
) -> tuple[tuple[str, str], ...]:
    """Combine place/brand prefixes with business cores: many distinct, plausible names."""
    cores = tuple(cores)
    return tuple(
        (f"{p_text}{sep}{c_text}", f"{p_slug}-{c_slug}")
        for p_text, p_slug in prefixes
        for c_text, c_slug in cores
    )


_CN_CITIES = (
    ("深圳", "shenzhen"),
    ("东莞", "dongguan"),
    ("苏州", "suzhou"),
    ("宁波", "ningbo"),
    ("厦门", "xiamen"),
    ("昆山", "kunshan"),
    ("惠州", "huizhou"),
)
_CN_CORES = (
    ("精密电子", "jingmi"),
    ("五金制品", "wujin"),
    ("电子科技", "dianzi"),
    ("金属材料", "jinshu"),
    ("连接器", "lianjieqi"),
    ("线缆", "xianlan"),
    ("电路板", "pcb"),
)
_TW_CITIES = (("台北", "taipei"), ("新竹", "hsinchu"), ("台中", "taichung"), ("桃園", "taoyuan"))
_TW_CORES = (("精密工業", "precision"), ("電子", "electronics"), ("光電", "optronics"))
_DE_NAMES = (
    ("Müller", "mueller"),
    ("Schäfer", "schaefer"),
    ("Weiß", "weiss"),
    ("Köhler", "koehler"),
)
_DE_CORES = (
    ("Präzisionsteile", "praezision"),
    ("Elektronik", "elektronik"),
    ("Metallwaren", "metall"),
    ("Oberflächentechnik", "oberflaeche"),
)
_US_BRANDS = (
    ("Great Lakes", "greatlakes"),
    ("Acme", "acme"),
    ("Pioneer", "pioneer"),
    ("Summit", "summit"),
    ("Bay Area", "bayarea"),
)
_US_CORES = (("Alloys", "alloys"), ("Components", "components"), ("Circuits", "circuits"))

_COUNTRIES: tuple[_Country, ...] = (
    _Country(
        "CN",
        ("Asia/Shanghai",),
        ("zh", "zh-CN"),
        _stems(_CN_CITIES, _CN_CORES, ""),
        ("{stem}有限公司", "{stem}股份有限公司"),
        (
            ("李伟", "li.wei"),
            ("王芳", "wang.fang"),
            ("Zhang Min", "zhang.min"),
            ("陈静", "chen.jing"),
            ("Liu Yang", "liu.yang"),
            ("赵磊", "zhao.lei"),
        ),
        weight=24,
    ),
    _Country(
        "TW",
        ("Asia/Taipei",),
        ("zh-TW",),
        _stems(_TW_CITIES, _TW_CORES, ""),
        ("{stem}股份有限公司", "{stem}有限公司"),
        (("陳美玲", "chen.meiling"), ("Lin Chih-Hao", "lin.chihhao"), ("黃志明", "huang.chihming")),
        weight=8,
    ),
    _Country(
        "JP",
        ("Asia/Tokyo",),
        ("ja",),
        (
            ("東洋精機", "toyo-seiki"),
            ("大阪金属工業", "osaka-kinzoku"),
            ("日本電材", "nihon-denzai"),
            ("Nippon Precision", "nippon-precision"),
            ("北陸電子", "hokuriku-denshi"),
        ),
        ("株式会社{stem}", "{stem}株式会社", "{stem} Co., Ltd."),
        (("佐藤 健", "ken.sato"), ("Suzuki Yui", "yui.suzuki"), ("高橋 誠", "makoto.takahashi")),
        weight=7,
    ),
    _Country(
        "KR",
        ("Asia/Seoul",),
        ("ko",),
        (
            ("한빛전자", "hanbit"),
            ("대성정밀", "daesung"),
            ("Samhwa Metal", "samhwa"),
            ("미래소재", "mirae"),
        ),
        ("(주){stem}", "{stem} Co., Ltd."),
        (("김민준", "minjun.kim"), ("Lee Ji-woo", "jiwoo.lee"), ("박서연", "seoyeon.park")),
        weight=5,
    ),
    _Country(
        "DE",
        ("Europe/Berlin",),
        ("de",),
        _stems(_DE_NAMES, _DE_CORES, " "),
        ("{stem} GmbH", "{stem} GmbH & Co. KG", "{stem} AG"),
        (
            ("Jürgen Weiß", "juergen.weiss"),
            ("Anna Schröder", "anna.schroeder"),
            ("Müller, Hans", "hans.mueller"),
            ("Katrin Groß", "katrin.gross"),
        ),
        weight=10,
    ),
    _Country(
        "US",
        ("America/New_York", "America/Chicago", "America/Denver", "America/Los_Angeles"),
        ("en", "en-US"),
        _stems(_US_BRANDS, _US_CORES, " "),
        ("{stem} Inc.", "{stem}, LLC", "{stem} Corp."),
        (
            ("John Miller", "john.miller"),
            ("Sarah O'Neil", "sarah.oneil"),
            ("Dave Kowalski", "dave.kowalski"),
            ("Maria Garcia", "maria.garcia"),
        ),
        weight=10,
    ),
    _Country(
        "MX",
        ("America/Mexico_City", "America/Monterrey", "America/Tijuana"),
        ("es", "es-MX"),
        (
            ("Componentes Eléctricos del Norte", "cen"),
            ("Metalúrgica Bajío", "bajio"),
            ("Ensambles Tijuana", "ensambles-tij"),
        ),
        ("{stem} S.A. de C.V.", "{stem} S. de R.L. de C.V."),
        (
            ("José Hernández", "jose.hernandez"),
            ("María López", "maria.lopez"),
            ("Andrés Peña", "andres.pena"),
        ),
        weight=5,
    ),
    _Country(
        "MY",
        ("Asia/Kuala_Lumpur",),
        ("ms", "en"),
        (
            ("Penang Precision", "penang-precision"),
            ("Johor Tin Smelting", "johor-tin"),
            ("Selangor Electronics", "selangor-elec"),
        ),
        ("{stem} Sdn. Bhd.", "{stem} Berhad"),
        (
            ("Ahmad bin Ismail", "ahmad.ismail"),
            ("Tan Mei Ling", "meiling.tan"),
            ("Rajesh Kumar", "rajesh.kumar"),
        ),
        weight=5,
    ),
    _Country(
        "TH",
        ("Asia/Bangkok",),
        ("th", "en"),
        (
            ("สยามอิเล็กทรอนิกส์", "siam-elec"),
            ("Bangkok Cable", "bangkok-cable"),
            ("ไทยเมทัล", "thai-metal"),
        ),
        ("บริษัท {stem} จำกัด", "{stem} Co., Ltd."),
        (
            ("สมชาย วงศ์สวัสดิ์", "somchai.w"),
            ("Niran Chaiyaporn", "niran.c"),
            ("พิมพ์ชนก ศรีสุข", "pimchanok.s"),
        ),
        weight=4,
    ),
    _Country(
        "VN",
        ("Asia/Ho_Chi_Minh",),
        ("vi",),
        (
            ("Điện tử Sài Gòn", "saigon-elec"),
            ("Cơ khí Hà Nội", "hanoi-cokhi"),
            ("Linh kiện Đồng Nai", "dongnai"),
        ),
        ("Công ty TNHH {stem}", "Công ty Cổ phần {stem}"),
        (("Nguyễn Văn An", "an.nguyen"), ("Trần Thị Hoa", "hoa.tran"), ("Phạm Minh", "minh.pham")),
        weight=4,
    ),
    _Country(
        "IN",
        ("Asia/Kolkata",),
        ("en", "en-IN", "hi"),
        (
            ("Shree Ganesh Metals", "ganesh-metals"),
            ("Bharat Electro Components", "bharat-elec"),
            ("Pune Precision", "pune-precision"),
        ),
        ("{stem} Pvt. Ltd.", "{stem} Ltd."),
        (
            ("Priya Sharma", "priya.sharma"),
            ("Arjun Mehta", "arjun.mehta"),
            ("Lakshmi Iyer", "lakshmi.iyer"),
        ),
        weight=5,
    ),
    _Country(
        "PL",
        ("Europe/Warsaw",),
        ("pl",),
        (
            ("Zakład Elektroniki Łódź", "zel-lodz"),
            ("Metal-Śląsk", "metal-slask"),
            ("Przewody Gdańsk", "przewody-gdansk"),
        ),
        ("{stem} Sp. z o.o.", "{stem} S.A."),
        (
            ("Łukasz Wójcik", "lukasz.wojcik"),
            ("Agnieszka Zając", "agnieszka.zajac"),
            ("Paweł Kamiński", "pawel.kaminski"),
        ),
        weight=4,
    ),
    _Country(
        "CZ",
        ("Europe/Prague",),
        ("cs",),
        (("Přesné součástky", "presne-soucastky"), ("Kovovýroba Brno", "kovo-brno")),
        ("{stem} s.r.o.", "{stem} a.s."),
        (
            ("Tomáš Dvořák", "tomas.dvorak"),
            ("Jana Nováková", "jana.novakova"),
            ("Jiří Černý", "jiri.cerny"),
        ),
        weight=2,
    ),
    _Country(
        "BR",
        ("America/Sao_Paulo", "America/Manaus"),
        ("pt-BR",),
        (("Metalúrgica São Paulo", "metalurgica-sp"), ("Eletrônicos Manaus", "eletro-manaus")),
        ("{stem} Ltda.", "{stem} S.A."),
        (
            ("João Silva", "joao.silva"),
            ("Fernanda Conceição", "fernanda.conceicao"),
            ("Luís Araújo", "luis.araujo"),
        ),
        weight=3,
    ),
)

_BUYERS = (
    ("Anna Schmidt", "anna.schmidt"),
    ("Tom Becker", "tom.becker"),
    ("Linda Chen", "linda.chen"),
    ("Marco Rossi", "marco.rossi"),
    ("Sofia Nowak", "sofia.nowak"),
)
_BUYER_DOMAIN = "procurement.example"
_ROLE_MAILBOXES = {
    "escalation": ("quality", "compliance", "sales"),
    "senior_officer": ("ceo", "gm"),
}
_METAL_TAGS = ("tin", "tantalum", "tungsten", "gold", "cobalt", "mica")


def generate_suppliers(count: int, *, seed: int = 0) -> list[dict[str, str]]:
    """``count`` supplier rows (column -> cell text), the same for the same seed.

    Codes and domains are unique; names are unique too, like a real supplier master.
    """
    rng = random.Random(seed)  # noqa: S311 - sample data, not security
    used_names: set[str] = set()
    used_domains: set[str] = set()
    weights = [country.weight for country in _COUNTRIES]
    rows = []
    for index in range(count):
        country = rng.choices(_COUNTRIES, weights)[0]
        rows.append(_supplier(rng, index, country, used_names, used_domains))
    return rows


def _supplier(
    rng: random.Random,
    index: int,
    country: _Country,
    used_names: set[str],
    used_domains: set[str],
) -> dict[str, str]:
    stem, slug = rng.choice(country.stems)
    name = _unique(rng.choice(country.forms).format(stem=stem), used_names, " ({})")
    domain = _unique(f"{slug}.example", used_domains, "-{}", before=".example")
    return {
        "code": _code(rng, index, country),
        "name": name,
        "contacts": _contacts(rng, country, domain),
        "country": "" if rng.random() < 0.03 else country.code,
        "time_zone": "" if rng.random() < 0.05 else rng.choice(country.zones),
        "language": "" if rng.random() < 0.04 else rng.choice(country.languages),
        "email_domains": _email_domains(rng, domain, slug),
        "buyer": _buyer(rng),
        "scope_tags": _tags(rng),
    }


def _unique(value: str, used: set[str], pattern: str, *, before: str = "") -> str:
    """Append ' (2)', '-2'... until unused (inserted before ``before`` when given)."""
    candidate, number = value, 1
    while candidate in used:
        number += 1
        head = value.removesuffix(before) if before else value
        candidate = head + pattern.format(number) + before
    used.add(candidate)
    return candidate


def _code(rng: random.Random, index: int, country: _Country) -> str:
    """ERP codes come in several house styles; the index keeps every one unique."""
    style = rng.random()
    if style < 0.4:
        return str(10000 + index)
    if style < 0.7:
        return f"SUP-{index + 1:06d}"
    return f"{country.code}.{index + 1:05d}"


def _contacts(rng: random.Random, country: _Country, domain: str) -> str:
    """1-3 contacts: always a primary, usually an escalation, sometimes a senior officer."""
    count = rng.choices((1, 2, 3), (15, 50, 35))[0]
    roles = ["primary", "escalation", "senior_officer"][:count]
    if count == 3 and rng.random() < 0.2:
        roles[2] = "primary"  # a second primary contact
    people = rng.sample(country.people, k=count)  # distinct people: no address repeats
    return "; ".join(
        _contact(rng, role, person, domain) for role, person in zip(roles, people, strict=True)
    )


def _contact(rng: random.Random, role: str, person: tuple[str, str], domain: str) -> str:
    display, local = person
    shown_role = "Senior Officer" if role == "senior_officer" and rng.random() < 0.2 else role
    if role != "primary" and rng.random() < 0.3:
        return f"{shown_role}: {rng.choice(_ROLE_MAILBOXES[role])}@{domain}"
    if rng.random() < 0.1:
        return f"{shown_role}: {local}@{domain}"
    shown = f'"{display}"' if "," in display else display
    return f"{shown_role}: {shown} <{local}@{domain}>"


def _email_domains(rng: random.Random, domain: str, slug: str) -> str:
    """Mostly left empty (derived from the contacts), sometimes with a group domain."""
    draw = rng.random()
    if draw < 0.6:
        return ""
    if draw < 0.9:
        return domain
    return f"{domain}, {slug}-group.example"


def _buyer(rng: random.Random) -> str:
    name, local = rng.choice(_BUYERS)
    draw = rng.random()
    if draw < 0.6:
        return f"{name} <{local}@{_BUYER_DOMAIN}>"
    if draw < 0.75:
        return f"{local}@{_BUYER_DOMAIN}"
    if draw < 0.9:
        return name
    return ""


def _tags(rng: random.Random) -> str:
    tags = []
    if rng.random() < 0.9:
        tags.append("cmrt")
    if rng.random() < 0.4 or not tags:
        tags.append("emrt")
    tags.extend(rng.sample(_METAL_TAGS, k=rng.choice((0, 0, 1, 2))))
    return ", ".join(tags)


# --------------------------------------------------------------------------------------------
# Writing
# --------------------------------------------------------------------------------------------


def write_supplier_file(rows: Iterable[Mapping[str, str]], path: Path) -> None:
    """Write rows in the documented layout: ``.csv`` (UTF-8) or ``.xlsx``, by suffix.

    The CSV gets a BOM, as Excel's own "CSV UTF-8" does, so that Excel shows 深圳 and
    Müller correctly when a person opens the example; the reader accepts it either way.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    table = [_ordered(row) for row in rows]
    if suffix == ".csv":
        _write_csv(table, path)
    elif suffix == ".xlsx":
        _write_xlsx(table, path)
    else:
        raise ValueError(f"cannot write {suffix or 'a file without suffix'}; use .csv or .xlsx")


def _ordered(row: Mapping[str, str]) -> list[str]:
    unknown = sorted(set(row) - set(COLUMNS))
    if unknown:
        raise ValueError(f"unknown columns {unknown}; the layout has {list(COLUMNS)}")
    return [row.get(column) or "" for column in COLUMNS]


def _write_csv(table: list[list[str]], path: Path) -> None:
    with path.open("w", encoding="utf-8-sig", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(COLUMNS)
        writer.writerows(table)


_WIDTHS = {"code": 14, "name": 40, "contacts": 80, "email_domains": 30, "buyer": 36}


def _write_xlsx(table: list[list[str]], path: Path) -> None:
    """Write-only mode streams rows, so even a very large example stays fast and small."""
    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet(SUPPLIERS_SHEET)
    for position, column in enumerate(COLUMNS, start=1):
        sheet.column_dimensions[get_column_letter(position)].width = _WIDTHS.get(column, 16)
    sheet.freeze_panes = "A2"
    bold = Font(bold=True)
    sheet.append([_cell(sheet, column, font=bold) for column in COLUMNS])
    for values in table:
        sheet.append([_cell(sheet, value) for value in values])
    workbook.save(path)


def _cell(sheet: object, value: str, *, font: Font | None = None) -> WriteOnlyCell | str | None:
    """Plain strings, except that text starting with '=' must not become a formula."""
    if not value:
        return None
    if font is None and not value.startswith("="):
        return value
    cell = WriteOnlyCell(sheet, value)
    cell.data_type = "s"
    if font is not None:
        cell.font = font
    return cell
