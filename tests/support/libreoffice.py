"""LibreOffice as an oracle: recalculate workbooks headlessly and read their Checker count.

RMI's own ``Checker`` sheet, recalculated by LibreOffice, is an independent judge of how many
required fields a workbook still misses (``Checker!D2``). The recipe is
``shared/recipes/libreoffice-checker.md``: a throw-away user profile whose
``OOXMLRecalcMode`` is 0 ("always recalculate on load") — without it LibreOffice keeps the
stale cached values of an .xlsx — and one ``soffice --convert-to xlsx`` call for many files,
since each start costs a few seconds and each file about one.

Typical use::

    soffice = find_soffice()
    converted = recalculate([path_a, path_b], out_dir, soffice=soffice)
    count = checker_count(converted[path_a])

Writing a whole CMRT back as .xlsx costs LibreOffice about 1.5 s per file more than the
recalculation itself; ``recalculate_checker_csv`` exports only the Checker sheet as CSV
(same recalculated values, about 1 s per file) for tests that convert many files.
"""

from __future__ import annotations

import csv
import os
import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import openpyxl

INSTALL_HINT = (
    "install LibreOffice Calc (scripts/install-test-services as root, or "
    "apt-get install --no-install-recommends libreoffice-calc)"
)
_CANDIDATES = (
    "/usr/bin/soffice",
    "/usr/lib/libreoffice/program/soffice",
    "/opt/libreoffice/program/soffice",
    "/Applications/LibreOffice.app/Contents/MacOS/soffice",
)
_PROFILE_SETTINGS = """\
<?xml version="1.0" encoding="UTF-8"?>
<oor:items xmlns:oor="http://openoffice.org/2001/registry" \
xmlns:xs="http://www.w3.org/2001/XMLSchema" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
<item oor:path="/org.openoffice.Office.Calc/Formula/Load"><prop oor:name="OOXMLRecalcMode" \
oor:op="fuse"><value>0</value></prop></item>
</oor:items>
"""


class LibreOfficeError(RuntimeError):
    """soffice failed, timed out, or did not write a converted file."""


def find_soffice() -> str | None:
    """Path of the ``soffice`` binary (``$SOFFICE``, PATH, usual install folders) or None."""
    configured = os.environ.get("SOFFICE")
    if configured and Path(configured).is_file():
        return configured
    for name in ("soffice", "libreoffice"):
        found = shutil.which(name)
        if found:
            return found
    for candidate in (*_CANDIDATES, *map(str, Path("/opt").glob("libreoffice*/program/soffice"))):
        if Path(candidate).is_file() and os.access(candidate, os.X_OK):
            return candidate
    return None


def make_profile(folder: Path) -> Path:
    """A throw-away LibreOffice user profile that recalculates every file on load."""
    user = folder / "user"
    user.mkdir(parents=True, exist_ok=True)
    (user / "registrymodifications.xcu").write_text(_PROFILE_SETTINGS, encoding="utf-8")
    return folder


def recalculate(
    files: Sequence[Path],
    out_dir: Path,
    *,
    soffice: str,
    batches: int = 1,
    timeout: float = 600.0,
) -> dict[Path, Path]:
    """Recalculate ``files`` (.xlsx with distinct stems) → {input: converted .xlsx in out_dir}.

    ``batches`` > 1 splits the files over that many soffice processes running side by side,
    each with its own profile (one profile cannot be shared by two running instances).
    Raises ``LibreOfficeError`` if soffice fails or a converted file is missing.
    """
    _run_batches(files, out_dir, "xlsx", soffice, batches, timeout)
    return _outputs(files, out_dir, "{stem}.xlsx")


def recalculate_checker_csv(
    files: Sequence[Path],
    out_dir: Path,
    *,
    soffice: str,
    sheet_number: int,
    batches: int = 1,
    timeout: float = 600.0,
) -> dict[Path, Path]:
    """Recalculate ``files`` and export only sheet ``sheet_number`` (1-based) as UTF-8 CSV.

    Values are exported raw (not "as shown"); read them with ``csv_cell``.
    """
    # Text - txt - csv export tokens: separator ",", quote '"', UTF-8 (76), from line 1,
    # no column formats, default language, quoted-as-text off, special numbers on,
    # contents "as shown" off, formulas off, trim off, then the sheet to export.
    target = (
        "csv:Text - txt - csv (StarCalc):44,34,76,1,,0,false,true,false,false,false,"
        f"{sheet_number}"
    )
    _run_batches(files, out_dir, target, soffice, batches, timeout)
    return _outputs(files, out_dir, "{stem}-*.csv")


def csv_cell(path: Path, ref: str) -> str:
    """The text of cell ``ref`` ("D2") in a CSV export ("" when outside the data)."""
    letters = "".join(ch for ch in ref if ch.isalpha()).upper()
    row = int("".join(ch for ch in ref if ch.isdigit()))
    col = 0
    for char in letters:
        col = col * 26 + ord(char) - 64
    with path.open(newline="", encoding="utf-8-sig") as handle:
        for number, record in enumerate(csv.reader(handle), start=1):
            if number == row:
                return record[col - 1] if col <= len(record) else ""
    return ""


def _run_batches(
    files: Sequence[Path], out_dir: Path, target: str, soffice: str, batches: int,
    timeout: float,
) -> None:
    stems = [f.stem for f in files]
    if len(set(stems)) != len(stems):
        raise ValueError("files to convert must have distinct names (outputs share out_dir)")
    out_dir.mkdir(parents=True, exist_ok=True)
    batches = max(1, min(batches, len(files)))
    groups = [list(files[i::batches]) for i in range(batches)]
    with ThreadPoolExecutor(max_workers=batches) as pool:
        list(pool.map(lambda group: _convert(group, out_dir, target, soffice, timeout), groups))


def _outputs(files: Sequence[Path], out_dir: Path, pattern: str) -> dict[Path, Path]:
    result: dict[Path, Path] = {}
    missing = []
    for source in files:
        found = sorted(out_dir.glob(pattern.format(stem=source.stem)))
        if found:
            result[source] = found[0]
        else:
            missing.append(source.name)
    if missing:
        raise LibreOfficeError(f"soffice wrote no converted file for: {', '.join(missing)}")
    return result


def _convert(
    files: Sequence[Path], out_dir: Path, target: str, soffice: str, timeout: float
) -> None:
    if not files:
        return
    with tempfile.TemporaryDirectory(prefix="lo-profile-") as folder:
        profile = make_profile(Path(folder))
        command = [
            soffice,
            f"-env:UserInstallation={profile.as_uri()}",
            "--headless",
            "--norestore",
            "--nolockcheck",
            "--calc",
            "--convert-to",
            target,
            "--outdir",
            str(out_dir),
            *map(str, files),
        ]
        env = {**os.environ, "HOME": folder}
        try:
            completed = subprocess.run(
                command, capture_output=True, text=True, timeout=timeout, env=env, check=False
            )
        except subprocess.TimeoutExpired as exc:
            raise LibreOfficeError(f"soffice timed out after {timeout:.0f} s") from exc
        if completed.returncode != 0:
            raise LibreOfficeError(
                f"soffice exited {completed.returncode}: {completed.stderr.strip()[-2000:]}"
            )


def checker_count(path: Path, sheet: str = "Checker", cell: str = "D2") -> int:
    """The recalculated ``Checker!D2`` of a converted file, as an int ("0" strings accepted).

    ``path`` is a converted .xlsx (read with openpyxl, cached values) or a CSV export of the
    Checker sheet alone.
    """
    value: object
    if path.suffix.lower() == ".csv":
        value = csv_cell(path, cell)
    else:
        book = openpyxl.load_workbook(path, read_only=True, data_only=True)
        try:
            value = book[sheet][cell].value
        finally:
            book.close()
    if isinstance(value, bool) or value is None:
        raise LibreOfficeError(f"{path.name}: {sheet}!{cell} holds {value!r}, not a count")
    if isinstance(value, (int, float)):
        return int(value)
    try:
        return int(float(str(value).strip()))
    except ValueError:
        raise LibreOfficeError(f"{path.name}: {sheet}!{cell} holds {value!r}, not a count") \
            from None
