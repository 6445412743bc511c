"""Ticks decide and queue; delivery sends: the ladder end to end on a real database."""

from __future__ import annotations

from datetime import timedelta
from email import message_from_bytes, policy
from pathlib import Path

from sqlmodel import Session, col, select

from outreach.bootstrap import App
from outreach.cmrt.validate import validate
from outreach.core.clock import FixedClock
from outreach.core.enums import RequestState
from outreach.db.models import Event, OutboundMessage, Request, Supplier
from outreach.scheduler import deliver_once, tick_once
from outreach.services import approvals
from tests.support.factories import fresh, import_lines, running_campaign, supplier_line, tx

LINES = [supplier_line("A1", country="DE"),
         supplier_line("B2", country="US", contacts="primary: Bo <bo@b2.example>")]


def start(app: App, session: Session, clock: FixedClock, tmp_path: Path) -> None:
    with tx(session):
        import_lines(session, clock, tmp_path / "s.csv", LINES)
        running_campaign(session, clock)


def messages(session: Session) -> list[OutboundMessage]:
    fresh(session)
    return list(session.exec(select(OutboundMessage).order_by(col(OutboundMessage.id))).all())


def request_of(session: Session, code: str) -> Request:
    fresh(session)
    supplier = session.exec(select(Supplier).where(Supplier.code == code)).one()
    return session.exec(select(Request).where(Request.supplier_id == supplier.id)).one()


def run_days(app: App, clock: FixedClock, days: int) -> None:
    """Tick and deliver every hour for ``days`` days (the scheduler does both far more
    often; a stage still in the outbox holds the next one back)."""
    for _ in range(days * 24):
        clock.advance(timedelta(hours=1))
        tick_once(app)
        deliver_once(app)


def test_the_first_tick_queues_each_request_once_with_the_blank_attached(
        app: App, session: Session, clock: FixedClock, tmp_path: Path) -> None:
    start(app, session, clock, tmp_path)
    first = tick_once(app)
    assert first["queued"] == 2 and first["failed"] == 0
    assert tick_once(app)["queued"] == 0  # a doubled tick decides nothing twice
    rows = messages(session)
    assert [(m.stage, m.repeat, m.status) for m in rows] == [("request", 1, "queued")] * 2
    a1 = request_of(session, "A1")
    message = next(m for m in rows if m.request_id == a1.id)
    assert message.to_addresses == ["pat@a1.example"]
    assert message.reply_to == f"conflict-minerals+{a1.reply_token}@company.example"
    assert a1.reply_token in message.subject and message.template_hash
    assert message.attachment_name == "RMI_CMRT_6.5_A1.xlsx" and message.in_reply_to is None
    assert a1.stage == "request" and a1.next_action_at is not None
    assert session.exec(select(Event).where(Event.kind == "message.queued")).all()


def test_the_season_climbs_the_ladder_and_waits_for_approval(
        app: App, session: Session, clock: FixedClock, tmp_path: Path) -> None:
    start(app, session, clock, tmp_path)
    tick_once(app)
    deliver_once(app)
    run_days(app, clock, 30)  # two reminders, ten business days apart
    stages = [(m.stage, m.repeat) for m in messages(session)
              if m.request_id == request_of(session, "A1").id]
    assert stages == [("request", 1), ("reminder", 1), ("reminder", 2)]
    root = messages(session)[0].message_id
    assert all(m.in_reply_to == root for m in messages(session)
               if m.request_id == request_of(session, "A1").id and m.stage != "request")
    a1 = request_of(session, "A1")
    clock.advance(a1.due_date - clock.now().date() + timedelta(days=1))
    run_days(app, clock, 2)  # the follow-up after the due date, to primary + escalation
    follow = [m for m in messages(session) if m.stage == "follow_up"
              and m.request_id == a1.id]
    assert len(follow) == 1 and follow[0].to_addresses == ["pat@a1.example", "boss@a1.example"]
    run_days(app, clock, 20)  # the senior notice is due but waits for a person
    a1 = request_of(session, "A1")
    assert a1.awaiting_approval == "senior_notice" and a1.next_action_at is None
    assert not [m for m in messages(session) if m.stage == "senior_notice"]
    waiting = request_of(session, "A1")
    with tx(session):
        approvals.approve(session, clock, waiting, actor="cli:ann",
                          reason="checked with procurement")
    tick_once(app)
    [notice] = [m for m in messages(session) if m.stage == "senior_notice"
                and m.request_id == a1.id]
    assert "cpo@company.example" in notice.cc_addresses or "cpo@company.example" in (
        notice.to_addresses)
    assert "Alex Morgan" in notice.body_text


def test_an_accepted_request_gets_nothing_more(
        app: App, session: Session, clock: FixedClock, tmp_path: Path) -> None:
    start(app, session, clock, tmp_path)
    tick_once(app)
    b2 = request_of(session, "B2")
    with tx(session):
        b2.state, b2.next_action_at = RequestState.ACCEPTED, None
    run_days(app, clock, 40)
    assert [m.stage for m in messages(session) if m.request_id == b2.id] == ["request"]


def test_queued_requests_are_delivered_with_a_readable_workbook(
        app: App, session: Session, clock: FixedClock, tmp_path: Path) -> None:
    start(app, session, clock, tmp_path)
    tick_once(app)
    assert deliver_once(app)["sent"] == 2  # the embedded default: files in the outbox folder
    files = sorted(app.settings.outbox_dir.glob("*.eml"))
    assert len(files) == 2
    received = message_from_bytes(files[0].read_bytes(), policy=policy.default)
    assert received["Auto-Submitted"] == "auto-generated"
    [attachment] = list(received.iter_attachments())
    result = validate(attachment.get_content())
    assert (result.template, result.version, result.required_missing) == ("CMRT", "6.5", 52)
    assert {m.status for m in messages(session)} == {"sent"}


def test_the_next_stage_counts_from_the_real_send(
        app: App, session: Session, clock: FixedClock, tmp_path: Path) -> None:
    start(app, session, clock, tmp_path)
    tick_once(app)
    decided = request_of(session, "A1").stage_sent_at
    clock.advance(timedelta(hours=5))  # the limits held the request back five hours
    deliver_once(app)
    a1 = request_of(session, "A1")
    assert decided is not None and a1.stage_sent_at == decided + timedelta(hours=5)
    assert a1.next_action_at == clock.now()  # re-planned from the real send
    tick_once(app)
    assert request_of(session, "A1").next_action_at > clock.now()  # type: ignore[operator]


def test_two_services_on_one_database_never_decide_or_send_a_stage_twice(
        app: App, session: Session, clock: FixedClock, tmp_path: Path) -> None:
    import threading

    from outreach.bootstrap import build

    with tx(session):
        import_lines(session, clock, tmp_path / "s.csv",
                     [supplier_line(f"S{i:03}") for i in range(60)])
        running_campaign(session, clock)
    other = build(app.settings, clock=clock, check_schema=False)
    try:
        for job in (tick_once, deliver_once):
            barrier = threading.Barrier(2)
            errors: list[BaseException] = []

            def run(target: App, job=job, barrier=barrier, errors=errors) -> None:
                barrier.wait()
                try:
                    job(target)
                except BaseException as exc:  # reported below
                    errors.append(exc)

            threads = [threading.Thread(target=run, args=(a,)) for a in (app, other)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(timeout=120)
            assert not errors, errors
    finally:
        other.close()
    rows = messages(session)
    assert len(rows) == 60 and len({m.request_id for m in rows}) == 60
    sent = [m for m in rows if m.status == "sent"]
    files = list(app.settings.outbox_dir.glob("*.eml"))
    # one delivery turn at a time: the 30/minute account limit holds across both services
    assert len(files) == len(sent) == 30
    clock.advance(timedelta(minutes=1))
    second = other_app(app, clock)
    try:
        deliver_once(second)
    finally:
        second.close()
    deliver_once(app)
    assert len(list(app.settings.outbox_dir.glob("*.eml"))) == 60
    assert {m.status for m in messages(session)} == {"sent"}


def other_app(app: App, clock: FixedClock) -> App:
    from outreach.bootstrap import build

    return build(app.settings, clock=clock, check_schema=False)


def test_a_request_that_cannot_be_planned_is_skipped_and_the_rest_go(
        app: App, session: Session, clock: FixedClock, tmp_path: Path, monkeypatch) -> None:
    import outreach.services.outbox as outbox

    start(app, session, clock, tmp_path)
    real = outbox.message_context

    def failing_for_b2(**kwargs: object):  # e.g. an admin's template broken for one case
        if kwargs["supplier"].code == "B2":  # type: ignore[attr-defined]
            raise RuntimeError("template exploded")
        return real(**kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(outbox, "message_context", failing_for_b2)
    result = tick_once(app)
    assert (result["queued"], result["failed"]) == (1, 1)
    assert [m.request_id for m in messages(session)] == [request_of(session, "A1").id]
    monkeypatch.undo()
    assert tick_once(app)["queued"] == 1  # retried next tick, now that it works


def test_a_season_through_a_real_mail_server(
        app: App, session: Session, clock: FixedClock, tmp_path: Path,
        smtp_server, mailboxes) -> None:
    """Request and reminder leave through aiosmtpd into Dovecot, threaded, attachment intact."""
    from outreach.bootstrap import build
    from tests.test_delivery import smtp_settings

    # Dovecot delivers by local part; the supplier file refuses reserved domains like .test
    address = f"{mailboxes.supplier.login}@c3-supplier.example"
    with tx(session):
        import_lines(session, clock, tmp_path / "s.csv",
                     [supplier_line("C3", contacts=f"primary: Sam Roe <{address}>")])
        running_campaign(session, clock)
    live = build(smtp_settings(app.settings, smtp_server, mailboxes), clock=clock,
                 check_schema=False)
    try:
        tick_once(live)
        assert deliver_once(live)["sent"] == 1
        run_days(live, clock, 16)  # ten business days later the reminder is decided, sent
        assert deliver_once(live)["sent"] == 0  # nothing twice
    finally:
        live.close()
    first, second = (message_from_bytes(raw, policy=policy.default)
                     for raw in mailboxes.inbox(mailboxes.supplier))
    assert "Sam" in first.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    [attachment] = list(first.iter_attachments())
    assert attachment.get_filename() == "RMI_CMRT_6.5_C3.xlsx"
    assert validate(attachment.get_content()).required_missing == 52
    assert second["In-Reply-To"] == first["Message-ID"]
    assert second["Reply-To"].addresses[0].addr_spec == first["Reply-To"].addresses[0].addr_spec
    token = request_of(session, "C3").reply_token
    assert token in str(first["Subject"]) and token in str(second["Subject"])


def test_a_stage_still_in_the_outbox_holds_the_next_one(
        app: App, session: Session, clock: FixedClock, tmp_path: Path) -> None:
    """Held back (delivery paused, a limit): no reminder, follow-up or hand-over is decided
    on top of a message that has not left; the ladder goes on from the real send."""
    start(app, session, clock, tmp_path)
    tick_once(app)  # the requests are queued, never delivered
    for _ in range(30):
        clock.advance(timedelta(days=1))
        tick_once(app)
    a1 = request_of(session, "A1")
    assert [(m.stage, m.status) for m in messages(session) if m.request_id == a1.id] == [
        ("request", "queued")]
    assert deliver_once(app)["sent"] == 2
    sent_at = request_of(session, "A1").stage_sent_at
    assert sent_at == clock.now()
    run_days(app, clock, 20)
    reminder = next(m for m in messages(session)
                    if m.request_id == a1.id and m.stage == "reminder")
    assert reminder.created_at - sent_at >= timedelta(days=10)  # counted from the send
