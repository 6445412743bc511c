"""``outreach simulate``: the season engine without mail servers, to compare ladders.

The same loop as the demo (``season.run_season``): the service's own jobs decide, deliver
and poll on a stepped clock; only the transport differs — messages are written to the local
outbox (``smtp.transport = "local"``) and handed from there to the simulated suppliers,
whose replies go into the Maildir the service polls. Each ladder runs in a temporary data
directory of its own, on the same suppliers and profiles (same seed).

Figures per ladder: the days from the start until every responsive supplier had an accepted
CMRT, the e-mails per supplier (all of them, and the ladder's alone), how many suppliers
reached the senior officer's notice, how many were handed over. The behaviour model is
illustrative (``profiles.py``); ``--profiles FILE`` describes last season's suppliers instead.
"""

from __future__ import annotations

import tempfile
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from outreach.core.enums import RequestState
from outreach.core.ladder import Ladder
from outreach.demo.profiles import PROFILES, Profile
from outreach.demo.season import SeasonConfig, SeasonResult, run_season
from outreach.errors import InvalidInput
from outreach.settings import Settings

ILLUSTRATIVE = ("The behaviour model is illustrative: its profiles, shares and delays are "
                "plausible, not measured. Describe last season's suppliers with --profiles FILE.")


@dataclass(frozen=True)
class LadderFigures:
    name: str
    suppliers: int
    responsive: int
    responsive_accepted: int
    #: days from the start until the last responsive supplier was accepted (None: never)
    days_to_full: int | None
    emails_per_supplier: float
    ladder_emails_per_supplier: float
    senior_notice: int
    handed_over: int
    season_days: int
    seconds: float

    def as_json(self) -> dict[str, Any]:
        return dict(self.__dict__)


def load_ladder(path: Path) -> Ladder:
    """A ladder from TOML: a ``[ladder]`` table as in config/outreach.toml (with
    ``[[ladder.stages]]``), or the same keys at the top level (``[[stages]]``)."""
    try:
        document = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise InvalidInput(f"{path}: cannot read the ladder file ({exc.strerror})") from exc
    except tomllib.TOMLDecodeError as exc:
        raise InvalidInput(f"{path}: not valid TOML: {exc}") from exc
    raw = document.get("ladder", document)
    if not isinstance(raw, dict) or "stages" not in raw:
        raise InvalidInput(f"{path}: expected a [ladder] table with [[ladder.stages]]")
    try:
        return Ladder.model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc']) or 'ladder'}: {e['msg']}"
                             for e in exc.errors())
        raise InvalidInput(f"{path}: not a valid ladder: {problems}") from None


def figures(name: str, result: SeasonResult) -> LadderFigures:
    outcomes = result.outcomes
    responsive = [o for o in outcomes if o.responsive]
    accepted = [o for o in responsive if o.state == RequestState.ACCEPTED]
    days = [o.accepted_day for o in accepted if o.accepted_day is not None]
    count = max(len(outcomes), 1)
    return LadderFigures(
        name=name, suppliers=len(outcomes), responsive=len(responsive),
        responsive_accepted=len(accepted),
        days_to_full=max(days) if days and len(accepted) == len(responsive) else None,
        emails_per_supplier=round(sum(o.emails for o in outcomes) / count, 2),
        ladder_emails_per_supplier=round(sum(o.ladder_emails for o in outcomes) / count, 2),
        senior_notice=sum(o.senior_notice for o in outcomes),
        handed_over=sum(o.state == RequestState.HANDED_OVER for o in outcomes),
        season_days=result.snapshot.day, seconds=round(result.seconds, 1))


def simulate(settings: Settings, ladders: Sequence[tuple[str, Ladder]], *, suppliers: int,
             seed: int, profiles: Sequence[Profile] | None = None) -> list[LadderFigures]:
    """Run one season per ladder (same suppliers, same seed) and return its figures."""
    chosen = list(profiles) if profiles else list(PROFILES.values())
    results = []
    for name, ladder in ladders:
        with tempfile.TemporaryDirectory(prefix="outreach-simulate-") as folder:
            local = settings.model_copy(update={"data": Path(folder)})
            result = run_season(local, SeasonConfig(
                suppliers=suppliers, seed=seed, profiles=chosen, ladder=ladder, mail="local",
                reports=False))
            results.append(figures(name, result))
    return results


__all__ = ["ILLUSTRATIVE", "LadderFigures", "figures", "load_ladder", "simulate"]
