"""`paperfeed channels`: add, list, test, enable, remove, against a local receiver; bad input is
one sentence and exit 2, never a traceback."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from paperfeed.cli import main
from paperfeed.digest import channels as ch
from paperfeed.store import SubscriberChange, open_store
from tests.digest.test_channels import Receiver, receiver

__all__ = ["receiver"]


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_channels_from_the_command_line(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, receiver: Receiver,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    db = str(tmp_path / "cli.db")
    store = open_store(db)
    store.get_or_add_user("ada@example.org", datetime.now(UTC))
    store.close()
    url = receiver.url("/hook/very-secret-path")

    code, _, err = run(capsys, "--db", db, "channels", "add", "--user", "ada@example.org",
                       "--kind", "webhook", "--url", url)  # fmt: skip
    assert code == 2 and err.startswith("error: 127.0.0.1 is not a public address")
    assert err.count("\n") == 1 and "Traceback" not in err

    monkeypatch.setenv("PAPERFEED_OUTBOUND_ALLOW", "127.0.0.0/8,::1")
    code, _, err = run(capsys, "--db", db, "channels", "add", "--user", "nobody@example.org",
                       "--kind", "slack", "--url", url)  # fmt: skip
    assert code == 2 and "No reader signs in as nobody@example.org" in err
    code, _, err = run(capsys, "--db", db, "channels", "add", "--user", "ada@example.org",
                       "--kind", "discord", "--url", "ftp://example.org/x")  # fmt: skip
    assert code == 2 and err == "error: Only https:// URLs can receive notifications.\n"
    code, out, _ = run(capsys, "--db", db, "channels", "add", "--user", "ada@example.org",
                       "--kind", "webhook", "--url", url, "--search", "graph networks",
                       "--frequency", "weekly")  # fmt: skip
    assert code == 0 and out.startswith("channel 1: webhook to 127.0.0.1 for ada@example.org")
    secret = out.split("): ")[1].strip()
    assert len(secret) == 64

    code, out, _ = run(capsys, "--db", db, "channels", "list", "--user", "ada@example.org")
    assert code == 0 and "webhook to 127.0.0.1" in out and "active" in out
    assert "very-secret-path" not in out and secret not in out

    code, out, _ = run(capsys, "--db", db, "channels", "test", "1")
    assert code == 0 and "test message sent" in out
    (got,) = receiver.got
    assert ch.verify_signature(secret, got.headers["x-paperfeed-signature"], got.body,
                               datetime.now(UTC).timestamp())  # fmt: skip

    store = open_store(db)
    store.update_subscriber(1, SubscriberChange(state="suppressed", disabled_note="off"))
    store.close()
    code, out, _ = run(capsys, "--db", db, "channels", "list")
    assert "disabled" in out and "off" in out
    assert run(capsys, "--db", db, "channels", "enable", "1")[0] == 0
    assert "active" in run(capsys, "--db", db, "channels", "list")[1]

    receiver.always = (410, {})
    code, _, err = run(capsys, "--db", db, "channels", "test", "1")
    assert code == 1 and "HTTP 410" in err
    assert run(capsys, "--db", db, "channels", "remove", "1")[0] == 0
    code, _, err = run(capsys, "--db", db, "channels", "remove", "1")
    assert code == 2 and err == "error: There is no channel 1.\n"
