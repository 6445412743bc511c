"""Attachment file names: decoded, NFC-normalised and made safe to show and to store.

A name comes from outside and may carry a path (``../../etc/passwd.xlsx``), control or
bidirectional-override characters, a leading dot, Windows-reserved characters or names,
raw 8-bit bytes or RFC 2047 words Outlook puts where RFC 2231 belongs. What is left is a
plain base name; when nothing is left, a name is made from the content type.
"""

from __future__ import annotations

import mimetypes
import re
import unicodedata

from outreach.intake.headers import decode_words, raw_text

MAX_NAME = 180

_EXTENSIONS: dict[str, str] = {
    "xlsx": ".xlsx", "xlsm": ".xlsm", "xls": ".xls", "encrypted": ".xlsx", "zip": ".zip",
    "pdf": ".pdf", "winmail": ".dat",
}
_TYPE_EXTENSIONS: dict[str, str] = {
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": ".xlsx",
    "application/vnd.ms-excel.sheet.macroenabled.12": ".xlsm",
    "application/vnd.ms-excel": ".xls",
    "application/ms-tnef": ".dat",
    "application/vnd.ms-tnef": ".dat",
    "application/octet-stream": ".bin",
    "message/rfc822": ".eml",
    "text/plain": ".txt",
}
_WINDOWS_RESERVED = re.compile(r"^(con|prn|aux|nul|com\d|lpt\d)(\..*)?$", re.IGNORECASE)
_UNSAFE = re.compile(r'[<>:"|?*]')


def decode_filename(value: str) -> str:
    """What the stdlib gave (RFC 2231 already collapsed), with raw bytes and words decoded."""
    text, _ = raw_text(value)
    text, _ = decode_words(text)
    return text


def sanitise(name: str | None) -> tuple[str, bool]:
    """A safe base name (possibly empty) and whether anything unsafe had to be removed."""
    if not name:
        return "", False
    original = unicodedata.normalize("NFC", name)
    text = re.split(r"[/\\]", original)[-1]
    text = "".join(ch for ch in text if unicodedata.category(ch) not in ("Cc", "Cf", "Zl", "Zp"))
    text = _UNSAFE.sub("_", text)
    text = re.sub(r"\s+", " ", text).strip().lstrip(".").strip(" .")
    if _WINDOWS_RESERVED.match(text):
        text = "_" + text
    if len(text) > MAX_NAME:
        stem, dot, ext = text.rpartition(".")
        text = (stem[: MAX_NAME - len(ext) - 1] + dot + ext) if dot and len(ext) <= 10 else (
            text[:MAX_NAME])
    return text, text != original.strip()


def fallback_name(kind: str, content_type: str, index: str) -> str:
    """``attachment-1.2.xlsx``: from what the bytes are, else from the declared type."""
    if content_type in ("application/ms-tnef", "application/vnd.ms-tnef") or kind == "winmail":
        return "winmail.dat"
    extension = _EXTENSIONS.get(kind) or _TYPE_EXTENSIONS.get(content_type)
    if extension is None:
        extension = mimetypes.guess_extension(content_type, strict=False) or ".bin"
    return f"attachment-{index}{extension}"
