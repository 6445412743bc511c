"""The CLI end to end, as a newcomer uses it: real files, a real database, main(argv)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from sqlalchemy import create_engine, func, select
from sqlalchemy.orm import Session

from outreach.cli import main
from outreach.db.models import Event, Supplier
from outreach.imports.sample_suppliers import generate_suppliers, write_supplier_file
from tests.support.cli_runner import cli_runner
from tests.support.factories import HEADER, supplier_line


@pytest.fixture
def cli(tmp_path: Path, db_url: str, monkeypatch: pytest.MonkeyPatch, capsys):
    """Run `outreach --data DIR ...` against the test database; return (code, out, err)."""
    run = cli_runner(tmp_path / "data", capsys, monkeypatch,
                     {"OUTREACH_DATABASE__URL": db_url, "OUTREACH_ACTOR": "ann"})
    run.db_url = db_url  # type: ignore[attr-defined]
    return run


def _suppliers(db_url: str) -> int:
    engine = create_engine(db_url.replace("postgresql://", "postgresql+psycopg://", 1))
    with Session(engine) as s:
        n = s.scalar(select(func.count()).select_from(Supplier))
    engine.dispose()
    return int(n or 0)


def test_newcomer_flow_with_2000_suppliers(cli, tmp_path: Path) -> None:
    big = tmp_path / "suppliers.xlsx"
    write_supplier_file(generate_suppliers(2000, seed=7), big)

    code, out, err = cli("campaign", "list")
    assert code == 4 and "outreach db upgrade" in err
    assert cli("db", "upgrade")[0] == 0
    code, out, _ = cli("db", "upgrade")
    assert code == 0 and "up to date" in out

    started = time.perf_counter()
    code, out, err = cli("supplier", "import", str(big))
    assert code == 0, err
    assert "imported 2000 suppliers" in out and "2000 new" in out
    assert time.perf_counter() - started < 60  # a sanity bound, not a benchmark
    code, out, _ = cli("supplier", "import", str(big), "--json")
    assert json.loads(out)["unchanged"] == 2000

    code, out, err = cli("campaign", "create", "CMRT 2026", "--year", "2026", "--due",
                         "2099-03-31")
    assert code == 0, err
    code, out, err = cli("campaign", "start")
    assert code == 0, err
    assert "2000 requests" in out

    first = generate_suppliers(2000, seed=7)[0]["code"]
    code, out, err = cli("request", "extend", first, "--days", "14", "--reason",
                         "asked by phone")
    assert code == 0, err
    assert "2099-04-14" in out

    code, out, _ = cli("campaign", "show", "--json")
    shown = json.loads(out)
    assert shown["request_counts"] == {"open": 2000}
    mine = next(r for r in shown["requests"] if r["supplier_code"] == first)
    assert mine["due_date"] == "2099-04-14"
    code, out, _ = cli("campaign", "show")
    assert code == 0 and "1950 more" in out

    code, out, _ = cli("request", "show", first)
    assert code == 0 and "request.extended" in out and "asked by phone" in out
    assert "cli:ann" in out
    code, out, _ = cli("status", "--json")
    status = json.loads(out)
    assert status["active_suppliers"] == 2000
    assert status["campaigns"][0]["by_stage"] == {"not contacted": 2000}


def test_bad_rows_are_listed_by_line_and_change_nothing(cli, tmp_path: Path) -> None:
    assert cli("db", "upgrade")[0] == 0
    bad = tmp_path / "bad.csv"
    bad.write_text("\n".join([
        HEADER, supplier_line("A1"),
        supplier_line("B2", contacts="primary: nobody-at-example"),
        supplier_line("C3", contacts="purchasing: p@c3.example"),
        supplier_line("A1"),
    ]) + "\n", encoding="utf-8")
    code, out, err = cli("supplier", "import", str(bad))
    assert code == 6
    assert "line 3" in err and "line 4" in err and "line 5" in err
    assert "nothing was imported" in err and "--skip-invalid" in err
    assert _suppliers(cli.db_url) == 0
    code, out, err = cli("supplier", "import", str(bad), "--skip-invalid")
    assert code == 0 and "1 new" in out and "3 invalid rows skipped" in out
    assert _suppliers(cli.db_url) == 1


def test_file_level_errors_are_one_clear_line(cli, tmp_path: Path) -> None:
    assert cli("db", "upgrade")[0] == 0
    wrong = tmp_path / "suppliers.csv"
    wrong.write_text("code,name,contacs\nA1,Acme,primary: a@a.example\n", encoding="utf-8")
    code, _, err = cli("supplier", "import", str(wrong))
    assert code == 6 and "contacs" in err and "nothing was imported" in err
    assert "Traceback" not in err
    code, _, err = cli("supplier", "import", str(tmp_path / "missing.csv"))
    assert code == 2 and "does not exist" in err


def test_dry_run_changes_nothing(cli, tmp_path: Path) -> None:
    assert cli("db", "upgrade")[0] == 0
    f = tmp_path / "s.csv"
    f.write_text("\n".join([HEADER, supplier_line("A1")]) + "\n", encoding="utf-8")
    code, out, _ = cli("supplier", "import", str(f), "--dry-run")
    assert code == 0 and "would import" in out
    assert _suppliers(cli.db_url) == 0


def test_errors_have_exit_codes_and_no_traceback(cli, tmp_path: Path) -> None:
    assert cli("db", "upgrade")[0] == 0
    code, _, err = cli("campaign", "start")
    assert code == 5 and "no open campaign" in err
    code, _, err = cli("campaign", "create", "X", "--year", "2026", "--due", "31/03/2027")
    assert code == 6 and "YYYY-MM-DD" in err
    code, _, err = cli("request", "extend", "A1", "--days", "3", "--until", "2027-01-01")
    assert code == 6 and "either --until" in err
    code, _, err = cli("campaign", "bogus")
    assert code == 2
    assert "Traceback" not in err


def test_debug_shows_the_traceback(cli) -> None:
    code, _, err = cli("--debug", "campaign", "list")
    assert code == 4 and "Traceback" in err


def test_every_group_has_help(capsys) -> None:
    for group in ["db", "config", "supplier", "campaign", "request"]:
        assert main([group, "--help"]) == 0
        assert "Usage" in capsys.readouterr().out


def test_events_record_the_actor(cli, tmp_path: Path) -> None:
    assert cli("db", "upgrade")[0] == 0
    f = tmp_path / "s.csv"
    f.write_text("\n".join([HEADER, supplier_line("A1")]) + "\n", encoding="utf-8")
    assert cli("supplier", "import", str(f))[0] == 0
    assert cli("--actor", "bob", "campaign", "create", "C", "--year", "2026", "--due",
               "2099-01-01")[0] == 0
    engine = create_engine(cli.db_url.replace("postgresql://", "postgresql+psycopg://", 1))
    with Session(engine) as s:
        actors = dict(s.execute(select(Event.kind, Event.actor)).all())
    engine.dispose()
    assert actors["supplier.created"] == "cli:ann" and actors["campaign.created"] == "cli:bob"


def test_approve_and_delivery_commands(cli, tmp_path: Path) -> None:
    suppliers = tmp_path / "suppliers.csv"
    suppliers.write_text(HEADER + "\n" + supplier_line("A1") + "\n", encoding="utf-8")
    assert cli("db", "upgrade")[0] == 0
    assert cli("supplier", "import", str(suppliers))[0] == 0
    assert cli("campaign", "create", "CMRT 2026", "--year", "2026", "--due", "2099-03-31")[0] == 0
    assert cli("campaign", "start")[0] == 0
    code, out, _ = cli("approve", "--list")
    assert code == 0 and "0 request(s) waiting" in out
    code, _, err = cli("approve", "A1")
    assert code == 7 and "nothing waits for approval" in err
    assert cli("approve", "A1", "--stage", "senior_notice", "--reason", "ok")[0] == 0
    code, out, _ = cli("delivery", "status", "--json")
    assert code == 0 and json.loads(out)["paused"] is False
    assert cli("delivery", "pause")[0] == 6
    assert cli("delivery", "pause", "--reason", "maintenance")[0] == 0
    code, out, _ = cli("delivery", "status")
    assert "delivery paused" in out and "maintenance" in out
    assert cli("delivery", "resume")[0] == 0


def test_status_says_what_needs_a_person(cli, tmp_path: Path) -> None:
    suppliers = tmp_path / "suppliers.csv"
    suppliers.write_text(HEADER + "\n" + supplier_line("A1") + "\n", encoding="utf-8")
    assert cli("db", "upgrade")[0] == 0
    assert cli("supplier", "import", str(suppliers))[0] == 0
    assert cli("delivery", "pause", "--reason", "server maintenance")[0] == 0
    code, out, _ = cli("status")
    assert code == 0 and "delivery paused: server maintenance" in out
    code, out, _ = cli("status", "--json")
    assert json.loads(out)["attention"] == {"delivery_paused": "server maintenance",
                                            "awaiting_approval": 0, "uncertain": 0,
                                            "failed": 0, "queued": 0}
