"""Typed settings: embedded defaults < TOML file < environment < command-line options.

* The TOML file is ``config/outreach.toml`` when it exists, or the file named by ``--config`` /
  ``OUTREACH_CONFIG`` (which must exist).
* Any key can be overridden from the environment as ``OUTREACH_<SECTION>__<KEY>``, e.g.
  ``OUTREACH_SMTP__HOST=mail.example.com``; lists as JSON (``OUTREACH_IMAP__FOLDERS='["INBOX"]'``).
* Secrets (database URL, SMTP/IMAP credentials) never come from the file: only from the
  environment (``OUTREACH_SMTP__PASSWORD``) or a file named by ``OUTREACH_SMTP__PASSWORD_FILE``
  (Docker/Kubernetes secrets). They are ``SecretStr`` and never printed or logged.
* The data directory (``--data`` / ``OUTREACH_DATA``) holds everything a run writes: the SQLite
  file, stored attachments, the local Maildir and the local outbox.

An invalid value fails at start with a :class:`ConfigError` naming the key and what is expected.
"""

from __future__ import annotations

import json
import os
import tomllib
from collections.abc import Mapping
from datetime import datetime, timedelta
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    EmailStr,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)

from outreach.core.delivery_limits import DeliveryLimits
from outreach.core.enums import TemplateFamily
from outreach.core.ladder import Ladder, default_ladder
from outreach.errors import ConfigError
from outreach.resources import resource_dir

ENV_PREFIX = "OUTREACH_"
DEFAULT_CONFIG_PATH = Path("config/outreach.toml")

#: (section, key) of every secret: accepted from the environment or a *_FILE, never the TOML.
SECRET_KEYS: frozenset[tuple[str, str]] = frozenset(
    {
        ("database", "url"),
        ("smtp", "username"),
        ("smtp", "password"),
        ("imap", "username"),
        ("imap", "password"),
    }
)


def _valid_time_zone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"an IANA time zone name such as 'Europe/Berlin', got {value!r}") from exc
    return value


TimeZoneName = Annotated[str, AfterValidator(_valid_time_zone)]
Port = Annotated[int, Field(ge=1, le=65535)]


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class DatabaseSettings(Section):
    #: SQLAlchemy URL; empty means SQLite in the data directory. Secret: environment only.
    url: SecretStr | None = None
    sqlite_busy_timeout_ms: Annotated[int, Field(ge=0)] = 10_000
    echo: bool = False


class SmtpSettings(Section):
    #: "local" writes each message into the data directory's outbox; "smtp" sends.
    transport: Literal["local", "smtp"] = "local"
    host: str = "localhost"
    port: Port = 587
    security: Literal["starttls", "tls", "none"] = "starttls"
    verify_tls: bool = True
    ca_file: Path | None = None
    username: SecretStr | None = None
    password: SecretStr | None = None
    timeout_seconds: Annotated[float, Field(gt=0)] = 60.0


class ImapSettings(Section):
    #: "maildir" polls the data directory's Maildir (embedded default); "imap" a server.
    source: Literal["maildir", "imap"] = "maildir"
    host: str = "localhost"
    port: Port = 993
    security: Literal["tls", "starttls"] = "tls"
    verify_tls: bool = True
    ca_file: Path | None = None
    username: SecretStr | None = None
    password: SecretStr | None = None
    folders: list[str] = Field(default_factory=lambda: ["INBOX", "Junk"], min_length=1)
    poll_interval_seconds: Annotated[float, Field(gt=0)] = 300.0
    timeout_seconds: Annotated[float, Field(gt=0)] = 60.0
    #: what happens to a message we recorded and recognised as ours (never to anyone else's):
    #: "move" it to ``processed_folder`` (created when missing) or add ``processed_keyword``
    processed_action: Literal["move", "keyword"] = "move"
    processed_folder: Annotated[str, Field(min_length=1, max_length=200)] = "Outreach"
    processed_keyword: Annotated[str, Field(pattern=r"^\$?[A-Za-z0-9_-]{1,60}$")] = (
        "$OutreachProcessed")
    #: wait on IMAP IDLE between polls where the server offers it (a wake-up only: the
    #: periodic poll always runs); IDLE is re-issued after at most ``idle_renew_seconds``
    idle: bool = True
    idle_renew_seconds: Annotated[float, Field(ge=5, le=600)] = 540.0
    #: reconnect after a failure waits 2^n seconds, at most this long
    reconnect_cap_seconds: Annotated[float, Field(ge=1, le=3600)] = 300.0
    #: messages fetched per IMAP FETCH command
    fetch_batch: Annotated[int, Field(ge=1, le=500)] = 20
    #: a message larger than this is recorded as too large without downloading it
    max_message_mb: Annotated[float, Field(gt=0, le=1024)] = 64.0


class MailSettings(Section):
    #: the compliance mailbox every message comes from (never a person's own mailbox)
    from_address: EmailStr = "conflict-minerals@company.example"
    from_name: str = "Conflict Minerals Compliance"
    #: where our own compliance team is copied when a stage says "compliance"
    compliance_address: EmailStr = "compliance@company.example"
    #: the e-mail templates an admin edits (a copy of the shipped ``templates/email``);
    #: None: the shipped ones. Edits take effect without a restart once they pass the check.
    templates_dir: Path | None = None


class PersonSettings(Section):
    name: str
    title: str = ""
    email: EmailStr


class CompanyDeclaration(Section):
    """The company's own CMRT Declaration (``outreach export company-cmrt``): the contact is
    ``company.contact``, the authorizer ``company.senior_officer``."""

    address: str = "1 Example Way, Springfield, United States"
    unique_id: str = ""
    unique_id_authority: str = ""
    contact_phone: str = "+1 555 0100"
    authorizer_phone: str = ""
    #: "A. Company", "B. Product (or List of Products)" or "C. User defined [...]"
    scope: str = "A. Company"
    scope_description: str = ""
    #: the company-level answers A to H, as the template's lists spell them
    company_answers: list[str] = Field(default_factory=lambda: [
        "Yes", "Yes", "Yes", "Yes", "Yes, in conformance with IPC1755 (e.g., CMRT)", "Yes",
        "Yes", "Yes"], min_length=8, max_length=8)
    policy_url: str = ""


class CompanySettings(Section):
    name: str = "Example Manufacturing Inc."
    contact: PersonSettings = PersonSettings(
        name="Compliance Team", title="Supply Chain Compliance",
        email="compliance@company.example",
    )
    senior_officer: PersonSettings = PersonSettings(
        name="Alex Morgan", title="Chief Procurement Officer", email="cpo@company.example"
    )
    declaration: CompanyDeclaration = CompanyDeclaration()


class DigestSettings(Section):
    """The status digest compliance reads: when, to whom, what it looks ahead to."""

    #: who gets it [default: mail.compliance_address]
    recipients: list[EmailStr] = Field(default_factory=list)
    #: weekly on this weekday (0 Monday … 6 Sunday), at ``hour`` in campaign.time_zone
    weekday: Annotated[int, Field(ge=0, le=6)] = 0
    hour: Annotated[int, Field(ge=0, le=23)] = 8
    #: daily instead of weekly in the last weeks before the campaign's due date
    daily_weeks_before_due: Annotated[int, Field(ge=0, le=52)] = 4
    #: upcoming escalations listed for this many days ahead
    upcoming_days: Annotated[int, Field(ge=1, le=60)] = 7


class CampaignDefaults(Section):
    template_family: TemplateFamily = TemplateFamily.CMRT
    min_version: Annotated[str, Field(pattern=r"^\d+\.\d+[a-z]?$")] = "6.01"
    #: a supplier joining a running campaign gets at least this many days to answer
    late_joiner_days: Annotated[int, Field(ge=1, le=365)] = 30
    #: the company's own zone: dates typed at the CLI ("--until 2026-03-31") end there
    time_zone: TimeZoneName = "UTC"


class LoggingSettings(Section):
    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    #: "auto": coloured console lines on a terminal, JSON lines otherwise
    format: Literal["auto", "json", "console"] = "auto"


class SchedulerSettings(Section):
    #: how often `outreach run` asks the database what is due
    tick_seconds: Annotated[float, Field(ge=1, le=3600)] = 60.0
    worker_threads: Annotated[int, Field(ge=1, le=16)] = 4


class ClockSettings(Section):
    """Which clock the service reads. Only rehearsals and simulations change it."""

    mode: Literal["system", "fixed", "accelerated"] = "system"
    start: AwareDatetime | None = None
    speed: Annotated[float, Field(gt=0)] = 1.0

    @model_validator(mode="after")
    def _start_needed(self) -> ClockSettings:
        if self.mode != "system" and self.start is None:
            raise ValueError(f"clock.mode = {self.mode!r} needs clock.start (an ISO date-time "
                             "with a zone, e.g. 2027-01-15T09:00:00Z)")
        return self


def default_data_dir(env: Mapping[str, str] | None = None) -> Path:
    """``$XDG_DATA_HOME/outreach``, i.e. ``~/.local/share/outreach`` on most systems."""
    environ = os.environ if env is None else env
    home = Path(environ["HOME"]) if environ.get("HOME") else Path.home()
    base = environ.get("XDG_DATA_HOME") or str(home / ".local" / "share")
    return Path(base) / "outreach"


class DeliverySettings(Section):
    """How the outbox sends: account limits, per-contact limits, retries, leases."""

    per_minute: Annotated[int, Field(ge=1, le=10_000)] = 30
    per_day: Annotated[int, Field(ge=1, le=1_000_000)] = 10_000
    #: no contact gets two ladder e-mails within this many hours (answers are exempt)
    contact_min_gap_hours: Annotated[float, Field(ge=0, le=24 * 60)] = 72.0
    #: nor more than this many within ``contact_window_days``
    contact_cap: Annotated[int, Field(ge=1, le=100)] = 4
    contact_window_days: Annotated[int, Field(ge=1, le=365)] = 30
    #: a transient failure is retried after 2^n x base seconds, at most ``backoff_cap``
    retry_base_seconds: Annotated[float, Field(gt=0, le=3600)] = 60.0
    retry_cap_seconds: Annotated[float, Field(gt=0, le=7 * 86_400)] = 6 * 3600.0
    max_attempts: Annotated[int, Field(ge=1, le=100)] = 12
    #: how long a worker owns a claimed message before another may take it over
    lease_seconds: Annotated[float, Field(ge=10, le=3600)] = 300.0
    batch_size: Annotated[int, Field(ge=1, le=1000)] = 50

    def limits(self) -> DeliveryLimits:
        return DeliveryLimits(per_minute=self.per_minute, per_day=self.per_day,
                              contact_gap=timedelta(hours=self.contact_min_gap_hours),
                              contact_cap=self.contact_cap,
                              contact_window=timedelta(days=self.contact_window_days))


class ValidationSettings(Section):
    """How returned workbooks are judged (docs/validation.md lists every finding code)."""

    #: the largest attachment opened at all; the zip caps guard against bombs
    max_file_mb: Annotated[float, Field(gt=0, le=1024)] = 40.0
    max_uncompressed_mb: Annotated[float, Field(gt=0, le=4096)] = 400.0
    max_compression_ratio: Annotated[float, Field(ge=10, le=10_000)] = 200.0
    #: finding code → "error", "warning", "info" or "off" (RMI's Checker codes stay errors)
    severity: dict[str, str] = Field(default_factory=dict)

    @field_validator("severity")
    @classmethod
    def _known_codes(cls, value: dict[str, str]) -> dict[str, str]:
        from outreach.cmrt.findings import check_severity_overrides

        problems = check_severity_overrides(value)
        if problems:
            raise ValueError("; ".join(problems))
        return value


class AlertSettings(Section):
    """How the service raises the alarm when it stops by itself (the circuit breaker paused
    delivery): besides the event, the error log line, ``outreach status`` and the digest,
    every alert is appended to ``<data>/alerts.log`` (one JSON line) and, when set,
    ``command`` runs with ``OUTREACH_ALERT_KIND`` and ``OUTREACH_ALERT_MESSAGE`` in its
    environment (e.g. a script that posts to your chat or paging tool)."""

    command: str | None = None
    timeout_seconds: Annotated[float, Field(gt=0, le=300)] = 30.0


class IntakeSettings(Section):
    """What intake does with replies once they are read from the mailbox."""

    #: "any": one accepted workbook covers the supplier; "all": every workbook of the reply
    #: (a supplier declaring per product sends several) must be accepted
    accept_when: Literal["any", "all"] = "any"
    #: a reply whose processing fails this often is recorded as failed (``inbox retry``)
    max_attempts: Annotated[int, Field(ge=1, le=20)] = 3
    #: answer each reply (receipt, correction request, "send the workbook") by e-mail
    answer: bool = True


class Settings(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_default=True)

    #: where every run writes; ``--data`` / ``OUTREACH_DATA``
    data: Path = Field(default_factory=default_data_dir)
    database: DatabaseSettings = DatabaseSettings()
    smtp: SmtpSettings = SmtpSettings()
    imap: ImapSettings = ImapSettings()
    mail: MailSettings = MailSettings()
    company: CompanySettings = CompanySettings()
    campaign: CampaignDefaults = CampaignDefaults()
    ladder: Ladder = Field(default_factory=default_ladder)
    logging: LoggingSettings = LoggingSettings()
    scheduler: SchedulerSettings = SchedulerSettings()
    clock: ClockSettings = ClockSettings()
    validation: ValidationSettings = ValidationSettings()
    delivery: DeliverySettings = DeliverySettings()
    intake: IntakeSettings = IntakeSettings()
    alerts: AlertSettings = AlertSettings()
    digest: DigestSettings = DigestSettings()

    #: which TOML file was read (None: embedded defaults); informational, not configurable
    config_file: Path | None = Field(default=None, exclude=True)

    @field_validator("data")
    @classmethod
    def _absolute_data(cls, value: Path) -> Path:
        return value.expanduser().resolve()

    # -- derived locations inside the data directory -------------------------------------
    @property
    def sqlite_path(self) -> Path:
        return self.data / "outreach.sqlite3"

    @property
    def attachments_dir(self) -> Path:
        return self.data / "attachments"

    @property
    def maildir_path(self) -> Path:
        return self.data / "maildir"

    @property
    def outbox_dir(self) -> Path:
        return self.data / "outbox"

    @property
    def email_templates_dir(self) -> Path:
        return self.mail.templates_dir or resource_dir("templates") / "email"

    @property
    def exports_dir(self) -> Path:
        return self.data / "exports"

    @property
    def database_url(self) -> str:
        if self.database.url is not None and self.database.url.get_secret_value():
            return self.database.url.get_secret_value()
        return f"sqlite:///{self.sqlite_path}"


def _deep_merge(base: dict[str, Any], top: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in top.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = _deep_merge(dict(merged[key]), value)
        else:
            merged[key] = value
    return merged


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as fh:
            data = tomllib.load(fh)
    except FileNotFoundError as exc:
        raise ConfigError(f"config file {path} does not exist") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {path} is not valid TOML: {exc}") from exc
    for section, key in sorted(SECRET_KEYS):
        if key in data.get(section, {}):
            var = f"{ENV_PREFIX}{section.upper()}__{key.upper()}"
            raise ConfigError(
                f"{section}.{key} is a secret and must not be in {path}: "
                f"set {var} or {var}_FILE in the environment instead"
            )
    return data


def _env_value(raw: str) -> Any:
    """Environment values are strings; lists and tables may be given as JSON."""
    if raw[:1] in "[{":
        try:
            return json.loads(raw)
        except json.JSONDecodeError:
            return raw
    return raw


def _env_layer(env: Mapping[str, str]) -> dict[str, Any]:
    """``OUTREACH_<SECTION>__<KEY>`` overrides, and secrets read from ``*_FILE`` paths."""
    layer: dict[str, Any] = {}
    if env.get(f"{ENV_PREFIX}DATA"):
        layer["data"] = env[f"{ENV_PREFIX}DATA"]
    for var, raw in sorted(env.items()):
        if not var.startswith(ENV_PREFIX) or "__" not in var or var.endswith("__FILE"):
            continue
        path = var[len(ENV_PREFIX):].lower().split("__")
        if path[-1].endswith("_file") and (path[0], path[-1][:-5]) in SECRET_KEYS:
            continue
        node = layer
        for part in path[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ConfigError(f"{var}: {'.'.join(path[:-1])} is not a section")
        node[path[-1]] = _env_value(raw)
    for section, key in sorted(SECRET_KEYS):
        var = f"{ENV_PREFIX}{section.upper()}__{key.upper()}"
        file_var = f"{var}_FILE"
        if file_var not in env:
            continue
        if var in env:
            raise ConfigError(f"both {var} and {file_var} are set: set only one")
        path = Path(env[file_var])
        try:
            value = path.read_text(encoding="utf-8").rstrip("\r\n")
        except OSError as exc:
            raise ConfigError(f"{file_var} names {path}, which cannot be read: "
                              f"{exc.strerror or exc}") from exc
        layer.setdefault(section, {})[key] = value
    return layer


def _describe(error: Mapping[str, Any]) -> str:
    key = ".".join(str(part) for part in error["loc"]) or "(top level)"
    message = str(error["msg"])
    message = message.removeprefix("Value error, ")
    if error["type"] == "extra_forbidden":
        return f"{key}: unknown key (check its spelling; `outreach config check` lists the keys)"
    given = error.get("input")
    shown = "" if isinstance(given, dict | list) or given is None else f" (got {given!r})"
    if repr(given) in message or any(key == ".".join(k) for k in SECRET_KEYS):
        shown = ""
    return f"{key}: {message}{shown}"


def load_settings(
    config_file: Path | None = None,
    *,
    data: Path | None = None,
    env: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> Settings:
    """Build the settings once, at start; raise :class:`ConfigError` on any invalid value.

    Layers, lowest first: embedded defaults, the TOML file, the environment, ``overrides``
    and ``data`` (what the command line said).
    """
    environ = os.environ if env is None else env
    if config_file is None and environ.get(f"{ENV_PREFIX}CONFIG"):
        config_file = Path(environ[f"{ENV_PREFIX}CONFIG"])
    if config_file is None and DEFAULT_CONFIG_PATH.is_file():
        config_file = DEFAULT_CONFIG_PATH
    values: dict[str, Any] = _read_toml(config_file) if config_file is not None else {}
    values = _deep_merge(values, _env_layer(environ))
    if overrides:
        values = _deep_merge(values, overrides)
    if data is not None:
        values["data"] = data
    values.setdefault("data", default_data_dir(environ))
    try:
        settings = Settings(**values)
    except ValidationError as exc:
        where = f" ({config_file} and the environment)" if config_file else " (environment)"
        lines = "; ".join(_describe(err) for err in exc.errors())
        raise ConfigError(f"invalid configuration{where}: {lines}") from None
    settings.config_file = config_file.resolve() if config_file else None
    return settings


def masked(settings: Settings) -> dict[str, Any]:
    """The effective settings as plain data, secrets shown as '********' (or unset)."""
    data = settings.model_dump(mode="json")
    for section, key in SECRET_KEYS:
        value = getattr(getattr(settings, section), key)
        data[section][key] = "********" if value is not None else None
    data["config_file"] = str(settings.config_file) if settings.config_file else None
    data["database_url"] = _mask_url(settings.database_url)
    return data


def _mask_url(url: str) -> str:
    """Keep the driver, host and database of a URL; hide any password."""
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # an unparseable URL is reported by the engine, not here
        return "********"


def parse_local_datetime(value: str, tz: str) -> datetime:
    """An ISO date or date-time typed by a person, in the company's zone unless it names one."""
    parsed = datetime.fromisoformat(value)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=ZoneInfo(tz))
    return parsed
