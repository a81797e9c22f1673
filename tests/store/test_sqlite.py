"""What is specific to the SQLite backend: pragmas, migrations, read-only opens."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from paperfeed.errors import StoreError
from paperfeed.models import Paper
from paperfeed.store import SQLiteStore, open_store
from paperfeed.store.sqlite import list_migrations


def test_wal_foreign_keys_and_busy_timeout(tmp_path: Path) -> None:
    s = SQLiteStore(tmp_path / "a.db")
    assert s.conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert s.conn.execute("PRAGMA foreign_keys").fetchone()[0] == 1
    assert s.conn.execute("PRAGMA busy_timeout").fetchone()[0] >= 5000


def test_migrations_are_recorded_once(tmp_path: Path) -> None:
    SQLiteStore(tmp_path / "a.db").close()
    s = SQLiteStore(tmp_path / "a.db")  # reopening applies nothing twice
    assert s.applied_migrations() == [name for _, name, _ in list_migrations()]


def test_readonly_open_of_a_missing_file_says_what_to_do(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="paperfeed ingest"):
        open_store(str(tmp_path / "missing.db"), readonly=True)
    assert not (tmp_path / "missing.db").exists()


def test_readonly_store_cannot_write(tmp_path: Path) -> None:
    open_store(str(tmp_path / "a.db")).close()
    ro = open_store(str(tmp_path / "a.db"), readonly=True)
    with pytest.raises(sqlite3.OperationalError):
        ro.upsert_papers([Paper(id="x", title="x")])


def test_a_reader_sees_a_writers_commits(tmp_path: Path) -> None:
    writer = open_store(str(tmp_path / "a.db"))
    reader = open_store(str(tmp_path / "a.db"), readonly=True)
    writer.upsert_papers([Paper(id="x", title="Some title")])
    assert reader.count_papers() == 1
