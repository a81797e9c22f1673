"""The store the search benches measure: N synthetic papers imported, the keyword index built,
one random-but-clustered vector per paper stored for the model, and the vector index built
(bench/search_speed.py builds one per run, bench/http_load.py caches one keyed by this file).

The vectors are not model outputs: embedding 1M abstracts with the CPU model would take many
hours. The query vectors at search time do come from the real model.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from benchlib import corpus, timed

from paperfeed.ingest.files import import_file
from paperfeed.search.embed import Embedder, HashingEmbedder, normalize, to_blob
from paperfeed.search.engine import SearchEngine
from paperfeed.store import EmbeddingRow, open_store

CENTRES = 1000


def load_embedder(name: str) -> Embedder:
    if name.startswith("hashing"):
        return HashingEmbedder(384)
    from paperfeed.search.models import load_embedder as load

    return load(name or None)


def clustered_vectors(count: int, dim: int, start: int, rng_seed: int = 0) -> np.ndarray:
    """Vectors start..start+count of a fixed clustered set (same for every run)."""
    centres = np.random.default_rng(rng_seed).standard_normal((CENTRES, dim)).astype(np.float32)
    rng = np.random.default_rng(rng_seed + 1 + start)
    which = rng.integers(0, CENTRES, count)
    noise = rng.standard_normal((count, dim)).astype(np.float32)
    return normalize(centres[which] + 0.8 * noise)


def fill_vectors(db: Path, model: str, dim: int) -> float:
    store = open_store(str(db))
    t = time.perf_counter()
    after = 0
    while todo := store.list_embedding_todo(model, after, 20_000):
        vectors = clustered_vectors(len(todo), dim, after)
        rows = [
            EmbeddingRow(item.seq, item.changed, "synthetic", to_blob(vectors[i]))
            for i, item in enumerate(todo)
        ]
        store.put_embeddings(model, rows)
        after = todo[-1].seq
    store.close()
    return time.perf_counter() - t


def size_mb(path: Path) -> float:
    files = [path] if path.is_file() else [p for p in path.rglob("*") if p.is_file()]
    return sum(p.stat().st_size for p in files) / 1e6


def build_store(
    n: int, db: Path, index: Path, embedder: Embedder, step: Callable[[str], None] = print
) -> dict[str, float]:
    """Import n synthetic papers into `db`, build the keyword index, store clustered vectors
    for `embedder` and build the vector index in `index`; returns seconds per stage."""
    source = corpus(n)
    store = open_store(str(db))
    import_s, _ = timed(lambda: import_file(store, source))
    step(f"imported in {import_s:.0f} s; building the keyword index")
    engine = SearchEngine(store, index)
    keyword_s, _ = timed(lambda: engine.keyword.sync(store))
    store.close()
    step(f"keyword index in {keyword_s:.0f} s; storing synthetic vectors for {embedder.name}")
    vectors_s = fill_vectors(db, embedder.name, embedder.dim)
    step(f"vectors stored in {vectors_s:.0f} s; building the vector index")
    store = open_store(str(db))
    engine = SearchEngine(store, index, embedder)
    assert engine.vectors is not None
    vindex_s, _ = timed(lambda: engine.vectors.sync(store))  # type: ignore[union-attr]
    store.close()
    return {"import_s": import_s, "keyword_s": keyword_s, "vectors_s": vectors_s,
            "vector_index_s": vindex_s}  # fmt: skip
