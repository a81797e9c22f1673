"""Shared fixtures: real SQLite stores in tmp dirs, the real shared data beside the repo."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from paperfeed.ingest.files import import_file
from paperfeed.search.engine import SearchEngine
from paperfeed.store import Store, open_store

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED = REPO_ROOT.parent / "shared"
SEED = SHARED / "data" / "seed" / "papers.jsonl"
SNAPSHOT_2000 = (
    SHARED / "data" / "fixtures" / "arxiv_metadata" / "kaggle_snapshot_first2000"
    / "arxiv_data_fixed.jsonl"
)  # fmt: skip


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = open_store(str(tmp_path / "test.db"))
    yield s
    s.close()


@pytest.fixture(scope="session")
def seed_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A database with the 227 seed papers and their keyword index, built once per run."""
    path = tmp_path_factory.mktemp("seed") / "seed.db"
    s = open_store(str(path))
    import_file(s, SEED)
    SearchEngine(s, str(path) + "-index").sync()
    s.close()
    return path


@pytest.fixture
def seed_engine(seed_db: Path) -> Iterator[SearchEngine]:
    s = open_store(str(seed_db), readonly=True)
    yield SearchEngine(s, str(seed_db) + "-index")
    s.close()


@pytest.fixture(scope="session")
def embedded_seed_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The seed papers imported and embedded with the real model, once per run (~6 s)."""
    from paperfeed.cli import main

    path = tmp_path_factory.mktemp("embedded") / "seed.db"
    assert main(["--db", str(path), "ingest", str(SEED)]) == 0
    assert main(["--db", str(path), "embed"]) == 0
    return path


@pytest.fixture(scope="session")
def demo_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """What `make demo` builds (`paperfeed demo --no-serve`: the bundled papers, their shipped
    vectors, the recorded Hugging Face day), once per run (a few seconds)."""
    from paperfeed.cli import main

    path = tmp_path_factory.mktemp("demo") / "demo.db"
    assert main(["--db", str(path), "demo", "--no-serve"]) == 0
    return path
