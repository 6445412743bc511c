"""parse_message on real messages built with the stdlib, and raw bytes for the odd cases."""

from __future__ import annotations

import dataclasses
import io
import unicodedata
import zipfile
from email.message import EmailMessage
from pathlib import Path

import pytest

from outreach.intake.kinds import TNEF_SIGNATURE
from outreach.intake.model import MiB, ParsedMessage, ParseLimits
from outreach.intake.parse import parse_message

WORKBOOK = Path(__file__).parent / "data" / "cmrt" / "returns" / "CMRT_6.4_JX_Advanced_Metals.xlsx"
XLSX = ("application", "vnd.openxmlformats-officedocument.spreadsheetml.sheet")


def workbook_bytes() -> bytes:
    return WORKBOOK.read_bytes()


def reply(text: str = "Please find our CMRT attached.", subject: str = "Re: CMRT") -> EmailMessage:
    message = EmailMessage()
    message["From"] = "Hans Müller <hans.mueller@supplier.de>"
    message["To"] = "conflict-minerals+k3j9x2abcdef@company.example"
    message["Subject"] = subject
    message["Message-ID"] = "<reply-1@supplier.de>"
    message["Date"] = "Tue, 03 Mar 2026 10:15:00 +0100"
    message.set_content(text)
    return message


def parse(message: EmailMessage | bytes, limits: ParseLimits = ParseLimits()) -> ParsedMessage:
    return parse_message(message if isinstance(message, bytes) else bytes(message), limits)


def test_headers_threading_and_addresses() -> None:
    message = reply()
    message["In-Reply-To"] = "<aaa.outreach@company.example>"
    message["References"] = "<root.outreach@company.example> <aaa.outreach@company.example>"
    message["Delivered-To"] = "conflict-minerals+k3j9x2abcdef@company.example"
    parsed = parse(message)
    assert parsed.message_id == "<reply-1@supplier.de>"
    assert parsed.in_reply_to == ("<aaa.outreach@company.example>",)
    assert parsed.references == ("<root.outreach@company.example>",
                                 "<aaa.outreach@company.example>")
    assert parsed.sender is not None and parsed.sender.address == "hans.mueller@supplier.de"
    assert parsed.sender.name == "Hans Müller"
    assert parsed.to[0].address == "conflict-minerals+k3j9x2abcdef@company.example"
    assert parsed.delivered_to[0].address == parsed.to[0].address
    assert parsed.date is not None and parsed.date.utcoffset() is not None
    assert parsed.date.hour == 10 and parsed.subject == "Re: CMRT"
    assert parsed.text.strip() == "Please find our CMRT attached."
    assert parsed.attachments == () and parsed.problems == ()


def test_result_is_frozen() -> None:
    parsed = parse(reply())
    with pytest.raises(dataclasses.FrozenInstanceError):
        parsed.subject = "changed"  # type: ignore[misc]


def test_workbook_inside_a_nested_forward() -> None:
    original = reply(subject="CMRT 2026")
    original.add_attachment(workbook_bytes(), *XLSX, filename="CMRT_JX.xlsx")
    middle = reply("FYI, forwarding", subject="Fwd: CMRT 2026")
    middle.replace_header("Message-ID", "<fwd-1@supplier.de>")
    middle.add_attachment(original)
    outer = reply("Our colleague's answer below.", subject="Fwd: Fwd: CMRT 2026")
    outer.replace_header("Message-ID", "<fwd-2@supplier.de>")
    outer.add_attachment(middle)
    parsed = parse(outer)
    [attachment] = parsed.attachments
    assert attachment.kind == "xlsx" and attachment.depth == 2
    assert attachment.filename == "CMRT_JX.xlsx"
    assert attachment.content == workbook_bytes()
    assert [e.message_id for e in parsed.embedded] == ["<fwd-1@supplier.de>",
                                                       "<reply-1@supplier.de>"]
    assert parsed.text.strip() == "Our colleague's answer below."


def test_rfc2231_filename_decoded_and_nfc() -> None:
    message = reply()
    message.add_attachment(workbook_bytes(), *XLSX, filename="Lieferanten_Erklärung_2026.xlsx")
    raw = bytes(message)
    assert b"filename*=utf-8''Lieferanten_Erkl%C3%A4rung_2026.xlsx" in raw
    assert parse(raw).attachments[0].filename == "Lieferanten_Erklärung_2026.xlsx"
    decomposed = unicodedata.normalize("NFD", "Erklärung.xlsx").encode("utf-8")
    quoted = "".join(f"%{b:02X}" if b > 127 else chr(b) for b in decomposed).encode()
    raw = raw.replace(b"Lieferanten_Erkl%C3%A4rung_2026.xlsx", quoted)
    name = parse(raw).attachments[0].filename
    assert name == unicodedata.normalize("NFC", "Erklärung.xlsx") and len(name) == 14


def test_rfc2047_filename_as_outlook_writes_it() -> None:
    raw = _single_attachment(b'Content-Disposition: attachment; '
                             b'filename="=?utf-8?B?RXJrbMOkcnVuZy54bHN4?="', workbook_bytes())
    [attachment] = parse(raw).attachments
    assert attachment.filename == "Erklärung.xlsx" and attachment.kind == "xlsx"


def test_iso_8859_1_header_without_charset() -> None:
    raw = (b"From: J\xfcrgen Sch\xf6n <js@lieferant.de>\r\nTo: box@company.example\r\n"
           b"Subject: Gr\xfc\xdfe aus M\xfcnchen\r\n\r\nHallo\r\n")
    parsed = parse(raw)
    assert parsed.subject == "Grüße aus München"
    assert parsed.sender is not None and parsed.sender.name == "Jürgen Schön"
    assert "header_charset_guessed" in parsed.problem_codes


def test_raw_utf8_header_is_not_a_problem() -> None:
    parsed = parse("Subject: Grüße\r\n\r\nx".encode())
    assert parsed.subject == "Grüße" and parsed.problems == ()


def test_broken_encoded_words_keep_the_rest() -> None:
    raw = (b"From: =?utf-8?q?M=C3=BCller?= <m@x.de>\r\n"
           b"Subject: =?utf-8?B?broken!!!?= Lieferung =?x-nonsense?q?abc?= "
           b"=?utf-8?q?f=C3=BCr?=\r\n\r\nbody\r\n")
    parsed = parse(raw)
    assert parsed.subject == "=?utf-8?B?broken!!!?= Lieferung =?x-nonsense?q?abc?= für"
    assert parsed.sender is not None and parsed.sender.name == "Müller"
    broken = [p for p in parsed.problems if p.code == "header_bad_encoded_word"]
    assert len(broken) == 2


def test_path_in_filename_is_removed() -> None:
    message = reply()
    message.add_attachment(workbook_bytes(), *XLSX, filename="../../etc/passwd.xlsx")
    parsed = parse(message)
    assert parsed.attachments[0].filename == "passwd.xlsx"
    assert "unsafe_filename" in parsed.problem_codes


@pytest.mark.parametrize(("given", "expected"), [
    ("..\\..\\Windows\\evil.xlsx", "evil.xlsx"),
    (".hidden.xlsx", "hidden.xlsx"),
    ("cmrt\u202excl.exe", "cmrtxcl.exe"),
    ("a\x07b:c.xlsx", "ab_c.xlsx"),
    ("CON.xlsx", "_CON.xlsx"),
])
def test_unsafe_names(given: str, expected: str) -> None:
    message = reply()
    message.add_attachment(b"%PDF-1.4 x", "application", "pdf", filename=given)
    assert parse(message).attachments[0].filename == expected


def test_missing_name_falls_back_to_the_type() -> None:
    raw = _single_attachment(b"Content-Disposition: attachment", workbook_bytes())
    [attachment] = parse(raw).attachments
    assert attachment.filename == "attachment-2.xlsx" and attachment.kind == "xlsx"


def test_zipped_cmrt_is_unpacked_one_level() -> None:
    inner = io.BytesIO()
    with zipfile.ZipFile(inner, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("inner.zip", b"PK\x05\x06" + bytes(18))
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("CMRT/CMRT_JX.xlsx", workbook_bytes())
        archive.writestr("__MACOSX/CMRT/._CMRT_JX.xlsx", b"junk")
        archive.writestr("nested.zip", inner.getvalue())
    message = reply()
    message.add_attachment(buffer.getvalue(), "application", "zip", filename="cmrt.zip")
    parsed = parse(message)
    kinds = [(a.filename, a.kind, a.archive) for a in parsed.attachments]
    assert kinds == [("cmrt.zip", "zip", None), ("CMRT_JX.xlsx", "xlsx", "cmrt.zip"),
                     ("nested.zip", "zip", "cmrt.zip")]
    assert parsed.attachments[1].content == workbook_bytes()


def test_zip_with_too_many_entries_is_not_unpacked() -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for index in range(20):
            archive.writestr(f"f{index}.txt", b"x")
    message = reply()
    message.add_attachment(buffer.getvalue(), "application", "zip", filename="many.zip")
    parsed = parse(message, ParseLimits(max_zip_entries=10))
    assert [a.filename for a in parsed.attachments] == ["many.zip"]
    assert "zip_refused" in parsed.problem_codes


def test_winmail_dat_is_recognised_from_its_signature() -> None:
    message = reply()
    message.add_attachment(TNEF_SIGNATURE + b"\x01\x00" + bytes(200), "application", "ms-tnef")
    [attachment] = parse(message).attachments
    assert attachment.kind == "winmail" and attachment.filename == "winmail.dat"


def test_pdf_named_like_a_workbook_is_a_pdf() -> None:
    message = reply()
    message.add_attachment(b"%PDF-1.7\n" + bytes(100), *XLSX, filename="CMRT.xlsx")
    [attachment] = parse(message).attachments
    assert attachment.kind == "pdf" and attachment.filename == "CMRT.xlsx"


def test_sharepoint_link_in_html_only_reply() -> None:
    message = reply()
    message.clear_content()
    message.set_content(
        "<html><head><style>p {color: red}</style></head><body><p>Hello,</p>"
        "<p>our CMRT is <a href=\"https://acme.sharepoint.com/:x:/s/compliance/EaB12?e=x\">"
        "here</a>.</p><p>See also https://www.acme.example/about.</p></body></html>",
        subtype="html",
    )
    parsed = parse(message)
    assert [(link.service, link.host) for link in parsed.links] == [
        ("sharepoint", "acme.sharepoint.com")]
    assert parsed.links[0].url == "https://acme.sharepoint.com/:x:/s/compliance/EaB12?e=x"
    assert "our CMRT is here." in parsed.text and "<" not in parsed.text
    assert "color" not in parsed.text


@pytest.mark.parametrize(("url", "service"), [
    ("https://1drv.ms/x/s!AbCdEf", "onedrive"),
    ("https://www.dropbox.com/s/abc/CMRT.xlsx?dl=0", "dropbox"),
    ("https://drive.google.com/file/d/1AbC/view", "google_drive"),
    ("https://we.tl/t-AbCdEf", "wetransfer"),
    ("https://acme.app.box.com/s/abc", "box"),
    ("https://files.acme.example/cmrt/CMRT%202026.xlsx", "direct"),
])
def test_file_host_links_in_plain_text(url: str, service: str) -> None:
    parsed = parse(reply(f"Download: {url}.\nThanks"))
    assert [(link.url, link.service) for link in parsed.links] == [(url, service)]


def test_ordinary_links_are_not_file_links() -> None:
    parsed = parse(reply("See http://example.com/CMRT.xlsx and https://www.responsiblemining.net"))
    assert parsed.links == ()


def test_attachment_over_the_cap_is_recorded_not_kept() -> None:
    big = b"PK\x03\x04" + bytes(35 * MiB)
    message = reply()
    message.add_attachment(big, *XLSX, filename="CMRT_big.xlsx")
    raw = bytes(message)
    capped = parse(raw, ParseLimits(max_attachment_bytes=30 * MiB))
    [attachment] = capped.attachments
    assert attachment.status == "too_large" and attachment.content is None
    assert abs(attachment.size - len(big)) < 1024 and attachment.kind == "zip"
    assert "too_large" in capped.problem_codes
    kept = parse(raw).attachments[0]  # the defaults admit a 30 MB (and a 35 MB) workbook
    assert kept.status == "ok" and kept.content == big


def test_declared_size_is_reported() -> None:
    raw = _single_attachment(b'Content-Disposition: attachment; filename="a.xlsx"; '
                             b"size=36700160", workbook_bytes())
    [attachment] = parse(raw, ParseLimits(max_attachment_bytes=30 * MiB)).attachments
    assert attachment.status == "too_large" and attachment.size == 36700160


def test_message_over_the_cap_keeps_only_headers() -> None:
    message = reply()
    message.add_attachment(workbook_bytes(), *XLSX, filename="CMRT.xlsx")
    parsed = parse(message, ParseLimits(max_message_bytes=1 * MiB))
    assert parsed.subject == "Re: CMRT" and parsed.attachments == ()
    assert "message_too_large" in parsed.problem_codes


def test_ten_thousand_tiny_parts_are_bounded() -> None:
    pieces = [b"From: a@b.example\r\nSubject: many\r\n"
              b"Content-Type: multipart/mixed; boundary=XX\r\n\r\n"]
    for index in range(10_000):
        pieces.append(b"--XX\r\nContent-Type: application/octet-stream\r\n"
                      b"Content-Disposition: attachment; filename=\"p%d.bin\"\r\n\r\nx\r\n" % index)
    pieces.append(b"--XX--\r\n")
    parsed = parse(b"".join(pieces), ParseLimits(max_parts=200))
    assert len(parsed.attachments) == 199  # the container counts as the first part
    assert "too_many_parts" in parsed.problem_codes


def test_broken_header_falls_back_to_compat32() -> None:
    raw = _single_attachment(b"Content-Disposition: attachment; filename*=\"utf-8'\"",
                             b"%PDF-1.4 x")
    parsed = parse(raw)
    assert "parser_fallback" in parsed.problem_codes
    assert [a.kind for a in parsed.attachments] == ["pdf"]


@pytest.mark.parametrize("raw", [b"", b"\x00\xff\xfe" * 100, b"Subject: x\r\n\r\n--",
                                 b"Content-Type: multipart/mixed\r\n\r\n--\r\n"])
def test_garbage_never_raises(raw: bytes) -> None:
    parsed = parse(raw)
    assert isinstance(parsed, ParsedMessage) and parsed.size == len(raw)


def _single_attachment(disposition: bytes, content: bytes) -> bytes:
    import base64

    body = base64.encodebytes(content)
    return (b"From: s@supplier.de\r\nTo: box@company.example\r\nSubject: CMRT\r\n"
            b"MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=BB\r\n\r\n"
            b"--BB\r\nContent-Type: text/plain\r\n\r\nattached\r\n"
            b"--BB\r\nContent-Type: application/octet-stream\r\n" + disposition + b"\r\n"
            b"Content-Transfer-Encoding: base64\r\n\r\n" + body + b"--BB--\r\n")
