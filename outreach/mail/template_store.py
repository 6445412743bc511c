"""The live template set, reloaded when an admin edits the files: safely.

``TemplateStore.current()`` looks at the folder at most every ``interval`` seconds (a stat of
each file). When the files changed, the new set is loaded and checked; it goes live only if
``check`` finds nothing. A set that fails is refused: the last good set stays live, the
failure is logged once (``templates.refused``) and readable in :attr:`TemplateStore.status`
until a good set replaces it. Thread-safe: the scheduler's workers share one store.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import structlog

from outreach.core.clock import Clock, SystemClock
from outreach.core.ladder import Ladder
from outreach.errors import InvalidInput
from outreach.mail.template_check import DEFAULT_FROM, check_set
from outreach.mail.template_context import CompanyInfo, MessageContext
from outreach.mail.template_samples import INTAKE_KINDS
from outreach.mail.templates import TEMPLATE_SUFFIXES, Rendered, TemplateProblem, TemplateSet

log = structlog.get_logger(__name__)

Fingerprint = tuple[tuple[str, int, int], ...]


class TemplateSetRefused(InvalidInput):
    """The template set fails the check (and there is no good set to keep live)."""

    def __init__(self, directory: Path, problems: list[TemplateProblem]) -> None:
        shown = "; ".join(str(p) for p in problems[:5])
        more = f" (and {len(problems) - 5} more)" if len(problems) > 5 else ""
        super().__init__(f"the e-mail templates in {directory} fail the check: {shown}{more}; "
                         "`outreach template check` lists every problem")
        self.problems = problems


@dataclass(frozen=True)
class StoreStatus:
    directory: Path
    live_hash: str
    live_since: datetime
    #: the hash of the last changed set that failed the check (None: the files are live)
    refused_hash: str | None = None
    refused_at: datetime | None = None
    problems: tuple[TemplateProblem, ...] = ()

    @property
    def ok(self) -> bool:
        return self.refused_hash is None


def _fingerprint(directory: Path) -> Fingerprint:
    entries = []
    try:
        paths = sorted(directory.rglob("*"))
    except OSError:
        return ()
    for path in paths:
        if path.suffix not in TEMPLATE_SUFFIXES:
            continue
        try:
            st = path.stat()
        except OSError:  # deleted between listing and stat: the next look sees it
            continue
        entries.append((str(path), st.st_mtime_ns, st.st_size))
    return tuple(entries)


class TemplateStore:
    """The last good template set of ``directory``; edits go live after passing the check."""

    def __init__(self, directory: Path, *, ladder: Ladder | None = None,
                 company: CompanyInfo | None = None, from_address: str = DEFAULT_FROM,
                 interval: float = 2.0, clock: Clock | None = None,
                 also_required: Iterable[str] = ()) -> None:
        self.directory = directory
        self._ladder = ladder
        #: kinds other ladders need too (those frozen into running campaigns)
        self._required = (*INTAKE_KINDS, *sorted(set(also_required)))
        self._company = company
        self._from = from_address
        self._interval = interval
        self._clock = clock or SystemClock()
        self._lock = threading.Lock()
        fingerprint = _fingerprint(directory)
        candidate = TemplateSet.load(directory)
        problems = self._check(candidate)
        if problems:
            log.error("templates.refused", directory=str(directory), hash=candidate.hash,
                      problems=[str(p) for p in problems[:20]], count=len(problems))
            raise TemplateSetRefused(directory, problems)
        self._live = candidate
        self._seen = fingerprint
        self._looked_at = time.monotonic()
        self._status = StoreStatus(directory, candidate.hash, self._clock.now())
        log.info("templates.loaded", directory=str(directory), hash=candidate.hash,
                 kinds=list(candidate.kinds))

    def _check(self, candidate: TemplateSet) -> list[TemplateProblem]:
        return check_set(candidate, ladder=self._ladder, company=self._company,
                         from_address=self._from, required_kinds=self._required)

    @property
    def status(self) -> StoreStatus:
        return self._status

    def current(self) -> TemplateSet:
        """The live set, after looking for edits if ``interval`` has passed."""
        if time.monotonic() - self._looked_at >= self._interval:
            self.refresh()
        return self._live

    def render(self, kind: str, language: str | None,
               context: MessageContext | Mapping[str, Any]) -> Rendered:
        return self.current().render(kind, language, context)

    def refresh(self) -> bool:
        """Look at the files now; True when a changed set went live."""
        with self._lock:
            self._looked_at = time.monotonic()
            fingerprint = _fingerprint(self.directory)
            if fingerprint == self._seen:
                return False
            self._seen = fingerprint
            try:
                candidate = TemplateSet.load(self.directory)
            except (OSError, InvalidInput) as exc:
                self._refuse("", [TemplateProblem(str(self.directory), None, str(exc))])
                return False
            if candidate.hash == self._live.hash:
                self._status = StoreStatus(self.directory, self._live.hash,
                                           self._status.live_since)
                return False
            if candidate.hash == self._status.refused_hash:
                return False
            problems = self._check(candidate)
            if problems:
                self._refuse(candidate.hash, problems)
                return False
            previous, self._live = self._live, candidate
            self._status = StoreStatus(self.directory, candidate.hash, self._clock.now())
            log.info("templates.reloaded", directory=str(self.directory), hash=candidate.hash,
                     previous=previous.hash)
            return True

    def _refuse(self, candidate_hash: str, problems: list[TemplateProblem]) -> None:
        self._status = StoreStatus(self.directory, self._live.hash, self._status.live_since,
                                   refused_hash=candidate_hash, refused_at=self._clock.now(),
                                   problems=tuple(problems))
        log.error("templates.refused", directory=str(self.directory), hash=candidate_hash,
                  live_hash=self._live.hash, problems=[str(p) for p in problems[:20]],
                  count=len(problems))
