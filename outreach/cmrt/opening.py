"""Guarded entry point for workbook bytes that come from outside (a supplier's attachment).

``open_workbook`` never raises for bad input: it answers either ``Opened`` (a parsed
``Workbook``) or ``Unreadable`` with a stable ``code`` and a plain-English message the
supplier can act on. Everything is decided from the bytes, never from the file name, and
nothing in the file is ever executed (macros are only noticed, to report ``xlsm``).

The guards run before the parser because calamine trusts the container: a zip bomb, a DTD
with entity expansion or a truncated archive must be refused cheaply and explicitly rather
than surface as an out-of-memory or an obscure Rust error.
"""

from __future__ import annotations

import io
import re
import struct
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from xml.etree.ElementTree import Element

import defusedxml.ElementTree as safe_et
import msoffcrypto
from defusedxml import DefusedXmlException
from msoffcrypto import exceptions as crypto_errors

from outreach.cmrt.workbook import Workbook, keeps_part, load_workbook_bytes

DEFAULT_PASSWORD = "VelvetSweatshop"  # noqa: S105 - public, documented by Microsoft
"""Excel encrypts with this password when only the workbook structure is protected."""

_CHUNK = 64 * 1024
_ONE_SHOT = 16 * 1024 * 1024
"""Members declaring at most this are inflated in one call (capped at their size), not streamed."""
_KEEP = 64 * 1024 * 1024
"""At most this much of the checked parts is kept for the parser (a CMRT keeps ~9 MB)."""
_RATIO_FLOOR = 1024 * 1024
"""Members smaller than this cannot hurt whatever their ratio (tiny XML compresses well)."""

_LOCAL_HEADER = struct.Struct("<IHHHHHIIIHH")
_LOCAL_SIGNATURE = 0x04034B50

_CT_XLSX = {
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.template.main+xml",
}
_CT_XLSM = {
    "application/vnd.ms-excel.sheet.macroEnabled.main+xml",
    "application/vnd.ms-excel.template.macroEnabled.main+xml",
}
_CT_NS = "{http://schemas.openxmlformats.org/package/2006/content-types}"

_SEND_XLSX = "please send the CMRT as an Excel workbook (.xlsx)"


@dataclass(frozen=True)
class OpenLimits:
    """Caps on what an attachment may cost to open; defaults fit real CMRT/EMRT files (~2 MB)."""

    max_bytes: int = 40 * 1024 * 1024
    max_uncompressed_bytes: int = 400 * 1024 * 1024
    max_ratio: float = 200.0
    max_members: int = 10_000


@dataclass(frozen=True)
class Unreadable:
    """Why the bytes are not a readable workbook: ``code`` is stable, ``message`` is for people."""

    code: str
    message: str


@dataclass(frozen=True)
class Opened:
    """A parsed workbook; ``decrypted`` is True when Excel's default password was removed."""

    workbook: Workbook
    container: str
    decrypted: bool


class _Refused(Exception):
    """Internal: carries an ``Unreadable`` out of nested checks to the boundary."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.unreadable = Unreadable(code, message)


# --------------------------------------------------------------------------- sniffing


def sniff(data: bytes) -> str:
    """Kind of file from its first bytes only: the name and the e-mail's MIME type lie."""
    if not data:
        return "empty"
    head = data[:16]
    for magic, kind in _MAGIC:
        if head.startswith(magic):
            return kind
    lowered = data[:1024].lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if lowered.startswith((b"<!doctype html", b"<html", b"<head", b"<body", b"<meta")):
        return "html"
    if _looks_like_text(data[:4096]):
        return "text"
    return "unknown"


_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"PK\x03\x04", "zip"),
    (b"PK\x05\x06", "zip"),
    (b"PK\x07\x08", "zip"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "ole2"),
    (b"%PDF-", "pdf"),
    (b"\x89PNG\r\n\x1a\n", "png"),
    (b"\xff\xd8\xff", "jpeg"),
    (b"GIF87a", "gif"),
    (b"GIF89a", "gif"),
)


def _looks_like_text(sample: bytes) -> bool:
    """UTF-8 (or plain ASCII) without control bytes other than whitespace: CSV, TXT, e-mail."""
    if b"\x00" in sample:
        return False
    try:
        text = sample.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.start < len(sample) - 4:  # a cut multi-byte character at the end is fine
            return False
        text = sample[: exc.start].decode("utf-8")
    return all(ch.isprintable() or ch in "\t\r\n\f" for ch in text)


_NOT_WORKBOOK: dict[str, tuple[str, str]] = {
    "pdf": ("pdf", f"The attachment is a PDF, not the Excel workbook: {_SEND_XLSX}."),
    "png": ("image", f"The attachment is a PNG image, not the Excel workbook: {_SEND_XLSX}."),
    "jpeg": ("image", f"The attachment is a JPEG image, not the Excel workbook: {_SEND_XLSX}."),
    "gif": ("image", f"The attachment is a GIF image, not the Excel workbook: {_SEND_XLSX}."),
    "html": (
        "html",
        "The attachment is a web page (HTML), not the Excel workbook (perhaps a download "
        f"link or an Excel file saved as HTML): {_SEND_XLSX}.",
    ),
    "text": (
        "text",
        "The attachment is a plain text or CSV file, not the Excel workbook: "
        f"{_SEND_XLSX}, without exporting it to CSV.",
    ),
    "unknown": (
        "not_a_workbook",
        f"The attachment is not an Excel workbook (unrecognised file type): {_SEND_XLSX}.",
    ),
}


# --------------------------------------------------------------------------- entry point


def open_workbook(data: bytes, limits: OpenLimits = OpenLimits()) -> Opened | Unreadable:
    """Open untrusted workbook bytes; every failure is an ``Unreadable``, never an exception."""
    try:
        return _open(bytes(data), limits)
    except _Refused as refused:
        return refused.unreadable
    except MemoryError:
        return Unreadable("too_large", "The workbook is too large to open: " + _SEND_XLSX + ".")
    except (KeyboardInterrupt, SystemExit):
        raise
    except BaseException as exc:
        return Unreadable(
            "corrupt",
            "The workbook could not be read; it seems damaged "
            f"({type(exc).__name__}). Please open it in Excel, save it again and resend it.",
        )


def _open(data: bytes, limits: OpenLimits) -> Opened | Unreadable:
    """Cheap checks first: size, then type, then the container-specific guards."""
    if len(data) > limits.max_bytes:
        return Unreadable(
            "too_large",
            f"The attachment is {_mb(len(data))}, more than the {_mb(limits.max_bytes)} "
            "we accept; a CMRT is normally about 2 MB. Please send only the CMRT workbook.",
        )
    kind = sniff(data)
    if kind == "empty":
        return Unreadable("empty", f"The attachment is empty (0 bytes): {_SEND_XLSX}.")
    if kind == "zip":
        return _open_zip(data, limits, decrypted=False)
    if kind == "ole2":
        return _open_ole2(data, limits)
    if kind == "text" and b"urn:schemas-microsoft-com:office:spreadsheet" in data[:8192]:
        return Unreadable(
            "not_a_workbook",
            "The attachment is an Excel 2003 XML spreadsheet, which we cannot read: please "
            "open it in Excel and save it as an Excel workbook (.xlsx).",
        )
    code, message = _NOT_WORKBOOK[kind]
    return Unreadable(code, message)


def _mb(size: int) -> str:
    if size < 1024 * 1024:
        return f"{size / 1024:.0f} KB" if size >= 1024 else f"{size} bytes"
    return f"{size / (1024 * 1024):.1f} MB"


def _parse(
    data: bytes, container: str, decrypted: bool, parts: dict[str, bytes] | None = None
) -> Opened:
    """Hand checked bytes to the parser; its errors mean a damaged workbook."""
    try:
        workbook = load_workbook_bytes(data, parts)
    except (KeyboardInterrupt, SystemExit, MemoryError):
        raise
    except BaseException as exc:
        raise _Refused(
            "corrupt",
            "The workbook could not be read; it seems damaged. Please open it in Excel, "
            f"save it again and resend it. (Technical detail: {_short(exc)})",
        ) from exc
    if not workbook.sheet_names:
        raise _Refused("corrupt", "The workbook has no sheets: " + _SEND_XLSX + ".")
    return Opened(workbook, container, decrypted)


def _short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text[:120]


# --------------------------------------------------------------------------- zip (OOXML)


def _open_zip(data: bytes, limits: OpenLimits, *, decrypted: bool) -> Opened:
    """Inspect the central directory and every member before calamine sees the archive."""
    _precount_members(data, limits)
    archive = _read_directory(data)
    infos = archive.infolist()
    _check_directory(infos, len(data), limits)
    names = {info.filename for info in infos}
    if "[Content_Types].xml" not in names or "xl/workbook.xml" not in names:
        raise _Refused("not_a_workbook", _describe_zip(archive, names))
    parts: dict[str, bytes] = {}
    kept = 0
    for info in infos:
        content = _verify_member(data, info)
        if content is not None and keeps_part(info.filename) and kept + len(content) <= _KEEP:
            parts[info.filename] = content  # checked: the parser need not inflate it again
            kept += len(content)
    container = _container_kind(archive, names)
    return _parse(data, container, decrypted, parts)


def _precount_members(data: bytes, limits: OpenLimits) -> None:
    """Bound the entry count before zipfile builds a ZipInfo for each one.

    Every central-directory entry starts with its signature, so counting signatures is a
    cheap upper bound; without it a 40 MB archive of empty entries costs ~250 MB of objects.
    """
    entries = data.count(b"PK\x01\x02")
    if entries > limits.max_members:
        raise _Refused(
            "zip_bomb",
            _bomb(f"it contains {entries} files (the limit is {limits.max_members})"),
        )


def _read_directory(data: bytes) -> zipfile.ZipFile:
    """Open the central directory; a missing end record almost always means a cut-off file."""
    try:
        return zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile as exc:
        if b"PK\x05\x06" not in data[-(65536 + 22) :]:
            raise _Refused(
                "truncated",
                "The workbook is incomplete: the file seems cut off (an interrupted download "
                "or an attachment size limit). Please send the complete file again.",
            ) from exc
        raise _Refused("corrupt", _damaged("its zip directory is unreadable")) from exc
    except (ValueError, OSError, EOFError, struct.error) as exc:
        raise _Refused("corrupt", _damaged("its zip directory is unreadable")) from exc


def _damaged(detail: str) -> str:
    return (
        f"The workbook is damaged ({detail}). Please open it in Excel, save it again and resend it."
    )


def _bomb(detail: str) -> str:
    return (
        f"The attachment was refused because {detail}, which is not what an Excel workbook "
        f"looks like: {_SEND_XLSX}."
    )


def _check_directory(infos: list[zipfile.ZipInfo], size: int, limits: OpenLimits) -> None:
    """Member count, declared sizes and ratios: refuse a bomb before decompressing a byte."""
    if len(infos) > limits.max_members:
        raise _Refused(
            "zip_bomb",
            _bomb(f"it contains {len(infos)} files (the limit is {limits.max_members})"),
        )
    names = [info.filename for info in infos]
    if len(set(names)) != len(names):
        raise _Refused("corrupt", _damaged("some parts appear twice in the archive"))
    total = sum(info.file_size for info in infos)
    if total > limits.max_uncompressed_bytes:
        raise _Refused(
            "zip_bomb",
            _bomb(
                f"it would unpack to {_mb(total)} (the limit is "
                f"{_mb(limits.max_uncompressed_bytes)})"
            ),
        )
    if total > _RATIO_FLOOR and total / max(size, 1) > limits.max_ratio:
        raise _Refused("zip_bomb", _bomb(f"it is compressed {total / size:.0f} times"))
    for info in infos:
        _check_member_header(info, limits)


def _check_member_header(info: zipfile.ZipInfo, limits: OpenLimits) -> None:
    if info.flag_bits & 0x1:
        raise _Refused(
            "password_protected",
            "The workbook is protected with a password: please send it without one.",
        )
    if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
        raise _Refused("corrupt", _damaged("it uses a compression method Excel never writes"))
    ratio = info.file_size / max(info.compress_size, 1)
    if info.file_size > _RATIO_FLOOR and ratio > limits.max_ratio:
        raise _Refused(
            "zip_bomb", _bomb(f"its part {info.filename!r} is compressed {ratio:.0f} times")
        )


def _describe_zip(archive: zipfile.ZipFile, names: set[str]) -> str:
    """Say what the zip is when we can tell, so the supplier knows which file to send instead."""
    if "word/document.xml" in names:
        what = "a Word document"
    elif "ppt/presentation.xml" in names:
        what = "a PowerPoint presentation"
    elif "xl/workbook.bin" in names:
        what = "an Excel binary workbook (.xlsb)"
    elif "mimetype" in names and _small_read(archive, "mimetype").startswith(
        b"application/vnd.oasis.opendocument.spreadsheet"
    ):
        what = "an OpenDocument spreadsheet (.ods)"
    elif "mimetype" in names:
        what = "an OpenDocument file"
    else:
        what = "a ZIP archive"
    return f"The attachment is {what}, not the Excel workbook: {_SEND_XLSX}."


def _small_read(archive: zipfile.ZipFile, name: str, limit: int = 256) -> bytes:
    try:
        with archive.open(name) as member:
            return member.read(limit)
    except Exception:
        return b""


def _verify_member(data: bytes, info: zipfile.ZipInfo) -> bytes | None:
    """Decompress one member ourselves, bounded by its declared size, checking CRC and DTDs.

    zipfile stops at the declared size, but calamine's zip reader may not; so the declared
    size must be exactly what the deflate stream yields, or the archive is lying. Members
    up to ``_ONE_SHOT`` are inflated in one call capped at declared size + 1 byte and
    returned; larger ones are streamed in bounded pieces (and None is returned).
    """
    offset = _data_offset(data, info)
    raw = memoryview(data)[offset : offset + info.compress_size]
    if len(raw) < info.compress_size:
        raise _Refused(
            "truncated",
            "The workbook is incomplete: the file seems cut off. Please send the complete "
            "file again.",
        )
    if info.file_size <= _ONE_SHOT:
        content = _inflate_whole(raw, info)
        if len(content) > info.file_size:
            raise _Refused(
                "zip_bomb", _bomb(f"its part {info.filename!r} is larger than it declares")
            )
        if len(content) != info.file_size or zlib.crc32(content) != info.CRC:
            raise _Refused("corrupt", _damaged(f"its part {info.filename!r} fails its checksum"))
        if _is_xml_part(info.filename):
            _scan_dtd(info.filename, content)
        return content
    scan = _is_xml_part(info.filename)
    scanner = _DtdScanner(info.filename) if scan else None
    crc = 0
    produced = 0
    for piece in _inflate(raw, info):
        produced += len(piece)
        if produced > info.file_size:
            raise _Refused(
                "zip_bomb", _bomb(f"its part {info.filename!r} is larger than it declares")
            )
        crc = zlib.crc32(piece, crc)
        if scanner is not None:
            scanner.feed(piece)
    if produced != info.file_size or crc != info.CRC:
        raise _Refused("corrupt", _damaged(f"its part {info.filename!r} fails its checksum"))
    return None


def _inflate_whole(raw: memoryview, info: zipfile.ZipInfo) -> bytes:
    """The member's bytes, never more than declared size + 1 (enough to catch a lie)."""
    if info.compress_type == zipfile.ZIP_STORED:
        return bytes(raw)
    inflater = zlib.decompressobj(-15)
    try:
        content = inflater.decompress(raw, info.file_size + 1)
    except zlib.error as exc:
        raise _Refused(
            "corrupt", _damaged(f"its part {info.filename!r} cannot be decompressed")
        ) from exc
    if len(content) > info.file_size:
        return content  # the caller refuses it as a bomb
    if not inflater.eof:
        raise _Refused("corrupt", _damaged(f"its part {info.filename!r} ends early"))
    return content


_BANG = re.compile(rb"!(?<=<!)")
"""'<!' found from its rare '!': a search led by '<' stops at every tag and is 4x slower."""


def _scan_dtd(name: str, content: bytes) -> None:
    """What ``_DtdScanner`` decides for the whole part, in one C-level search when narrow."""
    if b"\x00" in content[:4] or content[:2] in (b"\xff\xfe", b"\xfe\xff"):
        scanner = _DtdScanner(name)
        for start in range(0, len(content), _CHUNK):
            scanner.feed(content[start : start + _CHUNK])
        return
    for found in _BANG.finditer(content):
        at = found.start() - 1
        snippet = content[at : at + 9].replace(b"\x00", b"").upper()
        if any(word in snippet for word in _DtdScanner._WORDS):
            raise _Refused("xml_entities", _entities_message(name))


def _data_offset(data: bytes, info: zipfile.ZipInfo) -> int:
    start = info.header_offset
    header = data[start : start + _LOCAL_HEADER.size]
    if len(header) < _LOCAL_HEADER.size:
        raise _Refused(
            "truncated",
            "The workbook is incomplete: the file seems cut off. Please send the complete "
            "file again.",
        )
    fields = _LOCAL_HEADER.unpack(header)
    if fields[0] != _LOCAL_SIGNATURE:
        raise _Refused("corrupt", _damaged("a part of the archive is misplaced"))
    return start + _LOCAL_HEADER.size + fields[9] + fields[10]


def _inflate(raw: memoryview, info: zipfile.ZipInfo) -> Iterator[bytes]:
    """Yield the member's bytes in bounded pieces, never more than one piece past its size."""
    if info.compress_type == zipfile.ZIP_STORED:
        for start in range(0, len(raw), _CHUNK):
            yield bytes(raw[start : start + _CHUNK])
        return
    inflater = zlib.decompressobj(-15)
    budget = info.file_size + 1
    try:
        for start in range(0, len(raw), _CHUNK):
            pending = bytes(raw[start : start + _CHUNK])
            while not inflater.eof:
                limit = min(_CHUNK, budget)
                piece = inflater.decompress(pending, limit)
                budget = max(budget - len(piece), 1)
                yield piece
                pending = inflater.unconsumed_tail
                if not pending and len(piece) < limit:
                    break  # this chunk is used up and nothing is held back
    except zlib.error as exc:
        raise _Refused(
            "corrupt", _damaged(f"its part {info.filename!r} cannot be decompressed")
        ) from exc
    if not inflater.eof:
        raise _Refused("corrupt", _damaged(f"its part {info.filename!r} ends early"))


def _is_xml_part(name: str) -> bool:
    return name.lower().endswith((".xml", ".rels", ".vml"))


class _DtdScanner:
    """Spot ``<!DOCTYPE``/``<!ENTITY`` in a stream of XML bytes (UTF-8, UTF-16 or UTF-32).

    Real Excel files never carry a DTD, and a DTD is how entity-expansion attacks
    (billion laughs, external entities) get in; so any declaration refuses the file.
    The whole part is scanned, not just its prolog, because lenient parsers accept a
    DOCTYPE anywhere. Wide encodings are recognised from NUL bytes at the start.
    """

    _WORDS = (b"<!DOCTYPE", b"<!ENTITY")

    def __init__(self, name: str) -> None:
        self.name = name
        self.tail = b""
        self.wide: bool | None = None

    def feed(self, piece: bytes) -> None:
        if self.wide is None:
            self.wide = b"\x00" in piece[:4] or piece[:2] in (b"\xff\xfe", b"\xfe\xff")
        window = self.tail + piece
        if self.wide:
            self._scan(window, b"!", before=4, after=48)
        else:
            self._scan(window, b"<!", before=0, after=9)
        self.tail = window[-48:]

    def _scan(self, window: bytes, needle: bytes, *, before: int, after: int) -> None:
        at = window.find(needle)
        while at != -1:
            snippet = window[max(at - before, 0) : at + after].replace(b"\x00", b"").upper()
            if any(word in snippet for word in self._WORDS):
                raise _Refused("xml_entities", _entities_message(self.name))
            at = window.find(needle, at + 1)


def _entities_message(name: str) -> str:
    return (
        f"The workbook was refused because its part {name!r} declares XML entities (a DTD), "
        "which Excel never writes and which can be used to attack the reader: "
        f"{_SEND_XLSX}, saved by Excel."
    )


def _container_kind(archive: zipfile.ZipFile, names: set[str]) -> str:
    """xlsm when the workbook part is macro-enabled or a VBA project is present, else xlsx."""
    content_type = _workbook_content_type(archive)
    if content_type in _CT_XLSM or "xl/vbaProject.bin" in names:
        return "xlsm"
    if content_type in _CT_XLSX or content_type is None:
        return "xlsx"
    raise _Refused(
        "not_a_workbook",
        f"The attachment is an Office package of type {content_type!r}, not the Excel "
        f"workbook: {_SEND_XLSX}.",
    )


def _workbook_content_type(archive: zipfile.ZipFile) -> str | None:
    """The content type [Content_Types].xml gives /xl/workbook.xml (already DTD-scanned)."""
    with archive.open("[Content_Types].xml") as member:
        text = member.read(4 * 1024 * 1024 + 1)
    if len(text) > 4 * 1024 * 1024:
        raise _Refused("corrupt", _damaged("its content-type list is implausibly large"))
    try:
        root = safe_et.fromstring(text)
    except DefusedXmlException as exc:
        raise _Refused("xml_entities", _damaged("its content-type list declares entities")) from exc
    except Exception as exc:
        raise _Refused("corrupt", _damaged("its content-type list is not valid XML")) from exc
    return _override_for(root, "/xl/workbook.xml")


def _override_for(root: Element, part: str) -> str | None:
    for override in root.iter(f"{_CT_NS}Override"):
        if override.get("PartName", "").lower() == part:
            return override.get("ContentType")
    return None


# --------------------------------------------------------------------------- OLE2 (CFB)


def _open_ole2(data: bytes, limits: OpenLimits) -> Opened:
    """Legacy .xls or an encrypted package: decrypt with Excel's default password only."""
    office = _office_file(data)
    if office is None:
        # No "Workbook" stream: maybe a BIFF5 "Book" stream calamine still reads.
        return _parse_ole2_or_refuse(data)
    kind = type(office).__name__
    if kind in ("Doc97File", "Ppt97File"):
        what = "a Word document" if kind == "Doc97File" else "a PowerPoint presentation"
        raise _Refused(
            "not_a_workbook", f"The attachment is {what}, not the Excel workbook: {_SEND_XLSX}."
        )
    if not _is_encrypted(office):
        return _parse(data, "xls", decrypted=False)
    plain = _decrypt_default(office)
    if kind == "OOXMLFile":
        if len(plain) > limits.max_bytes:
            raise _Refused("too_large", f"The decrypted workbook is {_mb(len(plain))}, too large.")
        return _open_zip(plain, limits, decrypted=True)
    return _parse(plain, "xls", decrypted=True)


def _office_file(data: bytes):
    try:
        return msoffcrypto.OfficeFile(io.BytesIO(data))
    except crypto_errors.FileFormatError:
        return None
    except Exception as exc:
        raise _Refused(
            "corrupt", _damaged(f"its OLE2 structure is unreadable: {_short(exc)}")
        ) from exc


def _parse_ole2_or_refuse(data: bytes) -> Opened:
    try:
        return _parse(data, "xls", decrypted=False)
    except _Refused as exc:
        raise _Refused(
            "not_a_workbook",
            f"The attachment is an old-style Office file but not an Excel workbook: {_SEND_XLSX}.",
        ) from exc


def _is_encrypted(office: object) -> bool:
    try:
        return bool(office.is_encrypted())  # type: ignore[attr-defined]
    except Exception as exc:
        raise _Refused(
            "corrupt", _damaged(f"its workbook stream is unreadable: {_short(exc)}")
        ) from exc


def _decrypt_default(office: object) -> bytes:
    """Try "VelvetSweatshop" in memory; any other password means we cannot read the file."""
    out = io.BytesIO()
    try:
        if type(office).__name__ == "OOXMLFile":
            office.load_key(password=DEFAULT_PASSWORD, verify_password=True)  # type: ignore[attr-defined]
        else:
            office.load_key(password=DEFAULT_PASSWORD)  # type: ignore[attr-defined]
        office.decrypt(out)  # type: ignore[attr-defined]
    except (crypto_errors.InvalidKeyError, crypto_errors.DecryptionError) as exc:
        raise _Refused(
            "password_protected",
            "The workbook is protected with a password: please send it without one "
            "(in Excel: File > Info > Protect Workbook > Encrypt with Password, clear it).",
        ) from exc
    except Exception as exc:
        raise _Refused(
            "corrupt", _damaged(f"its encryption could not be removed: {_short(exc)}")
        ) from exc
    return out.getvalue()
