"""Search as the CLI and the web see it: a request in, papers with scores out.

Keeps the keyword index in step with the store before answering, so a search never misses a
paper that is already imported (the catch-up is a no-op when nothing changed).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from paperfeed.errors import IndexBusy, QueryError
from paperfeed.models import Paper
from paperfeed.search.keyword import KeywordIndex
from paperfeed.search.query import SearchRequest, parse_query
from paperfeed.store import Store

log = logging.getLogger(__name__)
MAX_LIMIT = 1000


@dataclass(frozen=True, slots=True)
class Hit:
    paper: Paper
    score: float


class SearchEngine:
    def __init__(self, store: Store, index_dir: str | Path) -> None:
        self.store = store
        self.keyword = KeywordIndex(Path(index_dir) / "keyword")

    def sync(self, on_progress: Callable[[int], None] | None = None) -> int:
        """Catch the indexes up with the store; another process doing it is not an error."""
        try:
            return self.keyword.sync(self.store, on_progress)
        except IndexBusy as e:
            log.warning("%s Searching what is already indexed.", e)
            return 0

    def search(self, request: SearchRequest) -> list[Hit]:
        if not 1 <= request.limit <= MAX_LIMIT:
            raise QueryError(f"The limit must be between 1 and {MAX_LIMIT}.")
        if request.offset < 0:
            raise QueryError("The offset cannot be negative.")
        f = request.filters
        if f.since and f.until and f.since > f.until:
            raise QueryError("The start date is after the end date.")
        self.sync()
        parsed = parse_query(request.text)
        ranked = self.keyword.search(parsed, f, request.limit, request.offset)
        papers = self.store.get_papers_by_seq([seq for seq, _ in ranked])
        return [Hit(papers[seq], score) for seq, score in ranked if seq in papers]
