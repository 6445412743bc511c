"""How simulated suppliers behave: the behaviour profiles as data, and a loader for a file.

A profile is a short script of :class:`Step` s. Each step waits for the supplier to receive
one kind of our e-mail (``on``: a ladder template such as ``request``, ``reminder``,
``follow_up``, ``senior_notice``, or one of our answers: ``correction``, ``unreadable``,
``answer`` = either), then after ``delay_days`` does ``action`` (send a complete CMRT, a
flawed one, a legacy template, a PDF, a question, an out-of-office reply, or let the mail
system bounce it) from ``sender`` (``primary``, a ``colleague`` in the supplier's domain,
or the ``dead`` address that bounces). Steps run in order, each once. A profile without
steps never answers: its request is handed over.

The behaviour model is illustrative: shares and delays are plausible, not measured.
``outreach simulate --profiles FILE`` lets an admin describe last season's suppliers
instead, as TOML::

    [[profile]]
    behaviour = "prompt"     # a built-in profile (see PROFILES) ...
    weight = 20              # ... its share of the suppliers
    delay_days = 1           # optional: overrides every step's delay

    [[profile]]
    name = "slow_then_ok"    # or a profile of your own
    weight = 5
    steps = [{on = "reminder", action = "cmrt", delay_days = 6}]

or as CSV with the columns ``behaviour,weight[,delay_days]``.
"""

from __future__ import annotations

import csv
import io
import random
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from outreach.errors import InvalidInput

#: what a step can wait for
TRIGGERS = frozenset({"request", "reminder", "follow_up", "senior_notice", "correction",
                      "unreadable", "answer"})
#: what a step can do
ACTIONS = frozenset({"cmrt", "flawed", "legacy", "pdf", "question", "autoreply", "bounce"})
SENDERS = frozenset({"primary", "colleague", "dead"})
#: our answers that ask the supplier to send the file again
ANSWER_KINDS = frozenset({"correction", "unreadable"})


@dataclass(frozen=True)
class Step:
    on: str
    action: str
    delay_days: float = 2.0
    sender: str = "primary"

    def __post_init__(self) -> None:
        if self.on not in TRIGGERS:
            raise InvalidInput(f"step on {self.on!r}: must be one of {sorted(TRIGGERS)}")
        if self.action not in ACTIONS:
            raise InvalidInput(f"step action {self.action!r}: must be one of {sorted(ACTIONS)}")
        if self.sender not in SENDERS:
            raise InvalidInput(f"step sender {self.sender!r}: must be one of {sorted(SENDERS)}")
        if not 0 <= self.delay_days <= 365:
            raise InvalidInput(f"step delay_days {self.delay_days}: must be 0 to 365")

    def triggered_by(self, kind: str) -> bool:
        return kind == self.on or (self.on == "answer" and kind in ANSWER_KINDS)


@dataclass(frozen=True)
class Profile:
    name: str
    label: str
    steps: tuple[Step, ...] = ()
    weight: float = 1.0

    @property
    def responsive(self) -> bool:
        """Ends with a complete CMRT (the demo expects these covered)."""
        return any(step.action == "cmrt" for step in self.steps)

    @property
    def needs_dead_address(self) -> bool:
        return any(step.sender == "dead" for step in self.steps)


def _p(name: str, label: str, weight: float, *steps: Step) -> Profile:
    return Profile(name, label, tuple(steps), weight)


#: the built-in profiles; weights are the shares of 60 suppliers
PROFILES: dict[str, Profile] = {p.name: p for p in (
    _p("prompt", "prompt and correct", 14, Step("request", "cmrt", 3)),
    _p("late", "late: answers after the due date", 8, Step("follow_up", "cmrt", 3)),
    _p("after_notice", "answers only after the senior-officer notice", 5,
       Step("senior_notice", "cmrt", 4)),
    _p("incomplete", "incomplete CMRT, then corrects it", 6,
       Step("request", "flawed", 5), Step("correction", "cmrt", 3)),
    _p("legacy", "legacy template, then the current one", 3,
       Step("request", "legacy", 4), Step("answer", "cmrt", 4)),
    _p("pdf", "sends a PDF, then the workbook", 3,
       Step("request", "pdf", 4), Step("answer", "cmrt", 2)),
    _p("colleague", "a colleague answers from another address", 4,
       Step("request", "cmrt", 6, "colleague")),
    _p("question", "replies with a question, answers after a reminder", 4,
       Step("request", "question", 2), Step("reminder", "cmrt", 3)),
    _p("autoreply", "auto-replies (out of office), answers after a reminder", 4,
       Step("request", "autoreply", 0), Step("reminder", "cmrt", 2)),
    _p("bounce", "an old address bounces, the other answers after a reminder", 3,
       Step("request", "bounce", 0, "dead"), Step("reminder", "cmrt", 2)),
    _p("never", "never answers (handed over)", 6),
)}


def assign(profiles: Sequence[Profile], count: int, seed: int) -> list[Profile]:
    """``count`` profiles, deterministic per seed: each profile once (while there are
    suppliers), the rest by weight (largest remainder), shuffled."""
    if not profiles:
        raise InvalidInput("no behaviour profiles")
    chosen = list(profiles[:count])
    rest = count - len(chosen)
    if rest > 0:
        total = sum(p.weight for p in profiles)
        exact = [rest * p.weight / total for p in profiles]
        counts = [int(x) for x in exact]
        order = sorted(range(len(profiles)), key=lambda i: exact[i] - counts[i], reverse=True)
        for i in order[:rest - sum(counts)]:
            counts[i] += 1
        for profile, n in zip(profiles, counts, strict=True):
            chosen.extend([profile] * n)
    random.Random(seed).shuffle(chosen)  # noqa: S311 - a simulation, not security
    return chosen


# --------------------------------------------------------------------------- loading a file


def load_profiles(path: Path) -> list[Profile]:
    """Profiles from a TOML or CSV file (see the module docstring); every problem is an
    :class:`InvalidInput` naming the file and the entry."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise InvalidInput(f"{path}: cannot read the profiles file ({exc.strerror})") from exc
    if path.suffix.lower() == ".csv":
        entries = _csv_entries(path, text)
    else:
        try:
            document = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise InvalidInput(f"{path}: not valid TOML: {exc}") from exc
        raw = document.get("profile")
        if not isinstance(raw, list) or not raw:
            raise InvalidInput(f"{path}: expected one or more [[profile]] tables")
        entries = [(f"[[profile]] #{i}", e) for i, e in enumerate(raw, 1)]
    profiles = [_entry(path, where, entry) for where, entry in entries]
    if not any(p.weight > 0 for p in profiles):
        raise InvalidInput(f"{path}: every weight is 0")
    return profiles


def _csv_entries(path: Path, text: str) -> list[tuple[str, dict[str, Any]]]:
    reader = csv.DictReader(io.StringIO(text))
    fields = {f.strip().lower() for f in reader.fieldnames or ()}
    if not {"behaviour", "weight"} <= fields:
        raise InvalidInput(f"{path}: the CSV needs the columns behaviour,weight[,delay_days]")
    entries = []
    for line, row in enumerate(reader, 2):
        clean = {k.strip().lower(): (v or "").strip() for k, v in row.items() if k}
        if not any(clean.values()):
            continue
        entry: dict[str, Any] = {"behaviour": clean["behaviour"], "weight": clean["weight"]}
        if clean.get("delay_days"):
            entry["delay_days"] = clean["delay_days"]
        entries.append((f"line {line}", entry))
    if not entries:
        raise InvalidInput(f"{path}: no profile rows")
    return entries


def _number(path: Path, where: str, key: str, value: Any) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise InvalidInput(f"{path}, {where}: {key} {value!r} is not a number") from None
    if number < 0:
        raise InvalidInput(f"{path}, {where}: {key} must not be negative")
    return number


def _entry(path: Path, where: str, entry: Mapping[str, Any]) -> Profile:
    if not isinstance(entry, Mapping):
        raise InvalidInput(f"{path}, {where}: expected a table")
    unknown = set(entry) - {"behaviour", "name", "label", "weight", "delay_days", "steps"}
    if unknown:
        raise InvalidInput(f"{path}, {where}: unknown keys {sorted(unknown)}")
    weight = _number(path, where, "weight", entry.get("weight", 1))
    try:
        if "steps" in entry:
            steps_raw = entry["steps"]
            if not isinstance(steps_raw, list):
                raise InvalidInput("steps must be a list of tables")
            steps = tuple(Step(**_step_keys(s)) for s in steps_raw)
            name = str(entry.get("name") or entry.get("behaviour") or "")
            if not name:
                raise InvalidInput("a profile with steps needs a name")
            profile = Profile(name, str(entry.get("label") or name), steps, weight)
        else:
            behaviour = str(entry.get("behaviour", ""))
            if behaviour not in PROFILES:
                raise InvalidInput(f"behaviour {behaviour!r} is not one of "
                                   f"{', '.join(PROFILES)} (or give steps)")
            profile = replace(PROFILES[behaviour], weight=weight,
                              name=str(entry.get("name") or behaviour))
        if "delay_days" in entry:
            delay = _number(path, where, "delay_days", entry["delay_days"])
            profile = replace(profile, steps=tuple(replace(s, delay_days=delay)
                                                   for s in profile.steps))
    except InvalidInput as exc:
        raise InvalidInput(f"{path}, {where}: {exc}") from None
    except TypeError as exc:
        raise InvalidInput(f"{path}, {where}: bad step ({exc})") from None
    return profile


def _step_keys(step: Any) -> dict[str, Any]:
    if not isinstance(step, Mapping):
        raise InvalidInput("each step is a table: {on = ..., action = ...}")
    unknown = set(step) - {"on", "action", "delay_days", "sender"}
    if unknown:
        raise InvalidInput(f"unknown step keys {sorted(unknown)}")
    return dict(step)


__all__ = ["PROFILES", "Profile", "Step", "assign", "load_profiles"]
