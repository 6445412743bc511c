"""What the demo leaves on disk at the end of the season: the digest, the exports, the
company's consolidated CMRT. Each part is written by the service's own modules; a part whose
module is not there (or fails) is reported in ``missing`` and the others still run.
"""

from __future__ import annotations

import traceback
from pathlib import Path

from sqlmodel import col, select

from outreach.bootstrap import App
from outreach.db.models import Campaign


def latest_campaign(app: App) -> Campaign:
    with app.sessions() as session:
        campaign = session.exec(select(Campaign).order_by(col(Campaign.id).desc())).first()
        if campaign is None:
            raise LookupError("no campaign")
        session.expunge(campaign)
        return campaign


def write_reports(app: App, out_dir: Path, *, missing: list[str] | None = None) -> list[Path]:
    """The digest HTML, every export and the consolidated CMRT of the latest campaign, in
    ``out_dir``; what could not be written is appended to ``missing`` (one line each)."""
    missing = missing if missing is not None else []
    out_dir.mkdir(parents=True, exist_ok=True)
    campaign = latest_campaign(app)
    paths: list[Path] = []
    today = app.clock.now().date()

    try:
        from outreach.services.digest import preview_digest

        with app.sessions() as session:
            composed = preview_digest(session, app.clock, app.settings, app.templates(),
                                      campaign)
        digest = out_dir / "digest.html"
        digest.write_text(composed.html_with_inline_image(), encoding="utf-8")
        eml = out_dir / "digest.eml"
        eml.write_bytes(composed.raw)
        paths += [digest, eml]
    except ImportError:
        missing.append("digest: outreach/services/digest.py is not there yet")
    except Exception as exc:  # a part still being built must not lose the season
        missing.append(f"digest: {type(exc).__name__}: {exc}")
        if app.settings.logging.level == "DEBUG":
            traceback.print_exc()

    try:
        from outreach.reports.runner import KINDS, run_exports

        with app.sessions() as session:
            fresh = session.get(Campaign, campaign.id)
            assert fresh is not None
            run = run_exports(session, app.settings, fresh, KINDS, out_dir, fmt="xlsx",
                              today=today)
        paths += run.all_paths()
    except ImportError:
        missing.append("exports and the consolidated CMRT: outreach/reports/ is not there yet")
    except Exception as exc:
        missing.append(f"exports: {type(exc).__name__}: {exc}")
        if app.settings.logging.level == "DEBUG":
            traceback.print_exc()
    return paths


__all__ = ["latest_campaign", "write_reports"]
