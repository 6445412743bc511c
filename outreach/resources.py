"""Where the files shipped with outreach live: the source checkout, or inside the wheel.

In a checkout (and an editable install) ``templates/``, ``config/`` and ``migrations/`` sit
beside the package; a built wheel carries copies under ``outreach/_bundled/``.
"""

from __future__ import annotations

from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent


def resource_dir(name: str) -> Path:
    for candidate in (_PACKAGE.parent / name, _PACKAGE / "_bundled" / name):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(f"outreach's {name}/ folder is missing from this installation")
