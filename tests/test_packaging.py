"""What users run outside the test suite: the wheel, the Dockerfile, docker-compose.yml.

Docker cannot run here, so these check what can be checked without it: the compose file's
structure and that its environment is a valid outreach configuration, and that the files
the Dockerfile copies exist.
"""

from __future__ import annotations

import re
import subprocess
import sys
import zipfile
from pathlib import Path

import yaml

from outreach.settings import load_settings

REPO = Path(__file__).resolve().parents[1]


def _compose() -> dict:
    return yaml.safe_load((REPO / "docker-compose.yml").read_text(encoding="utf-8"))


def test_compose_services_and_health() -> None:
    compose = _compose()
    services = compose["services"]
    assert set(services) == {"postgres", "mail", "outreach"}
    assert "pg_isready" in " ".join(services["postgres"]["healthcheck"]["test"])
    outreach = services["outreach"]
    assert outreach["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert "outreach db upgrade && exec outreach run" in " ".join(outreach["command"])
    for name, spec in compose["secrets"].items():
        assert (REPO / spec["file"]).is_file(), name


def test_compose_environment_is_a_valid_configuration(tmp_path: Path) -> None:
    compose = _compose()
    env = {k: str(v) for k, v in compose["services"]["outreach"]["environment"].items()}
    secret_files = {f"/run/secrets/{name}": REPO / spec["file"]
                    for name, spec in compose["secrets"].items()}
    env = {k: str(secret_files.get(v, v)) for k, v in env.items()}
    env["OUTREACH_DATA"] = str(tmp_path)
    settings = load_settings(REPO / "config" / "outreach.toml", env=env)
    assert settings.database_url.startswith("postgresql://outreach:")
    assert (settings.smtp.transport, settings.smtp.host, settings.smtp.port) == ("smtp", "mail",
                                                                                 3465)
    assert settings.imap.source == "imap" and settings.imap.folders == ["INBOX"]
    assert settings.smtp.password is not None


def test_dockerfile_copies_what_exists() -> None:
    dockerfile = (REPO / "Dockerfile").read_text(encoding="utf-8")
    sources = [part for line in dockerfile.splitlines() if line.startswith("COPY ")
               for part in line.split()[1:-1]]
    assert sources
    for source in sources:
        assert (REPO / source).exists(), source
    assert re.search(r"^USER (?!root)", dockerfile, re.M)


def test_wheel_carries_templates_config_and_migrations(tmp_path: Path) -> None:
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps",
                    "--no-build-isolation", "-w", str(tmp_path), str(REPO)], check=True)
    [wheel] = tmp_path.glob("outreach-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert "outreach/_bundled/config/outreach.toml" in names
    assert "outreach/_bundled/migrations/env.py" in names
    assert any(n.startswith("outreach/_bundled/migrations/versions/") for n in names)
    assert "outreach/_bundled/templates/README.md" in names
