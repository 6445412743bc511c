"""Pytest plugin: every database test runs on SQLite and on PostgreSQL.

PostgreSQL comes from ``OUTREACH_TEST_POSTGRES_URL`` (CI sets it to the local server,
``postgresql://root@127.0.0.1:5432/test``). Each test gets a schema of its own on that
server (via ``search_path``), dropped afterwards, so tests are isolated and parallel-safe.
Without the variable the PostgreSQL half skips here and fails under ``CI=true``.

Fixtures: ``db_url`` (parametrized: sqlite, postgres), ``settings``, ``clock`` (a
``FixedClock`` on a Monday morning in January), ``app`` (migrated), ``session``.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlmodel import Session

from outreach.bootstrap import App, build
from outreach.core.clock import FixedClock
from outreach.db.migrate import upgrade
from outreach.settings import Settings, load_settings
from tests.support.services import require_service

POSTGRES_ENV = "OUTREACH_TEST_POSTGRES_URL"
#: a Monday, 09:00 UTC, in the survey season
T0 = datetime(2027, 1, 11, 9, 0, tzinfo=UTC)


def postgres_base_url() -> str | None:
    url = os.environ.get(POSTGRES_ENV)
    if not url:
        return None
    parsed = make_url(url)
    if parsed.drivername == "postgresql":
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed.render_as_string(hide_password=False)


def _postgres_reachable(url: str) -> bool:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            conn.execute(text("select 1"))
        return True
    except Exception:
        return False
    finally:
        engine.dispose()


@pytest.fixture(scope="session")
def postgres_server() -> str:
    url = postgres_base_url()
    require_service(url is not None, "PostgreSQL",
                    f"set {POSTGRES_ENV}=postgresql://USER@HOST:5432/DB to run the PostgreSQL half")
    assert url is not None
    require_service(_postgres_reachable(url), f"PostgreSQL at {make_url(url).host}",
                    "start the server or fix " + POSTGRES_ENV)
    return url


@pytest.fixture
def postgres_schema_url(postgres_server: str) -> Iterator[str]:
    """A URL whose connections live in a fresh schema of their own."""
    schema = f"t_{uuid.uuid4().hex[:16]}"
    admin = create_engine(postgres_server, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    url = make_url(postgres_server).update_query_dict({"options": f"-csearch_path={schema}"})
    try:
        yield url.render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture(params=["sqlite", "postgres"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'outreach.sqlite3'}"
    return str(request.getfixturevalue("postgres_schema_url"))


def make_settings(data: Path, db_url: str | None = None, **overrides: object) -> Settings:
    """Settings for a test: embedded defaults, no environment leaking in from the shell."""
    values: dict[str, object] = dict(overrides)
    if db_url is not None:
        values.setdefault("database", {"url": db_url})
    values.setdefault("logging", {"format": "json"})
    return load_settings(data=data, env={}, overrides=values)


@pytest.fixture
def settings(tmp_path: Path, db_url: str) -> Settings:
    return make_settings(tmp_path / "data", db_url)


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(T0)


@pytest.fixture
def app(settings: Settings, clock: FixedClock) -> Iterator[App]:
    application = build(settings, clock=clock, check_schema=False)
    upgrade(application.engine)
    try:
        yield application
    finally:
        application.close()


@pytest.fixture
def session(app: App) -> Iterator[Session]:
    with app.sessions() as s:
        yield s
