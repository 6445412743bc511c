from __future__ import annotations

import json
from pathlib import Path

import pytest

from outreach.cli import main
from outreach.errors import ConfigError
from outreach.settings import Settings, load_settings, masked

REPO = Path(__file__).resolve().parents[1]


def test_embedded_defaults_need_no_configuration(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)  # no config/outreach.toml here
    settings = load_settings(env={"HOME": str(tmp_path)})
    assert settings.config_file is None
    assert settings.database_url == f"sqlite:///{tmp_path}/.local/share/outreach/outreach.sqlite3"
    assert settings.smtp.transport == "local" and settings.imap.source == "maildir"
    assert [s.name for s in settings.ladder.stages] == [
        "request", "reminder", "follow_up", "senior_notice", "handover"]


def test_shipped_config_file_documents_the_embedded_defaults(tmp_path: Path) -> None:
    shipped = load_settings(REPO / "config" / "outreach.toml", env={}, data=tmp_path)
    assert shipped.model_dump() == Settings(data=tmp_path).model_dump()


def test_data_dir_holds_every_run_artefact(tmp_path: Path) -> None:
    s = load_settings(env={"OUTREACH_DATA": str(tmp_path / "d")})
    assert s.data == tmp_path / "d"
    assert {s.sqlite_path.parent, s.attachments_dir.parent, s.maildir_path.parent,
            s.outbox_dir.parent} == {tmp_path / "d"}
    assert load_settings(env={"OUTREACH_DATA": "/elsewhere"}, data=tmp_path).data == tmp_path


def _write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_file_then_environment_then_overrides(tmp_path: Path) -> None:
    config = _write(tmp_path / "o.toml", '[smtp]\nhost = "file.example"\nport = 2525\n'
                    '[imap]\nfolders = ["INBOX"]\n')
    s = load_settings(config, env={"OUTREACH_SMTP__PORT": "465",
                                   "OUTREACH_IMAP__FOLDERS": '["INBOX", "Spam"]'})
    assert (s.smtp.host, s.smtp.port, s.imap.folders) == ("file.example", 465, ["INBOX", "Spam"])
    s = load_settings(config, env={"OUTREACH_SMTP__PORT": "465"},
                      overrides={"smtp": {"port": 26}})
    assert s.smtp.port == 26
    assert s.config_file == config.resolve()


def test_outreach_config_names_the_file(tmp_path: Path) -> None:
    config = _write(tmp_path / "o.toml", '[company]\nname = "Acme"\n')
    assert load_settings(env={"OUTREACH_CONFIG": str(config)}).company.name == "Acme"
    with pytest.raises(ConfigError, match="does not exist"):
        load_settings(env={"OUTREACH_CONFIG": str(tmp_path / "missing.toml")})


def test_secrets_from_environment_or_file_and_masked(tmp_path: Path) -> None:
    secret = _write(tmp_path / "pw", "s3cret-pw\n")
    s = load_settings(env={"OUTREACH_SMTP__PASSWORD_FILE": str(secret),
                           "OUTREACH_SMTP__USERNAME": "bot",
                           "OUTREACH_DATABASE__URL": "postgresql://app:dbpw@db:5432/outreach"})
    assert s.smtp.password is not None and s.smtp.password.get_secret_value() == "s3cret-pw"
    assert s.database_url == "postgresql://app:dbpw@db:5432/outreach"
    shown = json.dumps(masked(s))
    for leaked in ("s3cret-pw", "dbpw"):
        assert leaked not in shown
        assert leaked not in repr(s)
    assert masked(s)["smtp"]["password"] == "********"
    assert masked(s)["database_url"] == "postgresql://app:***@db:5432/outreach"


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"OUTREACH_SMTP__PASSWORD": "a", "OUTREACH_SMTP__PASSWORD_FILE": "/x"}, "set only one"),
        ({"OUTREACH_IMAP__PASSWORD_FILE": "/nonexistent/pw"}, "cannot be read"),
    ],
)
def test_secret_source_errors(env: dict[str, str], expected: str) -> None:
    with pytest.raises(ConfigError, match=expected):
        load_settings(env=env)


def test_secrets_in_the_file_are_refused(tmp_path: Path) -> None:
    config = _write(tmp_path / "o.toml", '[smtp]\npassword = "hunter2"\n')
    with pytest.raises(ConfigError) as info:
        load_settings(config, env={})
    assert "OUTREACH_SMTP__PASSWORD" in str(info.value)
    assert "hunter2" not in str(info.value)


@pytest.mark.parametrize(
    ("toml", "key", "hint"),
    [
        ("[smtp]\nport = 70000\n", "smtp.port", "less than or equal to 65535"),
        ('[smtp]\nport = "abc"\n', "smtp.port", "valid integer"),
        ('[smtp]\nsecurity = "ssl"\n', "smtp.security", "'starttls', 'tls' or 'none'"),
        ('[smtp]\nhots = "x"\n', "smtp.hots", "unknown key"),
        ('[mail]\nfrom_address = "not-an-address"\n', "mail.from_address", "email address"),
        ('[campaign]\ntime_zone = "Mars/Olympus"\n', "campaign.time_zone", "IANA time zone"),
        ('[campaign]\nmin_version = "six"\n', "campaign.min_version", "pattern"),
        ('[clock]\nmode = "fixed"\n', "clock", "needs clock.start"),
        ('[clock]\nstart = "2027-01-01T00:00:00"\nmode = "fixed"\n', "clock.start", "timezone"),
        ("[imap]\nfolders = []\n", "imap.folders", "at least 1"),
        ('[[ladder.stages]]\nname = "x"\n', "ladder.stages", "needs a 'template'"),
        ("[smtp\n", "not valid TOML", ""),
    ],
)
def test_invalid_values_name_the_key(tmp_path: Path, toml: str, key: str, hint: str) -> None:
    config = _write(tmp_path / "o.toml", toml)
    with pytest.raises(ConfigError) as info:
        load_settings(config, env={})
    message = str(info.value)
    assert key in message and hint in message
    assert "\n" not in message


def test_invalid_environment_value_names_the_key() -> None:
    with pytest.raises(ConfigError, match=r"smtp\.timeout_seconds: .*greater than 0"):
        load_settings(env={"OUTREACH_SMTP__TIMEOUT_SECONDS": "-1"})


def test_config_check_prints_effective_config_masked(tmp_path: Path, monkeypatch, capsys) -> None:
    monkeypatch.setenv("OUTREACH_SMTP__PASSWORD", "topsecret")
    monkeypatch.setenv("OUTREACH_DATABASE__URL", "postgresql://u:dbsecret@h/db")
    monkeypatch.setenv("OUTREACH_SMTP__HOST", "mail.example.com")
    assert main(["--data", str(tmp_path), "config", "check"]) == 0
    text = capsys.readouterr().out
    assert "configuration is valid" in text and "mail.example.com" in text
    assert "topsecret" not in text and "dbsecret" not in text
    assert "senior_notice" in text
    assert main(["--data", str(tmp_path), "config", "check", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["smtp"]["password"] == "********" and data["smtp"]["host"] == "mail.example.com"


def test_config_check_fails_with_one_line(tmp_path: Path, monkeypatch, capsys) -> None:
    monkeypatch.setenv("OUTREACH_SMTP__PORT", "many")
    assert main(["--data", str(tmp_path), "config", "check"]) == 3
    captured = capsys.readouterr()
    assert captured.err.count("\n") == 1 and "smtp.port" in captured.err
    assert "Traceback" not in captured.err
