"""Pytest plugin: real mail servers on loopback (Dovecot + aiosmtpd) for any test that asks.

Enable with ``pytest_plugins = ["tests.support.mail_fixtures"]`` in ``tests/conftest.py``.

Fixtures:

- ``dovecot`` (session): one private ``DovecotInstance`` per pytest session, which under
  xdist means one per worker (own folder, own ports). Mail is *not* reset; use ``mailboxes``.
- ``mailboxes`` (function): empties every mailbox, makes sure Dovecot is running (a test may
  have stopped it) and the standard users exist; returns ``Mailboxes`` with ``.bot`` and
  ``.supplier`` (``MailUser``: ``login``, ``address``, ``password``) and ``.dovecot``.
- ``smtp_server`` (function view of one session-wide ``SmtpServer``): faults and recorded
  messages reset per test; delivers into ``dovecot``. Also requests ``mailboxes``.

Without Dovecot on the machine every fixture skips (fails under CI=true) via
``require_service``.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from imapclient import IMAPClient

from tests.support.dovecot import DovecotInstance, dovecot_available
from tests.support.services import require_service
from tests.support.smtp_server import SmtpServer

INSTALL_HINT = "apt-get install dovecot-imapd dovecot-lmtpd openssl"


@dataclass(frozen=True)
class MailUser:
    """A mailbox the tests log in to: ``login`` for IMAP/SMTP AUTH, ``address`` for mail."""

    login: str
    address: str
    password: str


BOT = MailUser(login="bot", address="bot@outreach.test", password="botpass")
SUPPLIER = MailUser(login="supplier", address="supplier@supplier.test", password="supplierpass")
STANDARD_USERS = (BOT, SUPPLIER)


@dataclass(frozen=True)
class Mailboxes:
    """The standard users on a freshly emptied Dovecot."""

    dovecot: DovecotInstance
    bot: MailUser
    supplier: MailUser

    def imap(self, user: MailUser, ssl: bool = True) -> IMAPClient:
        """A logged-in IMAPS client for ``user``; the caller logs out (use ``with``)."""
        return self.dovecot.imap_client(user.login, user.password, ssl=ssl)

    def inbox(self, user: MailUser) -> list[bytes]:
        """Raw bytes of every message in ``user``'s INBOX, oldest first."""
        return self.dovecot.fetch_raw(user.login)


def worker_name() -> str:
    """``gw0``, ``gw1``... under xdist, ``main`` otherwise; names the instance's folder."""
    return os.environ.get("PYTEST_XDIST_WORKER", "main")


def require_dovecot() -> None:
    require_service(dovecot_available(), "Dovecot", INSTALL_HINT)


@pytest.fixture(scope="session")
def dovecot() -> Iterator[DovecotInstance]:
    require_dovecot()
    instance = DovecotInstance.create(worker_name())
    for user in STANDARD_USERS:
        instance.add_user(user.login, user.password)
    try:
        instance.start()
        yield instance
    finally:
        instance.cleanup()


@pytest.fixture
def mailboxes(dovecot: DovecotInstance) -> Mailboxes:
    for user in STANDARD_USERS:
        if dovecot.users.get(user.login) != user.password:
            dovecot.add_user(user.login, user.password)
    dovecot.start()  # no-op when running; revives it after a "Dovecot down" test
    dovecot.reset()
    return Mailboxes(dovecot=dovecot, bot=BOT, supplier=SUPPLIER)


@pytest.fixture(scope="session")
def _smtp_server_session(dovecot: DovecotInstance) -> Iterator[SmtpServer]:
    server = SmtpServer(dovecot)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def smtp_server(_smtp_server_session: SmtpServer, mailboxes: Mailboxes) -> Iterator[SmtpServer]:
    _smtp_server_session.reset()
    yield _smtp_server_session
    _smtp_server_session.reset()
