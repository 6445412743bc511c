"""Typed errors. The CLI prints ``str(error)`` as one line and exits with ``exit_code``.

``OutreachError`` and its children are expected failures a person can act on (bad input, bad
config, wrong state); anything else is a bug and shows a traceback with ``--debug``.
"""

from __future__ import annotations


class OutreachError(Exception):
    """An expected failure with a message a person can act on."""

    exit_code = 1


class ConfigError(OutreachError):
    """The configuration (file, environment, secrets) is invalid."""

    exit_code = 3


class DatabaseNotReady(OutreachError):
    """The database is missing, unreachable or not migrated to the code's schema."""

    exit_code = 4


class NotFound(OutreachError):
    exit_code = 5


class InvalidInput(OutreachError):
    """A file or argument a person gave is invalid; nothing was changed."""

    exit_code = 6


class InvalidState(OutreachError):
    """The action does not fit the current state (e.g. starting a closed campaign)."""

    exit_code = 7
