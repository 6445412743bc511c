"""Which inbox intake polls: the IMAP server or the data directory's Maildir."""

from __future__ import annotations

from pathlib import Path

from outreach.mail.imap_source import ImapSource
from outreach.mail.inbox_source import InboxSource
from outreach.mail.maildir_source import MaildirSource
from outreach.settings import ImapSettings


def open_inbox(settings: ImapSettings, maildir: Path) -> InboxSource:
    """The source ``settings.source`` names; nothing connects until ``.open()``."""
    if settings.source == "imap":
        return ImapSource(settings)
    return MaildirSource(maildir, settings)
