"""The schema: migrations equal the models, timestamps are UTC-aware, events append-only."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlmodel import select

from outreach.bootstrap import App, build
from outreach.core.enums import CampaignState, TemplateFamily
from outreach.db.audit import AuditLogIsAppendOnly, record_event
from outreach.db.engine import make_engine
from outreach.db.migrate import alembic_config, current_revision, head_revision, upgrade
from outreach.db.models import Campaign, Event, metadata
from outreach.errors import DatabaseNotReady
from outreach.settings import Settings


def test_migrations_have_one_head() -> None:
    heads = ScriptDirectory.from_config(alembic_config()).get_heads()
    assert len(heads) == 1 and heads[0] == head_revision()


def test_migrated_schema_equals_the_models(app: App) -> None:
    with app.engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        diff = compare_metadata(context, metadata)
    assert diff == []


def test_downgrade_to_empty_and_back(app: App) -> None:
    from alembic import command

    config = alembic_config()
    with app.engine.begin() as conn:
        config.attributes["connection"] = conn
        command.downgrade(config, "base")
    assert current_revision(app.engine) is None
    assert upgrade(app.engine) == (None, head_revision())


def test_service_refuses_an_unmigrated_database(settings: Settings) -> None:
    with pytest.raises(DatabaseNotReady, match=r"run `outreach db upgrade`"):
        build(settings)


def test_service_refuses_an_outdated_database(app: App, settings: Settings) -> None:
    with app.engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '0000'"))
    with pytest.raises(DatabaseNotReady, match=r"revision 0000.*needs"):
        build(settings)


def _campaign(at: datetime) -> Campaign:
    return Campaign(name="CMRT 2026", template_family=TemplateFamily.CMRT, reporting_year=2026,
                    min_version="6.01", due_date=date(2027, 3, 31), state=CampaignState.DRAFT,
                    created_at=at)


def test_timestamps_come_back_utc_aware(app: App) -> None:
    shanghai = datetime(2027, 1, 11, 17, 0, tzinfo=timezone(timedelta(hours=8)))
    with app.sessions() as s, s.begin():
        s.add(_campaign(shanghai))
    with app.sessions() as s:
        stored = s.exec(select(Campaign)).one().created_at
    assert stored == shanghai
    assert stored.tzinfo is not None and stored.utcoffset() == timedelta(0)
    assert stored.hour == 9


def test_naive_timestamps_are_refused(app: App) -> None:
    with app.sessions() as s, pytest.raises(Exception, match="naive"), s.begin():
        s.add(_campaign(datetime(2027, 1, 11, 9, 0)))  # noqa: DTZ001


def test_no_database_side_now_defaults() -> None:
    for table in metadata.sorted_tables:
        for column in table.columns:
            assert column.server_default is None, f"{table.name}.{column.name}"


def test_events_are_append_only_in_the_orm(app: App) -> None:
    clock = app.clock
    with app.sessions() as s, s.begin():
        record_event(s, clock, actor="test", kind="x", reason="because", answer=42)
    with app.sessions() as s:
        event = s.exec(select(Event)).one()
        assert (event.actor, event.reason, event.data) == ("test", "because", {"answer": 42})
        event.reason = "rewritten"
        with pytest.raises(AuditLogIsAppendOnly):
            s.commit()
        s.rollback()
        s.delete(s.exec(select(Event)).one())
        with pytest.raises(AuditLogIsAppendOnly):
            s.commit()


@pytest.mark.parametrize("statement", ["UPDATE events SET reason = 'x'", "DELETE FROM events"])
def test_events_are_append_only_in_the_database(app: App, statement: str) -> None:
    with app.sessions() as s, s.begin():
        record_event(s, app.clock, actor="test", kind="x")
    with pytest.raises(DBAPIError, match="append-only"), app.engine.begin() as conn:
        conn.execute(text(statement))
    with app.engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM events")).scalar() == 1


def test_sqlite_runs_in_wal_with_a_busy_timeout(tmp_path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'x.sqlite3'}", busy_timeout_ms=10_000)
    with engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 10_000
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
    engine.dispose()


def test_foreign_keys_are_enforced(app: App) -> None:
    with pytest.raises(DBAPIError), app.engine.begin() as conn:
        conn.execute(text(
            "INSERT INTO contacts (supplier_id, role, email, status, created_at, updated_at) "
            "VALUES (999, 'primary', 'a@b.example', 'active', :t, :t)"),
            {"t": datetime.now(UTC).replace(tzinfo=None)})
