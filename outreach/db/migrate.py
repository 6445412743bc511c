"""Schema migrations (Alembic) run from code, and the guard that refuses a stale schema."""

from __future__ import annotations

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine
from sqlalchemy.exc import OperationalError

from outreach.errors import DatabaseNotReady
from outreach.resources import resource_dir


def alembic_config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(resource_dir("migrations")))
    return config


def head_revision() -> str:
    heads = ScriptDirectory.from_config(alembic_config()).get_heads()
    if len(heads) != 1:
        raise RuntimeError(f"migrations/ must have exactly one head, found {heads}")
    return heads[0]


def current_revision(engine: Engine) -> str | None:
    try:
        with engine.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision()
    except OperationalError as exc:
        raise DatabaseNotReady(
            f"cannot open the database {engine.url.render_as_string(hide_password=True)}: "
            f"{exc.orig}"
        ) from exc


def upgrade(engine: Engine, revision: str = "head") -> tuple[str | None, str]:
    """Migrate to ``revision``; return (revision before, revision after)."""
    before = current_revision(engine)
    config = alembic_config()
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, revision)
    return before, current_revision(engine) or ""


def require_current_schema(engine: Engine) -> None:
    """Refuse to work on a database the code's schema does not match."""
    current, head = current_revision(engine), head_revision()
    if current == head:
        return
    where = engine.url.render_as_string(hide_password=True)
    if current is None:
        raise DatabaseNotReady(
            f"the database {where} has no outreach schema yet: run `outreach db upgrade`"
        )
    raise DatabaseNotReady(
        f"the database {where} is at schema revision {current}, this version of outreach "
        f"needs {head}: run `outreach db upgrade` (back up the database first)"
    )
