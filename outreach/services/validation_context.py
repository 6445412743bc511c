"""The one place a ``ValidationContext`` is built from settings, a campaign and smelter lists.

Intake (per campaign), re-validation and ``outreach validate`` all come through here, so a
workbook gets the same verdict whichever path it takes.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date

from outreach.cmrt.opening import OpenLimits
from outreach.cmrt.validate import ValidationContext
from outreach.services.smelters import SmelterData
from outreach.settings import ValidationSettings

MB = 1024 * 1024


def open_limits(settings: ValidationSettings) -> OpenLimits:
    return OpenLimits(max_bytes=int(settings.max_file_mb * MB),
                      max_uncompressed_bytes=int(settings.max_uncompressed_mb * MB),
                      max_ratio=settings.max_compression_ratio)


def validation_context(
    settings: ValidationSettings,
    *,
    family: str | None,
    min_versions: Mapping[str, str] | None = None,
    reporting_year: int | None = None,
    today: date | None = None,
    smelters: SmelterData | None = None,
) -> ValidationContext:
    """``family`` None accepts CMRT and EMRT; ``min_versions`` overrides the defaults."""
    defaults = ValidationContext()
    return ValidationContext(
        family=family,
        min_versions={**defaults.min_versions, **(min_versions or {})},
        limits=open_limits(settings),
        reporting_year=reporting_year,
        today=today,
        reference=smelters.reference if smelters and len(smelters.reference) else None,
        rmap_status=smelters.status if smelters else {},
        red_flags=smelters.red_flags if smelters and len(smelters.red_flags) else None,
        severity=dict(settings.severity),
    )
