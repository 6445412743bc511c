"""Delivery speed: the SMTP transport over one reused connection vs one connection per message.

    .venv/bin/python bench/bench_delivery.py [--count 500] [--attachments 20]

Starts a bare aiosmtpd in-process (its own thread and loop, on loopback, accepting and
discarding every message; STARTTLS with a throw-away self-signed certificate) and reports,
in one run (shared machines are noisy, so compare ratios):

* baseline: bare aiosmtplib ``send_message`` on one connection, in one event loop (the least
  work any sender does over the same server);
* ``SmtpTransport`` text-only messages, one ``session()`` reused for all (goal >= 100 msg/s);
* the same with one session (= connection, EHLO, STARTTLS) per message;
* each for ``security = "none"`` and ``"starttls"``;
* a 1.5 MB attachment (the CMRT workbook's size) over a reused STARTTLS session, in MB/s of
  message bytes, against the bare aiosmtplib baseline.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import ssl
import subprocess
import tempfile
import time
from collections.abc import Callable
from email.message import EmailMessage
from email.utils import make_msgid
from pathlib import Path

import aiosmtplib
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Session
from aiosmtpd.smtp import Envelope as ServerEnvelope

from outreach.mail.delivery_errors import DeliveryStatus
from outreach.mail.transport import Envelope, open_transport
from outreach.settings import SmtpSettings

HOST = "127.0.0.1"
SENDER = "conflict-minerals@company.example"
RECIPIENT = "supplier@supplier.example"


class CountingHandler:
    def __init__(self) -> None:
        self.messages = 0
        self.bytes = 0

    async def handle_DATA(self, server: SMTP, session: Session, envelope: ServerEnvelope) -> str:
        self.messages += 1
        self.bytes += len(envelope.original_content or b"")
        return "250 2.0.0 OK"


def self_signed(directory: Path) -> tuple[Path, Path]:
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
         "-nodes", "-keyout", str(key), "-out", str(cert), "-days", "2", "-subj", "/CN=localhost",
         "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"],
        check=True, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    return cert, key


def start_server(handler: CountingHandler, cert: Path, key: Path) -> Controller:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(str(cert), str(key))
    with socket.socket() as probe:  # aiosmtpd needs a real port number to check readiness
        probe.bind((HOST, 0))
        port = probe.getsockname()[1]
    controller = Controller(handler, hostname=HOST, port=port, server_hostname="localhost",
                            tls_context=context, data_size_limit=64 * 1024 * 1024)
    controller.start()
    return controller


def message_bytes(n: int, attachment: bytes | None = None) -> bytes:
    message = EmailMessage()
    message["From"] = SENDER
    message["To"] = RECIPIENT
    message["Subject"] = f"CMRT request {n}"
    message["Message-ID"] = make_msgid(idstring=f"bench.{n}", domain="company.example")
    message.set_content("Please fill in the attached CMRT by 31 March.\n" * 8)
    if attachment is not None:
        message.add_attachment(attachment, maintype="application", subtype="octet-stream",
                               filename="CMRT_ACME-001.xlsx")
    return message.as_bytes()


def timed(fn: Callable[[], object]) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def bare_aiosmtplib(port: int, security: str, cafile: Path, messages: list[bytes]) -> float:
    async def run() -> None:
        smtp = aiosmtplib.SMTP(hostname=HOST, port=port, start_tls=security == "starttls",
                               tls_context=ssl.create_default_context(cafile=str(cafile)))
        await smtp.connect()
        for data in messages:
            await smtp.sendmail(SENDER, [RECIPIENT], data)
        await smtp.quit()

    return timed(lambda: asyncio.run(run()))


def transport_reused(settings: SmtpSettings, messages: list[bytes]) -> float:
    transport = open_transport(settings, Path(tempfile.gettempdir()))

    def run() -> None:
        with transport.session() as session:
            for data in messages:
                result = session.send(Envelope(SENDER, [RECIPIENT], data))
                assert result.status is DeliveryStatus.SENT, result.detail

    return timed(run)


def transport_per_message(settings: SmtpSettings, messages: list[bytes]) -> float:
    transport = open_transport(settings, Path(tempfile.gettempdir()))

    def run() -> None:
        for data in messages:
            with transport.session() as session:
                result = session.send(Envelope(SENDER, [RECIPIENT], data))
                assert result.status is DeliveryStatus.SENT, result.detail

    return timed(run)


def row(label: str, count: int, seconds: float, extra: str = "") -> None:
    print(f"  {label:<44} {count:>5} msgs {seconds:8.3f} s {count / seconds:9.1f} msg/s {extra}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=500, help="text-only messages per row")
    parser.add_argument("--attachments", type=int, default=20, help="1.5 MB messages")
    args = parser.parse_args()

    import structlog

    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(40))  # errors only
    with tempfile.TemporaryDirectory() as tmp:
        cert, key = self_signed(Path(tmp))
        handler = CountingHandler()
        controller = start_server(handler, cert, key)
        port = controller.port
        try:
            text = [message_bytes(n) for n in range(args.count)]
            per_conn = text[: max(10, args.count // 5)]
            print(f"text-only messages ({len(text[0])} bytes), aiosmtpd on {HOST}:{port}")
            for security in ("none", "starttls"):
                settings = SmtpSettings(transport="smtp", host=HOST, port=port,
                                        security=security, ca_file=cert)  # type: ignore[arg-type]
                base = bare_aiosmtplib(port, security, cert, text)
                reused = transport_reused(settings, text)
                fresh = transport_per_message(settings, per_conn)
                print(f" security={security}")
                row("baseline: bare aiosmtplib, one connection", len(text), base)
                row("SmtpTransport, one reused session", len(text), reused,
                    f"({reused / base:.2f}x baseline time)")
                row("SmtpTransport, one connection per message", len(per_conn), fresh,
                    f"(reused is {(len(text) / reused) / (len(per_conn) / fresh):.1f}x faster)")

            workbook = os.urandom(1_500_000)
            big = [message_bytes(n, workbook) for n in range(args.attachments)]
            megabytes = sum(len(b) for b in big) / 1e6
            settings = SmtpSettings(transport="smtp", host=HOST, port=port,
                                    security="starttls", ca_file=cert)  # type: ignore[arg-type]
            base = bare_aiosmtplib(port, "starttls", cert, big)
            reused = transport_reused(settings, big)
            print(f"1.5 MB attachment ({len(big[0]) / 1e6:.2f} MB message), STARTTLS, reused")
            row("baseline: bare aiosmtplib", len(big), base, f"{megabytes / base:7.1f} MB/s")
            row("SmtpTransport", len(big), reused,
                f"{megabytes / reused:7.1f} MB/s ({reused / base:.2f}x baseline time)")
        finally:
            controller.stop()
    expected = 2 * (args.count * 2 + len(per_conn)) + 2 * args.attachments
    assert handler.messages == expected, (handler.messages, expected)


if __name__ == "__main__":
    main()
