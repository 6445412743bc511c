"""The state one CLI invocation shares: global options, and the App built from them once."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import typer
from sqlmodel import Session

from outreach.bootstrap import App, build
from outreach.db.audit import cli_actor
from outreach.db.engine import transaction
from outreach.settings import Settings, load_settings


@dataclass
class CliState:
    config_file: Path | None = None
    data: Path | None = None
    debug: bool = False
    actor_name: str | None = None
    _settings: Settings | None = field(default=None, repr=False)
    _app: App | None = field(default=None, repr=False)

    @property
    def actor(self) -> str:
        return cli_actor(self.actor_name)

    def settings(self) -> Settings:
        if self._settings is None:
            self._settings = load_settings(self.config_file, data=self.data)
        return self._settings

    def app(self, *, check_schema: bool = True) -> App:
        if self._app is None:
            self._app = build(self.settings(), check_schema=check_schema)
        return self._app

    @contextmanager
    def unit_of_work(self) -> Iterator[Session]:
        with transaction(self.app().sessions) as session:
            yield session

    def close(self) -> None:
        if self._app is not None:
            self._app.close()
            self._app = None


def state(ctx: typer.Context) -> CliState:
    obj = ctx.find_root().obj
    assert isinstance(obj, CliState), "the root callback sets the CLI state"
    return obj
