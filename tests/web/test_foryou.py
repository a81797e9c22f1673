"""For you on the web, in process (Starlette's TestClient) over a real SQLite store of the seed
papers embedded with the real model, readers signed in through mailed links (real SMTP): the
page and its JSON twin, "More like this" and "Not interested", the cold start, per-tag
recommendations, the home page, and the private Atom feed read by feedparser, rotated."""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

import feedparser
import pytest
from starlette.testclient import TestClient

from paperfeed.cli import main
from paperfeed.digest.mailer import SMTPMailer
from paperfeed.models import Paper
from paperfeed.search.embed import Embedder
from paperfeed.search.engine import SearchEngine
from paperfeed.search.models import load_embedder
from paperfeed.store import Announcement, Store, open_store
from paperfeed.web.app import create_app
from tests.conftest import copy_db
from tests.mail import SMTPCatcher, smtp_server
from tests.web.conftest import HOSTILE
from tests.web.test_accounts import SENDER, Clock, Web, act, csrf_in, sign_in

__all__ = ["smtp_server"]  # the fixture, imported for pytest

DAY = date(2026, 11, 24)
TODAY = date(2026, 11, 25)
START = datetime(2026, 11, 25, 9, tzinfo=UTC).timestamp()
SIMCSE = "SimCSE: Simple Contrastive Learning of Sentence Embeddings"
ESIMCSE = "ESimCSE: Enhanced Sample Building Method for Contrastive Learning of Unsupervised"
LOSSLESS = "Towards Lossless Dataset Distillation via Difficulty-Aligned Trajectory Matching"
NEW_CL = Paper(id="2611.00001", arxiv_id="2611.00001", title="A new parser for old languages",
               abstract="Parsing <b>old</b> languages.", categories=("cs.CL",),
               published=datetime(2026, 11, 23, tzinfo=UTC))  # fmt: skip
READER = "reader@example.org"


@pytest.fixture(scope="module")
def embedder() -> Embedder:
    return load_embedder()


@pytest.fixture(scope="module")
def corpus(embedded_seed_db: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The embedded seed papers, the hostile paper (embedded) and a cs.CL paper; even papers
    announced on DAY, odd ones three days before (this week's)."""
    path = tmp_path_factory.mktemp("foryou-web") / "seed.db"
    copy_db(embedded_seed_db, path)
    store = open_store(str(path))
    store.upsert_papers([HOSTILE, NEW_CL])
    papers = store.get_papers_by_seq(range(1, store.count_papers() + 1))
    store.add_announcements([Announcement(p.id, "arxiv:cs.LG",
                                          DAY if s % 2 == 0 else DAY - timedelta(days=3), "new")
                             for s, p in papers.items()])  # fmt: skip
    store.close()
    assert main(["--db", str(path), "embed"]) == 0
    return path


@pytest.fixture
def web(corpus: Path, tmp_path: Path, smtp_server: SMTPCatcher, embedder: Embedder
        ) -> Iterator[Web]:  # fmt: skip
    db = tmp_path / "foryou.db"
    copy_db(corpus, db)
    store = open_store(str(db))
    clock = Clock(START)
    mailer = SMTPMailer(smtp_server.host, smtp_server.port, "none", "", "", SENDER, timeout_s=5)
    app = create_app(lambda: SearchEngine(store, str(db) + "-index", embedder), mailer=mailer,
                     base_url="http://testserver", clock=clock, today=lambda: TODAY)  # fmt: skip
    with TestClient(app) as client:
        yield Web(app, client, clock, smtp_server, store, db)
    store.close()


def paper_id(store: Store, title: str) -> str:
    papers = store.get_papers_by_seq(range(1, store.count_papers() + 1))
    [found] = [p.id for p in papers.values() if p.title.startswith(title)]
    return found


def for_you(c: TestClient) -> dict[str, Any]:
    answer = c.get("/for-you.json")
    assert answer.status_code == 200, answer.text
    view: dict[str, Any] = answer.json()
    return view


def listed(view: dict[str, Any]) -> list[dict[str, Any]]:
    return [p for section in view["sections"] for p in section["papers"]]


def listed_ids(view: dict[str, Any]) -> list[str]:
    return [p["id"] for p in listed(view)]


def signed_in_with(web: Web, *titles: str) -> str:
    token = sign_in(web, web.client, READER)
    for title in titles:
        assert act(web.client, token, paper_id(web.store, title), "save").status_code == 303
    return token


def test_strangers_are_asked_to_sign_in_and_their_home_is_unchanged(web: Web) -> None:
    c = web.client
    answer = c.get("/for-you", follow_redirects=False)
    assert answer.status_code == 303 and answer.headers["location"] == "/signin?next=/for-you"
    assert c.get("/for-you.json").status_code == 401
    home = c.get("/")
    assert 'href="/for-you"' not in home.text and "for_you" not in c.get("/index.json").json()


def test_the_page_ranks_the_weeks_papers_with_why_and_its_twin_matches(web: Web) -> None:
    signed_in_with(web, SIMCSE)
    view = for_you(web.client)
    assert [s["key"] for s in view["sections"]] == ["today", "week"]
    assert view["has_library"] and view["feed"] is None
    papers = listed(view)
    assert papers and paper_id(web.store, ESIMCSE) in listed_ids(view)[:3]
    for p in papers:
        assert p["why"] == f"Like “{SIMCSE}” in your library"
        assert p["because"]["kind"] == "paper"
    page = web.client.get("/for-you")
    assert page.status_code == 200
    shown = re.findall(r'<article class="paper recommended" id="p-[^"]+">\s*<h2><a href="/paper/'
                       r'([^"]+)"', page.text)  # fmt: skip
    assert shown == listed_ids(view)  # the page and its twin, from one function
    # cards like every list's: counts (the twin has them too), linked authors and categories
    assert page.text.count('<p class="counts">') == len(papers)
    assert all("counts" in p for p in papers)
    whys = re.findall(r'<p class="why-line">([^<]*)</p>', page.text)
    assert [html.unescape(w) for w in whys] == [p["why"] for p in papers]
    assert 'href="/for-you"' in page.text  # the nav link


def test_not_interested_removes_it_and_more_like_this_moves_the_ranking(web: Web) -> None:
    token = signed_in_with(web, SIMCSE)
    esimcse = paper_id(web.store, ESIMCSE)
    page = web.client.get("/for-you").text
    assert f'action="/paper/{esimcse}/hide"' in page and "Not interested" in page
    answer = web.client.post(f"/paper/{esimcse}/hide",
                             data={"csrf_token": csrf_in(page), "next": "/for-you"},
                             follow_redirects=False)  # fmt: skip
    assert (answer.status_code, answer.headers["location"]) == (303, "/for-you")
    assert esimcse not in listed_ids(for_you(web.client))
    # "More like this" is an upvote: the distillation paper's neighbours rise
    lossless = paper_id(web.store, LOSSLESS)
    before = listed_ids(for_you(web.client))
    act(web.client, token, lossless, "upvote", next="/for-you")
    after = for_you(web.client)
    assert lossless not in listed_ids(after) and listed_ids(after) != before
    assert any(p["because"]["label"] == LOSSLESS for p in listed(after)[:5])


def test_a_get_changes_nothing_and_a_post_needs_its_token(web: Web) -> None:
    signed_in_with(web, SIMCSE)
    c = web.client
    for path in ("/for-you/feed", "/for-you/categories"):
        assert c.get(path).status_code == 405
        assert c.post(path, data={"categories": "cs.LG"}).status_code == 403
    assert for_you(c)["feed"] is None and for_you(c)["categories"] == []


def test_cold_start_with_categories_recommends_at_once(web: Web) -> None:
    sign_in(web, web.client, READER)
    c = web.client
    page = c.get("/for-you").text
    assert "Your library is empty" in page and 'action="/library/import"' in page
    assert listed(for_you(c)) == []
    token = csrf_in(page)
    bad = c.post("/for-you/categories", data={"csrf_token": token, "categories": "cs.LG <x>"})
    assert bad.status_code == 400 and "is not an arXiv category" in html.unescape(bad.text)
    answer = c.post("/for-you/categories", data={"csrf_token": token, "categories": "cs.CL"},
                    follow_redirects=False)  # fmt: skip
    assert (answer.status_code, answer.headers["location"]) == (303, "/for-you")
    view = for_you(c)
    assert view["categories"] == ["cs.CL"]
    assert listed_ids(view) == [NEW_CL.id]
    assert listed(view)[0]["why"] == "New in cs.CL, which you follow"


def test_cards_have_counts_and_link_authors_and_categories_escaped(web: Web) -> None:
    """A For-you card is like every list's: counts, authors and categories linked to their
    pages (paper text escaped in the text, encoded in the link)."""
    sign_in(web, web.client, READER)
    c = web.client
    token = csrf_in(c.get("/for-you").text)
    c.post("/for-you/categories", data={"csrf_token": token, "categories": "cs.LG"})
    view = for_you(c)
    assert HOSTILE.id in listed_ids(view) and all("counts" in p for p in listed(view))
    page = c.get("/for-you").text
    assert page.count('<p class="counts">') == len(listed(view))
    card = page[page.index(f'id="p-{HOSTILE.id}"') :].split("</article>")[0]
    for name in HOSTILE.authors:
        assert f'href="/author/{quote(name, safe="/")}">{html.escape(name, quote=False)}' in card
    assert 'href="/category/cs.LG"' in card and "<b>Mallory</b>" not in card


def test_cold_start_by_import_recommends_at_once(web: Web) -> None:
    sign_in(web, web.client, READER)
    c = web.client
    token = csrf_in(c.get("/for-you").text)
    form = {"csrf_token": token, "ids": f"arXiv:{HOSTILE.arxiv_id}", "next": "/for-you"}
    answer = c.post("/library/import", data=form, follow_redirects=False)
    assert (answer.status_code, answer.headers["location"]) == (303, "/for-you")
    papers = listed(for_you(c))
    assert papers and all(p["why"] == f"Like “{HOSTILE.title}” in your library" for p in papers)


def test_library_tag_shows_recommendations_from_that_tags_papers(web: Web) -> None:
    token = sign_in(web, web.client, READER)
    c = web.client
    act(c, token, paper_id(web.store, SIMCSE), "save", tags="sentences")
    act(c, token, paper_id(web.store, LOSSLESS), "save", tags="distill")
    view = c.get("/library.json", params={"tag": "sentences"}).json()
    assert view["recommended"] and view["recommended"][0]["id"] == paper_id(web.store, ESIMCSE)
    for p in view["recommended"]:
        assert p["because"] == {"kind": "tag", "label": "sentences",
                                "seq": web.store.find_seq(paper_id(web.store, SIMCSE))}  # fmt: skip
    page = c.get("/library", params={"tag": "sentences"}).text
    assert "Recommended for sentences" in page
    assert c.get("/library.json").json()["recommended"] == []


def test_the_home_page_shows_for_you_when_signed_in(web: Web) -> None:
    signed_in_with(web, SIMCSE)
    home = web.client.get("/")
    assert 'id="for-you-title"' in home.text and "in your library" in home.text
    twin = web.client.get("/index.json").json()
    assert 1 <= len(twin["for_you"]) <= 3 and twin["for_you"][0]["why"].startswith("Like “")


def test_paper_text_in_the_why_is_escaped(web: Web) -> None:
    token = sign_in(web, web.client, READER)
    act(web.client, token, HOSTILE.id, "save")
    page = web.client.get("/for-you").text
    assert "<script>alert(1)</script>" not in page and "<img src=x" not in page
    assert "Like “&lt;script&gt;alert(1)&lt;/script&gt;" in page


def test_the_private_feed_holds_the_recommendations_and_rotates(web: Web) -> None:
    signed_in_with(web, SIMCSE)
    c = web.client
    token = csrf_in(c.get("/for-you").text)
    answer = c.post("/for-you/feed", data={"csrf_token": token}, follow_redirects=False)
    assert (answer.status_code, answer.headers["location"]) == (303, "/for-you#feed")
    view = for_you(c)
    url = view["feed"]
    assert url.startswith("http://testserver/feeds/for-you/") and url.endswith(".atom")
    assert url in c.get("/for-you").text
    stranger = web.new_client()  # a feed reader: no session, no cookies
    got = stranger.get(url)
    assert got.status_code == 200 and got.headers["content-type"].startswith("application/atom+xml")
    feed = feedparser.parse(got.content)
    assert not feed.bozo, feed.bozo_exception
    assert [e.link.rsplit("/", 1)[1] for e in feed.entries] == listed_ids(view)
    assert feed.entries[0].summary.startswith(f"Like “{SIMCSE}” in your library.")
    assert stranger.get(url).content == got.content  # reading it changes nothing
    # rotated: the old address answers 404 like any unknown one, the new one works
    c.post("/for-you/feed", data={"csrf_token": token})
    new_url = for_you(c)["feed"]
    assert new_url != url
    assert stranger.get(url).status_code == 404
    assert stranger.get(new_url).status_code == 200
    unknown = stranger.get("/feeds/for-you/" + "A" * 32 + ".atom")
    malformed = stranger.get("/feeds/for-you/..%2F.atom")
    assert unknown.status_code == malformed.status_code == 404
    assert unknown.json() == stranger.get(url).json() == {
        "error": {"status": 404, "message": "No such feed."}}  # fmt: skip


def test_the_feed_escapes_paper_text(web: Web) -> None:
    token = sign_in(web, web.client, READER)
    act(web.client, token, HOSTILE.id, "save")
    web.client.post("/for-you/feed", data={"csrf_token": token})
    got = web.new_client().get(for_you(web.client)["feed"])
    feed = feedparser.parse(got.content)
    assert not feed.bozo and feed.entries
    assert b"<script>" not in got.content
    assert feed.entries[0].summary.startswith(f"Like “{HOSTILE.title}”")
