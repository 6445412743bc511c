"""The CPU part of intake — parse, classify, open and judge the files — on every core.

``prepare`` needs no database: it is given, per template family, the validation context
of the one running campaign of that family (``contexts``), and judges each workbook with
it ahead of matching. ``intake.process`` then uses that verdict when the reply turns out to
answer that campaign, and judges again (rarely) when it answers another.

A poll pass with several new replies hands them to a :class:`PreparePool` (worker processes
started with ``spawn``: ``outreach run`` has threads, and forking a threaded process is
unsafe), so a 500-reply morning uses both cores of a small server while the main process
writes what the workers judged. A single reply (an IDLE wake-up) is prepared in-process:
no pool start-up on the latency path.
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Iterable, Iterator, Mapping
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field, replace

from outreach.cmrt.opening import OpenLimits
from outreach.cmrt.validate import Result, ValidationContext
from outreach.intake.classify import Classification, classify
from outreach.intake.model import ParsedMessage, ParseLimits
from outreach.intake.parse import parse_message
from outreach.services.intake_files import IncomingFile, files_of, judge, open_files

#: below this many replies in a pass, preparing in-process is faster than starting workers
POOL_THRESHOLD = 8


@dataclass(frozen=True)
class PrepareSettings:
    parse: ParseLimits
    open: OpenLimits
    #: the compliance mailbox (plus-address tokens are taken from it only)
    mailbox: str
    #: template family → (campaign id, its validation context), for the families with
    #: exactly one running campaign
    contexts: Mapping[str, tuple[int, ValidationContext]] = field(default_factory=dict)


@dataclass
class Prepared:
    parsed: ParsedMessage
    classification: Classification
    files: list[IncomingFile]
    #: (campaign id, file index) → the verdict with that campaign's context
    judged: dict[tuple[int, int], Result] = field(default_factory=dict)


def prepare(raw: bytes, settings: PrepareSettings, *, keep_open: bool = True) -> Prepared:
    """Parse, classify, open; judge each workbook with its family's campaign context.
    ``keep_open`` False drops the opened workbooks (to send the result between processes)."""
    parsed = parse_message(raw, settings.parse)
    classification = classify(parsed, mailbox=settings.mailbox)
    files = files_of(classification)
    open_files(files, settings.open)
    judged: dict[tuple[int, int], Result] = {}
    for number, item in enumerate(files):
        chosen = settings.contexts.get(item.family or "")
        if chosen is not None and item.is_workbook:
            judged[(chosen[0], number)] = judge(item, chosen[1])
    if not keep_open:
        files = [replace(item, opened=None) for item in files]
    return Prepared(parsed, classification, files, judged)


def _prepare_detached(raw: bytes, settings: PrepareSettings) -> Prepared:
    return prepare(raw, settings, keep_open=False)


class PreparePool:
    """Worker processes for ``prepare``; ``map`` yields results in order, as they come."""

    def __init__(self, workers: int | None = None) -> None:
        self.workers = workers or max(1, min(4, os.cpu_count() or 1))
        self._executor: ProcessPoolExecutor | None = None

    def map(self, raws: Iterable[bytes], settings: PrepareSettings,
            ahead: int = 8) -> Iterator[Prepared | BaseException]:
        """Each mail's ``Prepared`` (or the exception preparing it raised), in input order,
        with at most ``ahead`` mails in flight (memory stays bounded)."""
        if self._executor is None:
            self._executor = ProcessPoolExecutor(
                self.workers, mp_context=multiprocessing.get_context("spawn"))
        pending: list[Future[Prepared]] = []
        source = iter(raws)
        for raw in source:
            pending.append(self._executor.submit(_prepare_detached, raw, settings))
            if len(pending) >= ahead:
                yield _outcome(pending.pop(0))
        while pending:
            yield _outcome(pending.pop(0))

    def close(self) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=True, cancel_futures=True)
            self._executor = None


def _outcome(future: Future[Prepared]) -> Prepared | BaseException:
    try:
        return future.result()
    except BaseException as exc:
        return exc
