"""`paperfeed outbox`: the local Maildir read back decoded, the latest messages, newest last."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from paperfeed.cli import main
from paperfeed.digest.mailer import Message, OutboxMailer
from paperfeed.digest.outbox import read_outbox
from paperfeed.errors import InputError

START = datetime(2024, 10, 27, 12, tzinfo=UTC)
LINK = "http://127.0.0.1:8000/digest/confirm?token=" + "a1B2c3D4=_-" * 12  # long: QP cuts it


def write(folder: Path, n: int) -> None:
    """`n` messages, a minute apart, the last first on disk (order must come from Date)."""
    for k in reversed(range(n)):
        moment = START + timedelta(minutes=k)
        mailer = OutboxMailer(folder, clock=lambda moment=moment: moment)
        mailer.send(Message(to=f"r{k}@example.org", subject=f"Message {k} · café",
                            text=f"Confirm here:\n\n{LINK}&n={k}\n\nThanks.\n"))  # fmt: skip


def test_the_latest_messages_come_decoded_with_their_links_whole(tmp_path: Path) -> None:
    folder = tmp_path / "outbox"
    write(folder, 4)
    raw = "".join(p.read_text() for p in (folder / "new").iterdir())
    assert f"{LINK}&n=1" not in raw  # quoted-printable on disk
    mails = read_outbox(folder, limit=2)
    assert [dict(m.headers)["To"] for m in mails] == ["r2@example.org", "r3@example.org"]
    shown = mails[-1].render()
    assert "Subject: Message 3 · café" in shown and "From: " in shown and "Date: " in shown
    assert f"\n{LINK}&n=3\n" in shown


def test_mail_a_reader_has_opened_counts_too(tmp_path: Path) -> None:
    folder = tmp_path / "outbox"
    write(folder, 2)
    opened = next((folder / "new").iterdir())
    os.rename(opened, folder / "cur" / (opened.name + ":2,S"))  # what a mail program does
    assert len(read_outbox(folder, limit=10)) == 2


def test_no_folder_is_no_mail_and_another_folder_is_one_sentence(tmp_path: Path) -> None:
    assert read_outbox(tmp_path / "none") == []
    with pytest.raises(InputError, match="is not a Maildir"):
        read_outbox(tmp_path)
    with pytest.raises(InputError, match="at least 1"):
        read_outbox(tmp_path, limit=0)


def test_the_command_prints_them_and_says_when_there_is_none(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = str(tmp_path / "demo.db")
    assert main(["--db", db, "outbox"]) == 4
    assert "No mail in the outbox" in capsys.readouterr().out
    write(Path(db + "-outbox"), 5)
    assert main(["--db", db, "outbox", "--limit", "2"]) == 0
    out = capsys.readouterr().out
    assert out.count("To: ") == 2 and out.index("r3@") < out.index("r4@")
    assert f"{LINK}&n=4" in out
    assert main(["--db", db, "outbox", "--limit", "0"]) == 1
    assert capsys.readouterr().err.strip() == "error: --limit must be at least 1."
