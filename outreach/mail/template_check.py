"""``check(directory)``: everything wrong with a template set, before any supplier sees it.

Renders every kind in every language with every sample context and reports each problem once,
with file and line: syntax errors, undefined variables, sandbox violations, missing parts,
stray files, kinds the ladder or the intake answers need but the set lacks, and bodies that
lost the footer (the person to contact) or, for the senior-officer notice, the signature.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from outreach.core.ladder import Ladder, default_ladder
from outreach.mail.template_context import CompanyInfo, company_info
from outreach.mail.template_samples import (
    DIGEST_KIND,
    INTAKE_KINDS,
    SAMPLE_CHART_CID,
    sample_contexts,
)
from outreach.mail.templates import (
    PARTS,
    REQUIRED_PARTS,
    SHARED,
    Rendered,
    TemplateProblem,
    TemplateRenderError,
    TemplateSet,
)

SENIOR_NOTICE = "senior_notice"
DEFAULT_FROM = "conflict-minerals@company.example"


def _default_company() -> CompanyInfo:
    from outreach.settings import CompanySettings

    return company_info(CompanySettings())


def check(directory: Path, *, ladder: Ladder | None = None,
          company: CompanyInfo | None = None, from_address: str = DEFAULT_FROM,
          required_kinds: Iterable[str] = INTAKE_KINDS) -> list[TemplateProblem]:
    """The problems of the template set in ``directory`` (empty: safe to go live)."""
    return check_set(TemplateSet.load(directory), ladder=ladder, company=company,
                     from_address=from_address, required_kinds=required_kinds)


def check_set(templates: TemplateSet, *, ladder: Ladder | None = None,
              company: CompanyInfo | None = None, from_address: str = DEFAULT_FROM,
              required_kinds: Iterable[str] = INTAKE_KINDS) -> list[TemplateProblem]:
    problems: set[TemplateProblem] = set(templates.load_problems)
    problems |= _missing_kinds(templates, ladder or default_ladder(), required_kinds)
    problems |= _layout(templates)
    company = company or _default_company()
    for kind in templates.kinds:
        if not all(templates.has(kind, part) for part in REQUIRED_PARTS):
            continue
        for language in ("en", *templates.languages):
            problems |= _render_all(templates, kind, language, company, from_address)
    return sorted(problems, key=lambda p: (p.file, p.line or 0, p.message))


def _missing_kinds(templates: TemplateSet, ladder: Ladder,
                   required: Iterable[str]) -> set[TemplateProblem]:
    found: set[TemplateProblem] = set()
    for stage in ladder.stages:
        if stage.template and stage.template not in templates.kinds:
            found.add(TemplateProblem(templates.path(stage.template), None,
                                      f"the ladder's stage {stage.name!r} uses template "
                                      f"{stage.template!r}, which has no folder here"))
    for kind in required:
        if kind not in templates.kinds:
            found.add(TemplateProblem(templates.path(kind), None,
                                      f"outreach answers submissions with {kind!r}, "
                                      "which has no folder here"))
    return found


def _layout(templates: TemplateSet) -> set[TemplateProblem]:
    """Missing required parts, and files a kind folder does not use (likely typos)."""
    found: set[TemplateProblem] = set()
    for kind in templates.kinds:
        for part in REQUIRED_PARTS:
            if not templates.has(kind, part):
                needs = " and ".join(REQUIRED_PARTS)
                found.add(TemplateProblem(templates.path(f"{kind}/{part}"), None,
                                          f"missing: every kind needs {needs}"))
    for name in templates.files:
        top, _, rest = name.partition("/")
        leaf = name.rsplit("/", 1)[-1]
        if not rest:
            found.add(TemplateProblem(templates.path(name), None,
                                      f"not used: put shared includes in {SHARED}/ and "
                                      "messages in <kind>/ folders"))
        elif top != SHARED and leaf not in PARTS and not leaf.startswith("_"):
            found.add(TemplateProblem(templates.path(name), None,
                                      f"not used: a kind has {', '.join(PARTS)} (includes of "
                                      "its own start with '_')"))
        elif rest.count("/") > 1:
            found.add(TemplateProblem(templates.path(name), None,
                                      "not used: language variants are one folder deep "
                                      "(<kind>/<lang>/...)"))
    return found


def _render_all(templates: TemplateSet, kind: str, language: str, company: CompanyInfo,
                from_address: str) -> set[TemplateProblem]:
    found: set[TemplateProblem] = set()
    for sample in sample_contexts(kind, company, from_address):
        try:
            rendered = templates.render(kind, language, sample.context)
        except TemplateRenderError as exc:
            found.add(exc.problem)
            continue
        if kind == DIGEST_KIND:
            found |= _digest_problems(templates, language, rendered)
            continue
        where = templates.source_file(kind, "subject.txt", language) or kind
        if sample.context.request.token not in rendered.subject:
            found.add(TemplateProblem(where, None, "the subject lacks {{ subject_tag }}: "
                                      "answers could not be matched to their request"))
        body = templates.source_file(kind, "body.txt", language) or kind
        if company.contact.email not in rendered.text:
            found.add(TemplateProblem(body, None, "the text does not name the person to "
                                      "contact: include _shared/footer.txt"))
        if kind == SENIOR_NOTICE and company.senior_officer.name not in rendered.text:
            found.add(TemplateProblem(body, None, "the senior officer "
                                      "({{ company.senior_officer.name }}) must sign this notice"))
        if rendered.html is not None and company.contact.email not in rendered.html:
            found.add(TemplateProblem(templates.source_file(kind, "body.html", language) or kind,
                                      None,
                                      "the HTML does not name the person to contact: "
                                      "include _shared/footer.html"))
    return found


def _digest_problems(templates: TemplateSet, language: str, rendered: Rendered
                     ) -> set[TemplateProblem]:
    """The digest goes to compliance (no subject tag, no supplier footer), but its HTML
    must show the chart: ``<img src="cid:{{ chart_cid }}">``."""
    if rendered.html is None:
        return {TemplateProblem(templates.path(f"{DIGEST_KIND}/body.html"), None,
                                "missing: the digest needs body.html (it shows the chart)")}
    if f"cid:{SAMPLE_CHART_CID}" not in rendered.html:
        return {TemplateProblem(templates.source_file(DIGEST_KIND, "body.html", language)
                                or DIGEST_KIND, None,
                                'the HTML does not show the chart: keep '
                                '<img src="cid:{{ chart_cid }}">')}
    return set()
