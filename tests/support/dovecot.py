"""A private, throw-away Dovecot (IMAP, IMAPS, LMTP) on loopback for tests.

Why a real Dovecot rather than a fake: the service's inbox polling must cope with what a real
IMAP server does (UIDVALIDITY, IDLE timing, flags on APPEND, Return-Path/Delivered-To headers,
restarts that drop sessions). Each instance lives in its own short folder under /tmp (unix socket
paths are limited to 108 bytes, so pytest's ``tmp_path`` is too long), listens on free loopback
ports of its own and never touches a system Dovecot on 143/993.

Typical use (the pytest fixtures in ``tests.support.mail_fixtures`` do this for you)::

    instance = DovecotInstance.create("gw0")
    instance.add_user("bot", "botpass")
    instance.start()
    instance.deliver_lmtp(raw_message, "bot@outreach.test")
    with instance.imap_client("bot") as client:
        client.select_folder("INBOX")
    instance.stop()
    instance.cleanup()

The recipe this follows (config, pitfalls, timings) is ``shared/recipes/mail-servers.md``.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import smtplib
import socket
import ssl
import subprocess
import tempfile
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from imapclient import IMAPClient

LMTP_BINARY = Path("/usr/lib/dovecot/lmtp")
IMAP_BINARY = Path("/usr/lib/dovecot/imap")
MAIL_UID = 5000
MAIL_GID = 5000
HOST = "127.0.0.1"
START_TIMEOUT_SECONDS = 10.0
STOP_TIMEOUT_SECONDS = 5.0
DEFAULT_SENDER = "tests@localhost"

CONFIG_TEMPLATE = """\
instance_name = {instance_name}
base_dir = {base}/run
state_dir = {base}/state
protocols = imap lmtp
listen = {host}
log_path = {base}/dovecot.log
default_login_user = dovenull
default_internal_user = dovecot
first_valid_uid = {mail_uid}
mail_uid = {mail_uid}
mail_gid = {mail_gid}
mail_home = {base}/mail/%n
mail_location = maildir:~/Maildir
mail_fsync = never
auth_mechanisms = plain login
disable_plaintext_auth = no
auth_username_format = %Ln
auth_failure_delay = 0
auth_verbose = yes
passdb {{
  driver = passwd-file
  args = scheme=PLAIN {base}/users
}}
userdb {{
  driver = static
  args = allow_all_users=no
}}
namespace inbox {{
  inbox = yes
  separator = /
}}
ssl = yes
ssl_cert = <{base}/cert.pem
ssl_key = <{base}/key.pem
service imap-login {{
  inet_listener imap {{
    port = {imap_port}
  }}
  inet_listener imaps {{
    port = {imaps_port}
    ssl = yes
  }}
}}
service lmtp {{
  unix_listener lmtp {{
    mode = 0666
  }}
}}
service anvil {{
  unix_listener anvil-auth-penalty {{
    mode = 0
  }}
}}
protocol imap {{
  mail_max_userip_connections = 200
}}
"""


class DovecotError(RuntimeError):
    """Dovecot could not be set up, started or reached; the message carries its log tail."""


def dovecot_available() -> bool:
    """True when this machine can run a private Dovecot (binaries present, running as root).

    Root is needed because the config runs logins as ``dovenull`` and mail as uid 5000.
    """
    return (
        shutil.which("dovecot") is not None
        and shutil.which("openssl") is not None
        and LMTP_BINARY.exists()
        and IMAP_BINARY.exists()
        and os.geteuid() == 0
    )


def free_loopback_ports(count: int) -> list[int]:
    """Ports the kernel hands out on 127.0.0.1, all distinct (the sockets are held together)."""
    with contextlib.ExitStack() as stack:
        sockets = [stack.enter_context(socket.socket()) for _ in range(count)]
        for sock in sockets:
            sock.bind((HOST, 0))
        return [sock.getsockname()[1] for sock in sockets]


def port_is_free(port: int) -> bool:
    """Whether ``port`` can be bound on loopback right now (same SO_REUSEADDR as Dovecot)."""
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((HOST, port))
        except OSError:
            return False
        return True


def generate_self_signed_cert(cert: Path, key: Path) -> None:
    """A P-256 cert for localhost and 127.0.0.1, so clients can verify it with cafile=cert."""
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-keyout",
            str(key),
            "-out",
            str(cert),
            "-days",
            "3650",
            "-subj",
            "/CN=localhost",
            "-addext",
            "subjectAltName=DNS:localhost,IP:127.0.0.1",
        ],
        check=True,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def read_greeting(host: str, port: int, timeout: float) -> bytes:
    """First line the server sends on a fresh plain connection."""
    with socket.create_connection((host, port), timeout=timeout) as sock:
        return sock.recv(256)


_APPENDUID = re.compile(rb"APPENDUID \d+ (\d+)")


def local_part(user_or_address: str) -> str:
    """``Supplier@x.test`` -> ``supplier``: the same folding as ``auth_username_format = %Ln``."""
    return user_or_address.split("@", 1)[0].lower()


@dataclass
class DovecotInstance:
    """One private Dovecot: its folder, ports, users and (while running) its master process."""

    base: Path
    imap_port: int
    imaps_port: int
    users: dict[str, str] = field(default_factory=dict)
    process: subprocess.Popen[bytes] | None = None
    started_once: bool = False

    # -- creation and files -------------------------------------------------------------

    @classmethod
    def create(cls, name: str = "main") -> DovecotInstance:
        """Make the folder, cert, config and empty users file; does not start Dovecot."""
        safe_name = re.sub(r"[^A-Za-z0-9]", "", name)[:12] or "x"
        base = Path(tempfile.mkdtemp(prefix=f"/tmp/ot-{safe_name}-"))
        if len(str(base)) > 80:
            raise DovecotError(f"base dir {base} too long for unix socket paths")
        imap_port, imaps_port = free_loopback_ports(2)
        instance = cls(base=base, imap_port=imap_port, imaps_port=imaps_port)
        instance._prepare_files()
        return instance

    def _prepare_files(self) -> None:
        # mkdtemp makes 0700; the auth (dovecot) and mail (5000) processes must traverse it.
        self.base.chmod(0o755)
        (self.base / "state").mkdir(exist_ok=True)
        mail = self.base / "mail"
        mail.mkdir(exist_ok=True)
        os.chown(mail, MAIL_UID, MAIL_GID)
        generate_self_signed_cert(self.base / "cert.pem", self.base / "key.pem")
        self._write_users_file()
        self._write_config()

    def _write_config(self) -> None:
        self.config_path.write_text(
            CONFIG_TEMPLATE.format(
                instance_name=f"outreach-test-{self.base.name}",
                base=self.base,
                host=HOST,
                mail_uid=MAIL_UID,
                mail_gid=MAIL_GID,
                imap_port=self.imap_port,
                imaps_port=self.imaps_port,
            )
        )

    def _write_users_file(self) -> None:
        """Write atomically: Dovecot rereads passwd-file on change and must not see half a file."""
        lines = "".join(f"{user}:{{PLAIN}}{password}\n" for user, password in self.users.items())
        tmp = self.base / "users.tmp"
        tmp.write_text(lines)
        tmp.chmod(0o644)
        tmp.replace(self.base / "users")

    def add_user(self, name: str, password: str) -> None:
        """Add or change a login (``name`` or ``name@domain``, both mean ``name``)."""
        self.users[local_part(name)] = password
        self._write_users_file()

    def has_user(self, user_or_address: str) -> bool:
        return local_part(user_or_address) in self.users

    def check_password(self, user_or_address: str, password: str) -> bool:
        return self.users.get(local_part(user_or_address)) == password

    # -- properties ---------------------------------------------------------------------

    @property
    def host(self) -> str:
        return HOST

    @property
    def cafile(self) -> Path:
        """The self-signed certificate; also the CA file clients verify against."""
        return self.base / "cert.pem"

    @property
    def keyfile(self) -> Path:
        return self.base / "key.pem"

    @property
    def config_path(self) -> Path:
        return self.base / "dovecot.conf"

    @property
    def log_path(self) -> Path:
        return self.base / "dovecot.log"

    @property
    def lmtp_socket(self) -> Path:
        return self.base / "run" / "lmtp"

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def ssl_context(self) -> ssl.SSLContext:
        """A client context that trusts exactly this instance's certificate."""
        return ssl.create_default_context(cafile=str(self.cafile))

    def log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except FileNotFoundError:
            return "(no dovecot.log)"

    # -- lifecycle ----------------------------------------------------------------------

    def start(self) -> None:
        """Start ``dovecot -F`` in its own process group and wait for the IMAP greeting.

        Before the first start, ports another process took since ``create()`` are swapped
        for fresh ones; a restart keeps its ports (clients reconnect to the same address).
        """
        if self.running:
            return
        if not self.started_once and not self._ports_free():
            self.imap_port, self.imaps_port = free_loopback_ports(2)
            self._write_config()
        self.started_once = True
        self._wait_ports_free()
        self.process = subprocess.Popen(
            ["dovecot", "-F", "-c", str(self.config_path)],
            start_new_session=True,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            self._wait_for_greeting()
        except DovecotError:
            self.stop()
            raise

    def _ports_free(self) -> bool:
        return port_is_free(self.imap_port) and port_is_free(self.imaps_port)

    def _wait_ports_free(self) -> None:
        """After a stop the ports free within milliseconds; wait a little rather than fail."""
        deadline = time.monotonic() + STOP_TIMEOUT_SECONDS
        while not self._ports_free():
            if time.monotonic() > deadline:
                raise DovecotError(
                    f"ports {self.imap_port}/{self.imaps_port} still busy; cannot start Dovecot"
                )
            time.sleep(0.02)

    def _wait_for_greeting(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while time.monotonic() < deadline:
            assert self.process is not None
            if self.process.poll() is not None:
                raise DovecotError(
                    f"dovecot exited with {self.process.returncode}:\n{self.log_tail()}"
                )
            if self._imap_greets() and self._wait_for_lmtp_socket(deadline):
                return
            time.sleep(0.01)
        raise DovecotError(f"dovecot gave no IMAP greeting in time:\n{self.log_tail()}")

    def _imap_greets(self) -> bool:
        try:
            return read_greeting(HOST, self.imap_port, timeout=1.0).startswith(b"* OK")
        except OSError:
            return False

    def _wait_for_lmtp_socket(self, deadline: float) -> bool:
        while time.monotonic() < deadline:
            if self.lmtp_socket.exists():
                return True
            time.sleep(0.01)
        return False

    def stop(self) -> None:
        """Kill the whole process group: fast, and leaves no IMAP session serving clients."""
        process, self.process = self.process, None
        if process is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=STOP_TIMEOUT_SECONDS)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        self._kill_stragglers(process.pid)

    @staticmethod
    def _kill_stragglers(pgid: int) -> None:
        """Children that outlive the master (rare) still hold ports: SIGKILL the group."""
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pgid, signal.SIGKILL)

    def restart(self) -> None:
        """Stop and start on the same folder and ports: mail, UIDVALIDITY and UIDs survive."""
        self.stop()
        self.start()

    def cleanup(self) -> None:
        """Stop and delete the folder."""
        self.stop()
        shutil.rmtree(self.base, ignore_errors=True)

    def reset(self) -> None:
        """Empty every user's mail (all folders, indexes too) so each test starts clean.

        Deleting the home folders is faster than ``doveadm expunge`` per user and also drops
        folders a test created; Dovecot recreates homes on the next delivery or login.
        """
        mail = self.base / "mail"
        for home in mail.iterdir():
            shutil.rmtree(home, ignore_errors=True)

    # -- clients ------------------------------------------------------------------------

    def imap_client(
        self,
        user: str,
        password: str | None = None,
        ssl: bool = True,
        timeout: float = 10.0,
    ) -> IMAPClient:
        """A logged-in IMAPClient (IMAPS verifying our cert, or plain IMAP with ``ssl=False``).

        ``password`` defaults to the one in the users table.
        """
        if password is None:
            password = self.users[local_part(user)]
        port = self.imaps_port if ssl else self.imap_port
        client = IMAPClient(
            HOST,
            port=port,
            ssl=ssl,
            ssl_context=self.ssl_context() if ssl else None,
            timeout=timeout,
        )
        try:
            client.login(user, password)
        except BaseException:
            with contextlib.suppress(Exception):
                client.shutdown()
            raise
        return client

    def deliver_lmtp(
        self, raw: bytes, rcpt: str | Iterable[str], mail_from: str = DEFAULT_SENDER
    ) -> None:
        """Deliver like an MTA would (Dovecot adds Return-Path/Delivered-To, wakes IDLE).

        Raises ``smtplib.SMTPRecipientsRefused`` for unknown users and ``OSError`` when
        Dovecot is down.
        """
        recipients = [rcpt] if isinstance(rcpt, str) else list(rcpt)
        with smtplib.LMTP(str(self.lmtp_socket), timeout=30) as lmtp:
            refused = lmtp.sendmail(mail_from, recipients, raw)
        if refused:
            raise smtplib.SMTPRecipientsRefused(refused)

    def append(
        self,
        user: str,
        folder: str,
        raw: bytes,
        flags: Iterable[bytes | str] = (),
    ) -> int | None:
        """APPEND a message (creating the folder if needed); returns its UID (UIDPLUS).

        ``flags=()`` leaves it UNSEEN, as a freshly delivered reply would be.
        """
        with self._session(user) as client:
            if not client.folder_exists(folder):
                client.create_folder(folder)
            response = client.append(folder, raw, flags=tuple(flags))
        match = _APPENDUID.search(response if isinstance(response, bytes) else b"")
        return int(match.group(1)) if match else None

    def fetch_raw(self, user: str, folder: str = "INBOX") -> list[bytes]:
        """Every message in ``folder`` as raw bytes, in UID order, without marking them seen."""
        with self._session(user) as client:
            if not client.folder_exists(folder):
                return []
            client.select_folder(folder, readonly=True)
            uids = sorted(client.search("ALL"))
            if not uids:
                return []
            fetched = client.fetch(uids, [b"BODY.PEEK[]"])
            return [fetched[uid][b"BODY[]"] for uid in uids]

    @contextlib.contextmanager
    def _session(self, user: str) -> Iterator[IMAPClient]:
        client = self.imap_client(user)
        try:
            yield client
        finally:
            with contextlib.suppress(Exception):
                client.logout()
