"""Export speed: every ``outreach export`` (and the digest) for a campaign of 20,000
suppliers with 15,000 accepted submissions.

    .venv/bin/python bench/bench_reports.py [--suppliers 20000] [--accepted 15000]
                                            [--rows 20] [--postgres URL] [--keep]

Set-up (not timed; a fresh SQLite file in a temp dir, with ``--postgres`` a throw-away
schema on that server instead), all by bulk Core INSERTs, not through intake:
``--suppliers`` suppliers, one started campaign with the default ladder and one request
each — ``--accepted`` accepted (responded, accepted, an accepted CMRT 6.5 submission with
a declaration of 1-4 metals and ``--rows`` smelter rows drawn from the shipped template's
Smelter Look-up, one row in 40 a "Smelter not listed" name, and its ``request.accepted``
event), 2,000 more with a rejected submission and findings, the rest open at some ladder
stage (a few at the senior notice, a few handed over) — an RMAP status for a third of the
Look-up's CIDs, and one small stored file per submission (so ``originals`` copies 17,000);
then ``ANALYZE``, as autovacuum would after such a bulk load (without statistics
PostgreSQL plans the campaign's joins as nested loops: status 19 s, originals 50 s).

Measured, each in a fresh subprocess of this script (``--child``), so that its peak RSS
is its own (``VmHWM`` from /proc; ``ru_maxrss`` would carry over the parent's peak from
the fork): the baseline - a bare streamed SELECT of the same rows the exports read
(requests, suppliers and last submission; the accepted smelter rows), nothing built - then
``outreach export all`` (one ``run_exports`` call: status, smelters, countries,
disclosure, originals, company CMRT; XLSX and CSV) with each export's time (the
consolidated smelter list four of them share is computed once and timed apart), and the
digest's context (``services.digest.build_digest_context``) when that module is there.
Goal: digest + all exports <= 30 s and < 500 MB on SQLite.
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from _pg import pg_schema  # bench/_pg.py: the scripts run from this folder
from sqlalchemy import func, insert, select, text

from outreach.bootstrap import App, build
from outreach.cmrt.fill import METALS, smelter_lookup
from outreach.core.clock import FixedClock
from outreach.core.enums import CampaignState, RequestState, TemplateFamily
from outreach.core.ladder import default_ladder
from outreach.db.migrate import upgrade
from outreach.db.models import (
    Campaign,
    Event,
    Request,
    SmelterImport,
    SmelterListKind,
    SmelterStatusRow,
    Submission,
    SubmissionSmelter,
    Supplier,
)
from outreach.mail.blank_template import blank_template
from outreach.services.blobs import put_blob
from outreach.settings import load_settings

T0 = datetime(2027, 1, 11, 9, 0, tzinfo=UTC)
COUNTRIES = ("DE", "US", "CN", "JP", "FR", "IT", "MX", "KR")
REJECTED = 2_000
CHUNK = 5_000
ANSWERS = {"1": "Yes", "2": "Yes", "3": "No", "4": "No", "5": "No", "6": "Greater than 90%",
           "7": "Yes", "8": "Yes"}


def make_app(work: Path, url: str) -> App:
    settings = load_settings(data=work, env={}, overrides={
        "database": {"url": url}, "logging": {"level": "WARNING", "format": "json"},
        "company": {"declaration": {"policy_url": "https://company.example/policy"}}})
    return build(settings, clock=FixedClock(T0 + timedelta(days=60)), check_schema=False)


def _chunks(rows: list[dict[str, Any]]) -> Any:
    for start in range(0, len(rows), CHUNK):
        yield rows[start:start + CHUNK]


def populate(app: App, suppliers: int, accepted: int, rows: int) -> dict[str, Any]:
    rng = random.Random(7)  # noqa: S311 (test data)
    now = T0
    lookup = smelter_lookup(blank_template("CMRT").data)
    by_metal = {m: sorted({(e.cid, e.standard_name, e.country) for e in lookup.get(m, ())
                           if e.cid}) for m in METALS}
    by_metal = {m: v for m, v in by_metal.items() if v}
    metals = list(by_metal)
    ladder = default_ladder()
    started = time.perf_counter()
    with app.engine.begin() as conn:
        supplier_ids = conn.execute(insert(Supplier).returning(Supplier.id), [
            {"code": f"S{i:06d}", "name": f"Supplier {i} GmbH", "country": COUNTRIES[i % 8],
             "time_zone": None, "language": "en", "email_domains": [f"s{i}.example"],
             "buyer": "Bea Buyer", "scope_tags": [], "active": True, "created_at": now,
             "updated_at": now} for i in range(suppliers)]).scalars().all()
        campaign_id = conn.execute(insert(Campaign).returning(Campaign.id), [{
            "name": "CMRT 2026", "template_family": TemplateFamily.CMRT, "reporting_year": 2026,
            "min_version": "6.01", "due_date": date(2027, 3, 31), "scope_tags": [],
            "ladder": ladder.model_dump(mode="json"), "state": CampaignState.RUNNING,
            "created_at": now, "started_at": now}]).scalar_one()
        requests: list[dict[str, Any]] = []
        for i, sid in enumerate(supplier_ids):
            day = now + timedelta(days=1 + i % 50, hours=i % 7)
            state, stage, responded, accepted_at = RequestState.OPEN, "reminder", None, None
            if i < accepted:
                state, stage, responded, accepted_at = (RequestState.ACCEPTED, "request", day,
                                                        day)
            elif i < accepted + REJECTED:
                stage, responded = "follow_up", day
            elif i % 10 == 0:
                stage = "senior_notice"
            elif i % 10 == 1:
                state, stage = RequestState.HANDED_OVER, "handover"
            requests.append({
                "campaign_id": campaign_id, "supplier_id": sid, "state": state,
                "stage": stage, "stage_repeat": 1, "stage_sent_at": now,
                "due_date": date(2027, 3, 31), "next_action_at": None, "paused_until": None,
                "awaiting_approval": None, "last_rejected_at": None,
                "reply_token": uuid.uuid4().hex, "joined_late": False, "exempt_reason": None,
                "accepted_at": accepted_at, "responded_at": responded, "created_at": now,
                "updated_at": now})
        request_ids: list[int] = []
        for chunk in _chunks(requests):
            request_ids += conn.execute(insert(Request).returning(Request.id),
                                        chunk).scalars().all()
        blobs = app.settings.attachments_dir
        submissions: list[dict[str, Any]] = []
        smelter_plan: list[list[tuple[str, str, str, str]]] = []
        for i in range(accepted + REJECTED):
            ok = i < accepted
            content = f"fake workbook {i} {'accepted' if ok else 'rejected'}\n".encode() * 20
            digest = put_blob(blobs, content)
            chosen = rng.sample(metals, rng.randint(1, min(4, len(metals))))
            declaration = {
                "company": {"name": f"Supplier {i} GmbH"},
                "metals": [{"metal": m, "in_scope": m in chosen,
                            "answers": {k: {"cell": "D", "text": v} for k, v in ANSWERS.items()}}
                           for m in METALS],
                "company_answers": [], "products": []}
            submissions.append({
                "request_id": request_ids[i], "supplier_id": supplier_ids[i],
                "inbound_message_id": None, "filename": f"CMRT S{i:06d} 2026.xlsx",
                "sha256": digest, "size": len(content), "content_type": None, "kind": "xlsx",
                "source": "email", "received_at": requests[i]["responded_at"],
                "template": "CMRT", "version": "6.5",
                "outcome": "accepted" if ok else "rejected",
                "required_missing": 0 if ok else 2,
                "findings": [] if ok else [
                    {"code": "required_missing", "severity": "error", "sheet": "Declaration",
                     "cell": "D8", "message": "The company name is required."},
                    {"code": "stale_date", "severity": "warning", "sheet": "Declaration",
                     "cell": "D26", "message": "The effective date is old."}],
                "declaration": declaration if ok else None, "duplicate_of": None,
                "reused_from": None, "validated_at": requests[i]["responded_at"]})
            plan = []
            for n in range(rows):
                metal = chosen[n % len(chosen)]
                cid, name, country = rng.choice(by_metal[metal])
                if (i * rows + n) % 40 == 39:  # a "Smelter not listed" row, now and then
                    k = rng.randrange(50)
                    cid, name = "", f"Local {metal} Works {k}"
                    country = ("CHINA", "INDONESIA", "BRAZIL", "GERMANY", "JAPAN")[k % 5]
                plan.append((metal, cid, name, country))
            smelter_plan.append(plan)
        submission_ids: list[int] = []
        for chunk in _chunks(submissions):
            submission_ids += conn.execute(insert(Submission).returning(Submission.id),
                                           chunk).scalars().all()
        smelter_rows = [
            {"submission_id": submission_ids[i], "row": 5 + n, "metal": metal, "name": name,
             "country": country, "cid": cid or None, "rmap_status": None, "red_flags": []}
            for i, plan in enumerate(smelter_plan) for n, (metal, cid, name, country)
            in enumerate(plan)]
        for chunk in _chunks(smelter_rows):
            conn.execute(insert(SubmissionSmelter), chunk)
        for chunk in _chunks([
                {"at": requests[i]["accepted_at"], "actor": "system:intake",
                 "kind": "request.accepted", "campaign_id": campaign_id,
                 "supplier_id": supplier_ids[i], "request_id": request_ids[i],
                 "reason": "accepted", "data": {}} for i in range(accepted)]):
            conn.execute(insert(Event), chunk)
        import_id = conn.execute(insert(SmelterImport).returning(SmelterImport.id), [{
            "kind": SmelterListKind.RMAP, "source": "bench", "sha256": "0" * 64, "rows": 0,
            "changes": {}, "actor": "bench", "imported_at": now}]).scalar_one()
        cids = sorted({c for v in by_metal.values() for c, _, _ in v})
        conn.execute(insert(SmelterStatusRow), [
            {"cid": cid, "status": ("conformant", "active", "not_participating")[k % 3],
             "as_of": date(2026, 12, 1), "import_id": import_id, "source": "bench",
             "imported_at": now} for k, cid in enumerate(cids) if k % 3 != 2 or k % 2])
    with app.engine.connect() as conn:  # what autovacuum does after a bulk load: without
        conn.execute(text("ANALYZE"))  # statistics PostgreSQL plans nested loops (40x slower)
        conn.commit()
    return {"seconds": time.perf_counter() - started, "smelter_rows": len(smelter_rows),
            "campaign_id": campaign_id}


# --------------------------------------------------------------------------- child


def peak_rss_mb() -> float:
    """This process's peak RSS: ``VmHWM`` (Linux; unlike ``ru_maxrss`` it is not inherited
    from the parent across fork + exec), else ``ru_maxrss``."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def child(work: Path, url: str, what: str) -> dict[str, Any]:
    app = make_app(work, url)
    rss_before = peak_rss_mb()
    seconds: dict[str, float] = {}
    out = work / "exports-bench"
    result: dict[str, Any] = {}
    with app.sessions() as session:
        campaign = session.scalars(select(Campaign)).one()
        if what == "baseline":
            started = time.perf_counter()
            last = (select(Submission.request_id, func.max(Submission.id).label("sid"))
                    .group_by(Submission.request_id).subquery())
            query = (select(Supplier.code, Supplier.name, Request.state, Request.stage,
                            Request.responded_at, Submission.outcome, Submission.findings)
                     .join(Supplier, Supplier.id == Request.supplier_id)
                     .outerjoin(last, last.c.request_id == Request.id)
                     .outerjoin(Submission, Submission.id == last.c.sid))
            conn = session.connection().execution_options(yield_per=5000)
            n = sum(1 for _ in conn.execute(query))
            seconds["requests"] = time.perf_counter() - started
            started = time.perf_counter()
            smelters = (select(SubmissionSmelter.cid, SubmissionSmelter.metal,
                               SubmissionSmelter.name, SubmissionSmelter.country,
                               Submission.supplier_id)
                        .join(Submission, Submission.id == SubmissionSmelter.submission_id)
                        .where(Submission.outcome == "accepted"))
            m = sum(1 for _ in conn.execute(smelters))
            seconds["smelter_rows"] = time.perf_counter() - started
            result["rows"] = {"requests": n, "smelter_rows": m}
        elif what == "digest":
            try:
                from outreach.services.digest import build_digest_context
            except ImportError as exc:
                result["error"] = f"no digest: {exc}"
            else:
                started = time.perf_counter()
                build_digest_context(session, app.clock, app.settings, campaign,
                                     period="2027-W11")
                seconds["digest_context"] = time.perf_counter() - started
        else:
            from outreach.reports.runner import KINDS, run_exports
            shutil.rmtree(out, ignore_errors=True)
            run = run_exports(session, app.settings, campaign, KINDS, out, fmt="both",
                              today=app.clock.now().date())  # what `outreach export all` does
            seconds.update(run.seconds)
            for kind, note in run.notes.items():
                result[kind] = {k: v for k, v in note.items() if k != "findings"}
            result["files"] = sum(1 for p in out.rglob("*") if p.is_file())
            result["bytes"] = sum(p.stat().st_size for p in out.rglob("*") if p.is_file())
    app.close()
    result.update(seconds=seconds, total=sum(seconds.values()),
                  rss_before_mb=rss_before, peak_rss_mb=peak_rss_mb())
    return result


def run_child(work: Path, url: str, what: str) -> dict[str, Any]:
    started = time.perf_counter()
    proc = subprocess.run([sys.executable, __file__, "--child", what, "--work", str(work),
                           "--url", url], capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise SystemExit(f"child {what} failed:\n{proc.stderr[-4000:]}")
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    result["wall"] = time.perf_counter() - started
    return result


def bench(label: str, url: str, work: Path, args: argparse.Namespace) -> dict[str, Any]:
    work.mkdir(parents=True, exist_ok=True)
    app = make_app(work, url)
    upgrade(app.engine)
    made = populate(app, args.suppliers, args.accepted, args.rows)
    app.close()
    print(f"[{label}] set-up: {args.suppliers} suppliers, {args.accepted} accepted + {REJECTED} "
          f"rejected submissions, {made['smelter_rows']} smelter rows in "
          f"{made['seconds']:.1f} s", flush=True)
    baseline = run_child(work, url, "baseline")
    digest = run_child(work, url, "digest")
    exports = run_child(work, url, "exports")
    print(f"[{label}] baseline (bare streamed SELECTs, {baseline['rows']}): "
          f"{baseline['total']:.2f} s, peak RSS {baseline['peak_rss_mb']:.0f} MB "
          f"(at start {baseline['rss_before_mb']:.0f} MB)")
    if "error" in digest:
        print(f"[{label}] digest: {digest['error']}")
    else:
        print(f"[{label}] digest context: {digest['total']:.2f} s, peak RSS "
              f"{digest['peak_rss_mb']:.0f} MB")
    print(f"[{label}] exports: " + ", ".join(f"{k} {v:.2f} s"
                                            for k, v in exports["seconds"].items()))
    print(f"[{label}] exports total {exports['total']:.2f} s, {exports['files']} files, "
          f"{exports['bytes'] / 1e6:.1f} MB written; peak RSS {exports['peak_rss_mb']:.0f} MB "
          f"(at start {exports['rss_before_mb']:.0f} MB)")
    print(f"[{label}] company CMRT: {exports.get('company-cmrt')}")
    both = exports["total"] + digest.get("total", 0.0)
    peak = max(exports["peak_rss_mb"], digest["peak_rss_mb"])
    print(f"[{label}] digest + all exports: {both:.2f} s (goal <= 30 s: "
          f"{'met' if both <= 30 else 'MISSED'}), peak RSS {peak:.0f} MB (goal < 500 MB: "
          f"{'met' if peak < 500 else 'MISSED'}); vs baseline {both / baseline['total']:.1f}x "
          f"time, +{peak - baseline['peak_rss_mb']:.0f} MB", flush=True)
    return {"baseline": baseline, "digest": digest, "exports": exports}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--suppliers", type=int, default=20_000)
    parser.add_argument("--accepted", type=int, default=15_000)
    parser.add_argument("--rows", type=int, default=20)
    parser.add_argument("--postgres", help="also run on a throw-away schema of this server")
    parser.add_argument("--keep", action="store_true", help="keep the temp dir, print it")
    parser.add_argument("--child")
    parser.add_argument("--work")
    parser.add_argument("--url")
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(Path(args.work), args.url, args.child), default=str))
        return
    if args.accepted + REJECTED > args.suppliers:
        parser.error("--accepted + 2000 rejected must not exceed --suppliers")
    temp = Path(tempfile.mkdtemp(prefix="bench-reports-"))
    try:
        bench("sqlite", f"sqlite:///{temp / 'sqlite' / 'outreach.sqlite3'}", temp / "sqlite",
              args)
        if args.postgres:
            url, drop = pg_schema(args.postgres)
            try:
                bench("postgres", url, temp / "postgres", args)
            finally:
                drop()
    finally:
        if args.keep:
            print(f"kept {temp}")
        else:
            shutil.rmtree(temp, ignore_errors=True)


if __name__ == "__main__":
    main()
