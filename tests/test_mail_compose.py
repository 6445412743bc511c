"""compose(): what suppliers receive, parsed back the way their mail client parses it."""

from __future__ import annotations

import datetime as dt
from email import message_from_bytes, policy
from email.message import EmailMessage

import pytest

from outreach.cmrt.validate import validate
from outreach.mail.blank_template import blank_template
from outreach.mail.compose import (
    Attachment,
    Mailbox,
    Outgoing,
    compose,
    message_id_for,
    plus_address,
    recipients,
)

SENDER = Mailbox("conflict-minerals@company.example", "Conflict Minerals Compliance")
ROOT = message_id_for("request:42:request:1", "company.example")


def outgoing(**changes: object) -> Outgoing:
    base = dict(
        sender=SENDER,
        to=(Mailbox("zoe@supplier.example", "Zoë Müller-Łukasiewicz"),),
        cc=(Mailbox("buyer@company.example", "Buyer"), Mailbox("zoe@supplier.example")),
        reply_to=plus_address(SENDER.address, "k3j9x2"),
        subject="Reminder: your 2026 CMRT [CMRT 2026 · ref K3J9X2]",
        text="Dear Zoë,\n\nplease return the attached template.\n",
        html="<p>Dear Zoë,</p><p>please return the attached template.</p>",
        message_id=message_id_for("request:42:reminder:1", "company.example"),
        thread_root=ROOT,
        date=dt.datetime(2026, 12, 7, 9, 0, tzinfo=dt.UTC),
        attachment=Attachment("RMI_CMRT_6.5_SZ-0042.xlsx", b"PK\x03\x04 workbook"),
        extra_headers=(("X-Outreach-Request", "K3J9X2"),),
    )
    base.update(changes)
    return Outgoing(**base)  # type: ignore[arg-type]


def parsed(out: Outgoing) -> EmailMessage:
    raw = compose(out).as_bytes()
    message = message_from_bytes(raw, policy=policy.default)
    assert isinstance(message, EmailMessage)
    return message


def test_headers_thread_every_stage_under_the_request() -> None:
    message = parsed(outgoing())
    assert message["From"].addresses[0].addr_spec == SENDER.address
    assert message["Reply-To"].addresses[0].addr_spec == (
        "conflict-minerals+k3j9x2@company.example")
    assert message["To"].addresses[0].display_name == "Zoë Müller-Łukasiewicz"
    assert str(message["Subject"]) == "Reminder: your 2026 CMRT [CMRT 2026 · ref K3J9X2]"
    assert message["In-Reply-To"] == ROOT and message["References"] == ROOT
    assert message["Auto-Submitted"] == "auto-generated"
    assert message["X-Outreach-Request"] == "K3J9X2"
    assert message["Message-ID"] == message_id_for("request:42:reminder:1", "company.example")


def test_the_first_message_is_its_own_thread_root() -> None:
    message = parsed(outgoing(message_id=ROOT, thread_root=ROOT))
    assert message["In-Reply-To"] is None and message["References"] is None


def test_both_bodies_and_the_attachment() -> None:
    message = parsed(outgoing())
    body = message.get_body(("plain",))
    html = message.get_body(("html",))
    assert body is not None and "please return" in body.get_content()
    assert html is not None and "<p>Dear Zoë,</p>" in html.get_content()
    [attachment] = list(message.iter_attachments())
    assert attachment.get_filename() == "RMI_CMRT_6.5_SZ-0042.xlsx"
    assert attachment.get_content() == b"PK\x03\x04 workbook"
    assert attachment.get_content_type().endswith("spreadsheetml.sheet")


def test_message_ids_are_stable_per_key_and_distinct_across_keys() -> None:
    assert message_id_for("k", "company.example") == message_id_for("k", "company.example")
    assert message_id_for("k", "company.example") != message_id_for("k2", "company.example")


def test_recipients_are_each_address_once() -> None:
    assert recipients(outgoing()) == ["zoe@supplier.example", "buyer@company.example"]


@pytest.mark.parametrize("bad", [{"subject": "two\nlines"}, {"to": ()}])
def test_malformed_messages_are_refused(bad: dict) -> None:
    with pytest.raises(ValueError):
        compose(outgoing(**bad))


def test_the_attached_blank_is_the_current_template_in_english() -> None:
    blank = blank_template("CMRT")
    assert blank.version == "6.5"
    assert blank.filename_for("SZ 0042/ß") == "RMI_CMRT_6.5_SZ_0042.xlsx"
    result = validate(blank.data)
    assert (result.template, result.version, result.required_missing) == ("CMRT", "6.5", 52)
    from outreach.cmrt.workbook import load_workbook_bytes

    assert load_workbook_bytes(blank.data).sheet("Declaration").cell("D3") == "English"
