"""classify: supplier replies, auto-replies, bounces, and what a reply carries."""

from __future__ import annotations

import io
import zipfile
from email.message import EmailMessage
from pathlib import Path

import openpyxl
import pytest
from msoffcrypto.format.ooxml import OOXMLFile

from outreach.intake.classify import Classification, classify
from outreach.intake.kinds import TNEF_SIGNATURE
from outreach.intake.model import MiB, ParseLimits
from outreach.intake.parse import parse_message
from outreach.mail.compose import message_id_for
from outreach.mail.template_context import subject_tag

WORKBOOK = Path(__file__).parent / "data" / "cmrt" / "returns" / "CMRT_6.4_JX_Advanced_Metals.xlsx"
XLSX = ("application", "vnd.openxmlformats-officedocument.spreadsheetml.sheet")
MAILBOX = "conflict-minerals@company.example"
TOKEN = "k3j9x2abcdef"
OUR_ID = message_id_for("request-7:first:1", "company.example")


def reply(text: str = "Please find our CMRT attached.", subject: str | None = None,
          to: str = f"conflict-minerals+{TOKEN}@company.example") -> EmailMessage:
    message = EmailMessage()
    message["From"] = "Hans Müller <hans.mueller@supplier.de>"
    message["To"] = to
    message["Subject"] = subject if subject is not None else "Re: CMRT request"
    message["Message-ID"] = "<reply-1@supplier.de>"
    message["In-Reply-To"] = OUR_ID
    message["References"] = f"<other@elsewhere.example> {OUR_ID}"
    message.set_content(text)
    return message


def judge(message: EmailMessage | bytes, limits: ParseLimits = ParseLimits(),
          mailbox: str | None = MAILBOX) -> Classification:
    raw = message if isinstance(message, bytes) else bytes(message)
    return classify(parse_message(raw, limits), mailbox)


def test_supplier_reply_with_a_workbook() -> None:
    message = reply()
    message.add_attachment(WORKBOOK.read_bytes(), *XLSX, filename="CMRT_JX.xlsx")
    result = judge(message)
    assert result.kind == "supplier_reply" and result.counts_as_response
    assert result.carries == "workbooks" and result.workbooks[0].filename == "CMRT_JX.xlsx"
    assert result.token == TOKEN and result.tokens[0].source == "plus_address"
    assert result.our_message_ids == (OUR_ID,)
    assert result.referenced_ids == (OUR_ID, "<other@elsewhere.example>")
    assert result.reasons == ()


def test_token_from_the_subject_tag_with_family_and_year() -> None:
    subject = f"AW: {subject_tag('EMRT', 2026, 'q7w8e9r2t3y4')} Anfrage"
    result = judge(reply(subject=subject, to=MAILBOX))
    [token] = result.tokens
    assert (token.value, token.source, token.family, token.year) == (
        "q7w8e9r2t3y4", "subject", "EMRT", 2026)


def test_subject_tag_survives_a_mangled_separator() -> None:
    result = judge(reply(subject="Re: [CMRT 2026 Â· ref Q7W8E9R2T3Y4]", to=MAILBOX))
    assert result.token == "q7w8e9r2t3y4"


def test_plus_address_in_cc_or_delivered_to_and_only_for_our_mailbox() -> None:
    message = reply(to="someone+notours1@elsewhere.example")
    message["Cc"] = f"conflict-minerals+{TOKEN}@company.example"
    assert [t.value for t in judge(message).tokens] == [TOKEN]
    message = reply(to=MAILBOX)
    message["Delivered-To"] = f"Conflict-Minerals+{TOKEN.upper()}@company.example"
    assert judge(message).token == TOKEN
    assert judge(reply(to="someone+notours1@elsewhere.example")).tokens == ()
    assert judge(reply(to="someone+notours1@elsewhere.example"), mailbox=None).token == "notours1"


def test_zipped_cmrt_counts_as_a_workbook() -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("CMRT_JX.xlsx", WORKBOOK.read_bytes())
    message = reply()
    message.add_attachment(buffer.getvalue(), "application", "zip", filename="CMRT.zip")
    result = judge(message)
    assert result.carries == "workbooks" and result.other_files == ()
    assert result.workbooks[0].archive == "CMRT.zip"
    assert result.workbooks[0].content == WORKBOOK.read_bytes()


def test_winmail_dat_is_another_file() -> None:
    message = reply()
    message.add_attachment(TNEF_SIGNATURE + bytes(64), "application", "ms-tnef",
                           filename="winmail.dat")
    result = judge(message)
    assert result.carries == "other_files"
    assert [(f.attachment.filename, f.reason) for f in result.other_files] == [
        ("winmail.dat", "winmail")]


def test_pdf_instead_of_the_workbook() -> None:
    message = reply()
    message.add_attachment(b"%PDF-1.7\n" + bytes(64), "application", "pdf",
                           filename="CMRT_signed.pdf")
    result = judge(message)
    assert result.workbooks == () and result.carries == "other_files"
    assert [f.reason for f in result.other_files] == ["pdf"]


def test_password_protected_workbook_is_told_apart() -> None:
    message = reply()
    message.add_attachment(_encrypted(_tiny_xlsx(), "s3cret!"), *XLSX, filename="CMRT.xlsx")
    result = judge(message)
    assert result.workbooks == ()
    assert [(f.attachment.kind, f.reason) for f in result.other_files] == [
        ("encrypted", "password_protected")]


def test_workbook_with_excels_default_password_is_a_workbook() -> None:
    message = reply()
    message.add_attachment(_encrypted(_tiny_xlsx(), "VelvetSweatshop"), *XLSX,
                           filename="CMRT.xlsx")
    result = judge(message)
    assert [w.kind for w in result.workbooks] == ["encrypted"] and result.other_files == ()


def test_sharepoint_link_only_reply() -> None:
    result = judge(reply("Hi, the file is here: "
                         "https://supplier-my.sharepoint.com/:x:/p/hans/EaBcD?e=4x\nRegards"))
    assert result.kind == "supplier_reply" and result.carries == "links"
    assert result.links[0].service == "sharepoint"


def test_a_question_carries_nothing_and_a_logo_does_not_count() -> None:
    message = reply("Which reporting period do you mean?")
    message.add_related(b"\x89PNG\r\n\x1a\n" + bytes(32), "image", "png", cid="<logo@s>")
    result = judge(message)
    assert result.kind == "supplier_reply" and result.carries == "nothing"


def test_attachment_over_the_cap_is_another_file() -> None:
    message = reply()
    message.add_attachment(b"PK\x03\x04" + bytes(35 * MiB), *XLSX, filename="CMRT.xlsx")
    result = judge(message, ParseLimits(max_attachment_bytes=30 * MiB))
    assert [f.reason for f in result.other_files] == ["too_large"]
    assert result.workbooks == ()


def test_german_out_of_office_by_subject() -> None:
    message = reply("Ich bin bis 20.03. nicht im Büro.",
                    subject="Abwesenheitsnotiz: Re: CMRT request")
    result = judge(message)
    assert result.kind == "auto_reply" and not result.counts_as_response
    assert result.reasons == ("subject: abwesenheitsnotiz",)


@pytest.mark.parametrize("subject", [
    "Out of Office: CMRT request", "Automatic reply: CMRT request",
    "Automatische Antwort: CMRT", "Réponse automatique : CMRT", "Respuesta automática: CMRT",
    "自动回复: CMRT", "自動応答: CMRT", "AUTO: Hans Müller is out of the office",
])
def test_auto_reply_subjects(subject: str) -> None:
    assert judge(reply(subject=subject)).kind == "auto_reply"


@pytest.mark.parametrize(("name", "value", "kind"), [
    ("Auto-Submitted", "auto-replied", "auto_reply"),
    ("Auto-Submitted", "auto-generated; owner-email=x@y", "auto_reply"),
    ("Auto-Submitted", "no", "supplier_reply"),
    ("X-Autoreply", "yes", "auto_reply"),
    ("X-Autorespond", "vacation", "auto_reply"),
    ("Precedence", "bulk", "auto_reply"),
    ("Precedence", "auto_reply", "auto_reply"),
    ("Precedence", "list", "supplier_reply"),
    ("X-Auto-Response-Suppress", "All", "supplier_reply"),
])
def test_auto_reply_headers(name: str, value: str, kind: str) -> None:
    message = reply()
    message[name] = value
    assert judge(message).kind == kind


def test_dsn_bounce_names_the_failed_recipient() -> None:
    result = judge(_dsn())
    assert result.kind == "bounce" and result.bounce is not None and result.bounce.standard
    [failed] = result.bounce.failed
    assert (failed.address, failed.status, failed.action) == (
        "anna@supplier.de", "5.1.1", "failed")
    assert "User unknown" in failed.diagnostic
    assert result.our_message_ids == (OUR_ID,)
    assert result.token == TOKEN and result.tokens[0].source == "embedded"
    assert not result.counts_as_response


def test_x_failed_recipients_bounce_from_mailer_daemon() -> None:
    message = EmailMessage()
    message["From"] = "Mail Delivery System <MAILER-DAEMON@mx.supplier.de>"
    message["To"] = MAILBOX
    message["Subject"] = "Mail delivery failed: returning message to sender"
    message["X-Failed-Recipients"] = "anna@supplier.de, bob@supplier.de"
    message["Auto-Submitted"] = "auto-replied"
    message.set_content("This message was created automatically by mail delivery software.\n"
                        "  anna@supplier.de\n    host mx.supplier.de said: 550 5.1.1 "
                        "User unknown\n")
    result = judge(message)
    assert result.kind == "bounce" and result.bounce is not None
    assert not result.bounce.standard
    assert [(r.address, r.status) for r in result.bounce.failed] == [
        ("anna@supplier.de", "5.1.1"), ("bob@supplier.de", "5.1.1")]


def test_x_failed_recipients_from_a_person_is_not_a_bounce() -> None:
    message = reply()
    message["X-Failed-Recipients"] = "anna@supplier.de"
    assert judge(message).kind == "supplier_reply"


def test_delayed_dsn_is_a_bounce_without_failures() -> None:
    result = judge(_dsn(action="delayed", status="4.4.7"))
    assert result.kind == "bounce" and result.bounce is not None
    assert result.bounce.failed == () and result.bounce.recipients[0].status == "4.4.7"


def _dsn(action: str = "failed", status: str = "5.1.1") -> bytes:
    return (
        b"From: Mail Delivery System <MAILER-DAEMON@mail.company.example>\r\n"
        b"To: conflict-minerals@company.example\r\n"
        b"Subject: Undelivered Mail Returned to Sender\r\n"
        b"Auto-Submitted: auto-replied\r\nMIME-Version: 1.0\r\n"
        b"Content-Type: multipart/report; report-type=delivery-status; boundary=\"R\"\r\n\r\n"
        b"--R\r\nContent-Type: text/plain\r\n\r\nI'm sorry to have to inform you...\r\n"
        b"--R\r\nContent-Type: message/delivery-status\r\n\r\n"
        b"Reporting-MTA: dns; mail.company.example\r\n\r\n"
        b"Final-Recipient: rfc822; anna@supplier.de\r\n"
        b"Original-Recipient: rfc822;anna@supplier.de\r\n"
        b"Action: " + action.encode() + b"\r\nStatus: " + status.encode() + b"\r\n"
        b"Remote-MTA: dns; mx.supplier.de\r\n"
        b"Diagnostic-Code: smtp; 550 5.1.1 <anna@supplier.de>: User unknown\r\n\r\n"
        b"--R\r\nContent-Type: text/rfc822-headers\r\n\r\n"
        b"From: Compliance <conflict-minerals@company.example>\r\n"
        b"Reply-To: Compliance <conflict-minerals+" + TOKEN.encode() + b"@company.example>\r\n"
        b"To: anna@supplier.de\r\nSubject: [CMRT 2026 ref x] request\r\n"
        b"Message-ID: " + OUR_ID.encode() + b"\r\n\r\n"
        b"--R--\r\n"
    )


def _tiny_xlsx() -> bytes:
    book = openpyxl.Workbook()
    book.active.title = "Declaration"
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def _encrypted(data: bytes, password: str) -> bytes:
    out = io.BytesIO()
    OOXMLFile(io.BytesIO(data)).encrypt(password, out)
    return out.getvalue()
