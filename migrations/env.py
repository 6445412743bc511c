"""Alembic environment: the URL comes from outreach's settings (or the caller's connection).

``outreach db upgrade`` hands in a connection via ``config.attributes["connection"]``; a
developer running ``alembic`` directly gets the URL from the usual outreach settings
(``OUTREACH_DATABASE__URL``, ``--data`` via ``OUTREACH_DATA``).
"""

from __future__ import annotations

from typing import Any, Literal

from alembic import context
from sqlalchemy import Connection

from outreach.db.models import metadata
from outreach.db.types import JSONColumn, UTCDateTime

config = context.config


def render_item(type_: str, obj: Any, autogen_context: Any) -> str | Literal[False]:
    """Render outreach's own column types by name, so new migrations read cleanly."""
    if type_ == "type" and isinstance(obj, UTCDateTime):
        autogen_context.imports.add("import outreach.db.types")
        return "outreach.db.types.UTCDateTime()"
    if type_ == "type" and obj is JSONColumn:
        autogen_context.imports.add("import outreach.db.types")
        return "outreach.db.types.JSONColumn"
    return False


def run_with(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_item=render_item,
        render_as_batch=True,  # SQLite cannot ALTER most things: recreate-and-copy
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        run_with(connection)
        return
    from outreach.db.engine import make_engine
    from outreach.settings import load_settings

    engine = make_engine(load_settings().database_url)
    with engine.connect() as conn:
        run_with(conn)


if context.is_offline_mode():
    raise SystemExit("offline (--sql) migrations are not supported; run `outreach db upgrade`")
run_online()
