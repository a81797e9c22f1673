"""When a subscriber's digest is due: the period a moment falls in, in their own time zone.

A daily digest's period starts at the chosen hour of each local day; a weekly one at that hour
of the chosen weekday. A period may be sent from its start until `send_by`: the next day's
start for a daily digest, one day after the start for a weekly one. A digest whose period has
passed unsent (the server was down, a backup was restored) is never sent late: the next period
brings the papers instead. Period keys ("d2026-11-24", "w2026-11-23") name the local day the
period starts on; they go into the ledger's unique key and the Message-ID.
"""

from __future__ import annotations

import zoneinfo
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from paperfeed.store import Preferences


@dataclass(frozen=True, slots=True)
class Period:
    key: str
    day: date  # the local day it starts on
    starts: float  # seconds since 1970
    send_by: float


def current_period(prefs: Preferences, now: float) -> Period | None:
    """The period `now` falls in; None for a paused subscription."""
    if prefs.frequency not in ("daily", "weekly"):
        return None
    zone = _zone(prefs.timezone)
    local = datetime.fromtimestamp(now, UTC).astimezone(zone)
    day = local.date()
    if prefs.frequency == "daily":
        if _start(day, prefs.hour, zone) > now:
            day -= timedelta(days=1)
        starts = _start(day, prefs.hour, zone)
        return Period("d" + day.isoformat(), day, starts,
                      _start(day + timedelta(days=1), prefs.hour, zone))  # fmt: skip
    day -= timedelta(days=(day.weekday() - prefs.weekday) % 7)
    if _start(day, prefs.hour, zone) > now:
        day -= timedelta(days=7)
    starts = _start(day, prefs.hour, zone)
    return Period("w" + day.isoformat(), day, starts, starts + 86400.0)


def next_start(prefs: Preferences, now: float) -> float | None:
    """When the next period starts (for "your next digest" lines); None when paused."""
    period = current_period(prefs, now)
    if period is None:
        return None
    step = 1 if prefs.frequency == "daily" else 7
    return _start(period.day + timedelta(days=step), prefs.hour, _zone(prefs.timezone))


def _start(day: date, hour: int, zone: zoneinfo.ZoneInfo) -> float:
    # A time skipped by a DST change counts as the same wall time after it (fold=0 rules).
    return datetime.combine(day, time(hour), tzinfo=zone).timestamp()


def _zone(name: str) -> zoneinfo.ZoneInfo:
    try:
        return zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):
        return zoneinfo.ZoneInfo("UTC")
