"""Shared fixtures: real SQLite stores in tmp dirs, and where the test data lives (tests/data)."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from paperfeed.ingest.files import import_file
from paperfeed.search.engine import SearchEngine
from paperfeed.store import Store, open_store

REPO_ROOT = Path(__file__).resolve().parents[1]
# Every file a test reads is named here, inside the repository: a clone has nothing beside it.
DATA = REPO_ROOT / "tests" / "data"
FIXTURES = DATA / "fixtures"  # real recorded responses and records; each folder's PROVENANCE.md
SEED = REPO_ROOT / "src" / "paperfeed" / "data" / "seed_papers.jsonl"  # the package's own
ARXIV_METADATA = FIXTURES / "arxiv_metadata"
SNAPSHOT = ARXIV_METADATA / "kaggle_snapshot_first1000" / "arxiv_data_fixed.jsonl"  # 1,000 lines
API_500 = ARXIV_METADATA / "api_recent_500_2026" / "arxiv_papers.json"  # one JSON array
ARXIV_API = FIXTURES / "arxiv_api"
ARXIV_OAI = FIXTURES / "arxiv_oai_pmh"
HF_DAILY = FIXTURES / "hf_daily_papers"
LISTINGS = DATA / "arxiv_listing"  # written for the tests in rss.arxiv.org's format


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


def copy_db(source: Path, target: Path) -> Path:
    """A consistent copy of the SQLite database `source` at `target` (for per-test copies of a
    database a fixture built once)."""
    with sqlite3.connect(source) as src, sqlite3.connect(target) as dst:
        src.backup(dst)
    src.close()
    dst.close()
    return target


@pytest.fixture(scope="session")
def demo_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """What `make demo` builds (`paperfeed demo --no-serve`: the bundled papers, their shipped
    vectors, the recorded Hugging Face day), once per run (a few seconds)."""
    from paperfeed.cli import main

    path = tmp_path_factory.mktemp("demo") / "demo.db"
    assert main(["--db", str(path), "demo", "--no-serve"]) == 0
    return path
