"""Dates as sources write them, turned into aware UTC datetimes."""

from __future__ import annotations

from datetime import UTC, datetime
from email.utils import parsedate_to_datetime


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
            parsed = parsedate_to_datetime(text)
    except (ValueError, TypeError, IndexError):
        raise ValueError(f"unreadable date {value!r}") from None
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)
