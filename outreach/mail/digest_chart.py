"""The digest's coverage-over-time chart: a PNG (common mail clients do not show SVG).

Drawn with matplotlib's object API on the Agg canvas (no pyplot, no global state, so it is
safe in the service's worker threads).
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from datetime import date, timedelta

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.dates import AutoDateLocator, ConciseDateFormatter
from matplotlib.figure import Figure

from outreach.core.coverage import SeriesPoint

WIDTH_PX, HEIGHT_PX, DPI = 640, 300, 100


def coverage_chart_png(series: Sequence[SeriesPoint], *, due_date: date | None = None,
                       projected: date | None = None, title: str = "Coverage") -> bytes:
    """Coverage % per day (accepted / in scope), the due date and the projected 100%."""
    figure = Figure(figsize=(WIDTH_PX / DPI, HEIGHT_PX / DPI), dpi=DPI)
    FigureCanvasAgg(figure)
    axes = figure.add_subplot(1, 1, 1)
    points = list(series) or [SeriesPoint(due_date or date(2000, 1, 1), 0, None)]
    days = [p.day for p in points]
    values = [100 * (p.coverage or 0.0) for p in points]
    axes.step(days, values, where="post", color="#1f6feb", linewidth=2, label="accepted")
    axes.fill_between(days, values, step="post", color="#1f6feb", alpha=0.12)
    last = points[-1]
    if projected is not None and projected > last.day and projected - last.day < timedelta(
            days=730):
        axes.plot([last.day, projected], [values[-1], 100], linestyle="--", color="#8b949e",
                  label=f"at current rate: 100% on {projected.isoformat()}")
    if due_date is not None:
        axes.axvline(due_date, color="#d1242f", linestyle=":", linewidth=1.5,
                     label=f"due {due_date.isoformat()}")
    axes.set_ylim(0, 105)
    axes.set_ylabel("% of suppliers in scope")
    axes.set_title(title, fontsize=11)
    axes.grid(True, axis="y", alpha=0.3)
    locator = AutoDateLocator()
    axes.xaxis.set_major_locator(locator)
    axes.xaxis.set_major_formatter(ConciseDateFormatter(locator))
    axes.legend(loc="upper left", fontsize=8, frameon=False)
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=DPI, metadata={"Software": None})
    return buffer.getvalue()
