from __future__ import annotations

import io
import json

import structlog

from outreach.logs import configure_logging, mask_addresses
from outreach.settings import LoggingSettings


def _lines(stream: io.StringIO) -> list[dict]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_json_lines_with_bound_context_when_not_a_terminal() -> None:
    stream = io.StringIO()
    configure_logging(LoggingSettings(level="INFO", format="auto"), stream)
    log = structlog.get_logger("t").bind(campaign="CMRT 2026", supplier="A1", request=7)
    log.info("request.extended", days=14)
    log.debug("not shown at INFO")
    [line] = _lines(stream)
    assert line["event"] == "request.extended" and line["level"] == "info"
    assert (line["campaign"], line["supplier"], line["request"], line["days"]) == (
        "CMRT 2026", "A1", 7, 14)
    assert line["timestamp"].endswith("Z")


def test_addresses_only_at_debug() -> None:
    stream = io.StringIO()
    configure_logging(LoggingSettings(level="DEBUG", format="json"), stream)
    log = structlog.get_logger("t")
    log.info("contact.bounced", contact="li.wei@acme.example", to=["a.b@x.example"])
    log.debug("contact.bounced", contact="li.wei@acme.example")
    info, debug = _lines(stream)
    assert info["contact"] == "l***@acme.example" and info["to"] == ["a***@x.example"]
    assert debug["contact"] == "li.wei@acme.example"


def test_mask_keeps_the_domain() -> None:
    assert mask_addresses("from Jane <jane.doe@sub.acme.example>") == (
        "from Jane <j***@sub.acme.example>")
