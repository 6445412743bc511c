"""Raising the alarm when the service stops by itself, so a person learns of it today.

An alert is an error log line, a JSON line appended to ``<data>/alerts.log``, and, when
``[alerts] command`` is set, that command run once (with ``OUTREACH_ALERT_KIND`` and
``OUTREACH_ALERT_MESSAGE`` in its environment, never through a shell). Raising an alert
never fails the caller: a broken command is logged and the service goes on.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
from datetime import datetime

import structlog

from outreach.settings import Settings

log = structlog.get_logger(__name__)


def raise_alert(settings: Settings, kind: str, message: str, at: datetime) -> bool:
    """Record and announce one alert; True when the configured command ran successfully
    (or none is configured)."""
    log.error("alert", kind=kind, message=message)
    try:
        settings.data.mkdir(parents=True, exist_ok=True)
        with (settings.data / "alerts.log").open("a", encoding="utf-8") as handle:
            handle.write(json.dumps({"at": at.isoformat(), "kind": kind,
                                     "message": message}) + "\n")
    except OSError as exc:
        log.error("alert.log_failed", error=str(exc))
    command = settings.alerts.command
    if not command:
        return True
    try:
        done = subprocess.run(
            shlex.split(command), capture_output=True, text=True, check=False,
            timeout=settings.alerts.timeout_seconds,
            env={**os.environ, "OUTREACH_ALERT_KIND": kind, "OUTREACH_ALERT_MESSAGE": message})
    except (OSError, ValueError, subprocess.TimeoutExpired) as exc:
        log.error("alert.command_failed", command=command, error=str(exc))
        return False
    if done.returncode != 0:
        log.error("alert.command_failed", command=command, code=done.returncode,
                  stderr=done.stderr[-2000:])
        return False
    log.info("alert.sent", kind=kind, command=command)
    return True
