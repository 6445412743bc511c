"""Where each answer lives in each template family, and which answers its lists allow.

Cell maps and answer lists are FORMAT.md §3 (CMRT 6.x), §7.1 (EMRT 1.x) and §7.2 (EMRT 2.x),
checked against the data validations of the official templates (tests/test_cmrt_layout.py
compares the lists with the hidden list cells of every template). Answers are compared as
``checker.answer`` normalises them: stripped, lower-case, numeric 1 as "100%".

The Checker's own required-field logic stays in ``checker`` (it is exact, quirks included);
this module is what the stricter rules and the structured reading need.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from outreach.cmrt.identify import TemplateId

YES_NO = frozenset({"yes", "no"})
YES_NO_UNKNOWN = frozenset({"yes", "no", "unknown"})
PERCENT = frozenset({"100%", "greater than 90%", "greater than 75%", "greater than 50%",
                     "50% or less", "none"})
SCOPES = {
    "a. company": "A",
    "b. product (or list of products)": "B",
    "c. user defined [specify in 'description of scope']": "C",
}
OTHER_FORMAT = "yes, using other format (describe)"
#: Product List rows are read to here (1000 in 6.01/6.1, 2006 later; the copyright footer
#: line under the list is skipped by content)
PRODUCT_LAST_ROW = 5000


@dataclass(frozen=True)
class CompanyCells:
    """The company block: one cell per field (FORMAT.md §3.1, §7.2)."""

    name: str = "D8"
    scope: str = "D9"
    scope_description: str = "D10"
    unique_id: str = "D12"
    unique_id_authority: str = "D13"
    address: str = "D14"
    contact_name: str = "D15"
    contact_email: str = "D16"
    contact_phone: str = "D17"
    authorizer: str = "D18"
    authorizer_title: str = "D19"
    authorizer_email: str = "D20"
    authorizer_phone: str = "D21"
    effective_date: str = "D22"


@dataclass(frozen=True)
class Question:
    """A per-metal question: answer in column D of ``first_row + metal index``, comment in G.

    ``allowed`` maps a metal (lower-case) to its list where the list depends on the metal;
    ``default`` is the list for every other metal. ``metals`` limits the question to some
    metals (EMRT 1.x asks question 4 of cobalt only).
    """

    number: int
    first_row: int
    default: frozenset[str]
    allowed: Mapping[str, frozenset[str]] = field(default_factory=dict)
    metals: frozenset[str] | None = None

    def allowed_for(self, metal: str) -> frozenset[str]:
        return self.allowed.get(metal.lower(), self.default)

    def asks(self, metal: str) -> bool:
        return self.metals is None or metal.lower() in self.metals


@dataclass(frozen=True)
class CompanyQuestion:
    """A company-level question (A, B, …); ``metal`` set for EMRT's per-mineral question C."""

    letter: str
    cell: str
    allowed: frozenset[str]
    metal: str | None = None

    @property
    def comment_cell(self) -> str:
        return "G" + self.cell[1:]


@dataclass(frozen=True)
class Layout:
    family: str
    company: CompanyCells
    #: metals in question-row order; None: chosen on the Declaration (EMRT 2.x)
    metals: tuple[str, ...] | None
    questions: tuple[Question, ...]
    company_questions: tuple[CompanyQuestion, ...]
    #: Q1 answers that take a metal out of scope, and Q2 answers that do
    q1_out: frozenset[str]
    q2_out: frozenset[str]
    #: CMRT 6.x reads Q2 only when Q1 = "Yes" (the Checker's ``IF(Q1="Yes", …)``)
    q2_needs_q1_yes: bool
    #: the company question whose "Yes" needs a policy URL in its comment
    url_question: str
    #: the question whose "other format (describe)" answer needs a description
    survey_question: str
    #: the question "have you identified all of the smelters" (contradicted by the list)
    identified_question: int
    smelter_last_row: int
    #: Product List columns: (number, name, requester number, requester name, comment)
    product_columns: tuple[str | None, str | None, str | None, str | None, str | None]
    product_last_row: int

    def question(self, number: int) -> Question:
        return next(q for q in self.questions if q.number == number)


_CMRT6_QUESTIONS = (
    Question(1, 26, YES_NO),
    Question(2, 32, YES_NO),
    Question(3, 38, YES_NO_UNKNOWN),
    Question(4, 44, YES_NO_UNKNOWN),
    Question(5, 50, YES_NO_UNKNOWN),
    Question(6, 56, PERCENT),
    Question(7, 62, YES_NO),
    Question(8, 68, YES_NO),
)
_CMRT6_SURVEY = frozenset({"yes, in conformance with ipc1755 (e.g., cmrt)",
                           "yes, in conformance with ipc-1755 [e.g., cmrt]", OTHER_FORMAT, "no"})
_CMRT6_FILING = frozenset({"yes, with the sec", "yes, with the eu",
                           "yes, with the sec and the eu", "no"})

CMRT6 = Layout(
    family="CMRT",
    company=CompanyCells(),
    metals=("Tantalum", "Tin", "Gold", "Tungsten"),
    questions=_CMRT6_QUESTIONS,
    company_questions=(
        CompanyQuestion("A", "D75", YES_NO),
        CompanyQuestion("B", "D77", YES_NO),
        CompanyQuestion("C", "D79", YES_NO),
        CompanyQuestion("D", "D81", YES_NO),
        CompanyQuestion("E", "D83", _CMRT6_SURVEY),
        CompanyQuestion("F", "D85", YES_NO),
        CompanyQuestion("G", "D87", YES_NO),
        CompanyQuestion("H", "D89", _CMRT6_FILING),
    ),
    q1_out=frozenset({"no"}),
    q2_out=frozenset({"no"}),
    q2_needs_q1_yes=True,
    url_question="B",
    survey_question="E",
    identified_question=7,
    smelter_last_row=2504,
    product_columns=("B", "C", None, None, "D"),
    product_last_row=PRODUCT_LAST_ROW,
)

_EMRT_SURVEY = frozenset({"yes, in conformance with ipc1755 (e.g. emrt)", OTHER_FORMAT, "no"})
_EMRT_PROCESSORS = frozenset({"yes", "yes, when more processors are validated", "no"})

EMRT1 = Layout(
    family="EMRT",
    company=CompanyCells(),
    metals=("Cobalt", "Mica"),
    questions=(
        Question(1, 26, YES_NO_UNKNOWN | {"not applicable for this declaration"}),
        Question(2, 32, YES_NO_UNKNOWN),
        Question(3, 38, YES_NO_UNKNOWN, {"cobalt": YES_NO_UNKNOWN | {"drc only"},
                                         "mica": YES_NO_UNKNOWN
                                         | {"india and/or madagascar only"}}),
        Question(4, 44, YES_NO_UNKNOWN, metals=frozenset({"cobalt"})),
        Question(5, 50, PERCENT),
        Question(6, 56, YES_NO_UNKNOWN),
        Question(7, 62, YES_NO_UNKNOWN),
    ),
    company_questions=(
        CompanyQuestion("A", "D69", YES_NO),
        CompanyQuestion("B", "D71", YES_NO),
        CompanyQuestion("C", "D74", YES_NO, metal="Cobalt"),
        CompanyQuestion("C", "D75", _EMRT_PROCESSORS, metal="Mica"),
        CompanyQuestion("D", "D77", YES_NO),
        CompanyQuestion("E", "D79", _EMRT_SURVEY),
        CompanyQuestion("F", "D81", YES_NO),
        CompanyQuestion("G", "D83", YES_NO),
    ),
    q1_out=frozenset({"no", "unknown", "not applicable for this declaration"}),
    q2_out=frozenset({"no", "unknown", "not applicable for this declaration"}),
    q2_needs_q1_yes=False,
    url_question="B",
    survey_question="E",
    identified_question=6,
    smelter_last_row=2500,
    product_columns=("B", "C", None, None, "D"),
    product_last_row=PRODUCT_LAST_ROW,
)


def _emrt2(product_columns: tuple[str | None, str | None, str | None, str | None, str | None],
           smelter_last_row: int) -> Layout:
    return Layout(
        family="EMRT",
        company=CompanyCells(unique_id="D16", unique_id_authority="D17", address="D18",
                             contact_name="D19", contact_email="D20", contact_phone="D21",
                             authorizer="D22", authorizer_title="D23", authorizer_email="D24",
                             authorizer_phone="D25", effective_date="D26"),
        metals=None,
        questions=(
            Question(1, 30, YES_NO_UNKNOWN | {"not declaring"}),
            Question(2, 42, YES_NO_UNKNOWN),
            Question(3, 54, YES_NO_UNKNOWN),
            Question(4, 66, YES_NO_UNKNOWN),
            Question(5, 78, PERCENT | {"did not survey"}),
            Question(6, 90, YES_NO_UNKNOWN),
            Question(7, 102, YES_NO_UNKNOWN),
        ),
        company_questions=(
            CompanyQuestion("A", "D115", YES_NO),
            CompanyQuestion("B", "D117", YES_NO),
            # question C has one row per selected mineral, D120..D129 (see mineral_questions)
            CompanyQuestion("D", "D131", YES_NO),
            CompanyQuestion("E", "D133", _EMRT_SURVEY),
            CompanyQuestion("F", "D135", YES_NO),
            CompanyQuestion("G", "D137", YES_NO),
        ),
        q1_out=frozenset({"no", "unknown", "not declaring"}),
        q2_out=frozenset({"no", "unknown"}),
        q2_needs_q1_yes=False,
        url_question="B",
        survey_question="E",
        identified_question=6,
        smelter_last_row=smelter_last_row,
        product_columns=product_columns,
        product_last_row=PRODUCT_LAST_ROW,
    )


EMRT20 = _emrt2(("B", "C", None, None, "D"), 2504)
EMRT21 = _emrt2(("B", "C", "D", "E", "F"), 2497)


def emrt2_mineral_questions(minerals: tuple[str, ...]) -> tuple[CompanyQuestion, ...]:
    """EMRT 2.x question C, one row per selected mineral (D120 for the first)."""
    return tuple(CompanyQuestion("C", f"D{120 + i}", _EMRT_PROCESSORS, metal=mineral)
                 for i, mineral in enumerate(minerals[:10]))


def company_questions_for(layout: Layout, metals: tuple[str, ...]
                          ) -> tuple[CompanyQuestion, ...]:
    """The company-level questions in Declaration order; EMRT 2.x's question C has one row
    per selected mineral (after A and B)."""
    if layout.metals is not None:
        return layout.company_questions
    fixed = layout.company_questions
    return (*fixed[:2], *emrt2_mineral_questions(metals), *fixed[2:])


def layout_for(template: TemplateId) -> Layout | None:
    """The layout a template is read with; None for families/versions without one."""
    major = template.version_key[:1]
    if template.family == "CMRT" and major == (6,):
        return CMRT6
    if template.family == "EMRT" and major == (1,):
        return EMRT1
    if template.family == "EMRT" and major == (2,):
        return EMRT20 if template.version_key < (2, 1) else EMRT21
    return None
