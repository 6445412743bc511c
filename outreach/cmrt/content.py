"""What a returned template says, as plain data: company, scope, answers, smelters, products.

Read from fixed cells (``layout``), cleaned like the Checker cleans them (``checker.text``:
whitespace and tabs stripped, cached ``0`` and Excel errors blank). Smelter List rows whose
formula columns carry no cached values (files saved by tools other than Excel) are
completed from their smelter ID through the reference list (``SmelterReference``), so the
data is the same whichever tool saved the file.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from outreach.cmrt.checker import (
    DECLARATION,
    NOT_LISTED,
    PRODUCT_LIST,
    SMELTER_LIST,
    answer,
    selected_minerals,
    text,
)
from outreach.cmrt.dates import parse_effective_date
from outreach.cmrt.layout import SCOPES, CompanyQuestion, Layout, company_questions_for
from outreach.cmrt.reference import SmelterReference
from outreach.cmrt.workbook import CellValue, Sheet, Workbook

NOT_YET_IDENTIFIED = "smelter not yet identified"


@dataclass(frozen=True)
class Company:
    name: str
    scope: str | None  # "A", "B", "C", or None when blank or not one of the list's entries
    scope_text: str
    scope_description: str
    unique_id: str
    unique_id_authority: str
    address: str
    contact_name: str
    contact_email: str
    contact_phone: str
    authorizer: str
    authorizer_title: str
    authorizer_email: str
    authorizer_phone: str
    effective_date: dt.date | None
    effective_date_text: str  # as written, for messages when it is not a date
    #: company-block cells that hold only spaces, tabs or "0": filled to RMI's Checker,
    #: empty to a reader
    blank_looking: tuple[str, ...] = ()


@dataclass(frozen=True)
class Answer:
    """One answer cell: the text as written (cleaned), and where it is."""

    cell: str
    text: str
    comment: str = ""
    #: the cell holds more than the answer (spaces, tabs): RMI's Checker does not match it
    padded: bool = False

    @property
    def normalised(self) -> str:
        return self.text.lower()


@dataclass(frozen=True)
class MetalDeclaration:
    metal: str
    #: declared in scope: neither Q1 nor Q2 takes it out (read the way the Checker reads them)
    in_scope: bool
    answers: dict[int, Answer]


@dataclass(frozen=True)
class CompanyAnswer:
    letter: str
    metal: str | None
    answer: Answer


@dataclass(frozen=True)
class SmelterRow:
    row: int
    metal: str
    lookup_name: str  # column C: the name picked from the list (or a pseudo-entry)
    name: str  # column D: typed name ("Smelter not listed" rows)
    country: str
    cid_input: str  # column A, as typed
    cid: str  # column F (the identification the template resolved)
    source: str
    street: str
    city: str
    state: str
    contact_name: str
    contact_email: str
    next_steps: str
    mine_name: str
    mine_country: str
    recycled: str
    comment: str
    #: metal or smelter (B/C) were blank and were filled from column A through the look-up
    completed: bool = False

    @property
    def smelter_id(self) -> str:
        """The CID this row stands for: column F, else the typed column A."""
        return (self.cid or self.cid_input).upper()

    @property
    def display_name(self) -> str:
        if self.lookup_name.lower() in (NOT_LISTED, NOT_YET_IDENTIFIED):
            return self.name or self.lookup_name
        return self.lookup_name or self.name

    @property
    def not_listed(self) -> bool:
        return self.lookup_name.lower() == NOT_LISTED

    @property
    def not_yet_identified(self) -> bool:
        return self.lookup_name.lower() == NOT_YET_IDENTIFIED


@dataclass(frozen=True)
class Product:
    row: int
    number: str
    name: str
    requester_number: str
    requester_name: str
    comment: str


@dataclass(frozen=True)
class Content:
    company: Company
    metals: tuple[MetalDeclaration, ...]
    company_answers: tuple[CompanyAnswer, ...]
    smelters: tuple[SmelterRow, ...]
    products: tuple[Product, ...]

    def metal(self, name: str) -> MetalDeclaration | None:
        return next((m for m in self.metals if m.metal.lower() == name.lower()), None)

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["company"]["effective_date"] = (self.company.effective_date.isoformat()
                                             if self.company.effective_date else None)
        for metal in data["metals"]:
            metal["answers"] = {str(k): v for k, v in metal["answers"].items()}
        return data


#: the reference a row without cached values is completed from, parsed only when needed
ReferenceSource = Callable[[], SmelterReference | None]


def read_content(wb: Workbook, layout: Layout, reference: ReferenceSource) -> Content:
    declaration = wb.sheet(DECLARATION)
    metals = (layout.metals if layout.metals is not None
              else tuple(selected_minerals(declaration)[:10]))
    company_questions = company_questions_for(layout, metals)
    return Content(
        company=read_company(declaration, layout),
        metals=tuple(_metal(declaration, layout, i, metal) for i, metal in enumerate(metals)),
        company_answers=tuple(_company_answer(declaration, q) for q in company_questions),
        smelters=read_smelters(wb, layout.smelter_last_row, reference),
        products=read_products(wb, layout),
    )


def read_company(declaration: Sheet, layout: Layout) -> Company:
    cells = layout.company

    def get(ref: str) -> str:
        return text(declaration.cell(ref))

    scope_text = get(cells.scope)
    raw_date = declaration.cell(cells.effective_date)
    return Company(
        name=get(cells.name),
        scope=SCOPES.get(" ".join(scope_text.lower().split())),
        scope_text=scope_text,
        scope_description=get(cells.scope_description),
        unique_id=get(cells.unique_id),
        unique_id_authority=get(cells.unique_id_authority),
        address=get(cells.address),
        contact_name=get(cells.contact_name),
        contact_email=get(cells.contact_email),
        contact_phone=get(cells.contact_phone),
        authorizer=get(cells.authorizer),
        authorizer_title=get(cells.authorizer_title),
        authorizer_email=get(cells.authorizer_email),
        authorizer_phone=get(cells.authorizer_phone),
        effective_date=parse_effective_date(raw_date) if text(raw_date) else None,
        effective_date_text=_as_written(raw_date),
        blank_looking=tuple(
            ref for ref in (cells.name, cells.scope_description, cells.contact_name,
                            cells.contact_email, cells.contact_phone, cells.authorizer,
                            cells.authorizer_email, cells.effective_date)
            if isinstance(declaration.cell(ref), str) and not text(declaration.cell(ref))),
    )


def _as_written(value: CellValue) -> str:
    if isinstance(value, (dt.datetime, dt.date)):
        return value.strftime("%d-%b-%Y")
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return text(value)


def _answer_text(value: CellValue) -> str:
    normal = answer(value)
    return "100%" if normal == "100%" else text(value)


def _metal(declaration: Sheet, layout: Layout, index: int, metal: str) -> MetalDeclaration:
    answers: dict[int, Answer] = {}
    for question in layout.questions:
        if not question.asks(metal):
            continue
        row = question.first_row + index
        answers[question.number] = _answer(declaration, f"D{row}", f"G{row}")
    q1 = answers[1].normalised if 1 in answers else ""
    q2 = answers[2].normalised if 2 in answers else ""
    if layout.q2_needs_q1_yes and q1 != "yes":
        q2 = ""
    in_scope = q1 not in layout.q1_out and q2 not in layout.q2_out
    return MetalDeclaration(metal, in_scope, answers)


def _company_answer(declaration: Sheet, question: CompanyQuestion) -> CompanyAnswer:
    return CompanyAnswer(question.letter, question.metal,
                         _answer(declaration, question.cell, question.comment_cell))


def _answer(declaration: Sheet, cell: str, comment_cell: str) -> Answer:
    value = declaration.cell(cell)
    cleaned = _answer_text(value)
    padded = isinstance(value, str) and bool(cleaned) and value != cleaned
    return Answer(cell, cleaned, text(declaration.cell(comment_cell)), padded)


# --------------------------------------------------------------------------- smelter list

_SMELTER_COLUMNS = 17  # A..Q


def read_smelters(wb: Workbook, last_row: int, reference: ReferenceSource
                  ) -> tuple[SmelterRow, ...]:
    """Every Smelter List row 5..``last_row`` with a CID, metal or look-up name."""
    if not wb.has(SMELTER_LIST):
        return ()
    rows: list[SmelterRow] = []
    for number, values in wb.sheet(SMELTER_LIST).rows(5, last_row):
        head = values[:3]
        if not any(head):
            continue
        cells = [text(v) for v in (*values[:_SMELTER_COLUMNS],
                                   *([None] * (_SMELTER_COLUMNS - len(values))))]
        if not (cells[0] or cells[1] or cells[2]):
            continue
        rows.append(_complete(number, cells, reference))
    return tuple(rows)


def _complete(number: int, c: Sequence[str], source: ReferenceSource) -> SmelterRow:
    """A row, with formula columns left blank by a non-Excel tool filled from the reference."""
    cid_input, metal, lookup_name, country, cid = c[0], c[1], c[2], c[4], c[5]
    incomplete = (cid_input and not (metal and lookup_name and cid)) or (
        metal and lookup_name and not cid
        and lookup_name.lower() not in (NOT_LISTED, NOT_YET_IDENTIFIED))
    reference = source() if incomplete else None
    completed = False
    if reference is not None:
        # column A, when filled, drives B, C, E and F through the template's formulas;
        # otherwise F and E follow the metal and name picked in B and C
        known = (reference.get(cid_input) if cid_input
                 else reference.find(metal, lookup_name) if metal and lookup_name else None)
        if known is not None:
            completed = bool(cid_input) and not (metal and lookup_name)
            metal = metal or known.metal
            lookup_name = lookup_name or known.standard_name
            cid = cid or known.cid
            country = country or known.country
    return SmelterRow(
        row=number, metal=metal, lookup_name=lookup_name, name=c[3], country=country,
        cid_input=cid_input, cid=cid, source=c[6], street=c[7], city=c[8], state=c[9],
        contact_name=c[10], contact_email=c[11], next_steps=c[12], mine_name=c[13],
        mine_country=c[14], recycled=c[15], comment=c[16], completed=completed,
    )


# --------------------------------------------------------------------------- product list


def read_products(wb: Workbook, layout: Layout) -> tuple[Product, ...]:
    if not wb.has(PRODUCT_LIST):
        return ()
    columns = [_column(ref) for ref in layout.product_columns]
    products: list[Product] = []
    for number, values in wb.sheet(PRODUCT_LIST).rows(6, layout.product_last_row):
        cells = [text(values[i]) if i is not None and i < len(values) else ""
                 for i in columns]
        if any(cells) and not _is_footer(values):
            products.append(Product(number, *cells))
    return tuple(products)


def _is_footer(values: Sequence[CellValue]) -> bool:
    """The template's copyright line under the list ("© 2024 Responsible Minerals …")."""
    first = next((text(v) for v in values if text(v)), "")
    return first.startswith("©")


def _column(letter: str | None) -> int | None:
    return None if letter is None else ord(letter) - ord("A")

