"""What the demo leaves in the working tree (database, WAL, indexes, outbox) is ignored by git
and removed by `make clean`, tried with the real git and make on a copy of both files."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LEFT_BY_THE_DEMO = ("demo.db", "demo.db-wal", "demo.db-shm", "demo.db-index/meta.json",
                    "demo.db-outbox/new/1.host", "demo.db-outbox/cur/2.host:2,S")  # fmt: skip


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    if not shutil.which("git") or not shutil.which("make"):
        pytest.skip("needs git and make")
    for name in (".gitignore", "Makefile"):
        shutil.copy(ROOT / name, tmp_path / name)
    subprocess.run(["git", "init", "-q"], cwd=tmp_path, check=True)
    for name in (*LEFT_BY_THE_DEMO, "paperfeed-outbox/new/3.host", "nodes/a.db-outbox/new/4"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("x")
    return tmp_path


def test_git_ignores_every_outbox_and_the_demo_files(tree: Path) -> None:
    status = ["git", "status", "--porcelain", "--untracked-files=all"]
    untracked = subprocess.run(status, cwd=tree, check=True, capture_output=True, text=True).stdout
    assert sorted(line[3:] for line in untracked.splitlines()) == [".gitignore", "Makefile"]


def test_make_clean_removes_what_the_demo_left(tree: Path) -> None:
    subprocess.run(["make", "-s", "clean"], cwd=tree, check=True, capture_output=True)
    assert [name for name in LEFT_BY_THE_DEMO if (tree / name).exists()] == []
    assert not (tree / "demo.db-outbox").exists()
