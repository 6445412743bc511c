"""Write a large, realistic example supplier file (CSV or XLSX, by the output's suffix).

    python examples/generate_suppliers.py --count 2000 suppliers.xlsx

The rows are deterministic for a given --seed, so a file can be regenerated for a bug
report or a benchmark and be byte-for-byte comparable (CSV) or value-identical (XLSX).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from outreach.imports.sample_suppliers import generate_suppliers, write_supplier_file


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("output", type=Path, help="file to write: .csv (UTF-8) or .xlsx")
    parser.add_argument("--count", type=int, default=2000, help="number of suppliers (2000)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (0)")
    args = parser.parse_args(argv)
    if args.count < 1:
        parser.error("--count must be at least 1")
    if args.output.suffix.lower() not in {".csv", ".xlsx"}:
        parser.error("the output must end in .csv or .xlsx")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    rows = generate_suppliers(args.count, seed=args.seed)
    write_supplier_file(rows, args.output)
    print(f"wrote {len(rows)} suppliers to {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
