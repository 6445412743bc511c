"""Structured logging: one line per outcome, bound context, JSON when not on a terminal.

Use ``log = structlog.get_logger(__name__)`` and bind what the line is about
(``log.bind(campaign=..., supplier=..., request=...)``). E-mail addresses are personal data:
at INFO and above they are masked (``j***@acme.example``); only DEBUG lines show them.
"""

from __future__ import annotations

import logging
import re
import sys
from typing import Any, TextIO

import structlog

from outreach.settings import LoggingSettings

_ADDRESS = re.compile(r"([A-Za-z0-9._%+-])[A-Za-z0-9._%+-]*@([A-Za-z0-9.-]+\.[A-Za-z]{2,})")


def mask_addresses(text: str) -> str:
    return _ADDRESS.sub(r"\1***@\2", text)


def _mask(value: Any) -> Any:
    if isinstance(value, str):
        return mask_addresses(value)
    if isinstance(value, list | tuple):
        return type(value)(_mask(v) for v in value)
    if isinstance(value, dict):
        return {k: _mask(v) for k, v in value.items()}
    return value


def mask_addresses_unless_debug(
    _logger: Any, method_name: str, event_dict: dict[str, Any]
) -> dict[str, Any]:
    """structlog processor: addresses survive only on DEBUG lines."""
    if method_name == "debug":
        return event_dict
    return {key: _mask(value) for key, value in event_dict.items()}


def configure_logging(settings: LoggingSettings, stream: TextIO | None = None) -> None:
    out = stream or sys.stderr
    fmt = settings.format
    if fmt == "auto":
        fmt = "console" if out.isatty() else "json"
    renderer: Any = (
        structlog.dev.ConsoleRenderer(colors=out.isatty())
        if fmt == "console"
        else structlog.processors.JSONRenderer(sort_keys=False)
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            mask_addresses_unless_debug,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(
            logging.getLevelNamesMapping()[settings.level]
        ),
        logger_factory=structlog.PrintLoggerFactory(out),
        cache_logger_on_first_use=False,
    )
