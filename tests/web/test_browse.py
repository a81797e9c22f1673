"""Author and category pages, their JSON twins and feeds, in process over the real store and
keyword index; names are user data (escaped in pages, URL-encoded in links)."""

from __future__ import annotations

import html
from collections.abc import Iterator
from datetime import UTC, datetime
from urllib.parse import quote

import feedparser
import pytest
from starlette.testclient import TestClient

from paperfeed.models import Paper
from paperfeed.search.engine import SearchEngine
from paperfeed.store import open_store
from paperfeed.web import browse
from paperfeed.web.app import create_app
from paperfeed.web.browse import is_same_author
from tests.web.conftest import HOSTILE


def _paper(n: int, authors: tuple[str, ...], category: str = "cs.CL") -> Paper:
    return Paper(id=f"2402.0000{n}", arxiv_id=f"2402.0000{n}", title=f"Paper {n}",
                 abstract="text", authors=authors, categories=(category, "cs.AI"),
                 published=datetime(2024, 2, n, tzinfo=UTC))  # fmt: skip


PAPERS = [
    _paper(1, ("Ann Lee", "Bo Chen")),
    _paper(2, ("Cy Dee", "ann lee", "Bo Chen")),
    _paper(3, ("Ann Lee",), "stat.ML"),
    _paper(4, ("Ann Chen", "Lee Bo")),  # every word of "Ann Lee", but not in one name
]


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    db = tmp_path_factory.mktemp("browse") / "web.db"
    store = open_store(str(db))
    store.upsert_papers([*PAPERS, HOSTILE])
    app = create_app(lambda: SearchEngine(store, str(db) + "-index"))
    with TestClient(app) as c:
        yield c
    store.close()


def test_same_author_needs_every_word_in_one_name() -> None:
    assert is_same_author("Ann Lee", "ann  LEE") and is_same_author("lee", "Ann Lee")
    assert not is_same_author("Ann Lee", "Ann Chen") and not is_same_author("", "Ann")


def test_author_page_lists_their_papers_newest_first_with_co_authors(client: TestClient) -> None:
    data = client.get("/author/Ann%20Lee.json").json()
    assert data["author"] == "Ann Lee" and data["total"] == 3
    assert [p["id"] for p in data["papers"]] == ["2402.00003", "2402.00002", "2402.00001"]
    assert data["co_authors"] == [{"name": "Bo Chen", "papers": 2}, {"name": "Cy Dee", "papers": 1}]
    page = client.get("/author/Ann%20Lee")
    assert page.status_code == 200 and "3 papers, newest first" in page.text
    assert 'href="/author/Bo%20Chen"' in page.text and 'href="/author/Ann%20Lee.atom"' in page.text


def test_an_author_with_more_papers_than_are_read_gets_a_floor(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Past the papers an author page reads (MAX_LIMIT, 1,000), its count says "at least"."""
    assert client.get("/author/Ann%20Lee.json").json()["total_exact"] is True
    monkeypatch.setattr(browse, "MAX_LIMIT", 3)  # reads 2402.00004 (not hers), 3 and 2
    data = client.get("/author/Ann%20Lee.json").json()
    assert data["total"] == 2 and data["total_exact"] is False
    assert "At least 2 papers: the newest 2 are listed" in client.get("/author/Ann%20Lee").text


def test_author_page_pages(client: TestClient) -> None:
    assert client.get("/author/Ann%20Lee.json", params={"page": 2}).json()["papers"] == []
    bad = client.get("/author/Ann%20Lee.json", params={"page": "x"})
    assert bad.status_code == 400 and bad.json()["error"]["message"].startswith("page must be")


def test_author_feed(client: TestClient) -> None:
    feed = feedparser.parse(client.get("/author/Ann%20Lee.atom").content)
    assert not feed.bozo and feed.feed.title == "paperfeed: papers by Ann Lee"
    assert feed.entries[0].link.endswith("/paper/2402.00003")
    assert feed.feed.link.endswith("/author/Ann%20Lee")  # the page it follows, not the route


def test_hostile_author_names_are_escaped_and_encoded(client: TestClient) -> None:
    page = client.get("/paper/" + HOSTILE.id).text
    assert f'href="/author/{quote("<b>Mallory</b>")}"' in page
    assert "<b>Mallory</b>" not in page and html.escape("<b>Mallory</b>") in page
    mine = client.get("/author/" + quote("<b>Mallory</b>", safe=""))
    assert mine.status_code == 200 and "<b>Mallory" not in mine.text
    assert client.get("/author/" + quote("<b>Mallory</b>", safe="") + ".json").json()["total"] == 1
    assert 'href="/author/Eve%20%26%20Co"' in mine.text  # the co-author, with & encoded


def test_empty_or_odd_names_say_so(client: TestClient) -> None:
    empty = client.get("/author/%20.json")
    assert empty.status_code == 400 and "name" in empty.json()["error"]["message"]
    assert client.get("/author/Nobody%20Here.json").json()["total"] == 0
    assert "No paper by an author of this name." in client.get("/author/Nobody").text
    control = client.get("/author/Ann%19Lee.json")  # what the OpenAPI schema refuses, refused
    assert control.status_code == 400 and "control" in control.json()["error"]["message"]
    signs = client.get("/author/%21%21%21.json")  # valid, and nobody's name: an empty page
    assert signs.status_code == 200 and signs.json()["papers"] == []


def test_category_page_feed_and_twin(client: TestClient) -> None:
    data = client.get("/category/cs.CL.json").json()
    assert [p["id"] for p in data["papers"]] == ["2402.00004", "2402.00002", "2402.00001"]
    assert data["total"] == 3
    archive = client.get("/category/stat.json").json()
    assert [p["id"] for p in archive["papers"]] == ["2402.00003"]
    page = client.get("/category/cs.CL").text
    assert "Papers in cs.CL" in page and 'href="/category/cs.CL.atom"' in page
    assert 'class="chip" href="/category/cs.AI"' in page  # chips on cards link too
    feed = feedparser.parse(client.get("/category/cs.CL.rss").content)
    assert not feed.bozo and len(feed.entries) == 3
    bad = client.get("/category/%3Cscript%3E.json")
    assert bad.status_code == 400 and "category" in bad.json()["error"]["message"]
