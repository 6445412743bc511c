"""Run exports of one campaign into one folder: what the CLI, the tests and the bench call."""

from __future__ import annotations

import re
import time
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from sqlmodel import Session

from outreach.cmrt.validate import ACCEPTED_OUTCOMES, ValidationContext, validate
from outreach.db.models import Campaign
from outreach.reports import exports
from outreach.reports.company_cmrt import company_cmrt, describe, write_company_cmrt
from outreach.reports.originals import export_originals
from outreach.settings import Settings

KINDS = ("status", "smelters", "countries", "disclosure", "originals", "company-cmrt")


def slug(name: str) -> str:
    """``CMRT 2026`` → ``cmrt-2026``: a campaign's folder name under ``exports_dir``."""
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "-", ascii_name.lower()).strip("-") or "campaign"


def default_out(settings: Settings, campaign: Campaign) -> Path:
    return settings.exports_dir / slug(campaign.name)


@dataclass
class ExportRun:
    paths: dict[str, list[Path]] = field(default_factory=dict)
    notes: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: wall time per export, and of the consolidated smelter list ("consolidate") they share
    seconds: dict[str, float] = field(default_factory=dict)

    def all_paths(self) -> list[Path]:
        return [p for kind in self.paths.values() for p in kind]


def run_exports(session: Session, settings: Settings, campaign: Campaign,
                kinds: Sequence[str], out_dir: Path, *, fmt: exports.Format = "both",
                today: date) -> ExportRun:
    """Write the ``kinds`` of export (``KINDS``) of ``campaign`` into ``out_dir``; the
    consolidated smelter list is computed once for all that need it."""
    run = ExportRun()
    smelters: list[exports.Smelter] | None = None

    def consolidated() -> list[exports.Smelter]:
        nonlocal smelters
        if smelters is None:
            started = time.perf_counter()
            smelters = exports.consolidated_smelters(session, campaign)
            run.seconds["consolidate"] = time.perf_counter() - started
        return smelters

    for kind in kinds:
        started = time.perf_counter()
        before = run.seconds.get("consolidate", 0.0)
        if kind == "status":
            run.paths[kind] = exports.write_export(
                exports.supplier_status(session, campaign), out_dir, fmt)
        elif kind == "smelters":
            run.paths[kind] = exports.write_export(
                exports.smelter_list(session, campaign, consolidated()), out_dir, fmt)
        elif kind == "countries":
            run.paths[kind] = exports.write_export(
                exports.countries(session, campaign, consolidated()), out_dir, fmt)
        elif kind == "disclosure":
            run.paths[kind] = exports.write_export(
                exports.disclosure(session, campaign, today=today, smelters=consolidated()),
                out_dir, fmt)
        elif kind == "originals":
            report = export_originals(session, campaign, settings.attachments_dir, out_dir)
            run.paths[kind] = [report.folder, report.index]
            run.notes[kind] = {"copied": report.copied, "missing": report.missing}
        elif kind == "company-cmrt":
            result = company_cmrt(session, settings, campaign, consolidated(), today=today)
            path = write_company_cmrt(result, out_dir, settings.company.name)
            verdict = validate(result.data, ValidationContext(
                family="CMRT", reporting_year=campaign.reporting_year, today=today))
            run.paths[kind] = [path]
            run.notes[kind] = {**describe(result), "verdict": str(verdict.outcome),
                               "findings": [f"{f.severity}: {f.code} {f.sheet}!{f.cell}"
                                            for f in verdict.findings],
                               "accepted": verdict.outcome in ACCEPTED_OUTCOMES}
        else:
            raise ValueError(f"unknown export {kind!r} (one of {', '.join(KINDS)})")
        shared = run.seconds.get("consolidate", 0.0) - before
        run.seconds[kind] = time.perf_counter() - started - shared
    return run
