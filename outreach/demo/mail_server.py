"""A small in-process SMTP server (aiosmtpd) the demo's service really sends through.

It listens on 127.0.0.1 (a free port), accepts every message, and keeps what it received
in memory: :meth:`DemoSmtpServer.take` hands each accepted message (envelope recipients and
bytes) to the caller once — the simulated suppliers' inboxes. The service's client
(aiosmtplib) only gets ``250`` once the message is stored, so after a delivery pass
everything sent is there.
"""

from __future__ import annotations

import socket
import threading
from dataclasses import dataclass
from typing import Any

from outreach.errors import ConfigError

HOST = "127.0.0.1"


@dataclass(frozen=True)
class Received:
    mail_from: str
    recipients: tuple[str, ...]
    data: bytes


class _Handler:
    def __init__(self, server: DemoSmtpServer) -> None:
        self.server = server

    async def handle_DATA(self, _server: Any, _session: Any, envelope: Any) -> str:
        data = envelope.original_content or envelope.content or b""
        if isinstance(data, str):
            data = data.encode("utf-8", "surrogateescape")
        self.server._store(Received(str(envelope.mail_from or ""),
                                    tuple(str(r) for r in envelope.rcpt_tos), bytes(data)))
        return "250 2.0.0 OK: queued"


class DemoSmtpServer:
    """``with DemoSmtpServer() as server: ... server.port ... server.take()``."""

    def __init__(self) -> None:
        try:
            from aiosmtpd.controller import Controller
        except ImportError as exc:  # pragma: no cover - a dev dependency today
            raise ConfigError("the demo's mail server needs aiosmtpd: "
                              "pip install aiosmtpd (make demo installs it)") from exc
        self.port = _free_port()
        self._lock = threading.Lock()
        self._messages: list[Received] = []
        self.accepted = 0
        self._controller = Controller(_Handler(self), hostname=HOST, port=self.port,
                                      server_hostname="demo-mx.localhost",
                                      data_size_limit=64 * 1024 * 1024, ready_timeout=10)

    def _store(self, message: Received) -> None:
        with self._lock:
            self._messages.append(message)
            self.accepted += 1

    def take(self) -> list[Received]:
        with self._lock:
            taken, self._messages = self._messages, []
        return taken

    def start(self) -> DemoSmtpServer:
        self._controller.start()
        return self

    def stop(self) -> None:
        self._controller.stop()

    def __enter__(self) -> DemoSmtpServer:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((HOST, 0))
        return int(probe.getsockname()[1])


__all__ = ["DemoSmtpServer", "Received"]
