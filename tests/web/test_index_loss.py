"""The search indexes are derived data: a running `paperfeed serve` whose index folder is deleted
notices, builds it again from the database and answers every search meanwhile, never a 500."""

from __future__ import annotations

import shutil
from pathlib import Path

import httpx

from paperfeed.store import open_store
from tests.web.conftest import serving

SEARCHES = [("dropout", "keyword"), ("dropout", "semantic"), ("regularizing neural nets", "hybrid")]


def top_ids(base: str) -> dict[tuple[str, str], list[str]]:
    found = {}
    for query, mode in SEARCHES:
        answer = httpx.get(f"{base}/search.json", params={"q": query, "mode": mode}, timeout=60)
        assert answer.status_code == 200, (mode, answer.text)
        found[(query, mode)] = [p["id"] for p in answer.json()["papers"]]
        assert found[(query, mode)], (query, mode)
    return found


def same_answers(now: dict[tuple[str, str], list[str]], before: dict[tuple[str, str], list[str]]
                 ) -> bool:  # fmt: skip
    """The same best paper and nearly the same page (a rebuilt index may order ties apart)."""
    return all(
        now[key][0] == ids[0] and len(set(now[key]) & set(ids)) >= 0.8 * len(ids)
        for key, ids in before.items()
    )


def test_deleting_the_index_folder_while_serving_costs_a_rebuild_not_the_search(
    embedded_seed_db: Path, tmp_path: Path
) -> None:
    db = tmp_path / "live.db"
    source = open_store(str(embedded_seed_db), readonly=True)
    source.backup(str(db))
    source.close()
    index = Path(f"{db}-index")
    with serving(db) as base:
        before = top_ids(base)
        paper = before[("dropout", "keyword")][0]
        assert httpx.get(f"{base}/paper/{paper}.json", timeout=60).status_code == 200
        shutil.rmtree(index)

        assert same_answers(top_ids(base), before)
        assert httpx.get(f"{base}/paper/{paper}.json", timeout=60).status_code == 200
        assert (index / "keyword" / "meta.json").is_file()
        assert [p.name for p in (index / "vectors").glob("*/state.json")] == ["state.json"]

        shutil.rmtree(index)  # and again: each time it goes, it comes back
        assert same_answers(top_ids(base), before)
