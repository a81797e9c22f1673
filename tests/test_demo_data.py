"""The demo's bundled data (src/paperfeed/data/demo/): shipped vectors that still match the
papers and the model, and no Hugging Face account data. When a test here fails after the
data or the model changed, rebuild with `.venv/bin/python scripts/demo_data.py`."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import orjson
import pytest

from paperfeed.cli import demo_dir, demo_files
from paperfeed.ingest.files import import_file
from paperfeed.models import Paper
from paperfeed.search.embed import import_embeddings, paper_text, text_hash
from paperfeed.store import Store, open_store

VECTORS = demo_dir() / "vectors.npz"
SAMPLE_EVERY = 61  # 12 of the 731 papers: some of each file
FLOAT16_TOLERANCE = 2e-3  # float16 rounding is <= 1e-4 here; the rest is room for other CPUs


@pytest.fixture(scope="module")
def bundled(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    store = open_store(str(tmp_path_factory.mktemp("bundled") / "bundled.db"))
    for path in demo_files():
        assert import_file(store, path).errors == []
    yield store
    store.close()


def papers(store: Store) -> list[Paper]:
    return [change.paper for change in store.iter_changes(0)]


def test_the_shipped_vectors_cover_every_bundled_paper(bundled: Store) -> None:
    model, count = import_embeddings(bundled, VECTORS)
    assert count == bundled.count_papers() == 731, "stale vectors: run scripts/demo_data.py"
    assert bundled.count_embeddings(model) == 731


def test_the_shipped_vectors_are_what_the_model_computes_now(bundled: Store) -> None:
    from paperfeed.search.models import load_embedder

    embedder = load_embedder()
    with np.load(VECTORS, allow_pickle=False) as data:
        assert str(data["model"]) == embedder.name, "other model: run scripts/demo_data.py"
        shipped = dict(zip(data["text_hash"].tolist(), data["vectors"], strict=True))
    sample = [paper_text(p) for p in papers(bundled)[::SAMPLE_EVERY]]
    assert len(sample) == 12
    computed = embedder.embed_documents(sample)
    for text, vector in zip(sample, computed, strict=True):
        stored = shipped[text_hash(text)].astype(np.float32)
        assert np.abs(stored - vector).max() < FLOAT16_TOLERANCE, text[:80]
        assert float(stored @ vector) > 0.9999


def test_the_hugging_face_day_has_no_account_data() -> None:
    path = next(p for p in demo_files() if p.name.startswith("hf_daily_papers"))
    day = orjson.loads(path.read_bytes())
    assert len(day) == 4 and all("submittedBy" not in entry for entry in day)
    authors = [a for entry in day for a in entry["paper"]["authors"]]
    assert authors and all("user" not in a and a["name"] for a in authors)


def test_every_bundled_file_has_its_provenance() -> None:
    provenance = (demo_dir() / "PROVENANCE.md").read_text(encoding="utf-8")
    for path in [*demo_files(), VECTORS]:
        assert f"`{path.name}`" in provenance or f"`../{path.name}`" in provenance, path
        assert Path(path).stat().st_size < 1_000_000
