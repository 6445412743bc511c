"""E-mail templates: a content-hashed snapshot of ``templates/email/`` and rendering from it.

Layout (docs/email-templates.md)::

    <kind>/subject.txt   one line (required)
    <kind>/body.txt      the plain-text part (required)
    <kind>/body.html     the HTML part (optional)
    <kind>/<lang>/...    a language variant of any of them; English (the top files) fills in
    _shared/...          includes (footer, signature, HTML layout), with <lang>/ variants too

``TemplateSet.render(kind, language, context)`` returns a :class:`Rendered` carrying the
set's sha256, which the outbox stores with the message. Errors are
:class:`TemplateRenderError` with the file and line of the template at fault.
"""

from __future__ import annotations

import hashlib
import traceback
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import structlog
from jinja2 import TemplateError, TemplateNotFound, TemplateSyntaxError, UndefinedError
from jinja2.sandbox import ImmutableSandboxedEnvironment, SecurityError

from outreach.errors import InvalidInput
from outreach.mail.template_context import MessageContext
from outreach.mail.template_env import make_environment

log = structlog.get_logger(__name__)

SUBJECT, TEXT, HTML = "subject.txt", "body.txt", "body.html"
PARTS = (SUBJECT, TEXT, HTML)
REQUIRED_PARTS = (SUBJECT, TEXT)
SHARED = "_shared"
TEMPLATE_SUFFIXES = (".txt", ".html")
#: a template file larger than this is refused (a template is a letter, not a data file)
MAX_FILE_BYTES = 256 * 1024
#: RFC 5322's line limit, and the outbox's subject column
MAX_SUBJECT_CHARS = 998


@dataclass(frozen=True, order=True)
class TemplateProblem:
    """One thing wrong with a template set: ``file:line: message``."""

    file: str
    line: int | None
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        return f"{where}: {self.message}"


class TemplateRenderError(InvalidInput):
    """A template failed to render; ``problem`` says where and why."""

    def __init__(self, problem: TemplateProblem) -> None:
        super().__init__(str(problem))
        self.problem = problem


@dataclass(frozen=True)
class Rendered:
    subject: str
    text: str
    html: str | None
    template_hash: str
    kind: str = ""
    #: the language folder body.txt came from ("en": the English top-level files)
    language: str = "en"


def language_folder(language: str | None) -> str | None:
    """``de-AT`` → ``de-at``; English and empty → None (the top-level files)."""
    if not language:
        return None
    tag = language.strip().lower().replace("_", "-")
    return None if tag in ("", "en") else tag


def _folder_chain(folder: str | None) -> tuple[str, ...]:
    """``de-at`` → (``de-at``, ``de``): a regional variant, then its language."""
    if not folder:
        return ()
    primary = folder.split("-")[0]
    return (folder,) if primary == folder else (folder, primary)


def _read_files(directory: Path) -> tuple[dict[str, str], list[TemplateProblem]]:
    files: dict[str, str] = {}
    problems: list[TemplateProblem] = []
    for path in sorted(directory.rglob("*")):
        rel = path.relative_to(directory)
        if (not path.is_file() or any(p.startswith(".") for p in rel.parts)
                or path.name.endswith("~") or path.suffix not in TEMPLATE_SUFFIXES):
            continue
        raw = path.read_bytes()
        if len(raw) > MAX_FILE_BYTES:
            problems.append(TemplateProblem(str(path), None, f"larger than {MAX_FILE_BYTES} bytes"))
            continue
        try:
            files[rel.as_posix()] = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            problems.append(TemplateProblem(str(path), None,
                                            f"not UTF-8 text (byte {exc.start}): save it as UTF-8"))
    return files, problems


def content_hash(files: Mapping[str, str]) -> str:
    """sha256 over every file's relative path and content, in path order."""
    digest = hashlib.sha256()
    for name in sorted(files):
        digest.update(name.encode("utf-8") + b"\0" + files[name].encode("utf-8") + b"\0")
    return digest.hexdigest()


@dataclass
class TemplateSet:
    """An immutable snapshot of a template directory, and its hash."""

    directory: Path
    files: Mapping[str, str]
    hash: str
    #: files that could not be taken in (not UTF-8, too large): reported by check()
    load_problems: tuple[TemplateProblem, ...] = ()
    _envs: dict[str | None, ImmutableSandboxedEnvironment] = field(default_factory=dict,
                                                                    repr=False)

    @classmethod
    def load(cls, directory: Path) -> TemplateSet:
        if not directory.is_dir():
            raise InvalidInput(f"template folder {directory} does not exist")
        files, problems = _read_files(directory)
        return cls(directory=directory, files=files, hash=content_hash(files),
                   load_problems=tuple(problems))

    @classmethod
    def from_files(cls, files: Mapping[str, str], directory: Path = Path("templates/email")
                   ) -> TemplateSet:
        """A set from strings (tests, previews of an edit before it is saved)."""
        return cls(directory=directory, files=dict(files), hash=content_hash(files))

    # -- what the set holds ------------------------------------------------------------
    @property
    def kinds(self) -> tuple[str, ...]:
        """Message kinds: top-level folders not starting with ``_``."""
        return tuple(sorted({n.split("/")[0] for n in self.files
                             if "/" in n and not n.startswith(("_", "."))}))

    @property
    def languages(self) -> tuple[str, ...]:
        """Language folders found anywhere (``<kind>/<lang>/`` or ``_shared/<lang>/``)."""
        return tuple(sorted({n.split("/")[1] for n in self.files if n.count("/") >= 2}))

    def path(self, name: str) -> str:
        return str(self.directory / name)

    def has(self, kind: str, part: str, language: str | None = None) -> bool:
        return self._source(kind, part, language_folder(language)) is not None

    def source_file(self, kind: str, part: str, language: str | None = None) -> str | None:
        """The path of the file that renders ``part`` of ``kind`` in ``language``."""
        source = self._source(kind, part, language_folder(language))
        if source is None:
            return None
        return self.path(f"{kind}/{source}/{part}" if source else f"{kind}/{part}")

    def _source(self, kind: str, part: str, folder: str | None) -> str | None:
        """The language folder whose file renders ``part`` ("" for English), or None."""
        for candidate in _folder_chain(folder):
            if f"{kind}/{candidate}/{part}" in self.files:
                return candidate
        return "" if f"{kind}/{part}" in self.files else None

    def _env(self, folder: str) -> ImmutableSandboxedEnvironment:
        key = folder or None
        env = self._envs.get(key)
        if env is None:
            env = self._envs[key] = make_environment(self.files, self.directory, key)
        return env

    # -- rendering ---------------------------------------------------------------------
    def render(self, kind: str, language: str | None,
               context: MessageContext | Mapping[str, Any]) -> Rendered:
        """Subject, text and (when the kind has one) HTML for ``kind`` in ``language``.

        Each part comes from the language variant when it exists, else from English; a part
        renders with the includes of the language it came from.
        """
        if kind not in self.kinds:
            raise TemplateRenderError(TemplateProblem(
                self.path(kind), None, f"there is no template kind {kind!r} "
                f"(kinds: {', '.join(self.kinds) or 'none'})"))
        values = context.as_mapping() if isinstance(context, MessageContext) else dict(context)
        folder = language_folder(language)
        parts: dict[str, str | None] = {}
        text_from = ""
        for part in PARTS:
            source = self._source(kind, part, folder)
            if source is None:
                if part in REQUIRED_PARTS:
                    raise TemplateRenderError(TemplateProblem(
                        self.path(f"{kind}/{part}"), None, f"{kind}/ has no {part}"))
                parts[part] = None
                continue
            if part == TEXT:
                text_from = source
            parts[part] = self._render_part(kind, part, source, values)
        subject = self._one_line(kind, parts[SUBJECT] or "", folder)
        return Rendered(subject=subject, text=parts[TEXT] or "", html=parts[HTML],
                        template_hash=self.hash, kind=kind, language=text_from or "en")

    def _render_part(self, kind: str, part: str, source: str, values: Mapping[str, Any]) -> str:
        name = f"{kind}/{source}/{part}" if source else f"{kind}/{part}"
        try:
            return self._env(source).get_template(f"{kind}/{part}").render(values)
        except Exception as exc:  # every template failure becomes a located problem
            raise TemplateRenderError(self.locate(exc, name)) from exc

    def _one_line(self, kind: str, subject: str, folder: str | None) -> str:
        name = self.source_file(kind, SUBJECT, folder) or self.path(f"{kind}/{SUBJECT}")
        subject = subject.strip()
        if "\n" in subject or "\r" in subject:
            raise TemplateRenderError(TemplateProblem(
                name, None, "the subject renders as more than one line: a subject is one line"))
        if not subject:
            raise TemplateRenderError(TemplateProblem(name, None, "the subject renders empty"))
        if len(subject) > MAX_SUBJECT_CHARS:
            raise TemplateRenderError(TemplateProblem(
                name, None, f"the subject renders {len(subject)} characters "
                f"(at most {MAX_SUBJECT_CHARS})"))
        return subject

    def locate(self, exc: BaseException, name: str) -> TemplateProblem:
        """File and line of a Jinja failure (``name``: the template asked for)."""
        if isinstance(exc, TemplateSyntaxError):
            return TemplateProblem(exc.filename or self.path(name), exc.lineno,
                                   f"syntax error: {exc.message}")
        if isinstance(exc, TemplateNotFound):
            return TemplateProblem(self.path(name), self._line_in_tb(exc)[1],
                                   f"includes {exc.name!r}, which does not exist")
        file, line = self._line_in_tb(exc)
        if isinstance(exc, SecurityError):
            message = f"not allowed in a template: {exc}"
        elif isinstance(exc, UndefinedError):
            message = f"undefined variable: {exc.message}"
        elif isinstance(exc, TemplateError):
            message = str(exc)
        else:
            message = f"{type(exc).__name__}: {exc}"
        return TemplateProblem(file or self.path(name), line, message)

    def _line_in_tb(self, exc: BaseException) -> tuple[str | None, int | None]:
        """The innermost traceback frame that is a template of this set (Jinja rewrites
        tracebacks so template frames carry the template's file name and line)."""
        root = str(self.directory)
        found: tuple[str | None, int | None] = (None, None)
        for frame, line in traceback.walk_tb(exc.__traceback__):
            filename = frame.f_code.co_filename
            if filename.startswith(root) and filename.endswith(TEMPLATE_SUFFIXES):
                found = (filename, line)
        return found
