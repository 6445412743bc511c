"""Reading one MIME leaf: its sizes without decoding it, its bytes, its text."""

from __future__ import annotations

import base64
import binascii
import codecs
import re
from email.message import Message

_WS = re.compile(r"\s+")


def header_str(part: Message, name: str, default: str = "") -> str:
    value = part.get(name)
    return default if value is None else str(value)


def transfer_encoding(part: Message) -> str:
    return header_str(part, "content-transfer-encoding", "7bit").strip().lower()


def declared_size(part: Message) -> int | None:
    """RFC 2183 ``size=`` on Content-Disposition, when it is a plausible number."""
    value = part.get_param("size", header="content-disposition")
    if isinstance(value, tuple):
        value = value[2]
    try:
        size = int(str(value).strip()) if value is not None else None
    except ValueError:
        return None
    return size if size is not None and size >= 0 else None


def encoded_payload(part: Message) -> str:
    payload = part.get_payload(decode=False)
    return payload if isinstance(payload, str) else ""


def estimated_size(part: Message, encoded: str) -> int:
    """Decoded size from the encoded text alone (base64 is 3 bytes per 4 characters)."""
    if transfer_encoding(part) == "base64":
        length = len(encoded) - encoded.count("\n") - encoded.count("\r") - encoded.count(" ")
        return max(length, 0) * 3 // 4 - encoded.rstrip().count("=")
    return len(encoded)


def head_bytes(part: Message, encoded: str, count: int = 64) -> bytes:
    """The first decoded bytes of a part, from a prefix of its encoded text."""
    if transfer_encoding(part) == "base64":
        chars = _WS.sub("", encoded[: count * 2])
        chars = chars[: len(chars) // 4 * 4]
        try:
            return base64.b64decode(chars)[:count]
        except (binascii.Error, ValueError):
            return b""
    return encoded[:count].encode("latin-1", "replace")


def content_bytes(part: Message) -> bytes:
    payload = part.get_payload(decode=True)
    return payload if isinstance(payload, bytes) else b""


def text_of(part: Message, limit: int) -> str:
    """A text part decoded with its declared charset, then UTF-8, then Windows-1252."""
    data = content_bytes(part)[: limit * 4]
    charset = str(part.get_content_charset() or "").strip()
    for candidate in (charset, "utf-8"):
        if not candidate:
            continue
        try:
            codecs.lookup(candidate)
            return data.decode(candidate)[:limit]
        except (LookupError, UnicodeError):
            continue
    return data.decode("cp1252", "replace")[:limit]
