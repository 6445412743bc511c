"""How commands talk to people and machines: rich tables on a terminal, JSON with --json.

Consoles are created per call, so redirected or captured streams are honoured.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Sequence
from datetime import date, datetime
from typing import Any, TextIO
from zoneinfo import ZoneInfo

from rich.console import Console
from rich.table import Table

#: width when output goes to a file or pipe (rich would assume 80 columns and wrap)
PIPE_WIDTH = 160


def _console(stream: TextIO, **kwargs: Any) -> Console:
    width = None if stream.isatty() else PIPE_WIDTH
    return Console(file=stream, soft_wrap=True, width=width, **kwargs)


def out() -> Console:
    return _console(sys.stdout)


def err() -> Console:
    return _console(sys.stderr, highlight=False)


def _default(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if hasattr(value, "model_dump"):
        return value.model_dump(mode="json")
    if isinstance(value, set | frozenset | tuple):
        return list(value)
    return str(value)


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, default=_default, ensure_ascii=False, indent=2) + "\n")


def table(title: str | None, columns: Sequence[str], rows: Iterable[Sequence[Any]],
          *, caption: str | None = None) -> Table:
    t = Table(title=title, caption=caption, show_lines=False, header_style="bold")
    for column in columns:
        t.add_column(column, overflow="fold")
    for row in rows:
        t.add_row(*("" if cell is None else str(cell) for cell in row))
    return t


def when(value: datetime | None, tz: str = "UTC") -> str:
    """An instant for people: in the company's zone, to the minute."""
    if value is None:
        return ""
    return value.astimezone(ZoneInfo(tz)).strftime("%Y-%m-%d %H:%M %Z")
