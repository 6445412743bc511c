"""How a test asks for a real service it cannot run without.

Under ``CI=true`` a missing service is a failure (CI must prove the real thing); on a
developer's machine it is a skip whose message says what to install.
"""

from __future__ import annotations

import os

import pytest


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in {"1", "true", "yes"}


def require_service(available: bool, what: str, install_hint: str) -> None:
    """Fail (CI) or skip (elsewhere) when ``available`` is false."""
    if available:
        return
    message = f"{what} is not available: {install_hint}"
    if in_ci():
        pytest.fail(f"CI=true and {message}", pytrace=False)
    pytest.skip(message)
