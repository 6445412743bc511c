"""Real workbooks with cells changed in memory: pure tests of what the validator reads.

``edited(path, {"Declaration": {"D8": None, "D26": "Maybe"}})`` loads a real RMI workbook
with the same parser the service uses and overrides cells in the parsed grids, so a rule
test states its input in a line and runs in milliseconds. (Tests of files as suppliers
send them patch the bytes instead: tests/test_cmrt_libreoffice.py.)
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from outreach.cmrt.workbook import CellValue, Sheet, Workbook, load_workbook_bytes, parse_ref


def edited(path: Path, edits: Mapping[str, Mapping[str, CellValue]]) -> Workbook:
    wb = load_workbook_bytes(path.read_bytes())
    for name, cells in edits.items():
        grid = [list(row) for row in wb.sheet(name).grid]
        for ref, value in cells.items():
            row, col = parse_ref(ref)
            while len(grid) <= row:
                grid.append([])
            line = grid[row]
            while len(line) <= col:
                line.append("")
            line[col] = "" if value is None else value
        wb._sheets[name] = Sheet(name, grid)
    return wb
