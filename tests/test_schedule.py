"""``schedule preview`` and ``campaign update-ladder``: the simulator on a real database."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func
from sqlmodel import Session, select

from outreach.bootstrap import App
from outreach.core.clock import FixedClock
from outreach.core.ladder import Ladder, LadderStage, default_ladder
from outreach.db.models import (
    Approval,
    Campaign,
    Event,
    OutboundMessage,
    RecipientSend,
    Request,
    Supplier,
)
from outreach.errors import InvalidState
from outreach.scheduler import deliver_once, tick_once
from outreach.services.campaigns import pause_campaign, update_ladder
from outreach.services.ladder_preview import preview_ladder_update
from outreach.services.schedule import Schedule, simulate
from outreach.settings import Settings
from tests.support.cli_runner import cli_runner
from tests.support.db_fixtures import T0
from tests.support.factories import fresh, import_lines, running_campaign, supplier_line, tx

LINES = [supplier_line("A1", country="DE"),
         supplier_line("B2", country="US", contacts="primary: Bo <bo@b2.example>")]


def start(session: Session, clock: FixedClock, tmp_path: Path,
          lines: list[str] = LINES) -> Campaign:
    with tx(session):
        import_lines(session, clock, tmp_path / "s.csv", lines)
        return running_campaign(session, clock)


def preview(app: App, session: Session, *, days: int = 30, settings: Settings | None = None,
            ladder: Ladder | None = None) -> Schedule:
    fresh(session)
    campaign = session.exec(select(Campaign)).one()
    return simulate(session, app.clock, settings or app.settings, campaign, days=days,
                    ladder=ladder)


def steps(schedule: Schedule, code: str) -> list[tuple[str, int, datetime, str]]:
    return [(r.stage, r.repeat, r.at, r.kind) for r in schedule.rows if r.supplier_code == code]


def at9(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, 9, tzinfo=UTC)


def counts(session: Session) -> dict[str, int]:
    session.rollback()
    return {m.__name__: session.exec(select(func.count()).select_from(m)).one()
            for m in (Event, OutboundMessage, RecipientSend, Request, Approval)}


def ladder_with_reminder_every(days: int) -> Ladder:
    base = default_ladder()
    stages = tuple(s.model_copy(update={"after_days": days}) if s.name == "reminder" else s
                   for s in base.stages)
    return base.model_copy(update={"stages": stages})


def test_a_fresh_campaign_asks_everyone_now_then_reminds_on_business_days(
        app: App, session: Session, clock: FixedClock, tmp_path: Path) -> None:
    start(session, clock, tmp_path)
    schedule = preview(app, session)
    # T0 is Monday 11 January 2027; 18 January is Martin Luther King Day in the US
    assert steps(schedule, "A1") == [
        ("request", 1, T0, "send"),
        ("reminder", 1, at9(date(2027, 1, 25)), "send"),
        ("reminder", 2, at9(date(2027, 2, 8)), "send")]
    assert steps(schedule, "B2") == [
        ("request", 1, T0, "send"),
        ("reminder", 1, at9(date(2027, 1, 26)), "send"),
        ("reminder", 2, at9(date(2027, 2, 9)), "send")]
    assert all(r.at.weekday() < 5 for r in schedule.rows)
    assert schedule.rows[0].to == ("pat@a1.example",) and schedule.rows[0].note == ""
    assert schedule.per_stage() == {"request": 2, "reminder": 4}
    assert schedule.last_send_at == at9(date(2027, 2, 9))
    assert "no approvals beyond those already granted" in schedule.assumptions
    short = preview(app, session, days=7)
    assert [r.stage for r in short.rows] == ["request", "request"]


def test_a_launch_of_200_under_30_a_minute_ends_six_minutes_after_the_first_send(
        app: App, session: Session, clock: FixedClock, tmp_path: Path) -> None:
    start(session, clock, tmp_path, [supplier_line(f"S{i:03}") for i in range(200)])
    limited = app.settings.model_copy(update={
        "delivery": app.settings.delivery.model_copy(update={"per_minute": 30})})
    launch = [r for r in preview(app, session, settings=limited).rows if r.stage == "request"]
    assert len(launch) == 200
    assert launch[0].at == T0 and max(r.at for r in launch) == T0 + timedelta(minutes=6)
    per_minute = [sum(1 for r in launch if r.at == T0 + timedelta(minutes=m)) for m in range(7)]
    assert per_minute == [30, 30, 30, 30, 30, 30, 20]
    assert launch[-1].note == "account limit: +6 min"
    # the reminders count from when each request really left
    reminders = [r for r in preview(app, session, settings=limited).rows
                 if r.stage == "reminder" and r.repeat == 1]
    assert {r.decided_at for r in reminders} == {at9(date(2027, 1, 25))}
    faster = limited.model_copy(update={
        "delivery": limited.delivery.model_copy(update={"per_minute": 100})})
    assert preview(app, session, settings=faster).rows[199].at == T0 + timedelta(minutes=1)
    daily = limited.model_copy(update={
        "delivery": limited.delivery.model_copy(update={"per_day": 150})})
    spill = [r.at for r in preview(app, session, settings=daily).rows if r.stage == "request"]
    assert spill.count(T0 + timedelta(days=1)) == 30
    assert max(spill) == T0 + timedelta(days=1, minutes=1)


def test_the_per_contact_gap_holds_a_message_and_recent_sends_count(
        app: App, session: Session, clock: FixedClock, tmp_path: Path) -> None:
    start(session, clock, tmp_path)
    tick_once(app)  # both requests queued: the preview shows them as already in the outbox
    schedule = preview(app, session)
    first = [r for r in schedule.rows if r.stage == "request"]
    assert [r.queued for r in first] == [True, True]
    assert all("already in the outbox" in r.note for r in first)
    with tx(session):  # pat@a1 got something from us yesterday: the gap holds the request
        message = session.exec(select(OutboundMessage)).first()
        assert message is not None and message.id is not None
        session.add(RecipientSend(address="pat@a1.example", outbound_id=message.id,
                                  sent_at=T0 - timedelta(days=1)))
    held = next(r for r in preview(app, session).rows if r.supplier_code == "A1")
    assert held.at == T0 + timedelta(days=2)
    assert held.note == "already in the outbox; held 2 days by the per-contact gap"


def test_a_stage_that_needs_approval_waits_and_an_approved_one_goes(
        app: App, session: Session, clock: FixedClock, tmp_path: Path) -> None:
    start(session, clock, tmp_path)
    with tx(session):
        for request in session.exec(select(Request)).all():
            request.stage, request.stage_repeat = "follow_up", 1
            request.stage_sent_at = T0 - timedelta(days=3)
            request.due_date = date(2027, 1, 5)
            request.next_action_at = T0 + timedelta(days=1)
        b2 = session.exec(select(Request).join(Supplier).where(Supplier.code == "B2")).one()
        assert b2.id is not None
        session.add(Approval(request_id=b2.id, stage="senior_notice", actor="cli:ann",
                             approved_at=T0))
    schedule = preview(app, session, days=60)
    assert steps(schedule, "A1") == [
        ("senior_notice", 1, at9(date(2027, 1, 22)), "awaits_approval")]
    assert [s[0] for s in steps(schedule, "B2")] == ["senior_notice", "handover"]
    assert [s[3] for s in steps(schedule, "B2")] == ["send", "awaits_approval"]
    notice = schedule.rows[1] if schedule.rows[1].supplier_code == "B2" else schedule.rows[0]
    assert "cpo@company.example" in notice.cc
    assert [r.supplier_code for r in schedule.waiting] == ["A1", "B2"]


def test_preview_writes_nothing(app: App, session: Session, clock: FixedClock,
                                tmp_path: Path) -> None:
    start(session, clock, tmp_path)
    tick_once(app)
    before = counts(session)
    plans = [(r.id, r.next_action_at, r.stage_sent_at, r.updated_at)
             for r in session.exec(select(Request).order_by(Request.id)).all()]
    assert preview(app, session, days=90).rows
    session.commit()
    assert counts(session) == before
    session.expire_all()
    assert [(r.id, r.next_action_at, r.stage_sent_at, r.updated_at)
            for r in session.exec(select(Request).order_by(Request.id)).all()] == plans


def test_a_paused_campaign_has_no_schedule(app: App, session: Session, clock: FixedClock,
                                           tmp_path: Path) -> None:
    campaign = start(session, clock, tmp_path)
    with tx(session):
        pause_campaign(session, clock, campaign, actor="cli:ann", reason="holidays")
    with pytest.raises(InvalidState, match="campaign resume"):
        preview(app, session)


def test_update_ladder_dry_run_shows_the_new_reminder_spacing(
        app: App, session: Session, clock: FixedClock, tmp_path: Path) -> None:
    campaign = start(session, clock, tmp_path)
    tick_once(app)
    session.rollback()
    result = preview_ladder_update(session, clock, app.settings, campaign,
                                   ladder_with_reminder_every(5))
    assert result.changes["changed"] == {"reminder": {"after_days": [10, 5]}}
    reminder = next(s for s in result.stages if s.stage == "reminder")
    assert reminder.changed and reminder.before_first == at9(date(2027, 1, 25))
    assert reminder.after_first == at9(date(2027, 1, 18))
    assert reminder.before == 4 and reminder.after == 4
    assert not next(s for s in result.stages if s.stage == "request").changed
    assert [(n.supplier_code, n.before.at, n.after.at) for n in result.next_steps
            if n.before and n.after] == [("A1", at9(date(2027, 1, 25)), at9(date(2027, 1, 18))),
                                         ("B2", at9(date(2027, 1, 26)), at9(date(2027, 1, 19)))]


def test_update_ladder_replans_open_requests_and_records_why(
        app: App, session: Session, clock: FixedClock, tmp_path: Path) -> None:
    campaign = start(session, clock, tmp_path)
    tick_once(app)
    deliver_once(app)
    clock.advance(timedelta(hours=2))
    session.rollback()
    new = ladder_with_reminder_every(5)
    with tx(session):
        done = update_ladder(session, clock, campaign, new, actor="cli:ann",
                             reason="suppliers asked for a shorter cycle")
    assert done.replanned == 2
    session.expire_all()
    assert Ladder.model_validate(session.get(Campaign, campaign.id).ladder) == new
    assert {r.next_action_at for r in session.exec(select(Request)).all()} == {clock.now()}
    [event] = session.exec(select(Event).where(Event.kind == "campaign.ladder_updated")).all()
    assert event.reason == "suppliers asked for a shorter cycle" and event.actor == "cli:ann"
    assert event.data["changes"]["changed"] == {"reminder": {"after_days": [10, 5]}}
    session.rollback()
    assert tick_once(app)["replanned"] == 2  # the next tick re-plans with the new ladder
    session.rollback()
    session.expire_all()
    assert {r.next_action_at for r in session.exec(select(Request)).all()} == {
        at9(date(2027, 1, 18)), at9(date(2027, 1, 19))}


def test_update_ladder_refuses_to_drop_a_stage_in_use_or_a_stopped_campaign(
        app: App, session: Session, clock: FixedClock, tmp_path: Path) -> None:
    campaign = start(session, clock, tmp_path)
    tick_once(app)  # every request is at stage "request" now
    session.rollback()
    base = default_ladder()
    renamed = base.model_copy(update={"stages": (
        LadderStage(name="first_ask", template="request", relative_to="start"),
        *base.stages[1:])})
    with pytest.raises(InvalidState, match=r"drops stage 'request'.*supplier A1"):
        update_ladder(session, clock, campaign, renamed, actor="cli:ann", reason="rename")
    with pytest.raises(InvalidState, match="drops stage 'request'"):
        preview_ladder_update(session, clock, app.settings, campaign, renamed)
    session.rollback()
    with tx(session):
        pause_campaign(session, clock, campaign, actor="cli:ann", reason="audit")
    with pytest.raises(InvalidState, match="is paused: only a running campaign"):
        update_ladder(session, clock, campaign, ladder_with_reminder_every(5), actor="cli:ann",
                      reason="faster")
    session.rollback()
    assert not session.exec(select(Event).where(Event.kind == "campaign.ladder_updated")).all()


# --------------------------------------------------------------------------- the CLI


@pytest.fixture
def cli(app: App, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
        ) -> Callable[..., tuple[int, str, str]]:
    """``outreach --data DIR ...`` on the test database, the clock fixed at T0."""
    return cli_runner(app.settings.data, capsys, monkeypatch, {
        "OUTREACH_DATABASE__URL": app.settings.database_url, "OUTREACH_ACTOR": "ann",
        "OUTREACH_CLOCK__MODE": "fixed", "OUTREACH_CLOCK__START": T0.isoformat()})


def test_cli_preview_table_json_and_supplier(cli, session: Session, clock: FixedClock,
                                             tmp_path: Path) -> None:
    start(session, clock, tmp_path)
    session.commit()
    code, out, err = cli("schedule", "preview")
    assert code == 0, err
    assert "A1" in out and "reminder 2/2" in out and "2027-01-25 09:00 UTC" in out
    assert "6 messages (2 request, 4 reminder); the last leaves 2027-02-09 09:00 UTC" in out
    assert "no approvals beyond those already granted" in out
    code, out, _ = cli("schedule", "preview", "--json", "--supplier", "b2", "--days", "20")
    data = json.loads(out)
    assert code == 0 and [(r["supplier"], r["stage"]) for r in data["rows"]] == [
        ("B2", "request"), ("B2", "reminder")]
    assert data["summary"]["last_send_at"] == "2027-01-26T09:00:00+00:00"
    code, _, err = cli("schedule", "preview", "--supplier", "ZZ9")
    assert code == 5 and "ZZ9" in err


def test_cli_update_ladder_dry_run_then_for_real(cli, session: Session, clock: FixedClock,
                                                 tmp_path: Path) -> None:
    start(session, clock, tmp_path)
    session.commit()
    config = tmp_path / "faster.toml"
    toml = Path("config/outreach.toml").read_text(encoding="utf-8")
    head, _, tail = toml.partition('name = "reminder"')
    config.write_text(head + 'name = "reminder"' + tail.replace("after_days = 10", "after_days = 5",
                                                                1), encoding="utf-8")
    code, out, err = cli("--config", str(config), "campaign", "update-ladder", "--dry-run")
    assert code == 0, err
    assert "reminder: after_days 10 → 5" in out and "nothing was changed" in out
    assert "2027-01-25 09:00 UTC → 2027-01-18 09:00 UTC" in out
    code, _, err = cli("--config", str(config), "campaign", "update-ladder")
    assert code == 6 and "--reason" in err
    code, out, err = cli("--config", str(config), "campaign", "update-ladder",
                         "--reason", "shorter cycle")
    assert code == 0, err
    assert "ladder updated (reminder: after_days 10 → 5); 2 open request(s) re-plan" in out
    code, _, err = cli("--config", str(config), "campaign", "update-ladder", "--reason", "again")
    assert code == 6 and "already runs the configured ladder" in err
    code, _, err = cli("campaign", "update-ladder", "--dry-run")  # back to the 10-day default
    assert code == 0, err


def test_other_running_campaigns_count_against_the_account_limit(
        app: App, session: Session, clock: FixedClock, tmp_path: Path) -> None:
    """An EMRT campaign started before the CMRT one asks the same suppliers first: the
    CMRT preview (which lists only its own sends) shows its requests held by the
    per-contact gap, where alone they would all have gone in the first two minutes."""
    from outreach.core.enums import TemplateFamily
    from outreach.services.campaigns import NewCampaign, create_campaign, start_campaign

    lines = [supplier_line(f"S{i:02d}") for i in range(10)]
    with tx(session):
        import_lines(session, clock, tmp_path / "s.csv", lines)
        emrt = create_campaign(session, clock, NewCampaign(
            name="EMRT 2026", reporting_year=2026, due_date=date(2027, 3, 31),
            template_family=TemplateFamily.EMRT, min_version="1.1", scope_tags=()),
            actor="cli:test", company_time_zone="UTC")
        start_campaign(session, clock, emrt, default_ladder(), actor="cli:test",
                       late_joiner_days=30, company_time_zone="UTC")
        cmrt = running_campaign(session, clock)
    limited = app.settings.model_copy(update={
        "delivery": app.settings.delivery.model_copy(update={"per_minute": 5})})
    fresh(session)
    shared = simulate(session, clock, limited, cmrt)
    together = sorted(r.at for r in shared.rows if r.stage == "request")
    assert len(together) == 10  # only the CMRT campaign's sends are listed
    assert {r.supplier_code for r in shared.rows} == {f"S{i:02d}" for i in range(10)}
    with tx(session):
        pause_campaign(session, clock, session.get(Campaign, emrt.id), actor="cli:test",
                       reason="test")
    fresh(session)
    alone = sorted(r.at for r in simulate(session, clock, limited,
                                          session.get(Campaign, cmrt.id)).rows
                   if r.stage == "request")
    assert alone[0] == T0 and alone[-1] == T0 + timedelta(minutes=1)
    gap = timedelta(hours=limited.delivery.contact_min_gap_hours)
    assert together[0] >= T0 + gap  # each contact got the EMRT request at T0 or T0+1min
    held = [r for r in shared.rows if r.stage == "request"]
    assert all(r.held_by_contact > timedelta(0) and r.contact_rule == "gap" for r in held)
