"""Intake speed: real workbooks from a Dovecot mailbox to recorded verdicts and queued answers.

    .venv/bin/python bench/bench_intake.py [--count 500] [--idle-samples 10] [--skip-memory]
                                           [--db-url URL] [--profile]

Everything runs against a private, throw-away Dovecot on loopback (``tests/support/dovecot.py``,
IMAPS verified with the instance's own certificate) and a fresh data dir (SQLite by default;
``--db-url postgresql://...`` runs the batch and IDLE parts on a throw-away schema of that
server instead). Reported in one run (shared machines are noisy, so compare ratios):

* set-up (not timed): ``--count`` + ``--idle-samples`` suppliers imported through the import
  service, a running CMRT campaign, a first tick (the requests are queued); a first
  ``poll_once`` sets the folder's baseline; then ``--count`` distinct filled CMRT 6.5 (one seed
  each; every fifth with one defect from ``fill.flawed``, so it is rejected and answered with
  a correction), one reply per supplier from its contact to its token plus-address, APPENDed
  into INBOX (its time is printed, not part of any figure);
* the batch: one ``poll_once(intake, ImapSource(settings))`` that fetches, records, matches,
  validates, stores and answers every reply, then moves them to the processed folder
  (goal >= 8 replies/s on SQLite); checked: ``--count`` inbound rows processed, as many
  submissions with a verdict, as many answers queued (``stage IS NULL``), the mailbox moved;
  the time inside ``process``, ``judge`` (validation), the write transaction etc. is summed
  by wrapping those functions;
* baselines on the same workbooks and messages: bare ``validate(bytes, context)`` with the
  campaign's context (the validation floor), and a raw IMAPClient ``BODY.PEEK[]`` of the same
  messages in batches of ``imap.fetch_batch`` (the transfer floor);
* IDLE latency: an ``IdleWatcher`` on INBOX whose ``on_wake`` sets an event a poller thread
  waits on (then ``poll_once``); ``--idle-samples`` replies APPENDed one at a time, each timed
  from just before its APPEND to the end of ``process`` on its row (goal <= 3 s), checked in
  the database (status no longer ``received``);
* peak memory with a 30 MB attachment (``--skip-memory`` skips it): a subprocess of this
  script (``--child``) runs one poll over 20 normal replies + one carrying
  ``big_attachment(30)``, and another over the 20 normal replies only; each reports its peak
  RSS (``ru_maxrss``) and its RSS just before the poll. Both always use SQLite.

``--profile`` runs the batch pass under cProfile and prints the top costs.
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import json
import pstats
import random
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from _pg import pg_schema  # bench/_pg.py: the scripts run from this folder
from bench_tick import make_app
from sqlalchemy import func, select
from sqlmodel import col

from outreach.bootstrap import App
from outreach.cmrt.fill import fill_cmrt, flawed, sample_filing, smelter_lookup
from outreach.cmrt.validate import validate
from outreach.db.engine import transaction
from outreach.db.models import Campaign, InboundMessage, OutboundMessage, Request, Submission
from outreach.db.models import Supplier as SupplierRow
from outreach.mail.idle_watcher import IdleWatcher
from outreach.mail.imap_source import ImapSource
from outreach.scheduler import intake_for, tick_once
from outreach.services import intake as intake_module
from outreach.services import poll as poll_module
from outreach.services.intake import campaign_context
from outreach.services.poll import poll_once
from tests.support.dovecot import DovecotInstance, dovecot_available
from tests.support.factories import import_lines, running_campaign, supplier_line
from tests.support.replies import big_attachment, supplier_reply, tagged_subject, token_address
from tests.support.workbooks import blank

BOT = ("bot", "botpass")
MEM_USERS = {"big": ("membig", "membigpass"), "base": ("membase", "membasepass")}
MEM_REPLIES = 20
BIG_MB = 30
PROCESSED_FOLDER = "Outreach"
#: seeds of the memory runs' workbooks: distinct from the batch's
MEM_SEED0 = 1_000_000


# -- helpers --------------------------------------------------------------------------------


def imap_overrides(dovecot: DovecotInstance, user: tuple[str, str]) -> dict[str, Any]:
    return {"source": "imap", "host": dovecot.host, "port": dovecot.imaps_port,
            "security": "tls", "ca_file": str(dovecot.cafile), "username": user[0],
            "password": user[1], "folders": ["INBOX"], "timeout_seconds": 60.0,
            "processed_action": "move", "processed_folder": PROCESSED_FOLDER}


def open_app(work: Path, url: str, imap: dict[str, Any]) -> App:
    return make_app(work, url, imap=imap)


def populate(app: App, work: Path, count: int) -> list[tuple[str, str]]:
    """``count`` suppliers imported, a running campaign, a first tick: (code, token) each."""
    codes = [f"S{i:05d}" for i in range(count)]
    with transaction(app.sessions) as session:
        import_lines(session, app.clock, work / "suppliers.csv",
                     [supplier_line(code) for code in codes])
        running_campaign(session, app.clock)
    queued = tick_once(app)
    assert queued.get("queued", 0) >= count, queued
    with app.sessions() as session:
        tokens = dict(session.exec(  # type: ignore[call-overload]
            select(SupplierRow.code, Request.reply_token)
            .join(Request, col(Request.supplier_id) == SupplierRow.id)).all())
    return [(code, tokens[code]) for code in codes]


def workbook(seed: int, defect: bool) -> bytes:
    rng = random.Random(seed)  # noqa: S311 (test data)
    data = blank()
    filing = sample_filing(rng, smelter_lookup(data))
    if defect:
        filing = flawed(filing, rng).filing
    return fill_cmrt(data, filing)


def reply_for(code: str, token: str, data: bytes) -> bytes:
    return supplier_reply(sender=f"Pat {code} <pat@{code.lower()}.example>",
                          to=token_address(token), subject=tagged_subject(token),
                          attachments=[(f"CMRT_2026_{code}.xlsx", data)])


def append_all(dovecot: DovecotInstance, user: tuple[str, str],
               messages: Iterator[bytes]) -> tuple[int, int]:
    """APPEND every message unseen over one session: (count, bytes)."""
    count = size = 0
    client = dovecot.imap_client(user[0], user[1])
    try:
        for raw in messages:
            client.append("INBOX", raw, flags=())
            count += 1
            size += len(raw)
    finally:
        with contextlib.suppress(Exception):
            client.logout()
    return count, size


def folder_counts(dovecot: DovecotInstance, user: tuple[str, str]) -> dict[str, int]:
    client = dovecot.imap_client(user[0], user[1])
    try:
        counts = {}
        for folder in ("INBOX", PROCESSED_FOLDER):
            counts[folder] = (int(client.select_folder(folder, readonly=True)[b"EXISTS"])
                              if client.folder_exists(folder) else 0)
        return counts
    finally:
        with contextlib.suppress(Exception):
            client.logout()


def raw_fetch(dovecot: DovecotInstance, user: tuple[str, str], folder: str,
              batch: int) -> tuple[float, int, int]:
    """Bare IMAPClient: connect, log in, ``BODY.PEEK[]`` of every message in ``folder`` in
    batches of ``batch``: (seconds, messages, bytes)."""
    started = time.perf_counter()
    client = dovecot.imap_client(user[0], user[1])
    try:
        client.select_folder(folder, readonly=True)
        uids = sorted(client.search("ALL"))
        count = size = 0
        for start in range(0, len(uids), batch):
            for data in client.fetch(uids[start:start + batch], ["BODY.PEEK[]"]).values():
                count += 1
                size += len(data[b"BODY[]"])
    finally:
        with contextlib.suppress(Exception):
            client.logout()
    return time.perf_counter() - started, count, size


class Timers:
    """Wall time summed inside wrapped functions (module attributes, patched for a pass)."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self.calls: dict[str, int] = {}

    @contextlib.contextmanager
    def wrapped(self, targets: list[tuple[Any, str, str]]) -> Iterator[None]:
        originals = [(module, name, getattr(module, name)) for module, name, _ in targets]

        def wrap(label: str, fn: Callable[..., Any]) -> Callable[..., Any]:
            def inner(*args: Any, **kwargs: Any) -> Any:
                started = time.perf_counter()
                try:
                    return fn(*args, **kwargs)
                finally:
                    self.seconds[label] = self.seconds.get(label, 0.0) + (
                        time.perf_counter() - started)
                    self.calls[label] = self.calls.get(label, 0) + 1
            return inner

        for (module, name, label), (_, _, fn) in zip(targets, originals, strict=True):
            setattr(module, name, wrap(label, fn))
        try:
            yield
        finally:
            for module, name, fn in originals:
                setattr(module, name, fn)


#: (module, attribute, label) — the steps of a pass, nested as indented in the output
STEPS = [
    (poll_module, "record", "record (sha256, headers, INSERT)"),
    (poll_module, "process", "process"),
    (intake_module, "_plan", "  plan (match, duplicate checks)"),
    (intake_module, "judge", "    judge again in-process (another campaign's context)"),
    (intake_module, "_write", "  write transaction"),
    (intake_module, "put_blob", "    put_blob (raw mail + workbook)"),
    (intake_module, "queue_answer", "    queue_answer (render, outbox)"),
    (poll_module, "_apply_actions", "move to the processed folder"),
]


# -- the parts ------------------------------------------------------------------------------


@dataclass
class Batch:
    count: int
    defects: int
    make_s: float
    append_s: float
    append_mb: float
    poll_s: float
    report: dict[str, int]
    timers: Timers
    inbound: dict[str, int]
    submissions: int
    outcomes: dict[str, int]
    answers: dict[str, int]
    folders: dict[str, int]
    validate_s: float
    validate_outcomes: dict[str, int]
    fetch_s: float
    fetch_n: int
    fetch_mb: float
    profile: cProfile.Profile | None


def run_batch(app: App, dovecot: DovecotInstance, pairs: list[tuple[str, str]],
              files: Path, profile: bool) -> Batch:
    intake = intake_for(app)
    source = ImapSource(intake.settings.imap)
    first = poll_once(intake, source)  # sets the folder's baseline: nothing there yet
    assert first.error is None and first.recorded == 0, first.as_dict()

    started = time.perf_counter()
    files.mkdir(parents=True, exist_ok=True)
    defects = 0
    for number, (code, _) in enumerate(pairs):
        defect = number % 5 == 4
        defects += defect
        (files / f"{code}.xlsx").write_bytes(workbook(number, defect))
    make_s = time.perf_counter() - started
    started = time.perf_counter()
    appended, size = append_all(dovecot, BOT, (
        reply_for(code, token, (files / f"{code}.xlsx").read_bytes()) for code, token in pairs))
    append_s = time.perf_counter() - started
    assert appended == len(pairs)

    intake = intake_for(app)  # a new pass: nothing cached from the first one
    timers = Timers()
    profiler = cProfile.Profile() if profile else None
    with timers.wrapped(STEPS):
        started = time.perf_counter()
        if profiler is not None:
            report = profiler.runcall(poll_once, intake, source)
        else:
            report = poll_once(intake, source)
        poll_s = time.perf_counter() - started
    assert report.error is None, report.error

    with app.sessions() as session:
        inbound = dict(session.exec(  # type: ignore[call-overload]
            select(InboundMessage.status, func.count()).group_by(InboundMessage.status)).all())
        outcomes = dict(session.exec(  # type: ignore[call-overload]
            select(Submission.outcome, func.count()).group_by(Submission.outcome)).all())
        answers = dict(session.exec(  # type: ignore[call-overload]
            select(OutboundMessage.kind, func.count())
            .where(col(OutboundMessage.stage).is_(None))
            .group_by(OutboundMessage.kind)).all())
        campaign = session.exec(select(Campaign)).scalar_one()  # type: ignore[call-overload]
        context = campaign_context(intake, session, campaign)
    folders = folder_counts(dovecot, BOT)

    validate_s = 0.0
    validate_outcomes: dict[str, int] = {}
    for code, _ in pairs:
        data = (files / f"{code}.xlsx").read_bytes()
        started = time.perf_counter()
        result = validate(data, context)
        validate_s += time.perf_counter() - started
        validate_outcomes[str(result.outcome)] = validate_outcomes.get(str(result.outcome),
                                                                       0) + 1
    fetch_s, fetch_n, fetch_bytes = raw_fetch(dovecot, BOT, PROCESSED_FOLDER,
                                              intake.settings.imap.fetch_batch)
    return Batch(count=len(pairs), defects=defects, make_s=make_s, append_s=append_s,
                 append_mb=size / 1e6, poll_s=poll_s, report=report.as_dict(), timers=timers,
                 inbound=inbound, submissions=sum(outcomes.values()), outcomes=outcomes,
                 answers=answers, folders=folders, validate_s=validate_s,
                 validate_outcomes=validate_outcomes, fetch_s=fetch_s, fetch_n=fetch_n,
                 fetch_mb=fetch_bytes / 1e6, profile=profiler)


@dataclass
class IdleResult:
    latencies: list[float]
    statuses: list[str]
    wakeups: int
    polls: int
    missed: int


def run_idle(app: App, dovecot: DovecotInstance, pairs: list[tuple[str, str]],
             files: Path) -> IdleResult:
    """One reply at a time into INBOX; time from APPEND to the end of its ``process``."""
    intake = intake_for(app)
    settings = intake.settings.imap
    source = ImapSource(settings)
    messages = []
    for number, (code, token) in enumerate(pairs):
        data = workbook(500_000 + number, defect=False)
        (files / f"{code}.xlsx").write_bytes(data)
        messages.append((code, reply_for(code, token, data)))

    done: list[float] = []
    lock = threading.Lock()
    wake, stop = threading.Event(), threading.Event()
    polls = [0]
    original = poll_module.process

    def timed_process(*args: Any, **kwargs: Any) -> str:
        status = original(*args, **kwargs)
        with lock:
            done.append(time.perf_counter())
        return status

    def poller() -> None:
        while not stop.is_set():
            if not wake.wait(0.1):
                continue
            wake.clear()
            poll_once(intake, source)
            polls[0] += 1

    watcher = IdleWatcher(settings, "INBOX", wake.set)
    thread = threading.Thread(target=poller, name="bench-poller", daemon=True)
    latencies: list[float] = []
    statuses: list[str] = []
    missed = 0
    client = dovecot.imap_client(*BOT)
    poll_module.process = timed_process  # type: ignore[assignment]
    try:
        thread.start()
        watcher.start()
        deadline = time.monotonic() + 10
        while watcher.idles < 1 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert watcher.idles >= 1, "IDLE never started"
        time.sleep(0.5)
        for _code, raw in messages:
            with lock:
                before = len(done)
            started = time.perf_counter()
            client.append("INBOX", raw, flags=())
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                with lock:
                    if len(done) > before:
                        latencies.append(done[before] - started)
                        break
                time.sleep(0.005)
            else:
                missed += 1
            time.sleep(0.3)  # let the pass finish its move before the next reply
        with app.sessions() as session:
            statuses = list(session.exec(  # type: ignore[call-overload]
                select(InboundMessage.status).where(col(InboundMessage.subject).in_(
                    [tagged_subject(t) for _, t in pairs]))).scalars().all())
    finally:
        poll_module.process = original  # type: ignore[assignment]
        watcher.stop()
        stop.set()
        thread.join(timeout=30)
        with contextlib.suppress(Exception):
            client.logout()
    return IdleResult(latencies=latencies, statuses=statuses, wakeups=watcher.wakeups,
                      polls=polls[0], missed=missed)


# -- memory: a child process per run --------------------------------------------------------


def rss_now_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def child(config_path: Path) -> None:
    """One poll pass on a prepared data dir and mailbox; prints its memory as JSON."""
    config = json.loads(config_path.read_text())
    app = make_app(Path(config["data"]), config["url"], imap=config["imap"])
    try:
        intake = intake_for(app)
        source = ImapSource(intake.settings.imap)
        before = rss_now_mb()
        started = time.perf_counter()
        report = poll_once(intake, source)
        seconds = time.perf_counter() - started
    finally:
        app.close()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    # the worker processes that prepared the replies (ended with the pass): the largest
    workers = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(json.dumps({"before_mb": before, "peak_mb": peak, "worker_peak_mb": workers,
                      "seconds": seconds, "report": report.as_dict()}))


def run_memory(dovecot: DovecotInstance, work: Path) -> dict[str, dict[str, Any]]:
    results: dict[str, dict[str, Any]] = {}
    normal = [workbook(MEM_SEED0 + n, defect=False) for n in range(MEM_REPLIES)]
    for name in ("base", "big"):
        user = MEM_USERS[name]
        folder = work / f"mem-{name}"
        folder.mkdir()
        url = f"sqlite:///{folder / 'outreach.sqlite3'}"
        imap = imap_overrides(dovecot, user)
        app = open_app(folder / "data", url, imap)
        try:
            pairs = populate(app, folder, MEM_REPLIES + 1)
            intake = intake_for(app)
            assert poll_once(intake, ImapSource(intake.settings.imap)).recorded == 0
        finally:
            app.close()
        size = [0]

        def messages(pairs: list[tuple[str, str]] = pairs, name: str = name,
                     size: list[int] = size) -> Iterator[bytes]:
            for (code, token), data in zip(pairs, normal, strict=False):
                yield reply_for(code, token, data)
            if name == "big":
                code, token = pairs[MEM_REPLIES]
                raw = reply_for(code, token, big_attachment(
                    BIG_MB, workbook=workbook(MEM_SEED0 + 999, defect=False)))
                size[0] = len(raw)
                yield raw

        append_all(dovecot, user, messages())
        config = folder / "child.json"
        config.write_text(json.dumps({"data": str(folder / "data"), "url": url,
                                      "imap": imap}))
        out = subprocess.run([sys.executable, str(Path(__file__).resolve()), "--child",
                              str(config)], check=True, capture_output=True, text=True,
                             timeout=600)
        result = json.loads(out.stdout.strip().splitlines()[-1])
        result["big_message_mb"] = size[0] / 1e6
        results[name] = result
    return results


# -- main -----------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=500, help="replies in the batch")
    parser.add_argument("--idle-samples", type=int, default=10)
    parser.add_argument("--skip-memory", action="store_true")
    parser.add_argument("--db-url", help="a PostgreSQL URL (a throw-away schema is used) "
                                         "instead of SQLite for the batch and IDLE parts")
    parser.add_argument("--profile", action="store_true", help="cProfile the batch pass")
    parser.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child)
        return
    if not dovecot_available():
        raise SystemExit("needs Dovecot (dovecot-imapd, dovecot-lmtpd), openssl and root")

    work = Path(tempfile.mkdtemp(prefix="bench-intake-"))
    dovecot: DovecotInstance | None = None
    drop: Callable[[], None] | None = None
    app: App | None = None
    try:
        dovecot = DovecotInstance.create("bench")
        dovecot.add_user(*BOT)
        for user in MEM_USERS.values():
            dovecot.add_user(*user)
        dovecot.start()
        if args.db_url:
            url, drop = pg_schema(args.db_url)
            database = "postgresql"
        else:
            url, database = f"sqlite:///{work / 'outreach.sqlite3'}", "sqlite"
        app = open_app(work / "data", url, imap_overrides(dovecot, BOT))
        started = time.perf_counter()
        pairs = populate(app, work, args.count + args.idle_samples)
        setup_s = time.perf_counter() - started
        batch = run_batch(app, dovecot, pairs[:args.count], work / "workbooks", args.profile)
        idle = run_idle(app, dovecot, pairs[args.count:], work / "workbooks")
        app.close()
        app = None
        memory = None if args.skip_memory else run_memory(dovecot, work)
    finally:
        if app is not None:
            app.close()
        if drop is not None:
            drop()
        if dovecot is not None:
            dovecot.cleanup()
        shutil.rmtree(work, ignore_errors=True)
    report(args, database, setup_s, batch, idle, memory)


def report(args: argparse.Namespace, database: str, setup_s: float, batch: Batch,
           idle: IdleResult, memory: dict[str, dict[str, Any]] | None) -> None:
    n = batch.count
    print(f"intake benchmark: {n} replies, {database}, Dovecot over IMAPS on loopback")
    print(f"set-up: {n + args.idle_samples} suppliers imported, campaign started, first tick "
          f"in {setup_s:.1f} s; {n} distinct workbooks filled in {batch.make_s:.1f} s "
          f"({batch.defects} with a defect); APPEND of {batch.append_mb:.0f} MB in "
          f"{batch.append_s:.1f} s (not timed)")
    print(f"poll report: {batch.report}")
    processed = batch.inbound.get("processed", 0)
    answers = sum(batch.answers.values())
    checks = {
        f"inbound rows processed = {n}": processed == n and sum(batch.inbound.values()) == n,
        f"submissions with a verdict = {n}": batch.submissions == n
        and None not in batch.outcomes,
        f"answers queued (stage NULL) = {n}": answers == n,
        f"moved: INBOX 0, {PROCESSED_FOLDER} {n}": batch.folders == {"INBOX": 0,
                                                                    PROCESSED_FOLDER: n},
        "verdicts = bare validate()": {str(k): v for k, v in batch.outcomes.items()}
        == batch.validate_outcomes,
        f"rejected = the {batch.defects} with a defect": batch.outcomes.get("rejected", 0)
        == batch.defects,
    }
    print(f"inbound: {batch.inbound}; verdicts: {batch.outcomes}; answers: {batch.answers}; "
          f"mailbox: {batch.folders}")
    for label, ok in checks.items():
        print(f"  [{'ok' if ok else 'FAILED'}] {label}")
    rate = n / batch.poll_s
    print(f"\nbatch: one poll_once over {n} replies")
    print(f"  {'pipeline (poll_once)':<46} {batch.poll_s:8.2f} s {rate:7.1f} replies/s "
          f"(goal >= 8)")
    print(f"  {'baseline: bare validate(), same workbooks':<46} {batch.validate_s:8.2f} s "
          f"{n / batch.validate_s:7.1f} /s   pipeline = {batch.poll_s / batch.validate_s:.2f}x")
    print(f"  {'baseline: raw IMAPClient BODY.PEEK[]':<46} {batch.fetch_s:8.2f} s "
          f"{batch.fetch_n / batch.fetch_s:7.1f} /s   ({batch.fetch_mb / batch.fetch_s:.0f} "
          f"MB/s; pipeline = {batch.poll_s / batch.fetch_s:.1f}x)")
    print(f"  floor (validate + fetch): {batch.validate_s + batch.fetch_s:.2f} s; pipeline = "
          f"{batch.poll_s / (batch.validate_s + batch.fetch_s):.2f}x")
    print("  where the pass goes (wall time inside each step, summed; indented = nested):")
    inside = batch.timers.seconds
    for _, _, label in STEPS:
        if label in inside:
            seconds = inside[label]
            print(f"    {label:<46} {seconds:8.2f} s {seconds / batch.poll_s:6.1%} "
                  f"{seconds / batch.timers.calls[label] * 1000:8.1f} ms/call "
                  f"({batch.timers.calls[label]} calls)")
    top = sum(inside.get(label, 0.0) for _, _, label in STEPS if not label.startswith(" "))
    print(f"    {'rest (IMAP fetch, search, session, retry)':<46} {batch.poll_s - top:8.2f} s "
          f"{(batch.poll_s - top) / batch.poll_s:6.1%}")

    print(f"\nIDLE: {len(idle.latencies)} of {args.idle_samples} replies, one at a time "
          f"(wakeups {idle.wakeups}, polls {idle.polls}, missed {idle.missed}); "
          f"statuses {sorted(set(idle.statuses))}")
    if idle.latencies:
        print(f"  APPEND -> processed: median {statistics.median(idle.latencies):.2f} s, "
              f"max {max(idle.latencies):.2f} s, min {min(idle.latencies):.2f} s (goal <= 3 s)")
    if memory:
        base, big = memory["base"], memory["big"]
        print(f"\nmemory: a subprocess, one poll each; {MEM_REPLIES} normal replies "
              f"(+ one of {big['big_message_mb']:.1f} MB carrying big_attachment({BIG_MB}))")
        for name, label in (("base", f"{MEM_REPLIES} normal"),
                            ("big", f"{MEM_REPLIES} normal + the {BIG_MB} MB one")):
            r = memory[name]
            print(f"  {label:<28} peak RSS {r['peak_mb']:7.1f} MB (before the poll "
                  f"{r['before_mb']:6.1f} MB, +{r['peak_mb'] - r['before_mb']:.1f} MB), "
                  f"largest worker {r.get('worker_peak_mb', 0):6.1f} MB, "
                  f"{r['seconds']:.1f} s, {r['report']}")
        print(f"  the {BIG_MB} MB reply adds {big['peak_mb'] - base['peak_mb']:.1f} MB to the "
              f"peak ({big['peak_mb'] / base['peak_mb']:.2f}x)")

    print("\nresults")
    rows = [("replies/s (one poll_once)", f"{rate:.1f}", ">= 8",
             f"{batch.poll_s / batch.validate_s:.2f}x bare validate()")]
    if idle.latencies:
        rows.append(("IDLE APPEND->processed, median / max",
                     f"{statistics.median(idle.latencies):.2f} / {max(idle.latencies):.2f} s",
                     "<= 3 s", f"{len(idle.latencies)} samples"))
    if memory:
        rows.append(("peak RSS with the 30 MB reply",
                     f"{memory['big']['peak_mb']:.0f} MB", "",
                     f"vs {memory['base']['peak_mb']:.0f} MB without it"))
    rows.append(("checks", "all ok" if all(checks.values()) else "FAILED", "", ""))
    for name, value, goal, against in rows:
        print(f"  {name:<38} {value:>16} {goal:>6}  {against}")
    if batch.profile is not None:
        print("\n--- cProfile of the batch pass, top 30 by cumulative time")
        pstats.Stats(batch.profile).sort_stats("cumulative").print_stats(30)
        print("--- cProfile of the batch pass, top 25 by own time")
        pstats.Stats(batch.profile).sort_stats("tottime").print_stats(25)


if __name__ == "__main__":
    main()
