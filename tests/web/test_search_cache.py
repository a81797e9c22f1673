"""The search cache of a running `paperfeed serve`: a repeated search is answered from it (the
answer says so in X-Search-Cache), the same answer as the first time, and a paper added to
the database by another process (as a harvest adds it) is found by the next search, not hidden
behind a cached answer. PAPERFEED_SEARCH_CACHE=0 turns it off."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path

import httpx

from paperfeed.models import Paper
from paperfeed.store import open_store
from tests.web.conftest import copy_database, serving

NEW = Paper(id="2699.00001", arxiv_id="2699.00001", title="Zebra stripes as dropout",
            abstract="We regularize networks by zebra stripes instead of dropout.",
            authors=("A. Zebra",), categories=("cs.LG",),
            published=datetime(2026, 1, 5, tzinfo=UTC))  # fmt: skip


def search(base: str, q: str) -> tuple[list[str], str]:
    """The titles found, and whether the answer came from the cache."""
    answer = httpx.get(f"{base}/api/papers/search", params={"q": q, "limit": 10}, timeout=60)
    assert answer.status_code == 200, answer.text
    return [item["paper"]["title"] for item in answer.json()], answer.headers["X-Search-Cache"]


def test_a_served_search_is_cached_until_a_harvest_adds_a_paper(
    embedded_seed_db: Path, tmp_path: Path
) -> None:
    db = tmp_path / "live.db"
    copy_database(embedded_seed_db, db)
    with serving(db) as base:
        first, said = search(base, "zebra stripes dropout")
        assert said == "miss" and first and NEW.title not in first
        assert search(base, "zebra stripes dropout") == (first, "hit")
        assert search(base, "dropout")[1] == "miss"  # another query, another entry

        other = open_store(str(db))  # another process's write, as a harvest's
        other.upsert_papers([NEW])
        other.close()
        now, said = search(base, "zebra stripes dropout")
        assert said == "miss" and NEW.title in now  # (by its words; it has no vector yet)
        assert search(base, "zebra stripes dropout") == (now, "hit")


def test_the_cache_can_be_turned_off(embedded_seed_db: Path, tmp_path: Path) -> None:
    db = tmp_path / "live.db"
    copy_database(embedded_seed_db, db)
    with serving(db, env={**os.environ, "PAPERFEED_SEARCH_CACHE": "0"}) as base:
        first = search(base, "dropout")
        assert first[1] == "miss" and search(base, "dropout") == first
