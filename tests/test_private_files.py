"""What paperfeed writes is its owner's alone: the database (it holds the key that signs sign-in
links, and every subscriber's address), its WAL and SHM, the search indexes and the mail outbox;
an existing database that others can read is named at start-up with the command that fixes it."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from paperfeed.cli import main
from tests.conftest import SEED
from tests.web.conftest import free_port, wait_until_up


@pytest.fixture(autouse=True)
def usual_umask() -> Iterator[None]:
    """The umask most systems give a user (022): files would be world-readable by default."""
    old = os.umask(0o022)
    yield
    os.umask(old)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def warning(db: Path) -> str:
    return (f"warning: {db} is readable by other users of this machine and holds the key that "
            f"signs sign-in links; chmod 600 {db}")  # fmt: skip


def test_the_database_its_wal_shm_indexes_and_outbox_are_owner_only(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "private.db"
    assert main(["--db", str(db), "ingest", str(SEED)]) == 0
    assert main(["--db", str(db), "digest", "subscribe", "ann@example.org"]) == 0
    assert "readable by other users" not in capsys.readouterr().err
    files = [db, Path(f"{db}-wal"), Path(f"{db}-shm")]
    outbox = Path(f"{db}-outbox")
    mails = list((outbox / "new").iterdir())
    assert len(mails) == 1  # the confirmation
    # the WAL and SHM go when the last connection closes: open one to see them
    from paperfeed.store import open_store

    store = open_store(str(db))
    store.upsert_papers([])
    assert store.count_papers() == 227
    try:
        assert {str(p): oct(mode(p)) for p in [*files, *mails]} == {
            str(p): "0o600" for p in [*files, *mails]
        }
    finally:
        store.close()
    index = Path(f"{db}-index")
    folders = [index, *(p for p in index.rglob("*") if p.is_dir()), outbox,
               *(p for p in outbox.iterdir() if p.is_dir())]  # fmt: skip
    assert len(folders) >= 6
    assert {str(p): oct(mode(p)) for p in folders} == {str(p): "0o700" for p in folders}


def test_a_database_others_can_read_is_named_by_every_command(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "shared.db"
    assert main(["--db", str(db), "ingest", str(SEED)]) == 0
    capsys.readouterr()
    db.chmod(0o644)
    for argv in (["status"], ["search", "dropout", "--mode", "keyword"], ["sources", "list"]):
        main(["--db", str(db), *argv])
        assert capsys.readouterr().err.startswith(warning(db)), argv
    db.chmod(0o640)  # the group can read it too
    main(["--db", str(db), "status"])
    assert capsys.readouterr().err.startswith(warning(db))
    main(["--db", str(db), "status"])  # a read-only open leaves its WAL and SHM (mode 0640)
    err = capsys.readouterr().err
    assert err.startswith(f"{warning(db)} {db}-wal {db}-shm\n")
    advice = err.split("; ", 1)[1].split("\n")[0]
    subprocess.run(advice, shell=True, check=True)  # what it says to do ends the warning
    main(["--db", str(db), "status"])
    assert "readable by other users" not in capsys.readouterr().err


def test_serve_warns_at_start_up_when_others_can_read_the_database(tmp_path: Path) -> None:
    db = tmp_path / "served.db"
    assert main(["--db", str(db), "ingest", str(SEED)]) == 0
    db.chmod(0o644)
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "paperfeed", "--db", str(db), "serve", "--port", str(port),
         "--no-scheduler"], stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        wait_until_up(f"http://127.0.0.1:{port}", server)
    finally:
        server.terminate()
        _, err = server.communicate(timeout=20)
    assert err.startswith(warning(db) + "\n"), err
