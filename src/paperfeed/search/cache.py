"""What a busy search server remembers between requests: query embeddings and rankings.

Real searches repeat (a few queries make most of the traffic), and a repeated search costs a
query embedding (~1.6 ms of ONNX) and a keyword and a vector search (~2.5 ms) that give the
same answer as last time, as long as the indexes have not changed. So the engine keeps

- the embeddings of recent queries, keyed by model and text: a vector depends on nothing else;
- the rankings of recent searches (row numbers and scores, no paper: papers are loaded for
  each answer, so a changed title shows at once), keyed by everything a ranking depends on:
  the query text, the filters, the mode, the depth ranked to (engine.ranking_depth: pages 1
  to 5 of 20 are one ranking), the fusion settings, and the
  engine's index version, which a sync bumps whenever it finds the store changed (a paper
  added by this process or by another, vectors written by the embedder). A ranking cached
  before that is never found again and ages out.

Both are bounded LRUs, by entries and by size (bytes of vectors; items of rankings), and safe to
share between the threads the web serves from. PAPERFEED_SEARCH_CACHE sets the entries
(config.py); 0 turns caching off.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from typing import Generic, Protocol, TypeVar

from paperfeed.search.embed import Vectors

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class _Ranked(Protocol):
    @property
    def items(self) -> Sequence[tuple[int, float]]: ...


R = TypeVar("R", bound=_Ranked)

DEFAULT_ENTRIES = 4096
# ~64 MB of float32 vectors of 384 dimensions (1.5 KB each): 4,096 entries take 6 MB
EMBEDDING_BYTES = 64 * 2**20
# ranking items (seq, score) kept in all: ~100 bytes each as Python tuples, so ~50 MB
RANKING_ITEMS = 500_000


@dataclass(frozen=True, slots=True)
class CacheStats:
    hits: int
    misses: int
    entries: int
    size: int

    @property
    def hit_rate(self) -> float:
        asked = self.hits + self.misses
        return self.hits / asked if asked else 0.0


class LRU(Generic[K, V]):
    """A thread-safe least-recently-used map holding at most `max_entries` values whose sizes
    (`size_of`) add up to at most `max_size`; a value larger than that is not kept."""

    def __init__(self, max_entries: int, max_size: int, size_of: Callable[[V], int]) -> None:
        if max_entries < 0 or max_size < 0:
            raise ValueError("cache bounds cannot be negative")
        self.max_entries, self.max_size, self.size_of = max_entries, max_size, size_of
        self._data: OrderedDict[K, tuple[V, int]] = OrderedDict()
        self._lock = threading.Lock()
        self.size = 0
        self.hits = self.misses = 0

    def get(self, key: K) -> V | None:
        with self._lock:
            found = self._data.get(key)
            if found is None:
                self.misses += 1
                return None
            self._data.move_to_end(key)
            self.hits += 1
            return found[0]

    def put(self, key: K, value: V) -> None:
        size = self.size_of(value)
        if self.max_entries == 0 or size > self.max_size:
            return
        with self._lock:
            old = self._data.pop(key, None)
            if old is not None:
                self.size -= old[1]
            self._data[key] = (value, size)
            self.size += size
            while len(self._data) > self.max_entries or self.size > self.max_size:
                _, (_, dropped) = self._data.popitem(last=False)
                self.size -= dropped

    def clear(self) -> None:
        with self._lock:
            self._data.clear()
            self.size = 0

    def __len__(self) -> int:
        return len(self._data)

    def __contains__(self, key: object) -> bool:
        return key in self._data

    def stats(self) -> CacheStats:
        with self._lock:
            return CacheStats(self.hits, self.misses, len(self._data), self.size)


class SearchCache(Generic[R]):
    """The two caches of one engine: `embeddings` (model, text) -> vector and `rankings`
    (a search's key, see SearchEngine._ranking_key) -> ranking. `entries` bounds each; 0 keeps
    nothing."""

    def __init__(self, entries: int = DEFAULT_ENTRIES, *, embedding_bytes: int = EMBEDDING_BYTES,
                 ranking_items: int = RANKING_ITEMS) -> None:  # fmt: skip
        self.embeddings: LRU[tuple[str, str], Vectors] = LRU(
            entries, embedding_bytes, lambda v: int(v.nbytes)
        )
        self.rankings: LRU[Hashable, R] = LRU(entries, ranking_items, lambda r: len(r.items) + 1)

    def stats(self) -> dict[str, CacheStats]:
        return {"embeddings": self.embeddings.stats(), "rankings": self.rankings.stats()}
