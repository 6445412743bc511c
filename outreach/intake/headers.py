"""Tolerant header decoding: raw 8-bit bytes, RFC 2047 encoded words, broken encodings.

The stdlib keeps undecodable header bytes as surrogates and, under ``policy.default``,
turns them into U+FFFD; a supplier's Outlook writing ISO-8859-1 without a declaration
deserves better. So headers are decoded here from their raw text: UTF-8 first, then
Windows-1252 (a superset of ISO-8859-1), and each encoded word on its own, so one broken
word never spoils the rest. Every guess or failure is reported, never raised.
"""

from __future__ import annotations

import base64
import binascii
import codecs
import quopri
import re
from collections.abc import Iterable
from datetime import UTC, datetime
from email.utils import getaddresses, parsedate_to_datetime

from outreach.intake.model import Address, Problem

_ENCODED_WORD = re.compile(r"=\?([^?\s*]+)(?:\*[^?\s]*)?\?([bBqQ])\?([^?\s]*)\?=")
_FOLD = re.compile(r"\r?\n(?=[ \t])")
_MSG_ID = re.compile(r"<([^<>\s]{1,998})>")
_FALLBACK_CHARSET = "cp1252"


def raw_text(value: str) -> tuple[str, bool]:
    """Header text from the parser's surrogate-escaped raw value; True when it was guessed."""
    value = _FOLD.sub("", value).replace("\r", "").replace("\n", "")
    try:
        data = value.encode("ascii", "surrogateescape")
    except UnicodeEncodeError:
        return value, False  # already text (a header set by policy.default)
    try:
        return data.decode("ascii"), False
    except UnicodeDecodeError:
        pass
    try:
        return data.decode("utf-8"), False
    except UnicodeDecodeError:
        return data.decode(_FALLBACK_CHARSET, "replace"), True


def decode_words(text: str) -> tuple[str, list[str]]:
    """Decode RFC 2047 encoded words; a word that fails stays as written. Returns the errors.

    Whitespace between two decoded words is dropped (RFC 2047 section 6.2); next to a
    word that failed, it is kept, since that word is then plain text.
    """
    errors: list[str] = []
    if "=?" not in text:
        return text, errors
    out: list[str] = []
    position = 0
    previous_decoded = False
    for match in _ENCODED_WORD.finditer(text):
        gap = text[position : match.start()]
        word = _decode_word(match, errors)
        if not (word is not None and previous_decoded and gap.isspace()):
            out.append(gap)
        out.append(match.group(0) if word is None else word)
        previous_decoded = word is not None
        position = match.end()
    out.append(text[position:])
    return "".join(out), errors


def _decode_word(match: re.Match[str], errors: list[str]) -> str | None:
    charset, encoding, payload = match.group(1), match.group(2).upper(), match.group(3)
    try:
        if encoding == "B":
            data = base64.b64decode(payload + "=" * (-len(payload) % 4), validate=True)
        else:
            data = quopri.decodestring(payload.replace("_", " ").encode("ascii"), header=True)
        codecs.lookup(charset)
        return data.decode(charset)
    except (binascii.Error, ValueError, LookupError, UnicodeError) as exc:
        errors.append(f"{match.group(0)[:60]}: {type(exc).__name__}")
        return None


def decode_header(name: str, raw: str, problems: list[Problem]) -> str:
    """One header's value as text; guesses and broken words go to ``problems``."""
    text, guessed = raw_text(raw)
    if guessed:
        problems.append(Problem(
            "header_charset_guessed",
            f"the {name} header has 8-bit bytes that are not UTF-8; read as Windows-1252",
        ))
    decoded, errors = decode_words(text)
    for error in errors:
        problems.append(Problem(
            "header_bad_encoded_word", f"the {name} header has a broken encoded word ({error})"
        ))
    return decoded.strip()


def addresses(values: Iterable[str]) -> tuple[Address, ...]:
    """Addresses from decoded-as-raw header values (words decoded after splitting)."""
    found: list[Address] = []
    for name, address in getaddresses([v for v in values if v]):
        address = address.strip().strip("<>")
        if "@" not in address:
            continue
        display, _ = decode_words(name)
        found.append(Address(address=address, name=display.strip()))
    return tuple(found)


def message_ids(value: str | None) -> tuple[str, ...]:
    """``<id@host>`` items in order, each once; a bare id without brackets is kept too."""
    if not value:
        return ()
    ids = [f"<{m}>" for m in _MSG_ID.findall(value)]
    if not ids and value.strip() and " " not in value.strip():
        ids = [f"<{value.strip().strip('<>')}>"]
    return tuple(dict.fromkeys(ids))


def parse_date(value: str | None, problems: list[Problem]) -> datetime | None:
    """An aware datetime (UTC assumed for ``-0000`` and zone-less dates); None if unreadable."""
    if not value:
        return None
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        problems.append(Problem("bad_date", f"the Date header is unreadable: {value[:60]!r}"))
        return None
    return when if when.tzinfo is not None else when.replace(tzinfo=UTC)
