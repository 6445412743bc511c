"""validate() against openpyxl's load_workbook(data_only=True) on the same real workbooks.

    .venv/bin/python bench/bench_validate.py [--rounds 3]

Distinct real files (the reference templates and returns; no result caching): the median
per-file time of each, their ratio (goal: validate at least 20x faster), and peak memory
of one validate() call (tracemalloc, Python allocations only).
"""

from __future__ import annotations

import argparse
import statistics
import time
import tracemalloc
from pathlib import Path

import openpyxl

from outreach.cmrt.validate import ValidationContext, validate

DATA = Path(__file__).resolve().parents[1] / "tests" / "data" / "cmrt"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    files = sorted((DATA / "templates").glob("*.xlsx")) + sorted((DATA / "returns").glob("*"))
    context = ValidationContext(family=None)
    ours: list[float] = []
    theirs: list[float] = []
    for _ in range(args.rounds):
        for path in files:
            data = path.read_bytes()
            started = time.perf_counter()
            validate(data, context)
            ours.append(time.perf_counter() - started)
            started = time.perf_counter()
            openpyxl.load_workbook(path, data_only=True, read_only=False).close()
            theirs.append(time.perf_counter() - started)
    jx = (DATA / "returns" / "CMRT_6.4_JX_Advanced_Metals.xlsx").read_bytes()
    tracemalloc.start()
    validate(jx, context)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    a, b = statistics.median(ours), statistics.median(theirs)
    print(f"{len(files)} workbooks x {args.rounds} rounds")
    print(f"validate()                 median {a * 1000:7.1f} ms")
    print(f"openpyxl load (data_only)  median {b * 1000:7.1f} ms")
    print(f"ratio                      {b / a:7.1f}x faster (goal >= 20x)")
    print(f"peak Python memory of validate() on the JX return: {peak / 1e6:.1f} MB")


if __name__ == "__main__":
    main()
