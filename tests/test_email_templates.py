"""E-mail templates: sandboxed strict rendering, language fallback, the check, hot reload, CLI."""

from __future__ import annotations

import email
import shutil
from email import policy
from pathlib import Path

import pytest
import structlog

from outreach.mail.template_check import check
from outreach.mail.template_context import company_info
from outreach.mail.template_env import format_date
from outreach.mail.template_samples import sample_context
from outreach.mail.template_store import TemplateSetRefused, TemplateStore
from outreach.mail.templates import TemplateRenderError, TemplateSet
from outreach.resources import resource_dir
from outreach.settings import CompanySettings
from tests.support.cli_runner import cli_runner

SHIPPED = resource_dir("templates") / "email"
COMPANY = company_info(CompanySettings())
FROM = "conflict-minerals@company.example"


def context(kind: str = "request", **supplier: str):
    from dataclasses import replace

    ctx = sample_context(kind, COMPANY, FROM)
    return replace(ctx, supplier=replace(ctx.supplier, **supplier)) if supplier else ctx


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """A copy of the shipped templates an admin may edit."""
    target = tmp_path / "email"
    shutil.copytree(SHIPPED, target)
    return target


def write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


def test_every_shipped_template_passes_the_check() -> None:
    assert check(SHIPPED) == []
    kinds = TemplateSet.load(SHIPPED).kinds
    for kind in ("request", "reminder", "follow_up", "senior_notice", "receipt",
                 "receipt_with_warnings", "correction", "unreadable"):
        assert kind in kinds


def test_rendered_message_has_footer_tag_and_hash() -> None:
    templates = TemplateSet.load(SHIPPED)
    rendered = templates.render("request", "en", context())
    assert "[CMRT 2026 · ref k7m2q9xr4tzp]" in rendered.subject
    assert "\n" not in rendered.subject
    assert "31 March 2027" in rendered.text
    assert "Not the right contact?" in rendered.text and "Privacy" in rendered.text
    assert COMPANY.contact.email in rendered.text and rendered.html is not None
    assert rendered.template_hash == templates.hash and len(templates.hash) == 64
    notice = templates.render("senior_notice", "en", context("senior_notice"))
    assert COMPANY.senior_officer.name in notice.text
    assert "may affect our business" in notice.text


def test_undefined_variable_is_reported_with_file_and_line(folder: Path) -> None:
    write(folder / "reminder" / "body.txt",
          'Dear {{ contact.name }},\n\nline two\n{{ supplier.nmae }}\n'
          '{% include "_shared/footer.txt" %}\n')
    problems = check(folder)
    assert [(Path(p.file).relative_to(folder).as_posix(), p.line) for p in problems] == [
        ("reminder/body.txt", 4)]
    assert "nmae" in problems[0].message and "undefined" in problems[0].message
    with pytest.raises(TemplateRenderError) as caught:
        TemplateSet.load(folder).render("reminder", "en", context("reminder"))
    assert caught.value.problem.line == 4


def test_syntax_error_in_an_include_points_at_the_include(folder: Path) -> None:
    write(folder / "_shared" / "footer.txt", "-- \n{{ company.contact.email }}\n{% if %}\n")
    problems = check(folder)
    assert problems
    assert {(Path(p.file).name, p.line) for p in problems} == {("footer.txt", 3)}
    assert "syntax error" in problems[0].message


def test_sandbox_blocks_attribute_escapes() -> None:
    templates = TemplateSet.from_files({
        "x/subject.txt": "{{ subject_tag }}",
        "x/body.txt": "{{ ''.__class__.__mro__[1].__subclasses__() }}",
    })
    with pytest.raises(TemplateRenderError) as caught:
        templates.render("x", "en", context())
    assert "not allowed" in str(caught.value) or "unsafe" in str(caught.value)
    assert caught.value.problem.line == 1


def test_supplier_name_is_escaped_in_html_only() -> None:
    templates = TemplateSet.load(SHIPPED)
    rendered = templates.render("request", "en",
                                context(name="<script>alert(1)</script> & Co"))
    assert rendered.html is not None
    assert "<script>" not in rendered.html
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; Co" in rendered.html
    assert "<script>alert(1)</script> & Co" in rendered.text


def test_language_variant_with_english_fallback_per_file(folder: Path) -> None:
    templates = TemplateSet.load(folder)
    german = templates.render("request", "de", context())
    assert german.language == "de" and "31. März 2027" in german.subject
    assert "Datenschutz" in german.text  # the German footer
    regional = templates.render("reminder", "de-AT", context("reminder"))
    assert regional.language == "de"
    fallback = templates.render("follow_up", "de", context("follow_up"))
    assert fallback.language == "en" and "Privacy" in fallback.text  # English, English footer
    assert templates.render("request", "fr", context()).language == "en"
    (folder / "reminder" / "de" / "body.html").unlink()  # only this file falls back
    mixed = TemplateSet.load(folder).render("reminder", "de", context("reminder"))
    assert "Erinnerung" in mixed.subject and mixed.html is not None
    assert "We recently wrote" in mixed.html


def test_date_filter_is_explicit_not_locale_driven() -> None:
    from datetime import date

    assert format_date(date(2027, 3, 31)) == "31 March 2027"
    assert format_date(date(2027, 3, 31), "de") == "31. März 2027"
    assert format_date(date(2027, 3, 31), "iso") == "2027-03-31"
    with pytest.raises(ValueError, match="unknown"):
        format_date(date(2027, 3, 31), "fr")


def test_multi_line_subject_is_an_error(folder: Path) -> None:
    write(folder / "receipt" / "subject.txt", "Thanks {{ subject_tag }}\nsecond line\n")
    problems = check(folder)
    assert any("one line" in p.message and p.file.endswith("receipt/subject.txt")
               for p in problems)


def test_missing_parts_unknown_kinds_and_lost_footer(folder: Path) -> None:
    (folder / "correction" / "body.txt").unlink()
    shutil.rmtree(folder / "follow_up")
    write(folder / "unreadable" / "body.txt", "Please resend. {{ request.token }}\n")
    write(folder / "senior_notice" / "body.txt", '{% include "_shared/footer.txt" %}\n')
    messages = [str(p) for p in check(folder)]
    assert any("correction/body.txt" in m and "missing" in m for m in messages)
    assert any("stage 'follow_up'" in m for m in messages)
    assert any("unreadable/body.txt" in m and "person to contact" in m for m in messages)
    assert any("senior_notice/body.txt" in m and "senior officer" in m for m in messages)


def test_hash_changes_with_content(folder: Path) -> None:
    before = TemplateSet.load(folder).hash
    assert TemplateSet.load(folder).hash == before
    path = folder / "request" / "body.txt"
    path.write_text(path.read_text(encoding="utf-8") + "P.S.\n", encoding="utf-8")
    assert TemplateSet.load(folder).hash != before


def test_hot_reload_applies_good_edits_and_refuses_broken_ones(folder: Path) -> None:
    store = TemplateStore(folder, interval=0)
    first = store.status.live_hash
    subject = folder / "reminder" / "subject.txt"
    subject.write_text("Friendly reminder {{ subject_tag }}\n", encoding="utf-8")
    rendered = store.render("reminder", "en", context("reminder"))
    assert rendered.subject.startswith("Friendly reminder")
    good = store.status.live_hash
    assert good != first and rendered.template_hash == good and store.status.ok

    with structlog.testing.capture_logs() as logs:
        subject.write_text("Broken {{ request.nope }} {{ subject_tag }}\n", encoding="utf-8")
        still = store.render("reminder", "en", context("reminder"))
        store.render("reminder", "en", context("reminder"))  # refused once, logged once
    assert still.subject.startswith("Friendly reminder") and still.template_hash == good
    status = store.status
    assert not status.ok and status.live_hash == good and status.refused_hash
    assert any("nope" in p.message and p.line == 1 for p in status.problems)
    refused = [e for e in logs if e["event"] == "templates.refused"]
    assert len(refused) == 1 and refused[0]["log_level"] == "error"

    subject.write_text("Fixed {{ subject_tag }}\n", encoding="utf-8")
    assert store.render("reminder", "en", context("reminder")).subject.startswith("Fixed")
    assert store.status.ok


def test_store_refuses_to_start_on_a_broken_set(folder: Path) -> None:
    write(folder / "request" / "body.txt", "{{ nothing }}\n")
    with pytest.raises(TemplateSetRefused, match=r"request/body\.txt:1"):
        TemplateStore(folder)


# -- CLI -----------------------------------------------------------------------------------
@pytest.fixture
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys):
    monkeypatch.delenv("OUTREACH_CONFIG", raising=False)
    return cli_runner(tmp_path / "data", capsys, monkeypatch)


def test_cli_check_ok_and_problems(cli, folder: Path) -> None:
    code, out, _ = cli("template", "check", "--dir", str(folder))
    assert code == 0 and "templates OK" in out
    write(folder / "request" / "de" / "body.txt", "Hallo\n\n{{ supplier.nmae }}\n")
    code, out, _err = cli("template", "check", "--dir", str(folder))
    assert code == 6
    assert f"{folder / 'request' / 'de' / 'body.txt'}:3: undefined variable" in out


def test_cli_preview_writes_a_parseable_eml(cli, tmp_path: Path) -> None:
    target = tmp_path / "preview"
    code, _out, err = cli("template", "preview", "correction", "--out", str(target))
    assert code == 0, err
    eml = target / "correction-en.eml"
    message = email.message_from_bytes(eml.read_bytes(), policy=policy.default)
    assert message.get_content_type() == "multipart/alternative"
    assert "ref k7m2q9xr4tzp" in message["Subject"]
    assert message["Auto-Submitted"] == "auto-generated"
    assert len(message["X-Outreach-Template-Hash"].strip()) == 64
    text = message.get_body(("plain",)).get_content()
    html = message.get_body(("html",)).get_content()
    assert "Please correct the following" in text and "<ul" in html
    page = (target / "correction-en.html").read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>") and "Please correct the following" in page
    code, _, _ = cli("template", "preview", "request", "--language", "de", "--out", str(target))
    german = email.message_from_bytes((target / "request-de.eml").read_bytes(),
                                      policy=policy.default)
    assert code == 0 and "Abfrage" in german["Subject"]


def test_cli_preview_for_a_supplier_from_the_database(cli, tmp_path: Path, db_url: str,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.support.factories import HEADER

    monkeypatch.setenv("OUTREACH_DATABASE__URL", db_url)
    monkeypatch.setenv("OUTREACH_ACTOR", "ann")
    suppliers = tmp_path / "suppliers.csv"
    suppliers.write_text(HEADER + '\nTT-1,"Tëst Metals",DE,,de,,,,'
                         '"primary: Zoë Müller <zoe@tt.example>"\n', encoding="utf-8")
    assert cli("db", "upgrade")[0] == 0
    assert cli("supplier", "import", str(suppliers))[0] == 0
    assert cli("campaign", "create", "CMRT 2026", "--year", "2026", "--due", "2099-03-31")[0] == 0
    assert cli("campaign", "start")[0] == 0
    code, _out, err = cli("template", "preview", "request", "--supplier", "TT-1",
                         "--out", str(tmp_path / "pv"))
    assert code == 0, err
    message = email.message_from_bytes((tmp_path / "pv" / "request-de-TT-1.eml").read_bytes(),
                                       policy=policy.default)
    assert message["To"].addresses[0].addr_spec == "zoe@tt.example"
    assert "31. März 2099" in message["Subject"]
    assert "+" in message["Reply-To"]
    text = message.get_body(("plain",)).get_content()
    assert "Tëst Metals" in text and "_TT-1.xlsx" in text
    code, _, err = cli("template", "preview", "request", "--supplier", "NOPE")
    assert code == 5 and "NOPE" in err


def test_the_template_folder_is_a_setting(cli, folder: Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """`mail.templates_dir` points the service and both commands at the admin's copy."""
    write(folder / "request" / "subject.txt",
          "Edited by the admin: {{ campaign.family }} {{ subject_tag }}\n")
    monkeypatch.setenv("OUTREACH_MAIL__TEMPLATES_DIR", str(folder))
    code, out, _ = cli("template", "check")
    assert code == 0 and str(folder) in out
    code, _, err = cli("template", "preview", "request", "--out", str(folder.parent / "p"))
    assert code == 0, err
    eml = (folder.parent / "p" / "request-en.eml").read_bytes()
    assert b"Edited by the admin" in eml
    write(folder / "request" / "body.txt", "{{ supplier.nmae }}\n")
    code, _, _ = cli("template", "check")
    assert code == 6


def test_preview_of_the_digest_points_at_the_digest_command(cli, tmp_path: Path) -> None:
    code, _, err = cli("template", "preview", "digest", "--out", str(tmp_path))
    assert code == 6 and "outreach digest --preview" in err
