"""The search caches (search/cache.py): a cached ranking is never served once the store changed
(a paper added through another connection, as a harvest in another process adds it, or vectors
written later), cached answers equal uncached ones whatever the filters, mode and page, and
both caches stay within their bounds. Real SQLite, real tantivy and faiss, the hashing
embedder."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from datetime import date
from pathlib import Path

import numpy as np
import pytest

from paperfeed.models import Paper
from paperfeed.search.cache import LRU, SearchCache
from paperfeed.search.embed import HashingEmbedder, Vectors, embed_missing
from paperfeed.search.engine import Ranking, SearchEngine
from paperfeed.search.query import Filters, SearchRequest
from paperfeed.store import open_store

TOPICS = ["graph neural networks", "protein folding", "speech recognition", "image denoising",
          "reinforcement learning", "language models"]  # fmt: skip


def corpus(n: int) -> list[Paper]:
    papers = []
    for i in range(n):
        topic = TOPICS[i % len(TOPICS)]
        papers.append(Paper(
            id=f"p{i}", title=f"{topic} study {i}",
            abstract=f"We study {topic} with method {i % 7} on benchmark {i % 5}.",
            categories=("cs.LG",) if i % 2 else ("q-bio.BM",),
            published=date(2020 + i % 5, 1 + i % 12, 1),
        ))  # fmt: skip
    return papers


class CountingEmbedder(HashingEmbedder):
    def __init__(self) -> None:
        super().__init__(64)
        self.queries = 0

    def embed_query(self, text: str) -> Vectors:
        self.queries += 1
        return super().embed_query(text)


@pytest.fixture
def db(tmp_path: Path) -> Path:
    path = tmp_path / "papers.db"
    s = open_store(str(path))
    s.upsert_papers(corpus(60))
    embed_missing(s, HashingEmbedder(64))
    s.close()
    return path


@pytest.fixture
def engine(db: Path) -> Iterator[SearchEngine]:
    s = open_store(str(db))
    yield SearchEngine(s, str(db) + "-index", CountingEmbedder(), cache=SearchCache[Ranking](64))
    s.close()


def ids(engine: SearchEngine, request: SearchRequest) -> tuple[list[str], bool]:
    found = engine.results(request)
    return [h.paper.id for h in found.hits], found.cached


def add_from_elsewhere(db: Path, paper: Paper, *, embed: bool = True) -> None:
    """A paper written through another connection, as a harvest in another process would."""
    other = open_store(str(db))
    other.upsert_papers([paper])
    if embed:
        embed_missing(other, HashingEmbedder(64))
    other.close()


ZEBRA = Paper(id="zebra-1", title="zebra stripes in protein folding",
              abstract="Zebra stripes fold like proteins.", categories=("cs.LG",),
              published=date(2024, 5, 1))  # fmt: skip


@pytest.mark.parametrize("mode", ["keyword", "semantic", "hybrid"])
def test_a_cached_result_is_invalidated_when_a_paper_is_added(
    engine: SearchEngine, db: Path, mode: str
) -> None:
    request = SearchRequest(text="zebra stripes protein folding", mode=mode, limit=5)  # type: ignore[arg-type]
    first, cached = ids(engine, request)
    assert not cached and "zebra-1" not in first
    again, cached = ids(engine, request)
    assert cached and again == first

    add_from_elsewhere(db, ZEBRA)
    now, cached = ids(engine, request)
    assert not cached and now[0] == "zebra-1"
    assert ids(engine, request) == (now, True)


def test_vectors_written_later_invalidate_a_cached_semantic_result(
    engine: SearchEngine, db: Path
) -> None:
    request = SearchRequest(text="zebra stripes protein folding", mode="semantic", limit=5)
    add_from_elsewhere(db, ZEBRA, embed=False)  # not embedded yet: not found by meaning
    assert "zebra-1" not in ids(engine, request)[0]
    assert ids(engine, request)[1]
    other = open_store(str(db))
    embed_missing(other, HashingEmbedder(64))  # the embedder catches up, in another process
    other.close()
    now, cached = ids(engine, request)
    assert not cached and now[0] == "zebra-1"


def test_the_key_separates_filters_mode_and_depth_and_cached_answers_equal_fresh_ones(
    engine: SearchEngine, db: Path
) -> None:
    fresh_store = open_store(str(db), readonly=True)
    fresh = SearchEngine(fresh_store, str(db) + "-index", HashingEmbedder(64))  # no cache
    base = SearchRequest(text="protein folding benchmark", limit=10, mode="hybrid")
    requests = [
        base,
        replace(base, mode="keyword"),
        replace(base, mode="semantic"),
        replace(base, filters=Filters(categories=("cs.LG",))),
        replace(base, filters=Filters(since=date(2023, 1, 1))),
        replace(base, filters=Filters(categories=("cs.LG",)), mode="keyword"),
        replace(base, offset=100),  # ranked 200 deep: another ranking
        replace(base, offset=10),  # pages within 100 are slices of `base`'s ranking
        replace(base, limit=20),
        replace(base, offset=5, limit=5),
        replace(base, offset=150, limit=50),  # within 200: the offset=100 ranking
    ]
    served = [ids(engine, r) for r in requests]
    assert [cached for _, cached in served] == [False] * 7 + [True] * 4
    for request, (found, _) in zip(requests, served, strict=True):
        assert found == [h.paper.id for h in fresh.results(request).hits], request
        assert ids(engine, request) == (found, True)
    assert len({tuple(found) for found, _ in served}) >= 6  # mostly different answers
    engine.dense_weight = 0.9  # another fusion: not the cached ranking
    assert ids(engine, base)[1] is False
    fresh_store.close()


def test_pages_are_slices_of_one_ranking(engine: SearchEngine) -> None:
    """Paging never skips or repeats a paper: page after page (4 a page over this store's 20
    papers) is the same list as one request for all, in every mode."""
    for mode in ("keyword", "semantic", "hybrid"):
        text = "protein folding benchmark" if mode != "keyword" else "protein OR model OR data"
        whole = [h.paper.id for h in engine.results(SearchRequest(text, limit=40, mode=mode)).hits]
        paged = [h.paper.id for offset in range(0, 40, 4)
                 for h in engine.results(SearchRequest(text, limit=4, offset=offset,
                                                       mode=mode)).hits]  # fmt: skip
        assert paged == whole and len(whole) >= 12, mode


def test_sync_is_a_cheap_no_op_until_the_store_changes(engine: SearchEngine, db: Path) -> None:
    engine.sync()
    version = engine.version
    for _ in range(3):
        assert engine.sync() == 0
    assert engine.version == version
    add_from_elsewhere(db, ZEBRA)
    assert engine.sync() == 2  # the keyword index took the paper, the vector index its vector
    assert engine.version > version


def test_lru_keeps_the_most_recently_used_within_its_bounds() -> None:
    lru: LRU[str, list[int]] = LRU(3, 10, len)
    for key in "abcd":
        lru.put(key, [1, 2])
    assert len(lru) == 3 and "a" not in lru
    assert lru.get("b") == [1, 2]  # b is now the most recent: c goes next
    lru.put("e", [1])
    assert "c" not in lru and {"b", "d", "e"} <= {k for k in "bde" if k in lru}
    lru.put("big", list(range(8)))  # by size: 2 + 1 + 8 > 10, the oldest go
    assert lru.size <= 10 and "big" in lru and "b" not in lru
    lru.put("huge", list(range(11)))  # larger than the whole cache: not kept
    assert "huge" not in lru and lru.size <= 10
    stats = lru.stats()
    assert (stats.hits, stats.misses) == (1, 0) and stats.hit_rate == 1.0
    assert lru.get("nothing") is None and lru.stats().misses == 1
    off: LRU[str, list[int]] = LRU(0, 10, len)
    off.put("a", [1])
    assert len(off) == 0


def test_the_ranking_cache_stays_bounded(db: Path) -> None:
    s = open_store(str(db))
    engine = SearchEngine(s, str(db) + "-index", HashingEmbedder(64),
                          cache=SearchCache[Ranking](4, ranking_items=500))  # fmt: skip
    for i in range(12):
        engine.results(SearchRequest(text=f"{TOPICS[i % 6]} method {i}", limit=10))
    assert engine.cache is not None
    assert len(engine.cache.rankings) == 4 and engine.cache.rankings.size <= 500
    s.close()


def test_query_embeddings_are_cached_read_only_and_bounded(engine: SearchEngine) -> None:
    embedder = engine.embedder
    assert isinstance(embedder, CountingEmbedder) and engine.cache is not None
    first = engine._embed_query("protein folding")
    second = engine._embed_query("protein folding")
    assert embedder.queries == 1 and second is first
    assert np.array_equal(first, HashingEmbedder(64).embed_query("protein folding"))
    with pytest.raises(ValueError):
        first[0] = 1.0  # shared between searches: nobody may change it in place
    # a new request that embeds the same words (another mode, filters) embeds nothing again
    engine.results(SearchRequest(text="protein folding", mode="semantic",
                                 filters=Filters(categories=("cs.LG",))))  # fmt: skip
    assert embedder.queries == 1
    for i in range(100):
        engine._embed_query(f"query {i}")
    assert len(engine.cache.embeddings) == 64  # the engine's bound
    assert embedder.queries == 101


def test_threads_searching_while_papers_come_never_get_a_stale_answer(
    engine: SearchEngine, db: Path
) -> None:
    """Once a search has seen a new paper, no later one answers without it, whichever thread
    cached what. (When it is first seen can lag: the engine's one SQLite connection is shared
    by the threads, and reads the snapshot another thread's open read still holds; an engine
    without a cache lags the same.)"""
    request = SearchRequest(text="zebra stripes", mode="keyword", limit=10)
    errors: list[BaseException] = []
    stop = threading.Event()

    def search() -> None:
        try:
            while not stop.is_set():
                engine.results(request)
        except BaseException as e:
            errors.append(e)

    threads = [threading.Thread(target=search) for _ in range(4)]
    for t in threads:
        t.start()
    try:
        for i in range(5):
            add_from_elsewhere(db, replace(ZEBRA, id=f"zebra-{i}", title=f"zebra stripes {i}"))
            everything = {f"zebra-{j}" for j in range(i + 1)}
            deadline = time.monotonic() + 10
            while not everything <= set(ids(engine, request)[0]):
                assert time.monotonic() < deadline, f"zebra-{i} never found"
            for _ in range(20):
                assert everything <= set(ids(engine, request)[0])
    finally:
        stop.set()
        for t in threads:
            t.join()
    assert not errors
