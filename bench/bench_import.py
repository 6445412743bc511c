"""Supplier import speed: `import_suppliers` against a bare bulk insert of the same rows.

    .venv/bin/python bench/bench_import.py [--count 2000] [--postgres URL]

For each database it reports, in one run (shared machines are noisy, so compare ratios):
* baseline: the same suppliers and contacts inserted with two SQLAlchemy Core executemany
  statements (the least work any importer must do);
* first import (creates everything, writes one audit event per supplier);
* re-import of the unchanged file (reads, compares, writes only the summary event);
* reading the XLSX file alone (the supplier file reader).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from _pg import pg_schema  # bench/_pg.py: the scripts run from this folder
from sqlalchemy import insert

from outreach.core.clock import SystemClock
from outreach.db.engine import make_engine, session_factory, transaction
from outreach.db.migrate import upgrade
from outreach.db.models import Contact, Supplier
from outreach.imports.sample_suppliers import generate_suppliers, write_supplier_file
from outreach.imports.supplier_file import SupplierFile, read_supplier_file
from outreach.logs import configure_logging
from outreach.services.import_suppliers import import_suppliers
from outreach.settings import LoggingSettings


def timed(fn: Callable[[], object]) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def baseline(url: str, parsed: SupplierFile) -> float:
    engine = make_engine(url)
    upgrade(engine)
    now = SystemClock().now()

    def run() -> None:
        with engine.begin() as conn:
            ids = conn.execute(insert(Supplier).returning(Supplier.id), [
                {"code": r.code, "name": r.name, "country": r.country, "time_zone": r.time_zone,
                 "language": r.language, "email_domains": list(r.email_domains),
                 "buyer": r.buyer, "scope_tags": list(r.scope_tags), "active": True,
                 "created_at": now, "updated_at": now} for r in parsed.rows]).scalars().all()
            conn.execute(insert(Contact), [
                {"supplier_id": sid, "role": c.role, "name": c.name, "email": c.email,
                 "status": "active", "created_at": now, "updated_at": now}
                for sid, r in zip(ids, parsed.rows, strict=True) for c in r.contacts])

    seconds = timed(run)
    engine.dispose()
    return seconds


def service(url: str, parsed: SupplierFile) -> tuple[float, float]:
    engine = make_engine(url)
    upgrade(engine)
    sessions = session_factory(engine)
    clock = SystemClock()

    def once() -> None:
        with transaction(sessions) as session:
            import_suppliers(session, clock, parsed, actor="bench")

    first, again = timed(once), timed(once)
    engine.dispose()
    return first, again


def main() -> None:
    configure_logging(LoggingSettings(level="WARNING"))
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=2000)
    parser.add_argument("--postgres", help="e.g. postgresql://root@127.0.0.1:5432/test")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-import-"))
    xlsx = work / "suppliers.xlsx"
    write_supplier_file(generate_suppliers(args.count, seed=1), xlsx)
    read_seconds = timed(lambda: read_supplier_file(xlsx))
    parsed = read_supplier_file(xlsx)
    assert not parsed.problems, parsed.problems[:3]
    contacts = sum(len(r.contacts) for r in parsed.rows)
    print(f"{args.count} suppliers, {contacts} contacts; reading the XLSX: {read_seconds:.3f} s")

    targets = [("sqlite", lambda n: (f"sqlite:///{work / n}.sqlite3", lambda: None))]
    if args.postgres:
        targets.append(("postgresql", lambda _n: pg_schema(args.postgres)))
    print(f"{'database':<11} {'baseline s':>10} {'import s':>9} {'ratio':>6} "
          f"{'re-import s':>11} {'ratio':>6}")
    for name, make in targets:
        url_a, drop_a = make("a")
        url_b, drop_b = make("b")
        try:
            base = baseline(url_a, parsed)
            first, again = service(url_b, parsed)
        finally:
            drop_a()
            drop_b()
        print(f"{name:<11} {base:>10.3f} {first:>9.3f} {first / base:>5.1f}x "
              f"{again:>11.3f} {again / base:>5.1f}x")


if __name__ == "__main__":
    main()
