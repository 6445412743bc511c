"""Running the CLI in a test as a newcomer does: ``main(argv)`` with a data directory."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path

import pytest

from outreach.cli import main

Runner = Callable[..., tuple[int, str, str]]


def cli_runner(data: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
               env: Mapping[str, str] = {}) -> Runner:
    """``run("status", "--json") -> (exit code, stdout, stderr)`` for ``outreach --data DATA``,
    logging quiet and ``env`` set for the test."""
    monkeypatch.setenv("OUTREACH_LOGGING__LEVEL", "WARNING")
    for key, value in env.items():
        monkeypatch.setenv(key, value)

    def run(*args: str) -> tuple[int, str, str]:
        code = main(["--data", str(data), *args])
        captured = capsys.readouterr()
        return code, captured.out, captured.err

    return run
