"""Embedding plumbing and the vector index, with the fast hashing embedder (the real model
has its own tests). Real SQLite, real faiss."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

from paperfeed.models import Paper
from paperfeed.search import vectors as vectors_module
from paperfeed.search.embed import HashingEmbedder, Vectors, embed_missing, from_blobs
from paperfeed.search.engine import SearchEngine
from paperfeed.search.query import Filters, SearchRequest
from paperfeed.search.vectors import VectorIndex
from paperfeed.store import Store
from tests.search.test_keyword import BAD_QUERIES


def corpus(n: int) -> list[Paper]:
    rng = np.random.default_rng(0)
    words = [f"w{i}" for i in range(300)]
    papers = []
    for i in range(n):
        topic = words[(i % 30) * 10 : (i % 30) * 10 + 10]
        text = " ".join(rng.choice(topic, 30)) + " " + " ".join(rng.choice(words, 10))
        papers.append(Paper(id=f"p{i}", title=f"paper {i} {topic[0]}", abstract=text))
    return papers


class CountingEmbedder(HashingEmbedder):
    def __init__(self, fail_after: int | None = None) -> None:
        super().__init__(64)
        self.calls = 0
        self.texts = 0
        self.fail_after = fail_after

    def embed_documents(self, texts: Sequence[str]) -> Vectors:
        if self.fail_after is not None and self.calls >= self.fail_after:
            raise KeyboardInterrupt  # as a user's Ctrl-C or a kill would
        self.calls += 1
        self.texts += len(texts)
        return super().embed_documents(texts)


def test_embedding_resumes_without_redoing_finished_batches(store: Store) -> None:
    store.upsert_papers(corpus(50))
    interrupted = CountingEmbedder(fail_after=3)
    with pytest.raises(KeyboardInterrupt):
        embed_missing(store, interrupted, batch_size=8)
    assert store.count_embeddings(interrupted.name) == 24
    resumed = CountingEmbedder()
    report = embed_missing(store, resumed, batch_size=8)
    assert (report.embedded, resumed.texts) == (26, 26)
    assert store.count_embeddings(resumed.name) == 50


def test_only_changed_text_is_embedded_again(store: Store) -> None:
    papers = corpus(5)
    store.upsert_papers(papers)
    embed_missing(store, HashingEmbedder(64))
    store.upsert_papers([Paper(id="p0", title=papers[0].title, abstract="new words", version=2)])
    store.upsert_papers([Paper(id="p1", title=papers[1].title, abstract=papers[1].abstract,
                               version=2, extra={"upvotes": 9})])  # fmt: skip
    embedder = CountingEmbedder()
    report = embed_missing(store, embedder)
    assert (report.embedded, report.unchanged, embedder.texts) == (1, 1, 1)


def exact(vectors: np.ndarray, query: np.ndarray, k: int) -> list[int]:
    return [int(i) for i in np.argsort(-(vectors @ query), kind="stable")[:k]]


@pytest.mark.parametrize("hnsw_from", [10**9, 1])
def test_index_agrees_with_exact_search(
    store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, hnsw_from: int
) -> None:
    monkeypatch.setattr(vectors_module, "HNSW_FROM", hnsw_from)
    embedder = HashingEmbedder(64)
    store.upsert_papers(corpus(400))
    embed_missing(store, embedder)
    seqs = [c.seq for c in store.iter_vector_changes(embedder.name, 0)]
    blobs = [store.get_vector(embedder.name, s) or b"" for s in seqs]
    matrix = from_blobs(blobs, 64)
    index = VectorIndex(tmp_path / "v", embedder.name, 64)
    index.sync(store)
    assert index.state.kind == ("flat" if hnsw_from > 1 else "hnsw")
    recall = []
    for q in range(0, 400, 20):
        truth = {seqs[i] for i in exact(matrix, matrix[q], 10)}
        got = {s for s, _ in index.search(matrix[q], 10)}
        recall.append(len(truth & got) / 10)
    assert np.mean(recall) >= (1.0 if hnsw_from > 1 else 0.9)
    reopened = VectorIndex(tmp_path / "v", embedder.name, 64)  # persisted, same answers
    assert reopened.search(matrix[0], 5) == index.search(matrix[0], 5)


def test_superseded_vectors_never_come_back(store: Store, tmp_path: Path) -> None:
    embedder = HashingEmbedder(64)
    store.upsert_papers([Paper(id="a", title="zebra stripes", abstract="zebra zebra")])
    store.upsert_papers([Paper(id="b", title="giraffe necks", abstract="giraffe")])
    embed_missing(store, embedder)
    index = VectorIndex(tmp_path / "v", embedder.name, 64)
    index.sync(store)
    store.upsert_papers([Paper(id="a", title="zebra stripes", abstract="giraffe", version=2)])
    embed_missing(store, embedder)
    index.sync(store)
    hits = index.search(embedder.embed_query("giraffe"), 10)
    assert len(hits) == 2 and len({s for s, _ in hits}) == 2


@pytest.fixture
def engine(store: Store, tmp_path: Path) -> SearchEngine:
    store.upsert_papers(
        [
            Paper(id="u1", title="Machine unlearning", abstract="forget training examples",
                  categories=("cs.LG",)),
            Paper(id="u2", title="Certified data removal", abstract="remove training data",
                  categories=("stat.ML",)),
            Paper(id="o1", title="Protein folding", abstract="structures of proteins",
                  categories=("q-bio.BM",)),
        ]
    )  # fmt: skip
    embedder = HashingEmbedder(64)
    embed_missing(store, embedder)
    # the cut-off's cosine floor is calibrated for the real model (tests/search/test_cutoff.py);
    # hashed vectors' cosines say nothing about relevance
    return SearchEngine(store, tmp_path / "index", embedder, cut_results=False)


@pytest.mark.parametrize("mode", ["semantic", "hybrid"])
@pytest.mark.parametrize("text", BAD_QUERIES)
def test_odd_queries_work_in_every_mode(engine: SearchEngine, mode: str, text: str) -> None:
    hits = engine.search(SearchRequest(text, limit=5, mode=mode))  # type: ignore[arg-type]
    assert len(hits) <= 5


def test_hybrid_includes_papers_only_one_side_found(engine: SearchEngine) -> None:
    keyword = {h.paper.id for h in engine.search(SearchRequest("training", mode="keyword"))}
    semantic = {h.paper.id for h in engine.search(SearchRequest("training", mode="semantic"))}
    hybrid = {h.paper.id for h in engine.search(SearchRequest("training", mode="hybrid"))}
    assert hybrid == keyword | semantic
    assert semantic - keyword  # the hashing embedder puts every paper somewhere


def test_semantic_results_respect_filters_and_exclusions(engine: SearchEngine) -> None:
    only_lg = engine.search(SearchRequest("training", Filters(categories=("cs",)), mode="semantic"))
    assert [h.paper.id for h in only_lg] == ["u1"]
    hits = engine.search(SearchRequest("training -forget", mode="hybrid"))
    assert "u1" not in {h.paper.id for h in hits}


def test_related_excludes_the_paper_itself(engine: SearchEngine) -> None:
    related = engine.related("u1", limit=5)
    ids = [h.paper.id for h in related]
    assert sorted(ids) == ["o1", "u2"]
