"""A database migrated by a newer paperfeed is refused, whole, before anything reads it."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from paperfeed.errors import SchemaTooNew
from paperfeed.store import open_store
from paperfeed.store.sqlite import list_migrations

KNOWN = max(version for version, _, _ in list_migrations())


def newer_db(path: Path) -> Path:
    """A database as a future paperfeed leaves it: one migration more than this code knows."""
    open_store(str(path)).close()
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE future_things (x)")
        row = (KNOWN + 1, f"{KNOWN + 1:04d}_future.sql", "2031-01-01T00:00:00+00:00")
        conn.execute("INSERT INTO schema_migrations VALUES (?, ?, ?)", row)
    conn.close()
    return path


def _versions(path: Path) -> list[int]:
    with sqlite3.connect(path) as conn:
        rows = conn.execute("SELECT version FROM schema_migrations ORDER BY 1").fetchall()
    conn.close()
    return [v for (v,) in rows]


@pytest.mark.parametrize("readonly", [False, True])
def test_a_newer_schema_is_refused_in_one_sentence(tmp_path: Path, readonly: bool) -> None:
    db = newer_db(tmp_path / "demo.db")
    before = _versions(db)
    with pytest.raises(SchemaTooNew) as refused:
        open_store(str(db), readonly=readonly)
    assert str(refused.value) == (
        f"{db} was written by a newer paperfeed (schema {KNOWN + 1}; this version knows up to "
        f"{KNOWN}): upgrade paperfeed, or restore a backup made by this version."
    )
    assert _versions(db) == before  # nothing applied, nothing undone


def test_the_current_schema_opens(tmp_path: Path) -> None:
    open_store(str(tmp_path / "a.db")).close()
    open_store(str(tmp_path / "a.db"), readonly=True).close()
    assert _versions(tmp_path / "a.db")[-1] == KNOWN
