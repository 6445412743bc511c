"""The blank RMI template attached to every request, in English, named for the supplier.

The newest workbook of a family under ``templates/cmrt/`` (shipped: RMI's CMRT 6.5) is used
as RMI publishes it, with one change written by ``cmrt.patch`` (never a load-and-save):
the language cell ``Declaration!D3`` set to English, since RMI's file was saved with
another language selected. Its cached labels are dropped with it, so Excel (and
LibreOffice) recalculate them in English when the supplier opens the file.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from outreach.cmrt.identify import identify
from outreach.cmrt.opening import Opened, open_workbook
from outreach.cmrt.patch import patch_workbook
from outreach.resources import resource_dir

_SAFE = re.compile(r"[^A-Za-z0-9._-]+")


@dataclass(frozen=True)
class BlankTemplate:
    family: str
    version: str
    data: bytes
    source: Path
    #: sha256 of ``data``, computed once (the outbox stores the file by it for every request)
    sha256: str = ""

    def __post_init__(self) -> None:
        if not self.sha256:
            object.__setattr__(self, "sha256", hashlib.sha256(self.data).hexdigest())

    def filename_for(self, supplier_code: str) -> str:
        """``RMI_CMRT_6.5_SZ-0042.xlsx``: the supplier's code in the name it saves under."""
        code = _SAFE.sub("_", supplier_code).strip("_") or "supplier"
        return f"RMI_{self.family}_{self.version}_{code}.xlsx"


class NoBlankTemplate(LookupError):
    """No workbook of the family is shipped; the message says where to put one."""


def blank_template(family: str = "CMRT", folder: Path | None = None) -> BlankTemplate:
    """The newest blank template of ``family`` in ``folder`` (default: templates/cmrt)."""
    return _newest(family, folder or resource_dir("templates") / "cmrt")


@cache
def _newest(family: str, folder: Path) -> BlankTemplate:
    candidates = []
    for path in sorted(folder.glob("*.xlsx")):
        opened = open_workbook(path.read_bytes())
        template = identify(opened.workbook) if isinstance(opened, Opened) else None
        if template is not None and template.family == family:
            candidates.append((template.version_key, template.version, path))
    if not candidates:
        raise NoBlankTemplate(f"no blank {family} workbook in {folder}: put RMI's current "
                              f"{family} .xlsx there (see templates/README.md)")
    _, version, path = max(candidates)
    english = patch_workbook(path.read_bytes(), {"Declaration": {"D3": "English"}})
    return BlankTemplate(family, version, english, path)
