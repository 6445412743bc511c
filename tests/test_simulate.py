"""``outreach simulate``: the season engine without mail servers, and its inputs (profiles,
ladders) with clear errors."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from outreach.demo.profiles import PROFILES, Step, assign, load_profiles
from outreach.demo.simulate import load_ladder
from outreach.errors import InvalidInput
from tests.support.cli_runner import cli_runner

CONFIG = Path(__file__).parents[1] / "config" / "outreach.toml"


def test_assign_gives_every_profile_once_then_by_weight_and_is_deterministic() -> None:
    profiles = list(PROFILES.values())
    small = assign(profiles, 12, seed=3)
    assert {p.name for p in small} == set(PROFILES)
    big = assign(profiles, 60, seed=3)
    counts = {name: sum(p.name == name for p in big) for name in PROFILES}
    assert counts["prompt"] > counts["bounce"] and sum(counts.values()) == 60
    assert [p.name for p in assign(profiles, 60, seed=3)] == [p.name for p in big]
    assert [p.name for p in assign(profiles, 60, seed=4)] != [p.name for p in big]


def test_profiles_from_toml_builtin_and_custom(tmp_path: Path) -> None:
    path = tmp_path / "p.toml"
    path.write_text('[[profile]]\nbehaviour = "prompt"\nweight = 20\ndelay_days = 1\n\n'
                    '[[profile]]\nname = "slow"\nweight = 5\n'
                    'steps = [{on = "reminder", action = "cmrt", delay_days = 6}]\n')
    prompt, slow = load_profiles(path)
    assert prompt.weight == 20 and prompt.steps == (Step("request", "cmrt", 1.0),)
    assert slow.name == "slow" and slow.responsive and slow.steps[0].delay_days == 6


def test_profiles_from_csv(tmp_path: Path) -> None:
    path = tmp_path / "p.csv"
    path.write_text("behaviour,weight,delay_days\nprompt,30,\nnever,4,\nlate,10,2\n")
    profiles = load_profiles(path)
    assert [p.name for p in profiles] == ["prompt", "never", "late"]
    assert not profiles[1].responsive and profiles[2].steps[0].delay_days == 2


@pytest.mark.parametrize(("name", "text", "message"), [
    ("p.toml", '[[profile]]\nbehaviour = "sometimes"\n', "behaviour 'sometimes' is not one"),
    ("p.toml", "[[profile]]\nbehaviour = 'prompt'\nweight = 'lots'\n", "weight 'lots'"),
    ("p.toml", "[[profile]]\nname='x'\nsteps=[{on='phone', action='cmrt'}]\n", "step on"),
    ("p.toml", "[[profile]]\nbehaviour='prompt'\ncolour='red'\n", "unknown keys"),
    ("p.toml", "profile = [", "not valid TOML"),
    ("p.toml", "x = 1\n", "[[profile]]"),
    ("p.csv", "name,count\nprompt,3\n", "behaviour,weight"),
    ("p.csv", "behaviour,weight\nprompt,0\n", "every weight is 0"),
])
def test_bad_profile_files_say_what_is_wrong(tmp_path: Path, name: str, text: str,
                                             message: str) -> None:
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(InvalidInput) as caught:
        load_profiles(path)
    assert message in str(caught.value) and str(path) in str(caught.value)


def test_ladder_files(tmp_path: Path) -> None:
    assert [s.name for s in load_ladder(CONFIG).stages][-1] == "handover"
    bad = tmp_path / "bad.toml"
    bad.write_text('[[ladder.stages]]\nname = "request"\nafter_days = -3\n')
    with pytest.raises(InvalidInput, match="not a valid ladder"):
        load_ladder(bad)
    empty = tmp_path / "empty.toml"
    empty.write_text("send_hour = 9\n")
    with pytest.raises(InvalidInput, match=r"\[ladder\]"):
        load_ladder(empty)


def test_simulate_compares_ladders_deterministically(
        tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    twin = tmp_path / "same.toml"
    shutil.copy(CONFIG, twin)
    monkeypatch.chdir(tmp_path)
    run = cli_runner(tmp_path / "unused", capsys, monkeypatch)
    code, output, error = run("simulate", "--ladder", str(CONFIG), "--ladder", str(twin),
                              "--suppliers", "11", "--seed", "5", "--json")
    assert code == 0, error
    report = json.loads(output)
    assert "illustrative" in report["note"]
    first, second = report["ladders"]
    for row in (first, second):
        assert row["responsive"] == 10 and row["responsive_accepted"] == 10
        assert row["days_to_full"] is not None and row["days_to_full"] > 30
        assert row["senior_notice"] == 2  # the one answering after it, and the one never
        assert row["handed_over"] == 1
        assert row["emails_per_supplier"] >= row["ladder_emails_per_supplier"] >= 1
    del first["name"], first["seconds"], second["name"], second["seconds"]
    assert first == second  # the same seed gives the same season
    assert not (tmp_path / "unused").exists()  # without mail servers, in a temporary folder

    code, table, _ = run("simulate", "--suppliers", "2", "--seed", "1")
    assert code == 0 and "illustrative" in table and "days to 100%" in table
