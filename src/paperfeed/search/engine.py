"""Search as the CLI and the web see it: a request in, papers with scores out.

Three modes: keyword (BM25), semantic (nearest embeddings) and hybrid (both, fused by
reciprocal rank fusion). Keeps the indexes in step with the store before answering, so a
search never misses a paper that is already imported (the catch-up is a no-op when nothing
changed). Semantic search needs an Embedder; without one only keyword search is offered.

`search_within` searches a given set of papers (a day's new papers) instead of the whole
collection: what digests match saved searches with (search/within.py).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from pathlib import Path

from paperfeed.errors import DiskFull, IndexBusy, NotFound, QueryError
from paperfeed.models import Paper
from paperfeed.search import owner_only_dir
from paperfeed.search.cache import SearchCache
from paperfeed.search.embed import Embedder, Vectors, from_blobs
from paperfeed.search.hybrid import convex_fusion, cut_off, reciprocal_rank_fusion
from paperfeed.search.keyword import KeywordIndex
from paperfeed.search.query import Filters, ParsedQuery, SearchRequest, matches, parse_query
from paperfeed.search.vectors import VectorIndex, vector_index_dir
from paperfeed.search.within import DEPTH, QUERY_MIN_COSINE, Ranked, Within, WithinSearch
from paperfeed.store import Store

log = logging.getLogger(__name__)
MAX_LIMIT = 1000
CANDIDATES = 100  # each side's depth before fusion; rankings go this deep, or a multiple
# Hybrid = min-max scaled convex combination with equal weights. Measured (bench/eval_search.py):
# it beats RRF on SciFact (0.730 vs 0.705 nDCG@10) and is >= the better single side on SciFact,
# CSFCube and SciRepEval. Issue 18 re-tuned it on SciFact train and CSFCube's dev fold (nDCG):
# weights 0.4-0.6, min-max vs BM25-floor-0 / cosine-floor 0-0.3 scaling, z-score and
# mean +- 3 sd ("distribution-based") scaling, a bonus for papers both sides found, and a weight
# by query length all landed within +-0.007 of this (SciFact train 0.733, CSFCube dev 0.585),
# below the noise, so it stays as it was. "rrf" stays available.
DENSE_WEIGHT = 0.5
# Where semantic and hybrid results end (hybrid.cut_off): a paper is kept when its cosine to the
# query is at least MIN_COSINE, or (hybrid) its BM25 score is at least KEYWORD_SHARE of the best
# one's. Calibrated on SciFact train so that recall@100 barely moves (hybrid 0.952 -> 0.952,
# semantic 0.929 -> 0.925); a floor of 0.30 cost semantic 0.011. On CSFCube's dev fold no paper
# in the top 100 falls below it (papers as queries: cosines are high).
MIN_COSINE = 0.25
KEYWORD_SHARE = 0.3
FILTERED_CANDIDATES = 1000  # the vector side's depth when filters must be checked after
# A search waits this long for a catch-up another thread has under way (the pipeline's, right
# after a harvest), so that it finds what that brings; a longer one (a new node's first) is
# not waited for: the search answers from what is indexed.
SYNC_WAIT_S = 2.0


@dataclass(frozen=True, slots=True)
class Hit:
    paper: Paper
    score: float


@dataclass(frozen=True, slots=True)
class Ranking:
    """What the ranking stage found, before any paper is loaded: (seq, score) best first, down
    to the depth searched, and how many results there are in all. `exact` is False when the
    list stopped at the depth searched with more beyond it: `total` is then a lower bound."""

    items: list[tuple[int, float]]
    total: int
    exact: bool


@dataclass(frozen=True, slots=True)
class Results:
    """One page of a search and the size of the whole result ("N results", or "N or more"
    when not `exact`)."""

    hits: list[Hit]
    total: int
    exact: bool
    cached: bool = False  # the ranking came from the engine's cache (search/cache.py)


def ranking_depth(request: SearchRequest) -> int:
    """How deep a request is ranked: its offset and limit rounded up to whole CANDIDATES
    (100, 200, ...). Every page within one depth is a slice of the same ranking, so paging
    never skips or repeats a paper, and the ranking cache answers pages 2 to 5 after page 1."""
    return -(-(request.offset + request.limit) // CANDIDATES) * CANDIDATES


class SearchEngine:
    def __init__(
        self,
        store: Store,
        index_dir: str | Path,
        embedder: Embedder | None = None,
        *,
        fusion: str = "convex",
        dense_weight: float = DENSE_WEIGHT,
        cache: SearchCache[Ranking] | None = None,
        cut_results: bool = True,
    ) -> None:
        self.store = store
        self.embedder = embedder
        self.fusion, self.dense_weight = fusion, dense_weight
        self.cache = cache  # query embeddings and rankings (search/cache.py); None: none
        self.cut_results = cut_results  # False: semantic and hybrid results run to the depth
        self._lock = threading.Lock()  # one sync at a time; no vector search during one
        # The store's change numbers (papers, vectors) the indexes last caught up with, and the
        # index version: bumped by every sync that found them changed, part of a cached
        # ranking's key (so a ranking made before a paper came is never served after it).
        self._synced: tuple[int, int] | None = None
        self.version = 0
        owner_only_dir(Path(index_dir) / "vectors")
        self.keyword = KeywordIndex(Path(index_dir) / "keyword")
        self.vectors = (
            VectorIndex(vector_index_dir(index_dir, embedder.name), embedder.name, embedder.dim)
            if embedder
            else None
        )

    def sync(self, on_progress: Callable[[int], None] | None = None, *,
             wait_s: float = 0.0) -> int:  # fmt: skip
        """Catch the indexes up with the store; another process (or thread) doing it is not an
        error: after waiting up to `wait_s` for it, searches meanwhile see what is already
        indexed."""
        changes = self._changes()
        if changes == self._synced and self._indexes_there():
            return 0  # the usual case, checked before every search: two indexed max() lookups
        if not self._lock.acquire(timeout=wait_s if wait_s > 0 else -1, blocking=wait_s > 0):
            return 0
        try:
            done, complete = 0, True
            try:
                done = self.keyword.sync(self.store, on_progress)
            except (IndexBusy, DiskFull) as e:
                log.warning("%s Searching what is already indexed.", e)
                complete = False
            try:
                done += self.vectors.sync(self.store) if self.vectors else 0
            except DiskFull as e:
                log.warning("%s", e)
                complete = False
            # another process may have indexed the changes: search what it committed, now
            self.keyword.index.reload()
            self.version += 1
            if complete:  # (else the next search tries again)
                self._synced = changes
            return done
        finally:
            self._lock.release()

    def _changes(self) -> tuple[int, int]:
        """The store's last paper change and last vector change of this engine's model."""
        vectors = self.store.last_vector_change(self.embedder.name) if self.embedder else 0
        return self.store.last_change(), vectors

    def _indexes_there(self) -> bool:
        """The index folders were not deleted under us (they are derived data: a sync builds
        them again)."""
        keyword = (self.keyword.path / "meta.json").is_file()
        return keyword and (self.vectors is None or self.vectors.path.is_dir())

    def _nearest(
        self, query: Vectors, k: int, exclude: int | None = None
    ) -> list[tuple[int, float]]:
        """Vector search; never while a sync adds vectors (the web serves from threads)."""
        assert self.vectors is not None
        with self._lock:
            return self.vectors.search(query, k, exclude=exclude)

    def _check(self, request: SearchRequest) -> None:
        if not 1 <= request.limit <= MAX_LIMIT:
            raise QueryError(f"The limit must be between 1 and {MAX_LIMIT}.")
        if request.offset < 0:
            raise QueryError("The offset cannot be negative.")
        f = request.filters
        if f.since and f.until and f.since > f.until:
            raise QueryError("The start date is after the end date.")
        if request.mode != "keyword" and self.embedder is None:
            raise QueryError(
                f"{request.mode.capitalize()} search needs the embedding model; "
                "use --mode keyword or install the model."
            )

    def search(self, request: SearchRequest) -> list[Hit]:
        return self.results(request).hits

    def results(self, request: SearchRequest) -> Results:
        """One page of results (`request.offset`, `request.limit`) and how many there are."""
        self._check(request)
        self.sync(wait_s=SYNC_WAIT_S)
        key = self._ranking_key(request)  # (the version before ranking: see sync)
        ranking = self.cache.rankings.get(key) if self.cache else None
        cached = ranking is not None
        if ranking is None:
            ranking = self.rank(request)
            if self.cache:
                self.cache.rankings.put(key, ranking)
        page = ranking.items[request.offset : request.offset + request.limit]
        return Results(self._hits(page), ranking.total, ranking.exact, cached)

    def _ranking_key(self, request: SearchRequest) -> Hashable:
        """Everything `rank(request)` depends on: the request but its offset and limit (only
        the depth they make it rank to), the fusion settings and the index version."""
        return (request.text, request.filters, request.mode, ranking_depth(request), self.fusion,
                self.dense_weight, self.cut_results, self.version)  # fmt: skip

    def rank(self, request: SearchRequest) -> Ranking:
        """The ranked row numbers for `request`, down to its last page (no paper loaded).
        Keyword results are every paper matching a word (counted exactly); semantic and
        hybrid results end where relevance ends (hybrid.cut_off)."""
        parsed = parse_query(request.text)
        want = ranking_depth(request)
        if request.mode == "keyword" or not (parsed.words or parsed.phrases):
            items, total = self.keyword.search_counted(parsed, request.filters, want)
            return Ranking(items, total, True)
        semantic = self._semantic(parsed, request.filters, want)
        if request.mode == "semantic":
            if self.vectors is not None and self.vectors.size == 0:
                raise QueryError("No paper is embedded yet; run `paperfeed embed` first.")
            kept = self.cut_off(semantic, [], semantic)
            return Ranking(kept, len(kept), len(kept) < len(semantic) or len(semantic) < want)
        keyword = self.keyword.search(parsed, request.filters, want)
        fused = self.fuse(keyword, semantic)
        kept = self.cut_off(fused, keyword, semantic)
        complete = len(keyword) < want and len(semantic) < want
        return Ranking(kept, len(kept), len(kept) < len(fused) or complete)

    def fuse(
        self, keyword: list[tuple[int, float]], semantic: list[tuple[int, float]]
    ) -> list[tuple[int, float]]:
        """One ranking from the keyword (BM25) and semantic (cosine) rankings, best first."""
        if self.fusion == "rrf":
            return reciprocal_rank_fusion([[s for s, _ in keyword], [s for s, _ in semantic]])
        return convex_fusion([keyword, semantic], [1 - self.dense_weight, self.dense_weight])

    def cut_off(
        self,
        fused: list[tuple[int, float]],
        keyword: list[tuple[int, float]],
        semantic: list[tuple[int, float]],
    ) -> list[tuple[int, float]]:
        """`fused` down to where relevance ends (hybrid.cut_off with the measured floors)."""
        if not self.cut_results:
            return list(fused)
        return cut_off(fused, keyword, semantic, min_cosine=MIN_COSINE,
                       keyword_share=KEYWORD_SHARE)  # fmt: skip

    def _semantic(self, parsed: ParsedQuery, filters: Filters, k: int) -> list[tuple[int, float]]:
        assert self.embedder and self.vectors
        text = " ".join(parsed.phrases + parsed.words)
        query = self._embed_query(text)
        constrained = not filters.is_empty or parsed.phrases or parsed.excluded
        found = self._nearest(query, max(k, FILTERED_CANDIDATES) if constrained else k)
        if not constrained:
            return found
        papers = self.store.get_papers_by_seq([s for s, _ in found])
        kept = [(s, v) for s, v in found if s in papers and matches(papers[s], filters, parsed)]
        return kept[:k]

    def _embed_query(self, text: str) -> Vectors:
        """The query's embedding, from the cache when this text was embedded lately."""
        assert self.embedder
        key = (self.embedder.name, text)
        found = self.cache.embeddings.get(key) if self.cache else None
        if found is None:
            found = self.embedder.embed_query(text)
            if self.cache:
                found.setflags(write=False)  # shared between searches: nobody may change it
                self.cache.embeddings.put(key, found)
        return found

    def within(self, seqs: Sequence[int]) -> Within:
        """The papers `seqs` prepared for `search_within` (several calls on one set of papers
        build its keyword clause and load its vectors once). Handles made by one
        `WithinSearch(engine)` share an index snapshot and a cache of query embeddings."""
        return WithinSearch(self).papers(seqs)

    def search_within(self, query: str, papers: Sequence[int] | Within, *, k: int = DEPTH,
                      keyword_only: bool = False, min_cosine: float = QUERY_MIN_COSINE
                      ) -> Ranked:  # fmt: skip
        """(seq, score) of the papers `papers` (row numbers, or a `within` handle) matching
        `query`, best first, at most `k`: BM25 with every word required, fused with the papers
        whose vectors are at least `min_cosine` from the query's (not with `keyword_only`, nor
        without an embedder). See search/within.py."""
        return self.search_within_many([query], papers, k=k, keyword_only=keyword_only,
                                       min_cosine=min_cosine)[0]  # fmt: skip

    def search_within_many(self, queries: Sequence[str], papers: Sequence[int] | Within, *,
                           k: int = DEPTH, keyword_only: bool = False,
                           min_cosine: float = QUERY_MIN_COSINE) -> list[Ranked]:  # fmt: skip
        """`search_within` for each query, in order, with the queries embedded in batches."""
        if not 1 <= k <= MAX_LIMIT:
            raise QueryError(f"The limit must be between 1 and {MAX_LIMIT}.")
        if not isinstance(papers, Within):
            papers = self.within(papers)
        return papers.session.search_many(queries, papers, k=k, keyword_only=keyword_only,
                                          min_cosine=min_cosine)  # fmt: skip

    def related(self, ref: str, limit: int = 10) -> list[Hit]:
        """The papers nearest to one paper by meaning, itself excluded."""
        if not 1 <= limit <= MAX_LIMIT:
            raise QueryError(f"The limit must be between 1 and {MAX_LIMIT}.")
        if self.embedder is None or self.vectors is None:
            raise QueryError("Related papers need the embedding model.")
        self.sync(wait_s=SYNC_WAIT_S)
        paper = self.store.get_paper(ref)
        seq = self.store.find_seq(ref) if paper else None
        if paper is None or seq is None:
            raise NotFound(f"No paper with id {ref!r}.")
        blob = self.store.get_vector(self.embedder.name, seq)
        if blob is None:
            raise QueryError(f"Paper {paper.id} has no embedding yet; run `paperfeed embed`.")
        vector = from_blobs([blob], self.embedder.dim)[0]
        return self._hits(self._nearest(vector, limit, exclude=seq))

    def _hits(self, ranked: list[tuple[int, float]]) -> list[Hit]:
        papers = self.store.get_papers_by_seq([seq for seq, _ in ranked])
        return [Hit(papers[seq], score) for seq, score in ranked if seq in papers]
