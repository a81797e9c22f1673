"""Counts on every card: our readers' upvotes and saves, Hugging Face's upvotes and comments
(labelled apart), and the rank in trending lists; in process over the real store."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime

import pytest
from starlette.testclient import TestClient

from paperfeed.models import Paper
from paperfeed.search.engine import SearchEngine
from paperfeed.store import Signal, Store, open_store
from paperfeed.web.app import create_app
from tests.conftest import SEED
from tests.web.conftest import HF_IDS, HF_OBSERVED, HOSTILE, add_hf_day

EXTRA = [Paper(id=f"2410.9{n:04d}", arxiv_id=f"2410.9{n:04d}", title=f"Extra paper {n}",
               published=datetime(2024, 10, 23, n, tzinfo=UTC)) for n in range(22)]  # fmt: skip
AT = datetime(2024, 10, 25, 20, tzinfo=UTC).timestamp()


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    from paperfeed.ingest.files import import_file

    db = tmp_path_factory.mktemp("counts") / "web.db"
    store: Store = open_store(str(db))
    import_file(store, SEED)
    store.upsert_papers([HOSTILE, *EXTRA])
    add_hf_day(store)
    store.record_signals([Signal(HF_IDS[0], "hf_comments", 7.0)], HF_OBSERVED, "hf-daily")
    voted, saved = store.find_seq(HF_IDS[1]), store.find_seq(HOSTILE.id)
    assert voted and saved
    users = [store.get_or_add_user(f"r{n}@example.org", HF_OBSERVED) for n in range(3)]
    for user in users:
        store.set_reaction(user.id, voted, "upvote", True, AT)
    store.set_reaction(users[0].id, saved, "save", True, AT)
    store.set_reaction(users[1].id, saved, "hide", True, AT)
    app = create_app(lambda: SearchEngine(store, str(db) + "-index"),
                     today=lambda: date(2024, 10, 25), clock=lambda: AT)  # fmt: skip
    with TestClient(app) as c:
        yield c
    store.close()


def test_trending_cards_have_ranks_and_both_kinds_of_upvotes(client: TestClient) -> None:
    data = client.get("/trending.json", params={"window": "week"}).json()
    papers = {p["id"]: p for p in data["papers"]}
    assert [p["rank"] for p in data["papers"]] == list(range(1, len(papers) + 1))
    assert papers[HF_IDS[1]]["counts"]["upvotes"] == 3
    hf = int(papers[HF_IDS[1]]["signals"]["hf_upvotes"])
    assert papers[HF_IDS[1]]["counts"]["hf_upvotes"] == hf
    assert papers[HF_IDS[0]]["counts"]["hf_comments"] == 7
    hostile = papers[HOSTILE.id]["counts"]
    assert hostile == {"upvotes": 0, "saves": 1, "hf_upvotes": None, "hf_comments": 0}
    page = client.get("/trending", params={"window": "week"}).text
    assert '<span class="rank" title="Rank in this list">#1</span>' in page
    assert f'▲ {hf} <span class="label">on Hugging Face</span>' in page
    assert '▲ 3 <span class="label">upvotes</span>' in page
    assert '★ 1 <span class="label">save</span>' in page
    assert '💬 7 <span class="label">comments on Hugging Face</span>' in page
    assert page.count("comments on Hugging Face") == 1  # only where there are any


def test_ranks_go_on_across_pages(client: TestClient) -> None:
    second = client.get("/trending.json", params={"window": "week", "page": 2}).json()
    assert second["papers"][0]["rank"] == 21


def test_search_and_paper_pages_count_too(client: TestClient) -> None:
    found = client.get("/search.json", params={"q": "alert", "mode": "keyword"}).json()
    (hostile,) = [p for p in found["papers"] if p["id"] == HOSTILE.id]
    assert hostile["counts"]["saves"] == 1 and "rank" not in hostile
    paper = client.get(f"/paper/{HF_IDS[1]}.json").json()["paper"]
    assert paper["counts"]["upvotes"] == 3 and paper["counts"]["hf_upvotes"] is not None
    assert '▲ 3 <span class="label">upvotes</span>' in client.get(f"/paper/{HF_IDS[1]}").text
