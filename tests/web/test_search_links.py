"""Every link a search page derives from its search (Previous/Next, the Atom and RSS feeds, "Get
this search by email") keeps all of it: words, mode and every filter. The links are parsed out
of the rendered page and followed, in process, over the real store and search indexes."""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from urllib.parse import parse_qs, urlsplit

import feedparser
import pytest
from starlette.testclient import TestClient

from paperfeed.ingest.files import import_file
from paperfeed.models import Paper
from paperfeed.search.engine import SearchEngine
from paperfeed.store import open_store
from paperfeed.web.app import create_app
from tests.conftest import SEED

SEARCH = {"q": "learning", "mode": "keyword", "category": "cs.LG", "author": "Ann & O'Brien=1",
          "since": "2000-01-01", "until": "2030-12-31", "has_code": "1"}  # fmt: skip


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    db = tmp_path_factory.mktemp("links") / "links.db"
    store = open_store(str(db))
    import_file(store, SEED)
    store.upsert_papers([Paper(id=f"2401.0000{k}", arxiv_id=f"2401.0000{k}", title=f"Zebrafish {k}",
                               abstract="Tracking zebrafish.", authors=("Ann Example",),
                               categories=("q-bio.QM",), code_url="https://github.com/x/z")
                         for k in range(1, 4)])  # fmt: skip
    store.upsert_papers([Paper(id=f"2401.0001{k}", arxiv_id=f"2401.0001{k}", title=f"Zebrafish {k}",
                               abstract="Seeing zebrafish.", authors=("Bo Example",),
                               categories=("cs.CV",)) for k in range(1, 3)])  # fmt: skip
    with TestClient(create_app(lambda: SearchEngine(store, str(db) + "-index"))) as c:
        yield c
    store.close()


def links(page: str) -> dict[str, str]:
    """The page's links derived from its search, by what they are."""
    found = {}
    patterns = {
        "head-atom": r'<link rel="alternate" type="application/atom\+xml"[^>]* href="([^"]+)"',
        "prev": r'<a rel="prev" href="([^"]+)"',
        "next": r'<a rel="next" href="([^"]+)"',
        "atom": r'<p class="feeds">.*?<a href="([^"]+)" type="application/atom\+xml"',
        "rss": r'<p class="feeds">.*?<a href="([^"]+)" type="application/rss\+xml"',
        "email": r'<a href="([^"]+)" id="search-by-email"',
    }
    for name, pattern in patterns.items():
        if match := re.search(pattern, page, re.S):
            found[name] = html.unescape(match.group(1))
    return found


def params(link: str) -> dict[str, str]:
    return {k: v[-1] for k, v in parse_qs(urlsplit(link).query).items()}


def test_every_link_from_a_filtered_search_keeps_all_of_it(client: TestClient) -> None:
    page = client.get("/search", params={**SEARCH, "page": "2"})
    assert page.status_code == 200
    found = links(page.text)
    assert set(found) >= {"head-atom", "prev", "atom", "rss", "email"}, found
    paths = {"head-atom": "/search.atom", "prev": "/search", "next": "/search",
             "atom": "/search.atom", "rss": "/search.rss", "email": "/subscribe"}  # fmt: skip
    for name, link in found.items():
        assert urlsplit(link).path == paths[name], (name, link)
        expected = {**SEARCH, "page": "1"} if name == "prev" else SEARCH
        assert params(link) == expected, (name, link)


def test_next_and_previous_keep_has_code_and_the_page_size(client: TestClient) -> None:
    search = {"q": "zebrafish", "mode": "keyword", "category": "q-bio.QM", "has_code": "1",
              "limit": "1"}  # fmt: skip
    found = links(client.get("/search", params=search).text)
    assert params(found["next"]) == {**search, "page": "2"}
    second = client.get(found["next"])
    assert second.status_code == 200 and second.text.count('<article class="paper') == 1
    found = links(second.text)
    assert params(found["prev"]) == {**search, "page": "1"}
    assert params(found["next"]) == {**search, "page": "3"}


def test_the_followed_feed_is_the_filtered_search(client: TestClient) -> None:
    search = {"q": "zebrafish", "mode": "keyword", "category": "cs.CV"}
    atom = links(client.get("/search", params=search).text)["atom"]
    entries = feedparser.parse(client.get(atom).content).entries
    assert sorted(e.title for e in entries) == ["Zebrafish 1", "Zebrafish 2"]
    assert all({t.term for t in e.tags} == {"cs.CV"} for e in entries)
    everything = client.get("/search.atom", params={"q": "zebrafish", "mode": "keyword"})
    assert len(feedparser.parse(everything.content).entries) == 5


def test_the_email_link_says_which_filters_a_digest_does_not_keep(client: TestClient) -> None:
    email = links(client.get("/search", params=SEARCH).text)["email"]
    page = client.get(email)
    assert page.status_code == 200 and 'value="learning"' in page.text
    note = re.search(r'id="filters-not-kept">(.*?)</p>', page.text, re.S)
    assert note, "the subscribe page does not say what it ignores"
    text = html.unescape(note.group(1))
    for words in ("in cs.LG", "by Ann & O'Brien=1", "since 2000-01-01", "until 2030-12-31",
                  "with code"):  # fmt: skip
        assert words in text
    plain = client.get("/subscribe", params={"q": "learning"})
    assert "filters-not-kept" not in plain.text
