"""bench/trending.py's cached store at a tiny size: built once into a keyed cache folder, reused
by the next run, and never found when half-built."""

from __future__ import annotations

import importlib.util
import sys
import tempfile
from pathlib import Path
from types import ModuleType

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"


def _load(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"paperfeed_bench_{name}", BENCH / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def trending(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))  # caches go to the test's folder
    monkeypatch.syspath_prepend(str(BENCH))  # as `python bench/trending.py` runs it
    monkeypatch.delitem(sys.modules, "benchlib", raising=False)
    return _load("trending")


def test_trending_store_is_built_once_and_reused(trending: ModuleType, tmp_path: Path) -> None:
    db, meta = trending.load_or_build(300, 3000, 30, False)
    assert meta["cached"] is False and meta["papers"] == 300
    assert db.name == "store.db" and db.parent.parent == tmp_path
    assert db.parent.name.startswith("paperfeed-bench-trending-300-3000-30-")
    again, meta = trending.load_or_build(300, 3000, 30, False)
    assert again == db and meta["cached"] is True
    assert not [p for p in tmp_path.iterdir() if ".tmp-" in p.name]


def test_an_interrupted_trending_build_leaves_no_store(
    trending: ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def interrupted(*args: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(trending, "add_events", interrupted)
    with pytest.raises(KeyboardInterrupt):
        trending.load_or_build(300, 3000, 30, False)
    assert not [p for p in tmp_path.iterdir() if p.name.startswith("paperfeed-bench-trending")]
