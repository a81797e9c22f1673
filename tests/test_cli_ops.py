"""The operator's commands as a user meets them: backup, and a database too new to open."""

from __future__ import annotations

import os
import re
import sqlite3
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from paperfeed.cli import main
from paperfeed.config import load_settings
from paperfeed.errors import InputError
from paperfeed.models import Paper
from paperfeed.store import open_store
from tests.store.test_schema_version import KNOWN, newer_db


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_backup_writes_a_copy_and_reports_size_and_time(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    db, copy = str(tmp_path / "live.db"), tmp_path / "copy.db"
    open_store(db).upsert_papers([Paper(id=f"p{n}", title=f"Paper {n}") for n in range(50)])
    code, out, err = run(capsys, "--db", db, "backup", str(copy))
    assert code == 0 and out == ""
    assert re.fullmatch(rf"backed up {re.escape(db)} to {re.escape(str(copy))}: "
                        r"\d+\.\d MB in \d+\.\d s\n", err), err  # fmt: skip
    assert stat.S_IMODE(copy.stat().st_mode) == 0o600
    copied = open_store(str(copy), readonly=True)
    assert copied.count_papers() == 50
    copied.close()

    code, _, err = run(capsys, "--db", db, "backup", str(copy))
    assert code == 1
    refusal = f"error: {copy} already exists; choose another file, or replace it with --force."
    assert err == refusal + "\n"
    assert run(capsys, "--db", db, "backup", str(copy), "--force")[0] == 0


def test_backup_of_a_missing_database_says_what_to_do(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code, _, err = run(capsys, "--db", str(tmp_path / "none.db"), "backup", str(tmp_path / "b"))
    assert code == 1 and err.startswith("error: No database at") and err.count("\n") == 1


def test_a_newer_schema_is_refused_by_every_command(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    db = str(newer_db(tmp_path / "demo.db"))
    sentence = (f"error: {db} was written by a newer paperfeed (schema {KNOWN + 1}; this version "
                f"knows up to {KNOWN}): upgrade paperfeed, or restore a backup made by this "
                "version.\n")  # fmt: skip
    for argv in (["ingest", os.devnull], ["search", "x"], ["backup", str(tmp_path / "b.db")]):
        assert run(capsys, "--db", db, *argv) == (1, "", sentence)
    assert not (tmp_path / "b.db").exists()


def test_serve_refuses_to_start_on_a_newer_schema(tmp_path: Path) -> None:
    db = str(newer_db(tmp_path / "demo.db"))
    ran = subprocess.run([sys.executable, "-m", "paperfeed", "--db", db, "serve", "--port", "1"],
                         capture_output=True, text=True, timeout=60)  # fmt: skip
    assert ran.returncode == 1
    assert ran.stderr.startswith(f"error: {db} was written by a newer paperfeed")
    assert ran.stderr.count("\n") == 1, ran.stderr
    with sqlite3.connect(db) as conn:
        newest = conn.execute("SELECT max(version) FROM schema_migrations").fetchone()
    assert newest == (KNOWN + 1,)
    conn.close()


def test_trusted_proxies_are_addresses_and_networks() -> None:
    env = {"PAPERFEED_TRUSTED_PROXIES": " 127.0.0.1, 10.1.2.3/8 ,::1,"}
    assert load_settings(env).trusted_proxies == ("127.0.0.1", "10.0.0.0/8", "::1")
    assert load_settings({}).trusted_proxies == ()
    with pytest.raises(InputError, match=r"'proxy\.local', which is not an IP address"):
        load_settings({"PAPERFEED_TRUSTED_PROXIES": "proxy.local"})
