"""Every test in tests/store/ that takes `backend` (or `store`) runs once per backend: SQLite in a
temporary file, and PostgreSQL in a fresh database on the run's own server (tests/pg.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from paperfeed.store import Store, open_store
from tests import pg

BACKENDS = ("sqlite", "postgres")


def open_backend(name: str, tmp_path: Path) -> tuple[Store, str]:
    """A new empty store of backend `name`, and its URL."""
    tmp_path.mkdir(parents=True, exist_ok=True)
    url = str(tmp_path / "contract.db") if name == "sqlite" else pg.fresh_database()
    return open_store(url), url


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    s, url = open_backend(request.param, tmp_path)
    yield s
    s.close()
    if request.param == "postgres":
        pg.drop_database(url)


@pytest.fixture
def store(backend: Store) -> Store:
    return backend
