"""What an attachment is, from its bytes (``outreach.cmrt.opening.sniff`` plus a look inside)."""

from __future__ import annotations

import io
import struct
import zipfile

from outreach.cmrt.opening import sniff
from outreach.intake.model import Kind

TNEF_SIGNATURE = struct.pack("<I", 0x223E9F78)
"""Outlook's winmail.dat (Transport Neutral Encapsulation Format) starts with this."""

_IMAGES = frozenset({"png", "jpeg", "gif"})
_EXTRA_IMAGES: tuple[bytes, ...] = (b"II*\x00", b"MM\x00*", b"BM")
_ENCRYPTED_STREAM = "EncryptedPackage".encode("utf-16-le")
_WORKBOOK_STREAMS = ("Workbook".encode("utf-16-le"), "Book".encode("utf-16-le"))


def kind_of(data: bytes) -> Kind:
    """The attachment's kind; the file name and the declared MIME type are never trusted."""
    if data.startswith(TNEF_SIGNATURE):
        return "winmail"
    sniffed = sniff(data)
    if sniffed == "empty":
        return "empty"
    if sniffed == "zip":
        return _zip_kind(data)
    if sniffed == "ole2":
        return _ole2_kind(data)
    if sniffed == "pdf":
        return "pdf"
    if sniffed in _IMAGES or data.startswith(_EXTRA_IMAGES):
        return "image"
    return "other"


def _zip_kind(data: bytes) -> Kind:
    """An OOXML workbook, another Office package (other), or a plain archive (zip)."""
    try:
        names = set(zipfile.ZipFile(io.BytesIO(data)).namelist())
    except (zipfile.BadZipFile, ValueError, OSError, EOFError, struct.error):
        return "other"  # a damaged archive: kept as a file, the validator says what is wrong
    if "[Content_Types].xml" not in names:
        return "zip"
    if "xl/workbook.xml" not in names:
        return "other"
    if "xl/vbaProject.bin" in names:
        return "xlsm"
    return "xlsm" if _declares_macros(data) else "xlsx"


def _declares_macros(data: bytes) -> bool:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive, archive.open(
            "[Content_Types].xml"
        ) as member:
            return b"macroEnabled.main+xml" in member.read(1024 * 1024)
    except Exception:
        return False


def _ole2_kind(data: bytes) -> Kind:
    """An encrypted Office package, a legacy workbook, or another OLE2 file (Word, MSG)."""
    if _ENCRYPTED_STREAM in data:
        return "encrypted"
    if any(stream in data for stream in _WORKBOOK_STREAMS):
        return "xls"
    return "other"


def head_kind(head: bytes) -> Kind:
    """A guess from the first bytes only, for a part too large to decode whole."""
    if head.startswith(TNEF_SIGNATURE):
        return "winmail"
    sniffed = sniff(head)
    if sniffed in ("zip", "pdf", "empty"):
        return sniffed  # type: ignore[return-value]
    if sniffed == "ole2":
        return "xls"
    if sniffed in _IMAGES:
        return "image"
    return "other"
