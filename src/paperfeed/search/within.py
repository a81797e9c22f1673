"""Searching within a given set of papers (a day's new papers, say), never by a global top-k: a
top-100 of a million papers holds almost none of today's. What the digest composer matches its
saved searches with; the engine offers it as `SearchEngine.search_within`.

- Keyword side: BM25 with every word required (a search for "dataset distillation" must not
  match every paper that says "dataset"), restricted to the papers by a clause on their row
  numbers (`seq_clause`).
- Dense side: the query embedding against the stored vectors of the papers (read from the
  store, not the vector index: an exact product over a few thousand rows), those with cosine at
  least `min_cosine` (QUERY_MIN_COSINE, measured for digests: see digest/compose.py).
- Fused as hybrid search fuses them (min-max scaled convex combination, the engine's
  `dense_weight`); without a dense side the keyword scores alone, scaled.

A `WithinSearch` is one pass over many sets of papers and many queries: one snapshot of the
keyword index (synced on first use, so papers stored just before are found) and one cache of
query embeddings, computed in batches. Not thread-safe: one per thread.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING

import numpy as np
import tantivy

from paperfeed.models import collapse_space
from paperfeed.search.embed import Vectors, from_blobs
from paperfeed.search.hybrid import convex_fusion
from paperfeed.search.query import Filters, ParsedQuery, matches, parse_query

if TYPE_CHECKING:
    from paperfeed.search.engine import SearchEngine

QUERY_MIN_COSINE = 0.50  # a query's dense matches within a set of papers (see the docstring)
DEPTH = 100  # matches kept per query and set of papers (each side, and fused)
DENSE_BATCH = 512  # queries per matrix product (512 x 21,000 scores: 43 MB)
RUN_MIN = 64  # consecutive row numbers searched as one range
Ranked = list[tuple[int, float]]


class Within:
    """A set of papers prepared for searching within: their sorted row numbers, the keyword
    index's clause for them and their stored vectors (each made on first use), and the dense
    matches worked out so far. Made by `WithinSearch.papers` (or `SearchEngine.within`)."""

    def __init__(self, session: WithinSearch, seqs: Sequence[int]) -> None:
        self.session = session
        self.seqs = sorted(seqs)
        self._clause: tantivy.Query | None = None
        self._matrix: Vectors | None = None
        self._matrix_seqs: np.ndarray | None = None
        self._dense: dict[tuple[str, int, float], Ranked] = {}  # (text, k, min) -> unfiltered

    def vectors(self) -> tuple[Vectors, np.ndarray] | None:
        """The papers' stored vectors and their row numbers (loaded once); None without an
        embedder or when none of the papers has a vector."""
        embedder = self.session.engine.embedder
        if embedder is None:
            return None
        if self._matrix_seqs is None:
            blobs = self.session.engine.store.get_vectors(embedder.name, self.seqs)
            have = [s for s in self.seqs if s in blobs]
            self._matrix_seqs = np.array(have, dtype=np.int64)
            self._matrix = from_blobs([blobs[s] for s in have], embedder.dim)
        if not len(self._matrix_seqs):
            return None
        assert self._matrix is not None
        return self._matrix, self._matrix_seqs

    def unembedded(self) -> int:
        """How many of the papers have no vector (0 without an embedder)."""
        if self.session.engine.embedder is None:
            return 0
        found = self.vectors()
        return len(self.seqs) - (0 if found is None else len(found[1]))

    def clause(self) -> tantivy.Query:
        if self._clause is None:
            self._clause = seq_clause(self.session.engine.keyword.index.schema, self.seqs)
        return self._clause


class WithinSearch:
    """Many queries over many sets of papers with one engine (see the module docstring)."""

    def __init__(self, engine: SearchEngine) -> None:
        self.engine = engine
        self.query_vectors: dict[str, Vectors] = {}  # by the text embedded
        self._searcher: tantivy.Searcher | None = None

    def papers(self, seqs: Sequence[int]) -> Within:
        return Within(self, seqs)

    def search(self, query: str, papers: Within, *, k: int = DEPTH, keyword_only: bool = False,
               min_cosine: float = QUERY_MIN_COSINE) -> Ranked:  # fmt: skip
        """(seq, fused score) of `papers` matching `query`, best first, at most `k`."""
        return self.search_many([query], papers, k=k, keyword_only=keyword_only,
                                min_cosine=min_cosine)[0]  # fmt: skip

    def search_many(self, queries: Sequence[str], papers: Within, *, k: int = DEPTH,
                    keyword_only: bool = False, min_cosine: float = QUERY_MIN_COSINE
                    ) -> list[Ranked]:  # fmt: skip
        """`search` for each query, in order: the queries' embeddings are computed in batches
        and scored against the papers' vectors DENSE_BATCH queries per matrix product."""
        keys = [collapse_space(q) for q in queries]
        parsed = {key: parse_query(key) for key in keys}
        dense = not keyword_only and papers.vectors() is not None
        if dense:
            texts = {query_text(p) for p in parsed.values() if p.words or p.phrases}
            todo = sorted(t for t in texts if (t, k, min_cosine) not in papers._dense)
            self._dense_batch(papers, todo, k, min_cosine)
        found: dict[str, Ranked] = {}
        for key, p in parsed.items():
            keyword = self._keyword(papers, p, k)
            nearest = self._dense(papers, p, k, min_cosine) if dense else None
            if nearest is None:
                fused = convex_fusion([keyword], [1.0])
            else:
                weight = self.engine.dense_weight
                fused = convex_fusion([keyword, nearest], [1 - weight, weight])
            found[key] = fused[:k]
        return [found[key] for key in keys]

    def embed(self, texts: Sequence[str]) -> None:
        """Embed the texts not embedded yet, in batches (the embedder's `embed_queries`)."""
        embedder = self.engine.embedder
        todo = sorted({t for t in texts if t and t not in self.query_vectors})
        if embedder is None or not todo:
            return
        self.query_vectors.update(zip(todo, embedder.embed_queries(todo), strict=True))

    # -- the two sides ----------------------------------------------------------------------

    def _keyword(self, papers: Within, parsed: ParsedQuery, k: int) -> Ranked:
        """BM25 within the papers, every word required (words become one-word phrases)."""
        if not (parsed.words or parsed.phrases) or not papers.seqs:
            return []
        index = self.engine.keyword
        strict = ParsedQuery(phrases=parsed.phrases + parsed.words, excluded=parsed.excluded)
        query = index.build_query(strict, Filters())
        if query is None:
            return []
        must = tantivy.Occur.Must
        query = tantivy.Query.boolean_query([(must, query), (must, papers.clause())])
        searcher = self._keyword_searcher()
        hits = searcher.search(query, limit=k, count=False).hits
        return [(int(searcher.doc(address)["seq"][0]), float(score)) for score, address in hits]

    def _keyword_searcher(self) -> tantivy.Searcher:
        """Synced once: papers stored just before this pass must be found."""
        if self._searcher is None:
            self.engine.sync()
            self.engine.keyword.index.reload()
            self._searcher = self.engine.keyword.index.searcher()
        return self._searcher

    def _dense(self, papers: Within, parsed: ParsedQuery, k: int, min_cosine: float
               ) -> Ranked | None:  # fmt: skip
        """Papers whose cosine with the query is at least `min_cosine`, best first; None when
        the query has no words."""
        if not (parsed.words or parsed.phrases):
            return None
        text = query_text(parsed)
        if (text, k, min_cosine) not in papers._dense:
            self._dense_batch(papers, [text], k, min_cosine)
        found = papers._dense[text, k, min_cosine]
        if found and (parsed.phrases or parsed.excluded):  # as the engine's semantic side does
            stored = self.engine.store.get_papers_by_seq([s for s, _ in found])
            found = [(s, v) for s, v in found if s in stored and matches(stored[s], Filters(),
                                                                         parsed)]  # fmt: skip
        return found

    def _dense_batch(self, papers: Within, texts: Sequence[str], k: int, min_cosine: float
                     ) -> None:  # fmt: skip
        """The dense matches of many queries at once: one matrix product per DENSE_BATCH
        queries reads the papers' vectors once instead of once per query."""
        loaded = papers.vectors()
        if loaded is None or not texts:
            return
        matrix, seqs = loaded
        self.embed(texts)
        for start in range(0, len(texts), DENSE_BATCH):
            chunk = texts[start : start + DENSE_BATCH]
            sims = np.stack([self.query_vectors[t] for t in chunk]) @ matrix.T
            for text, row in zip(chunk, sims, strict=True):
                best = ranked(row, seqs, min_cosine)[:k]
                papers._dense[text, k, min_cosine] = [(int(seqs[i]), float(row[i])) for i in best]


def seq_clause(schema: tantivy.Schema, seqs: Sequence[int]) -> tantivy.Query:
    """A clause matching exactly the papers `seqs` (sorted), scoring nothing. New papers mostly
    have consecutive row numbers: each run of RUN_MIN or more becomes a range, the rest one
    term set (a term set of 21,000 rows costs ~5 ms per search, a range ~0.4 ms)."""
    q, should = tantivy.Query, tantivy.Occur.Should
    ranges, rest = [], []
    for run in runs(seqs):
        if len(run) >= RUN_MIN:
            ranges.append(q.range_query(schema, "seq", tantivy.FieldType.Integer, run[0], run[-1]))
        else:
            rest += run
    clauses = [(should, r) for r in ranges]
    if rest:
        clauses.append((should, q.term_set_query(schema, "seq", rest)))
    return q.const_score_query(q.boolean_query(clauses), 0.0)


def runs(seqs: Sequence[int]) -> Iterator[list[int]]:
    """Sorted numbers in runs of consecutive ones."""
    run: list[int] = []
    for seq in seqs:
        if run and seq != run[-1] + 1:
            yield run
            run = []
        run.append(seq)
    if run:
        yield run


def query_text(parsed: ParsedQuery) -> str:
    """What the dense side embeds, as the search engine's semantic side does."""
    return " ".join(parsed.phrases + parsed.words)


def ranked(sims: np.ndarray, seqs: np.ndarray, threshold: float) -> list[int]:
    """Positions whose similarity is at least `threshold`, highest first, then lower seq."""
    keep = np.flatnonzero(sims >= threshold)
    return [int(i) for i in keep[np.lexsort((seqs[keep], -sims[keep]))]]
