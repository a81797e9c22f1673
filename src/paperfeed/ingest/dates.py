"""Dates as sources write them, turned into aware UTC datetimes."""

from __future__ import annotations

from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

_MONTH_NAMES = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_MONTHS = {m: i for i, m in enumerate(_MONTH_NAMES, 1)}


def _fast_rfc2822(text: str) -> datetime | None:
    """`Mon, 2 Apr 2007 19:18:42 GMT`, the form arXiv writes millions of times, without the
    general parser; None for anything else."""
    parts = text.split()
    if len(parts) != 6 or parts[5] not in ("GMT", "UTC", "+0000") or parts[2] not in _MONTHS:
        return None
    try:
        hh, mm, ss = (int(x) for x in parts[4].split(":"))
        return datetime(int(parts[3]), _MONTHS[parts[2]], int(parts[1]), hh, mm, ss, tzinfo=UTC)
    except (ValueError, OverflowError):
        return None


def parse_date(value: str) -> datetime:
    """ISO 8601 (`2021-04-17`, `2021-04-17T10:00:00Z`), RFC 2822 (`Mon, 2 Apr 2007 19:18:42 GMT`)
    or `MM/DD/YYYY`. Raises ValueError with the offending text."""
    text = value.strip()
    try:
        if text[:4].isdigit():
            parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
        elif "/" in text:
            parsed = datetime.strptime(text, "%m/%d/%Y")
        else:
            parsed = _fast_rfc2822(text) or parsedate_to_datetime(text)
    except (ValueError, TypeError, IndexError, OverflowError):
        raise ValueError(f"unreadable date {value!r}") from None
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=UTC)
    try:
        return parsed.astimezone(UTC)
    except OverflowError:
        raise ValueError(f"unreadable date {value!r} (out of range)") from None
