"""Builds everything in one place: settings → logging, clock, database. Nothing at import.

Every command and the service call :func:`build` once and pass the :class:`App` (or the parts
of it they need) down explicitly.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from sqlalchemy import Engine
from sqlalchemy.orm import sessionmaker
from sqlmodel import Session

from outreach.core.clock import AcceleratedClock, Clock, FixedClock, SystemClock
from outreach.core.ladder import Ladder
from outreach.db.engine import make_engine, session_factory
from outreach.db.migrate import require_current_schema
from outreach.logs import configure_logging
from outreach.mail.blank_template import blank_template
from outreach.mail.template_context import company_info
from outreach.mail.template_store import TemplateStore
from outreach.services.campaigns import frozen_template_kinds
from outreach.settings import ClockSettings, Settings, load_settings


def clock_from(settings: ClockSettings) -> Clock:
    if settings.mode == "fixed":
        assert settings.start is not None
        return FixedClock(settings.start)
    if settings.mode == "accelerated":
        assert settings.start is not None
        return AcceleratedClock(settings.start, speed=settings.speed)
    return SystemClock()


@dataclass
class App:
    settings: Settings
    clock: Clock
    engine: Engine
    sessions: sessionmaker[Session] = field(repr=False)
    _templates: TemplateStore | None = field(default=None, repr=False)

    def templates(self) -> TemplateStore:
        """The e-mail templates, checked once at first use, reloaded when edited; the blank
        RMI template the request attaches is prepared then too (a missing one fails now,
        not at the first send)."""
        if self._templates is None:
            blank_template(str(self.settings.campaign.template_family))
            with self.sessions() as session:
                frozen = frozen_template_kinds(session)
            self._templates = TemplateStore(
                self.settings.email_templates_dir,
                ladder=Ladder.model_validate(self.settings.ladder),
                company=company_info(self.settings.company),
                from_address=str(self.settings.mail.from_address), clock=self.clock,
                also_required=frozen)
        return self._templates

    def close(self) -> None:
        self.engine.dispose()


def build(
    settings: Settings | None = None,
    *,
    clock: Clock | None = None,
    check_schema: bool = True,
    log_stream: TextIO | None = None,
    config_file: Path | None = None,
    data: Path | None = None,
) -> App:
    settings = settings or load_settings(config_file, data=data)
    configure_logging(settings.logging, log_stream)
    settings.data.mkdir(parents=True, exist_ok=True)
    engine = make_engine(
        settings.database_url,
        busy_timeout_ms=settings.database.sqlite_busy_timeout_ms,
        echo=settings.database.echo,
    )
    if check_schema:
        try:
            require_current_schema(engine)
        except Exception:
            engine.dispose()
            raise
    return App(settings, clock or clock_from(settings.clock), engine, session_factory(engine))
