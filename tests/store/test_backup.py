"""Online backups: a consistent snapshot copied while another connection keeps writing."""

from __future__ import annotations

import sqlite3
import stat
import threading
from pathlib import Path

import pytest

from paperfeed.errors import AlreadyExists, StoreError
from paperfeed.models import Paper
from paperfeed.store import open_store


def _paper(n: int) -> Paper:
    return Paper(id=f"p{n:06d}", title=f"Paper number {n} on backups", abstract="words " * 40)


class Writer(threading.Thread):
    """Inserts papers p000000, p000001, ... one per transaction until told to stop."""

    def __init__(self, db: Path, start_at: int) -> None:
        super().__init__(daemon=True)
        self.db, self.next = db, start_at
        self.stop = threading.Event()
        self.committed = threading.Condition()

    def run(self) -> None:
        store = open_store(str(self.db))
        try:
            while not self.stop.is_set():
                store.upsert_papers([_paper(self.next)])
                with self.committed:
                    self.next += 1
                    self.committed.notify_all()
        finally:
            store.close()

    def wait_for_more(self, than: int, timeout_s: float = 10) -> None:
        with self.committed:
            assert self.committed.wait_for(lambda: self.next > than, timeout_s), "writer blocked"


def _ids(db: Path) -> list[str]:
    store = open_store(str(db), readonly=True)
    try:
        return [c.paper.id for c in store.iter_changes(0)]
    finally:
        store.close()


def test_backup_is_a_snapshot_while_a_writer_commits(tmp_path: Path) -> None:
    db, copy = tmp_path / "live.db", tmp_path / "copy.db"
    store = open_store(str(db))
    store.upsert_papers([_paper(n) for n in range(2000)])
    writer = Writer(db, 2000)
    writer.start()
    steps = 0

    def on_step(left: int, total: int) -> None:  # every step, the writer commits again
        nonlocal steps
        steps += 1
        mark = writer.next
        writer.wait_for_more(mark)

    try:
        writer.wait_for_more(2000)
        before = store.count_papers()
        size = store.backup(str(copy), pages_per_step=16, on_step=on_step)
        after = store.count_papers()
    finally:
        writer.stop.set()
        writer.join(timeout=10)
        store.close()
    assert steps >= 10 and after >= before + steps  # the writer went on during the copy
    assert size == copy.stat().st_size
    assert stat.S_IMODE(copy.stat().st_mode) == 0o600
    with sqlite3.connect(copy) as check:
        assert check.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    ids = _ids(copy)
    assert before <= len(ids) <= after
    assert ids == [f"p{n:06d}" for n in range(len(ids))]  # a prefix: one moment's state
    assert sorted(p.name for p in tmp_path.iterdir() if "partial" in p.name) == []


def test_backup_refuses_an_existing_file_unless_told(tmp_path: Path) -> None:
    store = open_store(str(tmp_path / "a.db"))
    store.upsert_papers([_paper(1)])
    target = tmp_path / "b.db"
    target.write_text("keep me")
    with pytest.raises(AlreadyExists, match="--force"):
        store.backup(str(target))
    assert target.read_text() == "keep me"
    store.backup(str(target), overwrite=True)
    with pytest.raises(AlreadyExists, match="is the database itself"):
        store.backup(str(tmp_path / "." / "a.db"), overwrite=True)
    store.close()
    assert _ids(target) == ["p000001"] == _ids(tmp_path / "a.db")


def test_backup_into_a_missing_folder_or_onto_a_folder_says_so(tmp_path: Path) -> None:
    store = open_store(str(tmp_path / "a.db"))
    with pytest.raises(StoreError, match="Cannot write a backup to"):
        store.backup(str(tmp_path / "no" / "such" / "b.db"))
    with pytest.raises(StoreError, match="is a folder; name a file in it"):
        store.backup(str(tmp_path), overwrite=True)
    store.close()


def test_a_readonly_store_backs_up(tmp_path: Path) -> None:
    open_store(str(tmp_path / "a.db")).upsert_papers([_paper(7)])
    ro = open_store(str(tmp_path / "a.db"), readonly=True)
    ro.backup(str(tmp_path / "b.db"))
    ro.close()
    assert _ids(tmp_path / "b.db") == ["p000007"]
