"""Results that end where relevance ends (hybrid.cut_off): the pure rule, property-tested, and
the engine on the embedded seed papers with the real model: semantic and hybrid results stop
well short of the whole corpus, and never lose what keyword search alone ranks first."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from paperfeed.search.engine import SearchEngine
from paperfeed.search.hybrid import convex_fusion, cut_off
from paperfeed.search.models import load_embedder
from paperfeed.search.query import SearchRequest
from paperfeed.store import Store, open_store

QUERIES = (
    "dropout",
    "how do I stop a language model from memorizing private data",
    "dataset distillation",
    "heat pump",
    "label noise",
    "wind turbine anomalies",
    "protein folding",
    "the data",
)


def ranking(draw: st.DrawFn, items: list[int], low: float, high: float) -> list[tuple[int, float]]:
    scores = sorted((draw(st.floats(low, high)) for _ in items), reverse=True)
    return list(zip(items, scores, strict=True))


@st.composite
def sides(draw: st.DrawFn) -> tuple[list[tuple[int, float]], list[tuple[int, float]]]:
    pool = st.lists(st.integers(0, 60), unique=True, max_size=25)
    keyword = ranking(draw, draw(pool), 0.01, 40.0)  # BM25: positive, unbounded
    semantic = ranking(draw, draw(pool), -1.0, 1.0)  # cosines
    return keyword, semantic


@given(sides(), st.floats(-1.0, 1.0), st.floats(0.0, 1.0), st.floats(0.0, 1.0))
def test_the_keyword_first_is_never_cut(
    lists: tuple[list[tuple[int, float]], list[tuple[int, float]]],
    min_cosine: float,
    share: float,
    weight: float,
) -> None:
    keyword, semantic = lists
    fused = convex_fusion([keyword, semantic], [1 - weight, weight])
    kept = cut_off(fused, keyword, semantic, min_cosine=min_cosine, keyword_share=share)
    if keyword:
        assert keyword[0][0] in {item for item, _ in kept}
    assert kept == [pair for pair in fused if pair in kept]  # fused's order, nothing new
    cosine = dict(semantic)
    assert {i for i, _ in fused if i in cosine and cosine[i] >= min_cosine} <= {i for i, _ in kept}


def test_semantic_alone_keeps_what_is_above_the_floor_and_what_it_cannot_judge() -> None:
    semantic = [(1, 0.8), (2, 0.5), (3, 0.2)]
    assert cut_off(semantic, [], semantic, min_cosine=0.4, keyword_share=0.5) == semantic[:2]
    # a paper the semantic side did not reach: below its last cosine, so below the floor here
    fused = [(1, 1.0), (9, 0.6), (3, 0.1)]
    assert cut_off(fused, [(9, 5.0)], semantic, min_cosine=0.4, keyword_share=2.0) == [
        (1, 1.0),
        (9, 0.6),  # the keyword side's first
    ]
    keyword = [(5, 10.0), (9, 2.0)]
    assert cut_off([(1, 1.0), (5, 0.5), (9, 0.3)], keyword, semantic, min_cosine=0.4,
                   keyword_share=0.5) == [(1, 1.0), (5, 0.5)]  # fmt: skip
    # the semantic side stopped above the floor: what it did not reach cannot be judged
    high = [(1, 0.9), (2, 0.7)]
    assert cut_off([(1, 1.0), (7, 0.2)], [(7, 1.0)], high, min_cosine=0.4,
                   keyword_share=0.5) == [(1, 1.0), (7, 0.2)]  # fmt: skip
    assert cut_off([(4, 1.0)], [(4, 3.0)], [], min_cosine=0.9, keyword_share=0.9) == [(4, 1.0)]


# -- through the engine, on the seed papers with the real model -------------------------------


@pytest.fixture(scope="module")
def engine(embedded_seed_db: Path, tmp_path_factory: pytest.TempPathFactory
           ) -> Iterator[SearchEngine]:  # fmt: skip
    store: Store = open_store(str(embedded_seed_db), readonly=True)
    yield SearchEngine(store, tmp_path_factory.mktemp("cutoff"), load_embedder())
    store.close()


def ids(engine: SearchEngine, query: str, mode: str, limit: int = 300) -> list[str]:
    request = SearchRequest(query, limit=limit, mode=mode)  # type: ignore[arg-type]
    return [hit.paper.title for hit in engine.results(request).hits]


@pytest.mark.parametrize("query", QUERIES)
def test_hybrid_keeps_what_keyword_search_ranks_first(engine: SearchEngine, query: str) -> None:
    first = ids(engine, query, "keyword", limit=1)
    hybrid = ids(engine, query, "hybrid")
    assert first and first[0] in hybrid
    assert len(hybrid) < engine.store.count_papers()


def test_semantic_results_end_on_the_demo_corpus(engine: SearchEngine) -> None:
    for query, first, most in (("heat pumps", "HEAPO", 3), ("label noise", "Co-teaching", 30)):
        results = engine.results(SearchRequest(query, limit=300, mode="semantic"))
        titles = [hit.paper.title for hit in results.hits]
        assert results.exact and results.total == len(titles)
        assert 1 <= len(titles) <= most, (query, len(titles))  # 227 without the cut-off
        assert first in titles[0]
        engine.cut_results = False
        try:
            assert engine.results(SearchRequest(query, limit=300, mode="semantic")).total == 227
        finally:
            engine.cut_results = True


def test_dropout_in_hybrid_mode_stops_before_heat_pumps(engine: SearchEngine) -> None:
    results = engine.results(SearchRequest("dropout", limit=300, mode="hybrid"))
    titles = [hit.paper.title for hit in results.hits]
    assert results.exact and results.total == len(titles) < 227
    assert not any("Heat Pump" in title for title in titles)
    assert all(t in titles for t in ids(engine, "dropout", "keyword")[:20])
