"""Reading the local outbox back: the Maildir that `OutboxMailer` writes when no SMTP server is
set (the demo). Its files hold the mail as it would go out, quoted-printable text included, so
a sign-in link in them is cut over lines with `=3D` and `=` at line ends; copied from there it
is "not valid". `read_outbox` decodes the latest messages for `paperfeed outbox`, links whole.

This module only reads files; it must not send, move or delete mail.
"""

from __future__ import annotations

import email
import email.policy
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import parsedate_to_datetime
from pathlib import Path

from paperfeed.errors import InputError

HEADERS = ("From", "To", "Subject", "Date")


@dataclass(frozen=True, slots=True)
class OutboxMail:
    headers: tuple[tuple[str, str], ...]  # HEADERS that the message has, in that order
    text: str  # the text/plain part, decoded ("" when there is none)
    file: Path
    sort_key: tuple[float, str]  # (Date as a timestamp, file name): oldest first

    def render(self) -> str:
        lines = [f"{name}: {value}" for name, value in self.headers]
        return "\n".join([*lines, f"File: {self.file}", "", self.text.rstrip("\n")])


def read_outbox(folder: str | Path, limit: int = 5) -> list[OutboxMail]:
    """The latest `limit` messages of the Maildir `folder` (new/ and cur/), oldest first, so
    the newest is printed last; none when `folder` does not exist yet; `InputError` when it
    is something other than a Maildir."""
    root = Path(folder)
    if limit < 1:
        raise InputError("--limit must be at least 1.")
    if not root.exists():
        return []
    if not (root / "new").is_dir() or not (root / "cur").is_dir():
        raise InputError(f"{str(root)!r} is not a Maildir (it has no new/ and cur/ folders); "
                         "PAPERFEED_OUTBOX should name the outbox folder.")  # fmt: skip
    files = [p for sub in ("new", "cur") for p in (root / sub).iterdir()
             if p.is_file() and not p.name.startswith(".")]  # fmt: skip
    return sorted((_read(p) for p in files), key=lambda m: m.sort_key)[-limit:]


def _read(path: Path) -> OutboxMail:
    parsed = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
    assert isinstance(parsed, EmailMessage)
    headers = tuple((name, str(parsed[name])) for name in HEADERS if parsed[name] is not None)
    body = parsed.get_body(("plain",))
    text = body.get_content() if isinstance(body, EmailMessage) else ""
    return OutboxMail(headers, str(text), path, (_timestamp(parsed["Date"]), path.name))


def _timestamp(date: object) -> float:
    try:
        return parsedate_to_datetime(str(date)).timestamp() if date else 0.0
    except (TypeError, ValueError):
        return 0.0
