"""The guarded opener: every reference workbook opens, every hostile input gets its own code.

Hostile files are generated here, in memory, from the reference workbooks or from scratch,
so no binary junk is committed and each case documents how the attack is built.
"""

from __future__ import annotations

import io
import random
import struct
import time
import zipfile
import zlib
from functools import cache
from pathlib import Path

import openpyxl
import pytest
from msoffcrypto.format.ooxml import OOXMLFile

from outreach.cmrt.opening import Opened, OpenLimits, Unreadable, open_workbook, sniff

DATA = Path(__file__).parent / "data" / "cmrt"
REAL_XLSX = "templates/RMI_CMRT_6.4_english_blank.xlsx"
ENCRYPTED_XLS = (
    "legacy/CMRT_2.03a_Broadcom_encrypted.xls",
    "legacy/CMRT_3.01_GoerTech_encrypted.xls",
)
JPEG = "legacy/not_a_spreadsheet_really_jpeg.xls"


@cache
def real(name: str) -> bytes:
    return (DATA / name).read_bytes()


def reference_files() -> list[str]:
    files = sorted(
        str(path.relative_to(DATA))
        for folder in ("templates", "returns", "legacy")
        for path in (DATA / folder).iterdir()
        if path.suffix in (".xls", ".xlsx")
    )
    return [name for name in files if name != JPEG]


@cache
def tiny_xlsx() -> bytes:
    """A small real xlsx (openpyxl), so mutation cases stay fast."""
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.title = "Declaration"
    sheet["D9"] = "Acme Metals"
    sheet["A1"] = "shared string"
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def members(data: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def build_zip(parts: dict[str, bytes], method: int = zipfile.ZIP_DEFLATED) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", method) as archive:
        for name, body in parts.items():
            archive.writestr(name, body)
    return out.getvalue()


def replace_member(data: bytes, name: str, body: bytes) -> bytes:
    parts = members(data)
    assert name in parts
    parts[name] = body
    return build_zip(parts)


def patch_central(data: bytes, name: str, **fields: int) -> bytes:
    """Rewrite CRC / sizes of one member in the central directory and its local header."""
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        start = archive.start_dir
        local = archive.getinfo(name).header_offset
    buf = bytearray(data)
    at = start
    while buf[at : at + 4] == b"PK\x01\x02":
        nlen, elen, clen = struct.unpack_from("<HHH", buf, at + 28)
        if bytes(buf[at + 46 : at + 46 + nlen]).decode() == name:
            for field, (central, local_off) in _FIELDS.items():
                if field in fields:
                    struct.pack_into("<I", buf, at + central, fields[field])
                    struct.pack_into("<I", buf, local + local_off, fields[field])
            return bytes(buf)
        at += 46 + nlen + elen + clen
    raise AssertionError(f"{name} not in central directory")


_FIELDS = {"crc": (16, 14), "compress_size": (20, 18), "file_size": (24, 22)}


def assert_unreadable(result: Opened | Unreadable, code: str) -> Unreadable:
    assert isinstance(result, Unreadable), result
    assert result.code == code, result
    assert result.message and result.message[0].isupper() and "Traceback" not in result.message
    return result


# --------------------------------------------------------------------------- reference files


@pytest.mark.parametrize("name", reference_files())
def test_every_reference_workbook_opens(name: str) -> None:
    result = open_workbook(real(name))
    assert isinstance(result, Opened), result
    assert result.workbook.has("Declaration")
    assert result.container == ("xls" if name.endswith(".xls") else "xlsx")
    assert result.decrypted == (name in ENCRYPTED_XLS)


@pytest.mark.parametrize("name", ENCRYPTED_XLS)
def test_default_password_workbooks_are_decrypted_and_readable(name: str) -> None:
    result = open_workbook(real(name))
    assert isinstance(result, Opened)
    assert result.decrypted and result.container == "xls"
    assert {"Declaration", "Smelter List"} <= set(result.workbook.sheet_names)
    assert result.workbook.sheet("Declaration").grid  # cells decrypt too, not only names


def test_jpeg_named_xls_is_an_image() -> None:
    data = real(JPEG)
    assert sniff(data) == "jpeg"
    message = assert_unreadable(open_workbook(data), "image").message
    assert "JPEG" in message and "not the Excel workbook" in message


# --------------------------------------------------------------------------- sniffing


@pytest.mark.parametrize(
    ("data", "kind"),
    [
        (b"", "empty"),
        (b"PK\x03\x04rest", "zip"),
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(8), "ole2"),
        (b"%PDF-1.7\n", "pdf"),
        (b"\x89PNG\r\n\x1a\n....", "png"),
        (b"\xff\xd8\xff\xe0", "jpeg"),
        (b"GIF89a....", "gif"),
        (b"\xef\xbb\xbf<!DOCTYPE html><html>", "html"),
        (b"  <HTML><body>", "html"),
        (b"Company,Smelter\nAcme,Tin\n", "text"),
        ("Société,Zinn\n".encode(), "text"),
        (b"\x00\x01\x02\x03", "unknown"),
    ],
)
def test_sniff_uses_magic_bytes(data: bytes, kind: str) -> None:
    assert sniff(data) == kind


# --------------------------------------------------------------------------- hostile corpus


def test_empty() -> None:
    assert_unreadable(open_workbook(b""), "empty")


def test_one_byte() -> None:
    assert_unreadable(open_workbook(b"\x00"), "not_a_workbook")


def test_pdf() -> None:
    result = assert_unreadable(open_workbook(b"%PDF-1.4\n1 0 obj\n<<>>\nendobj\n%%EOF"), "pdf")
    assert "PDF" in result.message and ".xlsx" in result.message


def test_png() -> None:
    assert_unreadable(open_workbook(b"\x89PNG\r\n\x1a\n" + bytes(64)), "image")


def test_gif() -> None:
    assert_unreadable(open_workbook(b"GIF87a" + bytes(64)), "image")


def test_html() -> None:
    page = b"<!DOCTYPE html>\n<html><head><title>Download</title></head><body></body></html>"
    assert_unreadable(open_workbook(page), "html")


def test_csv_text() -> None:
    assert_unreadable(open_workbook(b"Smelter Name,Country\nAcme,Peru\n"), "text")


def test_excel_2003_xml_spreadsheet() -> None:
    data = (
        b'<?xml version="1.0"?>\n<?mso-application progid="Excel.Sheet"?>\n'
        b'<Workbook xmlns="urn:schemas-microsoft-com:office:spreadsheet"></Workbook>'
    )
    assert sniff(data) == "text"
    result = assert_unreadable(open_workbook(data), "not_a_workbook")
    assert "Excel 2003 XML" in result.message


def test_random_bytes() -> None:
    noise = random.Random(7).randbytes(64 * 1024)
    assert sniff(noise) == "unknown"
    assert_unreadable(open_workbook(noise), "not_a_workbook")


def test_real_xlsx_cut_in_half_is_truncated() -> None:
    data = real(REAL_XLSX)
    assert_unreadable(open_workbook(data[: len(data) // 2]), "truncated")


def test_zip_without_workbook_parts() -> None:
    data = build_zip({"readme.txt": b"hello", "data/smelters.csv": b"a,b\n"})
    result = assert_unreadable(open_workbook(data), "not_a_workbook")
    assert "ZIP archive" in result.message


def test_docx_is_named_as_a_word_document() -> None:
    data = build_zip(
        {
            "[Content_Types].xml": b"<Types/>",
            "_rels/.rels": b"<Relationships/>",
            "word/document.xml": b"<w:document/>",
        }
    )
    result = assert_unreadable(open_workbook(data), "not_a_workbook")
    assert "Word document" in result.message


def test_ods_is_named_as_opendocument() -> None:
    data = build_zip(
        {"mimetype": b"application/vnd.oasis.opendocument.spreadsheet", "content.xml": b"<x/>"},
        zipfile.ZIP_STORED,
    )
    result = assert_unreadable(open_workbook(data), "not_a_workbook")
    assert "OpenDocument spreadsheet" in result.message


def test_zip_bomb_by_ratio_300_mb_of_zeros() -> None:
    """300 MB of zeros deflate to ~300 KB: under the size cap, far over the ratio cap."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as archive:
        archive.writestr("[Content_Types].xml", b"<Types/>")
        archive.writestr("xl/workbook.xml", b"<workbook/>")
        with archive.open("xl/worksheets/sheet1.xml", "w", force_zip64=True) as member:
            block = bytes(4 * 1024 * 1024)
            for _ in range(75):
                member.write(block)
    data = out.getvalue()
    assert len(data) < 2 * 1024 * 1024
    result = assert_unreadable(open_workbook(data), "zip_bomb")
    assert "compressed" in result.message


def test_zip_bomb_by_declared_size() -> None:
    """A tiny zip whose central directory claims a 4 GB member is refused unread."""
    data = patch_central(tiny_xlsx(), "xl/worksheets/sheet1.xml", file_size=0xFFFFFFF0)
    result = assert_unreadable(open_workbook(data), "zip_bomb")
    assert "unpack" in result.message


def test_member_larger_than_it_declares() -> None:
    """Declared size and CRC match the first KB, the deflate stream yields 8 MB: a lie."""
    body = bytes(8 * 1024 * 1024)
    parts = members(tiny_xlsx())
    parts["xl/media/image1.bin"] = body
    data = build_zip(parts)
    data = patch_central(data, "xl/media/image1.bin", file_size=1024, crc=zlib.crc32(body[:1024]))
    with zipfile.ZipFile(io.BytesIO(data)) as archive:  # zipfile itself is fooled
        assert archive.read("xl/media/image1.bin") == body[:1024]
    assert_unreadable(open_workbook(data), "zip_bomb")


def test_too_many_members() -> None:
    parts = members(tiny_xlsx())
    parts.update({f"xl/media/f{i}.bin": b"" for i in range(10_001)})
    data = build_zip(parts, zipfile.ZIP_STORED)
    result = assert_unreadable(open_workbook(data), "zip_bomb")
    assert "10" in result.message


def test_member_cap_is_configurable() -> None:
    assert_unreadable(open_workbook(real(REAL_XLSX), OpenLimits(max_members=20)), "zip_bomb")


BILLION_LAUGHS = (
    b'<?xml version="1.0"?>\n<!DOCTYPE lolz [\n <!ENTITY lol "lol">\n'
    + b"".join(
        f' <!ENTITY lol{i} "{("&lol" + (str(i - 1) if i > 1 else "") + ";") * 10}">\n'.encode()
        for i in range(1, 10)
    )
    + b']>\n<sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" count="1" '
    b'uniqueCount="1"><si><t>&lol9;</t></si></sst>'
)


def test_billion_laughs_in_shared_strings() -> None:
    data = replace_member(real(REAL_XLSX), "xl/sharedStrings.xml", BILLION_LAUGHS)
    result = assert_unreadable(open_workbook(data), "xml_entities")
    assert "sharedStrings" in result.message


def test_entity_in_a_real_worksheet() -> None:
    """Copy a real CMRT's members and put an external entity into its first worksheet."""
    data = real(REAL_XLSX)
    sheet = members(data)["xl/worksheets/sheet1.xml"]
    head, _, rest = sheet.partition(b"?>")
    hostile = head + b'?><!DOCTYPE w [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>' + rest
    assert_unreadable(
        open_workbook(replace_member(data, "xl/worksheets/sheet1.xml", hostile)), "xml_entities"
    )


def test_entity_in_content_types_utf16() -> None:
    parts = members(tiny_xlsx())
    body = parts["[Content_Types].xml"].decode()
    body = body.split("?>", 1)[1] if body.startswith("<?xml") else body
    text = '<?xml version="1.0" encoding="UTF-16"?><!DOCTYPE t [<!ENTITY a "b">]>' + body
    parts["[Content_Types].xml"] = text.encode("utf-16")
    assert_unreadable(open_workbook(build_zip(parts)), "xml_entities")


def test_xlsx_encrypted_with_a_real_password() -> None:
    result = assert_unreadable(open_workbook(encrypt(tiny_xlsx(), "s3cret!")), "password_protected")
    assert "password" in result.message


def test_xlsx_encrypted_with_the_default_password_is_opened() -> None:
    result = open_workbook(encrypt(tiny_xlsx(), "VelvetSweatshop"))
    assert isinstance(result, Opened), result
    assert result.decrypted and result.container == "xlsx"
    assert result.workbook.sheet("Declaration").cell("D9") == "Acme Metals"


def encrypt(data: bytes, password: str) -> bytes:
    """Agile (AES) encryption, as Excel does for File > Protect Workbook > Encrypt."""
    office = OOXMLFile(io.BytesIO(data))
    out = io.BytesIO()
    office.encrypt(password, out)
    assert sniff(out.getvalue()) == "ole2"
    return out.getvalue()


def test_oversized_input_over_a_small_cap() -> None:
    result = assert_unreadable(
        open_workbook(real(REAL_XLSX), OpenLimits(max_bytes=1024 * 1024)), "too_large"
    )
    assert "1.5 MB" in result.message and "1.0 MB" in result.message


def test_bad_crc_in_a_real_member() -> None:
    data = real(REAL_XLSX)
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        crc = archive.getinfo("xl/workbook.xml").CRC
    hostile = patch_central(data, "xl/workbook.xml", crc=crc ^ 0xFFFF)
    result = assert_unreadable(open_workbook(hostile), "corrupt")
    assert "checksum" in result.message


def test_flipped_compressed_bytes_are_corrupt() -> None:
    data = bytearray(real(REAL_XLSX))
    with zipfile.ZipFile(io.BytesIO(bytes(data))) as archive:
        info = archive.getinfo("xl/worksheets/sheet1.xml")
    start = info.header_offset + 30 + len(info.filename) + len(info.extra) + 100
    data[start : start + 64] = bytes(64)
    assert_unreadable(open_workbook(bytes(data)), "corrupt")


def test_xlsm_is_recognised_from_its_content_type() -> None:
    parts = members(tiny_xlsx())
    parts["[Content_Types].xml"] = parts["[Content_Types].xml"].replace(
        b"application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml",
        b"application/vnd.ms-excel.sheet.macroEnabled.main+xml",
    )
    result = open_workbook(build_zip(parts))
    assert isinstance(result, Opened), result
    assert result.container == "xlsm" and not result.decrypted


def test_workbook_part_that_is_not_xml_is_corrupt() -> None:
    data = replace_member(tiny_xlsx(), "xl/workbook.xml", b"\x00\x01 not xml at all")
    assert_unreadable(open_workbook(data), "corrupt")


def test_ole2_header_with_garbage_is_corrupt() -> None:
    data = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + random.Random(3).randbytes(4096)
    result = open_workbook(data)
    assert isinstance(result, Unreadable) and result.code in ("corrupt", "not_a_workbook")


def test_zip_member_with_encryption_flag() -> None:
    data = bytearray(tiny_xlsx())
    with zipfile.ZipFile(io.BytesIO(bytes(data))) as archive:
        start = archive.start_dir
    struct.pack_into("<H", data, start + 8, 0x1)  # first central entry: "encrypted"
    assert_unreadable(open_workbook(bytes(data)), "password_protected")


def test_duplicate_member_names_are_corrupt() -> None:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        for name, body in members(tiny_xlsx()).items():
            archive.writestr(name, body)
        with pytest.warns(UserWarning):
            archive.writestr("xl/workbook.xml", b"<workbook/>")
    assert_unreadable(open_workbook(out.getvalue()), "corrupt")


def test_mutated_workbooks_never_raise() -> None:
    """Truncations and byte flips of a small xlsx: always a result, never an exception."""
    rng = random.Random(2026)
    base = tiny_xlsx()
    for _ in range(300):
        data = bytearray(base)
        if rng.random() < 0.3:
            data = data[: rng.randrange(len(data))]
        for _ in range(rng.randrange(1, 6)):
            if data:
                data[rng.randrange(len(data))] = rng.randrange(256)
        result = open_workbook(bytes(data))
        assert isinstance(result, Opened | Unreadable)


def test_guards_cost_little_next_to_parsing() -> None:
    """Sanity bound only; the measured overhead is reported, not asserted tightly."""
    data = real(REAL_XLSX)
    started = time.perf_counter()
    assert isinstance(open_workbook(data), Opened)
    assert time.perf_counter() - started < 5


def build_cfb(stream_name: str, body: bytes) -> bytes:
    """A minimal OLE2 compound file (v3, 512-byte sectors) holding one stream of >= 4 KB.

    Enough for olefile/msoffcrypto to recognise the document type; written by hand because
    no installed library can create compound files.
    """
    assert len(body) >= 4096 and len(body) % 512 == 0
    free, end, fat_sect, nostream = 0xFFFFFFFF, 0xFFFFFFFE, 0xFFFFFFFD, 0xFFFFFFFF
    data_sectors = len(body) // 512
    header = struct.pack(
        "<8s16sHHHHH6sIIIIIIIII",
        b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1",
        bytes(16),
        0x3E,
        3,
        0xFFFE,
        9,
        6,
        bytes(6),
        0,
        1,  # one FAT sector
        1,  # directory starts at sector 1
        0,
        4096,
        end,
        0,
        end,
        0,
    ) + struct.pack("<109I", 0, *([free] * 108))
    chain = [*range(3, 2 + data_sectors), end]
    fat = struct.pack("<128I", fat_sect, end, *chain, *([free] * (126 - data_sectors)))

    def entry(name: str, kind: int, child: int, start: int, size: int) -> bytes:
        encoded = (name + "\0").encode("utf-16-le") if name else b""
        return struct.pack(
            "<64sHBBIII16sIQQIQ",
            encoded,
            len(encoded),
            kind,
            1,
            nostream,
            nostream,
            child,
            bytes(16),
            0,
            0,
            0,
            start,
            size,
        )

    directory = (
        entry("Root Entry", 5, 1, end, 0)
        + entry(stream_name, 2, nostream, 2, len(body))
        + entry("", 0, nostream, 0, 0) * 2
    )
    return header + fat + directory + body


def test_ole2_word_document_is_not_a_workbook() -> None:
    data = build_cfb("WordDocument", bytes(4096))
    assert sniff(data) == "ole2"
    result = assert_unreadable(open_workbook(data), "not_a_workbook")
    assert "Word document" in result.message


def test_ole2_without_any_office_stream_is_not_a_workbook() -> None:
    assert_unreadable(open_workbook(build_cfb("Contents", bytes(4096))), "not_a_workbook")
