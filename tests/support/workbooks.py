"""Filled-in CMRTs for tests: the shipped RMI 6.5 blank, patched by ``outreach.cmrt.fill``."""

from __future__ import annotations

import random
from functools import lru_cache

from outreach.cmrt.fill import Defect, fill_cmrt, flawed, sample_filing, smelter_lookup
from outreach.mail.blank_template import blank_template


@lru_cache(maxsize=1)
def blank() -> bytes:
    return blank_template("CMRT").data


def accepted_cmrt(seed: int, *, company: str | None = None,
                  contact_email: str | None = None, smelter_rows: tuple[int, int] = (3, 12)
                  ) -> bytes:
    """A complete CMRT 6.5 our validator accepts (possibly with warnings)."""
    rng = random.Random(seed)
    filing = sample_filing(rng, smelter_lookup(blank()), company_name=company,
                           contact_email=contact_email, smelter_rows=smelter_rows)
    return fill_cmrt(blank(), filing)


def rejected_cmrt(seed: int, defect: Defect = Defect.NO_AUTHORIZER) -> bytes:
    """A CMRT 6.5 with one defect the validator rejects (by default: no authorizer)."""
    rng = random.Random(seed)
    filing = sample_filing(rng, smelter_lookup(blank()), smelter_rows=(3, 12))
    return fill_cmrt(blank(), flawed(filing, rng, defect).filing)
