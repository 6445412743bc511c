"""The text of a message's body (HTML stripped) and the file-host links in it."""

from __future__ import annotations

import contextlib
import re
from html.parser import HTMLParser
from urllib.parse import unquote, urlsplit

from outreach.intake.model import Link

_URL = re.compile(r"""https?://[^\s<>"'`{}|\\^\[\]]+""", re.IGNORECASE)
_TRAILING = ".,;:!?)]}>'\"*"
_WORKBOOK_PATH = re.compile(r"\.(xlsx|xlsm|xls)$", re.IGNORECASE)
_BLOCKS = frozenset({"p", "div", "br", "tr", "li", "table", "h1", "h2", "h3", "h4",
                     "blockquote", "hr", "pre"})
_HIDDEN = frozenset({"script", "style", "head", "title"})

_SERVICES: tuple[tuple[str, str], ...] = (
    ("sharepoint.com", "sharepoint"),
    ("sharepoint.de", "sharepoint"),
    ("onedrive.live.com", "onedrive"),
    ("1drv.ms", "onedrive"),
    ("dropbox.com", "dropbox"),
    ("dropboxusercontent.com", "dropbox"),
    ("drive.google.com", "google_drive"),
    ("docs.google.com", "google_drive"),
    ("wetransfer.com", "wetransfer"),
    ("we.tl", "wetransfer"),
    ("box.com", "box"),
    ("box.net", "box"),
)


class _Stripper(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.out: list[str] = []
        self.hrefs: list[str] = []
        self._hidden = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _HIDDEN:
            self._hidden += 1
        elif tag in _BLOCKS:
            self.out.append("\n")
        if tag == "a":
            self.hrefs.extend(value for key, value in attrs if key == "href" and value)

    def handle_endtag(self, tag: str) -> None:
        if tag in _HIDDEN:
            self._hidden = max(self._hidden - 1, 0)
        elif tag in _BLOCKS:
            self.out.append("\n")

    def handle_data(self, data: str) -> None:
        if not self._hidden:
            self.out.append(data)


def html_to_text(html: str) -> tuple[str, list[str]]:
    """Visible text (blocks on their own lines) and every ``<a href>``."""
    stripper = _Stripper()
    with contextlib.suppress(Exception):  # HTMLParser is lenient; a failure ends the text
        stripper.feed(html)
        stripper.close()
    text = re.sub(r"[ \t\u00a0]+", " ", "".join(stripper.out))
    text = re.sub(r"\n\s*\n+", "\n\n", text)
    return text.strip(), stripper.hrefs


def file_links(texts: list[str], limit: int) -> tuple[Link, ...]:
    """Links to file hosts or straight to a workbook, each once, in order of appearance."""
    found: dict[str, Link] = {}
    for text in texts:
        for match in _URL.finditer(text):
            url = match.group(0).rstrip(_TRAILING)
            link = classify_link(url)
            if link is not None and link.url not in found:
                found[link.url] = link
                if len(found) >= limit:
                    return tuple(found.values())
    return tuple(found.values())


def classify_link(url: str) -> Link | None:
    try:
        parts = urlsplit(url)
        host = (parts.hostname or "").lower()
    except ValueError:
        return None
    if not host:
        return None
    for domain, service in _SERVICES:
        if host == domain or host.endswith("." + domain):
            return Link(url=url, host=host, service=service)
    if parts.scheme.lower() == "https" and _WORKBOOK_PATH.search(unquote(parts.path)):
        return Link(url=url, host=host, service="direct")
    return None
