"""Digest periods in the subscriber's own time zone."""

from __future__ import annotations

from datetime import UTC, datetime

from paperfeed.digest.schedule import current_period, next_start
from paperfeed.store import Preferences


def ts(text: str) -> float:
    return datetime.fromisoformat(text).timestamp()


def test_daily_period_starts_at_the_local_hour() -> None:
    prefs = Preferences(hour=7, timezone="Europe/Berlin")  # UTC+1 in November
    before = current_period(prefs, ts("2026-11-24T05:59:00+00:00"))  # 06:59 in Berlin
    after = current_period(prefs, ts("2026-11-24T06:00:00+00:00"))  # 07:00 in Berlin
    assert before is not None and after is not None
    assert before.key == "d2026-11-23" and after.key == "d2026-11-24"
    assert after.starts == ts("2026-11-24T06:00:00+00:00")
    assert after.send_by == ts("2026-11-25T06:00:00+00:00")
    assert next_start(prefs, ts("2026-11-24T06:00:00+00:00")) == after.send_by


def test_daily_period_across_a_dst_change() -> None:
    prefs = Preferences(hour=7, timezone="Europe/Berlin")
    period = current_period(prefs, ts("2026-03-29T12:00:00+00:00"))  # clocks went forward
    assert period is not None and period.key == "d2026-03-29"
    assert period.starts == ts("2026-03-29T05:00:00+00:00")  # 07:00 CEST
    assert period.send_by - period.starts == 86400


def test_weekly_period_on_the_chosen_weekday() -> None:
    prefs = Preferences(frequency="weekly", weekday=0, hour=9, timezone="America/New_York")
    # Tuesday 2026-11-24 noon UTC: the period began Monday 2026-11-23 09:00 New York
    period = current_period(prefs, ts("2026-11-24T12:00:00+00:00"))
    assert period is not None and period.key == "w2026-11-23"
    assert period.starts == ts("2026-11-23T14:00:00+00:00")
    assert period.send_by == period.starts + 86400  # a weekly digest is at most a day late
    early = current_period(prefs, ts("2026-11-23T13:59:00+00:00"))  # Monday 08:59 there
    assert early is not None and early.key == "w2026-11-16"
    assert next_start(prefs, ts("2026-11-24T12:00:00+00:00")) == ts("2026-11-30T14:00:00+00:00")


def test_paused_has_no_period() -> None:
    now = datetime(2026, 11, 24, tzinfo=UTC).timestamp()
    assert current_period(Preferences(frequency="paused"), now) is None
    assert next_start(Preferences(frequency="paused"), now) is None
