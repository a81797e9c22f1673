"""A full disk, for real: a small tmpfs holds the database. Whatever runs out of room says so in
one sentence naming the disk and the database, the database stays intact, and a running server
goes on answering reads (a write gets a 503) until there is room again."""

from __future__ import annotations

import json
import shutil
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from paperfeed.cli import main
from paperfeed.models import Paper
from paperfeed.store import open_store
from tests.conftest import SEED
from tests.web.conftest import serving

BROWSER = {"user-agent": "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"}
FULL = (
    "The server's disk is full, so nothing can be saved right now (reading still works); "
    "try again later."
)


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 6 MiB tmpfs of its own (it needs root, as CI and the development machines have)."""
    disk = tmp_path / "disk"
    disk.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=6m", "tmpfs", str(disk)],
                             capture_output=True, text=True)  # fmt: skip
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here: {mounted.stderr.strip()}")
    try:
        yield disk
    finally:
        subprocess.run(["umount", "-l", str(disk)], check=True)


def fill(disk: Path) -> Path:
    """Fill `disk` to the last byte; returns the file to delete to make room again."""
    filler = disk / "filler"
    with filler.open("wb", buffering=0) as f:
        try:
            while True:
                f.write(b"\0" * 4096)
        except OSError:
            pass
    with filler.open("ab", buffering=0) as f:  # the last partial page
        try:
            while True:
                f.write(b"\0")
        except OSError:
            return filler


def big_jsonl(path: Path, papers: int) -> Path:
    """`papers` records of about 2 KB each: more than the small disk holds."""
    with path.open("w") as f:
        for i in range(papers):
            abstract = " ".join(f"word{i}x{j}" for j in range(200))
            f.write(json.dumps({"id": f"big{i}", "title": f"Big paper {i}", "abstract": abstract}))
            f.write("\n")
    return path


def full_sentence(db: Path, sqlite_says: str = "database or disk is full") -> str:
    return (f"error: The disk holding {db} is full (SQLite: {sqlite_says}); free space and run "
            "this again: what was saved so far is kept.\n")  # fmt: skip


def quick_check(db: Path) -> str:
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        return str(conn.execute("PRAGMA quick_check").fetchone()[0])
    finally:
        conn.close()


def test_ingest_onto_a_full_disk_is_one_sentence_and_keeps_what_went_in(
    small_disk: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = small_disk / "paperfeed.db"
    big = big_jsonl(tmp_path / "big.jsonl", 5000)
    code = main(["--db", str(db), "ingest", str(SEED), str(big), str(SEED)])
    err = capsys.readouterr().err
    assert code == 1, err
    assert "Traceback" not in err
    assert full_sentence(db) in err
    assert err.count("error:") == 1  # it stops there: the next file would only fail the same
    assert f"227 papers in {db}" in err
    assert quick_check(db) == "ok"

    subprocess.run(["mount", "-o", "remount,size=64m", str(small_disk)], check=True)
    assert main(["--db", str(db), "ingest", str(big)]) == 0  # room again: run it again
    assert f"5227 papers in {db}" in capsys.readouterr().err


def serve(db: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "paperfeed", "--db", str(db), "serve",
                           "--port", "1", "--no-scheduler"],
                          capture_output=True, text=True, timeout=60)  # fmt: skip


def test_serve_does_not_start_on_a_full_disk_and_says_why(small_disk: Path) -> None:
    db = small_disk / "paperfeed.db"
    assert main(["--db", str(db), "ingest", str(SEED)]) == 0
    holder = open_store(str(db), readonly=True)  # another process: its WAL and SHM stay
    try:
        holder.count_papers()
        shutil.rmtree(f"{db}-index")
        filler = fill(small_disk)
        ran = serve(db)  # the database opens, but its keyword index has no room to be made
        assert (ran.returncode, ran.stderr) == (
            1, f"error: The disk holding the search index {db}-index/keyword is full; free space "
            "on it.\n")  # fmt: skip
    finally:
        holder.close()
    filler.unlink()
    Path(f"{db}-shm").unlink(missing_ok=True)
    fill(small_disk)
    ran = serve(db)  # SQLite cannot even make its shared-memory file
    assert (ran.returncode, ran.stderr) == (1, full_sentence(db, "disk I/O error"))


def test_a_server_whose_disk_fills_up_goes_on_reading_and_503s_writes(small_disk: Path) -> None:
    db = small_disk / "paperfeed.db"
    assert main(["--db", str(db), "ingest", str(SEED)]) == 0
    with serving(db) as base:
        found = httpx.get(f"{base}/search.json", params={"q": "dropout"}, timeout=60)
        paper = found.json()["papers"][0]["id"]
        harvested = open_store(str(db))  # as a harvest would: the index is behind now
        harvested.upsert_papers(
            [Paper(id=f"new{i}", title=f"Dropout, again {i}") for i in range(50)]
        )
        harvested.close()
        filler = fill(small_disk)

        for path in ("/search.json?q=again", f"/paper/{paper}", "/",
                     "/trending", f"/paper/{paper}.json", "/today.json"):  # fmt: skip
            assert httpx.get(base + path, headers=BROWSER, timeout=60).status_code == 200, path
        refused = httpx.post(f"{base}/api/subscribe", json={"email": "ann@example.org"},
                             timeout=60)  # fmt: skip
        assert refused.status_code == 503
        assert refused.json() == {"error": {"status": 503, "message": FULL}}
        assert quick_check(db) == "ok"

        filler.unlink()  # room again: writes go on and the index catches up, no restart needed
        asked = httpx.post(f"{base}/api/subscribe", json={"email": "ann@example.org"}, timeout=60)
        assert asked.status_code == 200, asked.text
        again = httpx.get(f"{base}/search.json", params={"q": "again", "mode": "keyword"})
        assert again.status_code == 200
        found_ids = [p["id"] for p in again.json()["papers"]]
        assert len(found_ids) == 20 and all(i.startswith("new") for i in found_ids)
