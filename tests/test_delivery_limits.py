"""earliest_send: account limits spread a launch; contacts never get two ladder mails in a gap."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from outreach.core.delivery_limits import DeliveryLimits, SendHistory, earliest_send, recorded

NOW = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)
LIMITS = DeliveryLimits(per_minute=30, per_day=100, contact_gap=timedelta(days=3),
                        contact_cap=2, contact_window=timedelta(days=30))


def test_nothing_sent_means_now() -> None:
    assert earliest_send(NOW, ["a@x.example"], SendHistory(), LIMITS) == NOW


def test_the_per_minute_limit_waits_for_the_oldest_send_to_age_out() -> None:
    sent = [NOW - timedelta(seconds=59 - i) for i in range(30)]  # 30 in the last minute
    at = earliest_send(NOW, ["a@x.example"], SendHistory(account=sent), LIMITS)
    assert at == sent[0] + timedelta(minutes=1)
    assert earliest_send(NOW, ["a@x.example"], SendHistory(account=sent[1:]), LIMITS) == NOW


def test_the_daily_limit() -> None:
    sent = [NOW - timedelta(hours=23, minutes=59) + timedelta(seconds=i) for i in range(100)]
    at = earliest_send(NOW, ["a@x.example"], SendHistory(account=sent), LIMITS)
    assert at == sent[0] + timedelta(days=1)


def test_a_contact_gap_and_rolling_cap() -> None:
    last = NOW - timedelta(days=1)
    history = SendHistory(contacts={"a@x.example": [last]})
    assert earliest_send(NOW, ["A@X.example"], history, LIMITS) == last + timedelta(days=3)
    assert earliest_send(NOW, ["b@x.example"], history, LIMITS) == NOW
    two = SendHistory(contacts={"a@x.example": [NOW - timedelta(days=20),
                                                NOW - timedelta(days=5)]})
    assert earliest_send(NOW, ["a@x.example"], two, LIMITS) == NOW + timedelta(days=10)


def test_answers_skip_the_contact_limits_not_the_account_ones() -> None:
    history = SendHistory(account=[NOW - timedelta(seconds=i) for i in range(30)],
                          contacts={"a@x.example": [NOW - timedelta(minutes=5)]})
    at = earliest_send(NOW, ["a@x.example"], history, LIMITS, answer=True)
    assert NOW < at <= NOW + timedelta(minutes=1)


def test_a_simulated_launch_is_spread_by_the_account_limits() -> None:
    history, at = SendHistory(), NOW
    times = []
    for i in range(90):
        at = earliest_send(at, [f"s{i}@x.example"], history, LIMITS)
        history = recorded(history, at, [f"s{i}@x.example"])
        times.append(at)
    assert times[29] == NOW and times[30] == NOW + timedelta(minutes=1)
    assert times[-1] == NOW + timedelta(minutes=2)
