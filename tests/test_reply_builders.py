"""tests.support.replies: every builder's bytes parse and classify as the builder says."""

from __future__ import annotations

import datetime as dt
import io
import zipfile

import pytest

from outreach.cmrt.opening import Opened, open_workbook
from outreach.cmrt.validate import Outcome, ValidationContext, validate
from outreach.intake.classify import Classification, classify
from outreach.intake.model import MiB, ParsedMessage, ParseLimits
from outreach.intake.parse import parse_message
from tests.support.replies import (
    MAILBOX,
    auto_reply,
    big_attachment,
    bounce_dsn,
    filled_workbook,
    forwarded,
    link_only,
    non_utf8,
    our_message_id,
    our_request,
    pdf_instead,
    question,
    supplier_reply,
    tagged_subject,
    token_address,
    unrelated,
    winmail,
    zipped,
)

TOKEN = "k3j9x2abcdef"
SUPPLIER = "Hans Müller <hans.mueller@supplier.de>"
OUR_ID = our_message_id()


def judge(raw: bytes, limits: ParseLimits = ParseLimits()) -> tuple[ParsedMessage,
                                                                      Classification]:
    parsed = parse_message(raw, limits)
    return parsed, classify(parsed, MAILBOX)


def reply_with_workbook() -> bytes:
    return supplier_reply(sender=SUPPLIER, to=token_address(TOKEN), subject=tagged_subject(TOKEN),
                          in_reply_to=OUR_ID, references=["<older@supplier.de>"],
                          attachments=[("CMRT_2026_Müller.xlsx", filled_workbook())],
                          html="<p>Please find our completed CMRT attached.</p>")


def test_supplier_reply_carries_the_workbook_and_the_token_twice() -> None:
    raw = reply_with_workbook()
    parsed, result = judge(raw)
    assert b"\r\n" in raw and parsed.problems == ()
    assert result.kind == "supplier_reply" and result.carries == "workbooks"
    [workbook] = result.workbooks
    assert (workbook.filename, workbook.kind) == ("CMRT_2026_Müller.xlsx", "xlsx")
    assert workbook.content == filled_workbook()
    assert [(t.value, t.source) for t in result.tokens] == [(TOKEN, "plus_address")]
    assert result.our_message_ids == (OUR_ID,)
    assert result.referenced_ids == (OUR_ID, "<older@supplier.de>")
    assert parsed.sender is not None and parsed.sender.name == "Hans Müller"
    assert parsed.date == dt.datetime(2026, 3, 3, 10, 15,
                                      tzinfo=dt.timezone(dt.timedelta(hours=1)))
    assert parsed.message_id is not None and parsed.message_id.endswith("@supplier.de>")
    assert parsed.text.startswith("Hello,") and "attached" in parsed.text
    assert reply_with_workbook() == raw


def test_the_subject_tag_alone_carries_the_token() -> None:
    _, result = judge(supplier_reply(sender=SUPPLIER, to=MAILBOX, subject=tagged_subject(TOKEN),
                                     attachments=[("CMRT.xlsx", filled_workbook())]))
    [token] = result.tokens
    assert (token.value, token.source, token.family, token.year) == (TOKEN, "subject", "CMRT",
                                                                     2026)


def test_forwarded_reply_keeps_the_workbook_one_level_down() -> None:
    inner = reply_with_workbook()
    parsed, result = judge(forwarded(inner, sender="Eva Roth <eva.roth@supplier.de>",
                                     to=token_address(TOKEN), subject="Fwd: CMRT 2026"))
    assert result.kind == "supplier_reply" and result.carries == "workbooks"
    assert result.workbooks[0].depth == 1
    assert result.workbooks[0].content == filled_workbook()
    assert [e.message_id for e in parsed.embedded] == [parse_message(inner).message_id]
    assert parsed.text.strip() == "FYI, see the message below."
    assert result.token == TOKEN


def test_zipped_workbooks_are_unpacked() -> None:
    archive = zipped([("CMRT_plant_A.xlsx", filled_workbook(0)),
                      ("CMRT_plant_B.xlsx", filled_workbook(1))])
    assert zipped([("CMRT_plant_A.xlsx", filled_workbook(0)),
                   ("CMRT_plant_B.xlsx", filled_workbook(1))]) == archive
    _, result = judge(supplier_reply(sender=SUPPLIER, to=token_address(TOKEN), subject="CMRTs",
                                     attachments=[("CMRTs.zip", archive)]))
    assert result.carries == "workbooks" and result.other_files == ()
    assert [(w.filename, w.archive) for w in result.workbooks] == [
        ("CMRT_plant_A.xlsx", "CMRTs.zip"), ("CMRT_plant_B.xlsx", "CMRTs.zip")]
    assert result.workbooks[1].content == filled_workbook(1)


@pytest.mark.parametrize(("variant", "reason"), [
    ("auto_submitted", "Auto-Submitted: auto-replied"),
    ("x_autoreply", "x-autoreply: yes"),
    ("precedence", "Precedence: auto_reply"),
    ("subject", "subject: out of office"),
    ("german", "subject: abwesenheitsnotiz"),
])
def test_auto_replies_each_with_one_signal(variant: str, reason: str) -> None:
    raw = auto_reply(sender=SUPPLIER, subject="[CMRT 2026 · ref k3j9x2abcdef] request",
                     variant=variant, in_reply_to=OUR_ID)  # type: ignore[arg-type]
    parsed, result = judge(raw)
    assert result.kind == "auto_reply" and not result.counts_as_response
    assert result.reasons == (reason,)
    assert result.carries == "nothing" and result.our_message_ids == (OUR_ID,)
    assert result.token == TOKEN
    assert ("nicht im Büro" in parsed.text) == (variant == "german")


@pytest.mark.parametrize("returned", ["message", "headers"])
def test_postfix_dsn_names_the_failed_recipient(returned: str) -> None:
    original = our_request(to="Anna Berg <anna@supplier.de>", token=TOKEN)
    raw = bounce_dsn(original_raw=original, failed_recipient="anna@supplier.de",
                     returned=returned)  # type: ignore[arg-type]
    parsed, result = judge(raw)
    assert parsed.content_type == "multipart/report" and parsed.problems == ()
    assert result.kind == "bounce" and result.bounce is not None and result.bounce.standard
    [failed] = result.bounce.failed
    assert (failed.address, failed.status, failed.action) == ("anna@supplier.de", "5.1.1",
                                                              "failed")
    assert failed.diagnostic.startswith("550 5.1.1 <anna@supplier.de>: Recipient address")
    assert result.bounce.original_message_ids == (OUR_ID,)
    assert result.our_message_ids == (OUR_ID,)
    assert [(t.value, t.source) for t in result.tokens] == [(TOKEN, "embedded")]
    assert not result.counts_as_response
    assert parsed.text.startswith("This is the mail system at host mail.company.example.")


def test_delayed_dsn_and_another_status() -> None:
    original = our_request(to="bob@supplier.de", token=TOKEN)
    _, result = judge(bounce_dsn(original_raw=original, failed_recipient="bob@supplier.de",
                                 action="delayed", status="4.4.7"))
    assert result.kind == "bounce" and result.bounce is not None
    assert result.bounce.failed == ()
    assert [(r.address, r.status, r.action) for r in result.bounce.recipients] == [
        ("bob@supplier.de", "4.4.7", "delayed")]
    _, result = judge(bounce_dsn(original_raw=original, failed_recipient="bob@supplier.de",
                                 status="5.2.2", diagnostic="552 5.2.2 Mailbox full"))
    assert result.bounce is not None
    assert [(r.status, r.diagnostic) for r in result.bounce.failed] == [
        ("5.2.2", "552 5.2.2 Mailbox full")]


def test_winmail_dat_is_another_file() -> None:
    _, result = judge(winmail(sender=SUPPLIER, to=token_address(TOKEN), subject="RE: CMRT"))
    assert result.carries == "other_files" and result.workbooks == ()
    [other] = result.other_files
    assert (other.attachment.filename, other.attachment.content_type, other.reason) == (
        "winmail.dat", "application/ms-tnef", "winmail")


def test_a_pdf_instead_of_the_workbook() -> None:
    parsed, result = judge(pdf_instead(sender=SUPPLIER, to=token_address(TOKEN),
                                       subject="RE: CMRT", in_reply_to=OUR_ID))
    assert result.carries == "other_files"
    [other] = result.other_files
    assert (other.attachment.filename, other.reason) == ("CMRT_2026_signed.pdf", "pdf")
    assert other.attachment.content is not None
    assert other.attachment.content.endswith(b"%%EOF\n")
    assert "signed" in parsed.text and result.our_message_ids == (OUR_ID,)


@pytest.mark.parametrize("service", ["sharepoint", "wetransfer", "onedrive", "dropbox",
                                     "google_drive"])
def test_link_only_reply(service: str) -> None:
    parsed, result = judge(link_only(sender=SUPPLIER, to=token_address(TOKEN), subject="CMRT",
                                     service=service))  # type: ignore[arg-type]
    assert result.kind == "supplier_reply" and result.carries == "links"
    assert [link.service for link in result.links] == [service]
    assert "download it here" in parsed.text and result.token == TOKEN


@pytest.mark.parametrize("logo", [True, False])
def test_a_question_carries_nothing(logo: bool) -> None:
    parsed, result = judge(question(sender=SUPPLIER, to=MAILBOX, subject=tagged_subject(TOKEN),
                                    logo=logo))
    assert result.kind == "supplier_reply" and result.carries == "nothing"
    assert [a.inline for a in parsed.attachments] == ([True] if logo else [])
    assert "reporting period" in parsed.text and result.token == TOKEN


def test_latin_1_headers_are_guessed_and_the_rest_is_read() -> None:
    parsed, result = judge(non_utf8(to=token_address(TOKEN)))
    assert parsed.subject == "AW: Erklärung zu Konfliktmineralien"
    assert parsed.sender is not None and parsed.sender.name == "Jürgen Schön"
    assert "header_charset_guessed" in parsed.problem_codes
    assert "Grüße" in parsed.text
    assert result.kind == "supplier_reply" and result.carries == "nothing"
    assert result.token == TOKEN


def test_latin_1_mail_with_a_workbook_and_a_broken_encoded_word() -> None:
    parsed, result = judge(non_utf8(to=token_address(TOKEN), broken_encoded_word=True,
                                    attachments=[("Erklärung_2026.xlsx", filled_workbook())]))
    assert {"header_charset_guessed", "header_bad_encoded_word"} <= parsed.problem_codes
    assert result.carries == "workbooks"
    assert result.workbooks[0].filename == "Erklärung_2026.xlsx"
    assert result.workbooks[0].content == filled_workbook()


@pytest.mark.parametrize("photo", [False, True])
def test_a_colleagues_personal_mail(photo: bool) -> None:
    _, result = judge(unrelated(photo=photo))
    assert result.kind == "supplier_reply"
    assert result.tokens == () and result.our_message_ids == ()
    assert result.carries == ("other_files" if photo else "nothing")
    assert [f.reason for f in result.other_files] == (["image"] if photo else [])


def test_a_30_mb_workbook_is_still_a_valid_cmrt() -> None:
    big = big_attachment(30)
    assert 29 * MiB < len(big) < 31 * MiB
    assert zipfile.ZipFile(io.BytesIO(big)).testzip() is None
    assert isinstance(open_workbook(big), Opened)
    result = validate(big, ValidationContext(family="CMRT", reporting_year=2026,
                                             today=dt.date(2026, 12, 8)))
    assert result.outcome == Outcome.ACCEPTED, [f.as_dict() for f in result.findings]
    raw = supplier_reply(sender=SUPPLIER, to=token_address(TOKEN), subject="CMRT",
                         attachments=[("CMRT.xlsx", big)])
    _, kept = judge(raw)
    assert kept.carries == "workbooks" and kept.workbooks[0].content == big
    _, capped = judge(raw, ParseLimits(max_attachment_bytes=20 * MiB))
    assert [f.reason for f in capped.other_files] == ["too_large"] and capped.workbooks == ()


def test_every_builder_repeats_its_bytes() -> None:
    def build() -> list[bytes]:
        original = our_request(to="anna@supplier.de", token=TOKEN, attachment=b"PK\x03\x04")
        to = token_address(TOKEN)
        return [
            original, reply_with_workbook(),
            forwarded(reply_with_workbook(), sender=SUPPLIER, to=to, subject="Fwd: CMRT"),
            auto_reply(sender=SUPPLIER), bounce_dsn(original_raw=original,
                                                    failed_recipient="anna@supplier.de"),
            winmail(sender=SUPPLIER, to=to, subject="x"),
            pdf_instead(sender=SUPPLIER, to=to, subject="x"),
            link_only(sender=SUPPLIER, to=to, subject="x"),
            question(sender=SUPPLIER, to=to, subject="x"), non_utf8(to=to), unrelated(),
        ]

    first = build()
    assert build() == first
    assert len(set(first)) == len(first)
