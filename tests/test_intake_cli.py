"""Intake through the CLI on the embedded defaults: SQLite, the data directory's Maildir.

The replies are real e-mails dropped into ``<data>/maildir`` the way an MTA delivers
(``deliver_to_maildir``); ``outreach poll`` reads them; a person then reviews, assigns and
adds files with the commands the README names.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from outreach.mail.local_transport import deliver_to_maildir
from outreach.mail.transport import Envelope
from tests.support.cli_runner import Runner, cli_runner
from tests.support.factories import HEADER, supplier_line
from tests.support.workbooks import accepted_cmrt, rejected_cmrt
from tests.test_intake_pipeline import reply

BOX = "conflict-minerals@company.example"


@pytest.fixture
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> Runner:
    return cli_runner(tmp_path / "data", capsys, monkeypatch, {"OUTREACH_ACTOR": "ann"})


def ok(result: tuple[int, str, str]) -> str:
    code, out, err = result
    assert code == 0, err
    return out


def drop(tmp_path: Path, raw: bytes) -> None:
    deliver_to_maildir(tmp_path / "data" / "maildir",
                       Envelope(sender="x@y.example", recipients=(BOX,), message=raw,
                                message_id="<x@y>"))


def requests(cli: Runner) -> dict[str, dict]:
    shown = json.loads(ok(cli("campaign", "show", "--json")))
    return {r["supplier"]: r for r in shown["requests"]} if "requests" in shown else shown


def test_poll_review_assign_add_and_suggestions(cli: Runner, tmp_path: Path) -> None:
    suppliers = tmp_path / "suppliers.csv"
    suppliers.write_text("\n".join([HEADER, supplier_line("A1"), supplier_line("B2")]) + "\n")
    ok(cli("db", "upgrade"))
    ok(cli("supplier", "import", str(suppliers)))
    ok(cli("campaign", "create", "CMRT 2026", "--year", "2026", "--due", "2099-03-31"))
    ok(cli("campaign", "start"))
    ok(cli("tick"))
    assert "nothing new" in ok(cli("poll"))  # the first poll sets the baseline

    token = json.loads(ok(cli("request", "show", "A1", "--json")))["reply_token"]
    drop(tmp_path, reply(sender="Pat <pat@a1.example>",
                         to=f"conflict-minerals+{token}@company.example",
                         files=(("CMRT.xlsx", accepted_cmrt(seed=11)),)))
    drop(tmp_path, reply(sender="stranger@nowhere.example", subject="CMRT for you",
                         files=(("c.xlsx", rejected_cmrt(seed=12)),)))
    drop(tmp_path, reply(sender="friend@elsewhere.example", subject="lunch?", text="Pizza?"))
    polled = json.loads(ok(cli("poll", "--json")))
    assert polled["recorded"] == 3 and polled["processed"] == 1
    assert polled["quarantined"] == 1 and polled["unrelated"] == 1
    assert polled["actioned"] == 1  # only ours moved out of the inbox
    inbox_left = list((tmp_path / "data" / "maildir" / "new").iterdir()) + \
        list((tmp_path / "data" / "maildir" / "cur").iterdir())
    assert len(inbox_left) == 2
    assert json.loads(ok(cli("poll", "--json")))["recorded"] == 0  # nothing twice

    a1 = json.loads(ok(cli("request", "show", "A1", "--json")))
    assert a1["state"] == "accepted"

    review = json.loads(ok(cli("inbox", "review", "--json")))
    (quarantined,) = review
    assert quarantined["status"] == "quarantined"
    assert "nowhere.example" in quarantined["why"]
    out = ok(cli("inbox", "assign", str(quarantined["id"]), "B2"))
    assert "processed" in out
    assert json.loads(ok(cli("inbox", "review", "--json"))) == []
    b2 = json.loads(ok(cli("request", "show", "B2", "--json")))
    assert b2["state"] == "open"  # the assigned file was rejected: the ladder goes on

    workbook = tmp_path / "from-portal.xlsx"
    workbook.write_bytes(accepted_cmrt(seed=13))
    added = json.loads(ok(cli("submission", "add", str(workbook), "--supplier", "B2",
                              "--json")))
    assert added["outcome"].startswith("accepted") and added["request_state"] == "accepted"
    shown = json.loads(ok(cli("submission", "show", str(added["submission"]), "--json")))
    assert shown["source"] == "manual" and Path(shown["file"]).read_bytes() == \
        workbook.read_bytes()
    text = ok(cli("submission", "show", "1"))
    assert "original file:" in text

    suggestions = json.loads(ok(cli("contact", "suggestions", "--json")))
    assert suggestions, "the accepted CMRTs' contacts are offered"
    ok(cli("contact", "accept", str(suggestions[0]["id"])))
    left = json.loads(ok(cli("contact", "suggestions", "--json")))
    assert len(left) == len(suggestions) - 1

    history = json.loads(ok(cli("history", "A1", "--json")))
    kinds = [line["kind"] for line in history]
    assert "inbound.reply" in kinds and "request.accepted" in kinds
    assert "A1" in ok(cli("history", "A1", "--kind", "submission"))

    code, _, err = cli("inbox", "assign", "999", "A1")
    assert code == 5 and "no inbound message #999" in err
    code, _, err = cli("submission", "show", "999")
    assert code == 5
