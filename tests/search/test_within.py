"""Searching within a set of papers (SearchEngine.search_within), on the embedded seed papers with
the real model, against a straightforward reference: the keyword index's own search over all
papers (every word required) kept to the set, and each paper's stored vector against the query's
one paper at a time. And the one-search-engine rule: outside search/, nothing imports tantivy or
faiss."""

from __future__ import annotations

import ast
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import pytest

from paperfeed.errors import QueryError
from paperfeed.models import collapse_space
from paperfeed.search.embed import Embedder, HashingEmbedder, from_blobs
from paperfeed.search.engine import SearchEngine
from paperfeed.search.hybrid import convex_fusion
from paperfeed.search.models import load_embedder
from paperfeed.search.query import Filters, ParsedQuery, matches, parse_query
from paperfeed.search.within import QUERY_MIN_COSINE, RUN_MIN, WithinSearch
from paperfeed.store import Store, open_store

SRC = Path(__file__).resolve().parents[2] / "src" / "paperfeed"
QUERIES = (
    "dataset distillation",
    "making a trained model forget specific training examples",
    '"data augmentation" images',
    "label noise -survey",
    "out-of-distribution   Detection",
    "contrastive learning of sentence embeddings",
    "protein folding",
    "the",
)


@pytest.fixture(scope="module")
def store(embedded_seed_db: Path) -> Iterator[Store]:
    s = open_store(str(embedded_seed_db), readonly=True)
    yield s
    s.close()


@pytest.fixture(scope="module")
def embedder() -> Embedder:
    return load_embedder()


@pytest.fixture(scope="module")
def engine(store: Store, embedder: Embedder, tmp_path_factory: pytest.TempPathFactory
           ) -> SearchEngine:  # fmt: skip
    return SearchEngine(store, tmp_path_factory.mktemp("within"), embedder)


@pytest.fixture(scope="module")
def seqs(store: Store) -> list[int]:
    """A run long enough to be searched as a range, then strays: every third paper after it."""
    n = store.count_papers()
    assert n > 2 * RUN_MIN
    return list(range(1, RUN_MIN + 30)) + list(range(RUN_MIN + 31, n + 1, 3))


def reference(engine: SearchEngine, query: str, seqs: Sequence[int], k: int = 100,
              keyword_only: bool = False) -> list[tuple[int, float]]:  # fmt: skip
    parsed = parse_query(collapse_space(query))
    if not (parsed.words or parsed.phrases):
        return []
    strict = ParsedQuery(phrases=parsed.phrases + parsed.words, excluded=parsed.excluded)
    inside = set(seqs)
    everywhere = engine.keyword.search(strict, Filters(), limit=10_000)
    keyword = [(s, v) for s, v in everywhere if s in inside][:k]
    if keyword_only or engine.embedder is None:
        return convex_fusion([keyword], [1.0])[:k]
    embedder = engine.embedder
    query_vector = embedder.embed_query(" ".join(parsed.phrases + parsed.words))
    papers = engine.store.get_papers_by_seq(seqs)
    dense = []
    for seq in seqs:
        blob = engine.store.get_vector(embedder.name, seq)
        if blob is not None:
            cosine = float(from_blobs([blob], embedder.dim)[0] @ query_vector)
            if cosine >= QUERY_MIN_COSINE:
                dense.append((seq, cosine))
    dense = sorted(dense, key=lambda x: (-x[1], x[0]))[:k]
    dense = [(s, v) for s, v in dense if matches(papers[s], Filters(), parsed)]
    weight = engine.dense_weight
    return convex_fusion([keyword, dense], [1 - weight, weight])[:k]


def same(got: list[tuple[int, float]], expected: list[tuple[int, float]]) -> None:
    assert [s for s, _ in got] == [s for s, _ in expected]
    assert np.allclose([v for _, v in got], [v for _, v in expected], atol=1e-5)


@pytest.mark.parametrize("query", QUERIES)
def test_search_within_ranks_as_the_reference_does(
    engine: SearchEngine, seqs: list[int], query: str
) -> None:
    got = engine.search_within(query, seqs)
    same(got, reference(engine, query, seqs))
    assert {s for s, _ in got} <= set(seqs)
    same(engine.search_within(query, seqs, keyword_only=True),
         reference(engine, query, seqs, keyword_only=True))  # fmt: skip


def test_the_seed_queries_find_papers_by_words_and_by_meaning(
    engine: SearchEngine, seqs: list[int]
) -> None:
    """The reference comparison above is not vacuous: both sides find papers in the set."""
    words = engine.search_within("dataset distillation", seqs, keyword_only=True)
    meaning = engine.search_within(QUERIES[1], seqs)
    assert len(words) >= 3 and meaning
    assert not engine.search_within(QUERIES[1], seqs, keyword_only=True)  # no paper has all
    assert engine.search_within("the", seqs) == []
    texts = engine.store.get_papers_by_seq([s for s, _ in words])
    for paper in texts.values():  # every word required
        text = f"{paper.title} {paper.abstract}".lower()
        assert "dataset" in text and "distil" in text


def test_many_queries_at_once_give_what_each_gives_alone(
    engine: SearchEngine, seqs: list[int]
) -> None:
    session = WithinSearch(engine)
    papers = session.papers(seqs)
    queries = [*QUERIES, QUERIES[0], " dataset  distillation "]
    many = engine.search_within_many(queries, papers, k=5)
    assert len(many) == len(queries)
    for query, found in zip(queries, many, strict=True):
        same(found, engine.search_within(query, seqs, k=5))
        assert len(found) <= 5
    assert many[-1] is many[0]  # one list per distinct search
    assert set(session.query_vectors) >= {"dataset distillation", "label noise"}
    assert engine.search_within(QUERIES[0], []) == []
    with pytest.raises(QueryError, match="between 1 and"):
        engine.search_within(QUERIES[0], seqs, k=0)


def test_without_an_embedder_it_is_the_keyword_side(
    store: Store, engine: SearchEngine, seqs: list[int]
) -> None:
    keyword = SearchEngine(store, engine.keyword.path.parent)  # one index: the same tie order
    for query in QUERIES:
        same(keyword.search_within(query, seqs),
             engine.search_within(query, seqs, keyword_only=True))  # fmt: skip
    assert keyword.within(seqs).unembedded() == 0
    assert engine.within(seqs).unembedded() == 0  # every seed paper is embedded


def test_the_hashing_embedder_embeds_queries_in_batches_as_one_at_a_time() -> None:
    embedder = HashingEmbedder(32)
    texts = ["graphs", "", "dataset distillation for graphs", "graphs"]
    assert np.allclose(embedder.embed_queries(texts),
                       np.stack([embedder.embed_query(t) for t in texts]))  # fmt: skip
    assert embedder.embed_queries([]).shape == (0, 32)


# -- one search engine ------------------------------------------------------------------------


def imported_modules(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            found.add(node.module.split(".")[0])
    return found


@pytest.mark.parametrize("package", ["digest", "users", "rank", "web"])
def test_only_the_search_package_talks_to_the_indexes(package: str) -> None:
    files = sorted((SRC / package).rglob("*.py"))
    assert files
    for path in files:
        assert not imported_modules(path) & {"tantivy", "faiss"}, path
