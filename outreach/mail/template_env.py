"""The Jinja2 environment e-mail templates render in: sandboxed, strict, escaping HTML only.

A template set is an in-memory snapshot of the files (``TemplateSet``), so rendering never
reads the disk and the hash a message records is exactly what rendered it. Names resolve per
language: ``request/body.txt`` in the German environment is ``request/de/body.txt`` when that
file exists, else ``request/body.txt`` (English). Shared includes live in ``_shared/`` and
resolve the same way (``{% include "_shared/footer.txt" %}``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, date, datetime
from pathlib import Path

from jinja2 import BaseLoader, Environment, StrictUndefined, TemplateNotFound, select_autoescape
from jinja2.sandbox import ImmutableSandboxedEnvironment

_MONTHS: dict[str, tuple[str, ...]] = {
    "en": ("January", "February", "March", "April", "May", "June", "July", "August",
           "September", "October", "November", "December"),
    "de": ("Januar", "Februar", "März", "April", "Mai", "Juni", "Juli", "August",
           "September", "Oktober", "November", "Dezember"),
}
DATE_STYLES = ("en", "de", "iso")

_TEMPLATE_TITLES = {
    "CMRT": "Conflict Minerals Reporting Template (CMRT)",
    "EMRT": "Extended Minerals Reporting Template (EMRT)",
}


def _as_date(value: object, filter_name: str) -> date:
    if isinstance(value, datetime):
        return value.astimezone(UTC).date() if value.tzinfo else value.date()
    if isinstance(value, date):
        return value
    raise TypeError(f"the {filter_name} filter needs a date, got {value!r}")


def format_date(value: object, style: str = "en") -> str:
    """``31 March 2027`` (en, the default), ``31. März 2027`` (de) or ``2027-03-31`` (iso).

    The style is named in the template, never taken from the process locale.
    """
    day = _as_date(value, "date")
    if style == "iso":
        return day.isoformat()
    if style not in _MONTHS:
        raise ValueError(f"date style {style!r} is unknown: use one of {', '.join(DATE_STYLES)}")
    month = _MONTHS[style][day.month - 1]
    return f"{day.day}. {month} {day.year}" if style == "de" else f"{day.day} {month} {day.year}"


def format_datetime(value: object, style: str = "en") -> str:
    """``31 March 2027, 14:05 UTC``: an instant in UTC, to the minute."""
    if not isinstance(value, datetime):
        raise TypeError(f"the datetime filter needs a date-time, got {value!r}")
    moment = value.astimezone(UTC) if value.tzinfo else value
    return f"{format_date(moment, style)}, {moment:%H:%M} UTC"


def template_title(family: object) -> str:
    """``CMRT`` → ``Conflict Minerals Reporting Template (CMRT)``."""
    return _TEMPLATE_TITLES.get(str(family), str(family))


class SnapshotLoader(BaseLoader):
    """Loads from the snapshot; ``folder/name`` tries ``folder/<language>/name`` first."""

    def __init__(self, files: Mapping[str, str], root: Path, language: str | None) -> None:
        self._files = files
        self._root = root
        self._language = language

    def resolve(self, name: str) -> str | None:
        folder, _, leaf = name.rpartition("/")
        candidates = [name]
        if folder and self._language:
            candidates.insert(0, f"{folder}/{self._language}/{leaf}")
        return next((c for c in candidates if c in self._files), None)

    def get_source(self, environment: Environment,
                   template: str) -> tuple[str, str, Callable[[], bool]]:
        found = self.resolve(template)
        if found is None:
            raise TemplateNotFound(template)
        return self._files[found], str(self._root / found), lambda: True


def make_environment(files: Mapping[str, str], root: Path,
                     language: str | None) -> ImmutableSandboxedEnvironment:
    """The environment for one language folder (None: the English files at the top)."""
    env = ImmutableSandboxedEnvironment(
        loader=SnapshotLoader(files, root, language),
        undefined=StrictUndefined,
        autoescape=select_autoescape(enabled_extensions=("html",), default_for_string=False,
                                     default=False),
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
        auto_reload=False,
    )
    env.filters["date"] = format_date
    env.filters["datetime"] = format_datetime
    env.filters["template_title"] = template_title
    return env
