"""Atom and RSS feeds, parsed with the real feedparser from a running server."""

from __future__ import annotations

import html
import time
from datetime import UTC, datetime

import feedparser
import httpx
import pytest

from paperfeed.models import Paper, paper_json
from paperfeed.web import feeds
from tests.web.conftest import HF_IDS, HOSTILE

SITE = "https://papers.example.org"


def parse(url: str) -> feedparser.FeedParserDict:
    answer = httpx.get(url)
    assert answer.status_code == 200, answer.text
    feed = feedparser.parse(answer.content)
    assert not feed.bozo, feed.bozo_exception  # well-formed XML
    return feed


@pytest.mark.parametrize("kind", ["atom", "rss"])
def test_trending_feed_lists_papers_with_links_and_dates(live_server: str, kind: str) -> None:
    feed = parse(f"{live_server}/trending.{kind}?window=week")
    assert feed.version == ("atom10" if kind == "atom" else "rss20")
    assert feed.feed.title == "paperfeed: trending this week"
    ids = [e.link.rsplit("/", 1)[-1] for e in feed.entries]
    assert ids[: len(HF_IDS)] == list(HF_IDS) and ids[-1] == HOSTILE.id  # most upvoted first
    first = feed.entries[0]
    assert first.title.startswith("Breaking the Memory Barrier")
    assert first.link == f"{live_server}/paper/2410.17243"
    assert time.strftime("%Y-%m-%d", first.published_parsed) == "2024-10-22"
    author = first.authors[0]["name"] if kind == "atom" else first.author
    assert author.startswith("Zesen Cheng")
    assert "Contrastive loss" in first.summary


def test_atom_entries_carry_authors_categories_and_pdf(live_server: str) -> None:
    feed = parse(f"{live_server}/today.atom?date=2024-10-24")
    entry = next(e for e in feed.entries if e.link.endswith(HOSTILE.id))
    assert [a.name for a in entry.authors] == list(HOSTILE.authors)
    assert [t.term for t in entry.tags] == ["cs.LG"]
    assert feed.feed.updated.startswith("2024-10-24")


@pytest.mark.parametrize("kind", ["atom", "rss"])
def test_hostile_text_stays_text_in_feeds(live_server: str, kind: str) -> None:
    raw = httpx.get(f"{live_server}/search.{kind}", params={"q": "alert", "mode": "keyword"})
    assert b"<script>" not in raw.content and b"<img src" not in raw.content
    feed = parse(f"{live_server}/search.{kind}?q=alert&mode=keyword")
    entry = feed.entries[0]
    # feedparser reads the text back exactly (it would have stripped real tags)
    assert entry.title == HOSTILE.title
    # Atom says type="text"; an RSS description is HTML by convention, so the text is escaped
    # once more and reads, as HTML, as the same literal text
    summary = entry.summary if kind == "atom" else html.unescape(entry.summary)
    assert "<iframe src=//evil></iframe> dropout &amp; friends" in summary


def test_a_search_is_a_feed(live_server: str) -> None:
    page = httpx.get(f"{live_server}/search", params={"q": "dropout"}).text
    assert 'type="application/atom+xml"' in page and "/search.atom?q=dropout" in page
    feed = parse(f"{live_server}/search.atom?q=dropout")
    assert feed.feed.title == "paperfeed: search “dropout”"
    assert "dropout" in feed.entries[0].title.lower()
    assert feed.feed.links[0].href.endswith("/search.atom?q=dropout")


def test_feed_errors_are_json_errors(live_server: str) -> None:
    answer = httpx.get(f"{live_server}/trending.atom?window=year")
    assert answer.status_code == 400
    assert answer.json()["error"]["message"] == "window must be one of day, week, month."


# -- links from sources: http(s) only; ids are ours ------------------------------------------


def _feed_of(paper: Paper) -> feeds.Feed:
    when = datetime(2024, 10, 25, tzinfo=UTC)
    return feeds.Feed("t", f"{SITE}/search.atom", f"{SITE}/search", SITE, [paper_json(paper)], when)


@pytest.mark.parametrize("kind", ["atom", "rss"])
@pytest.mark.parametrize("url", ["javascript:alert(1)", " JavaScript:alert(1)",
                                 "data:text/html,<script>alert(1)</script>",
                                 "vbscript:msgbox(1)", "//evil.example/x"])  # fmt: skip
def test_feeds_keep_only_http_links_from_sources(kind: str, url: str) -> None:
    paper = Paper(id="x1", title="Linked", url=url, pdf_url=url, code_url=url)
    body = feeds.RENDER[kind](_feed_of(paper)).decode()
    for scheme in ("javascript:", "data:", "vbscript:", "evil.example"):
        assert scheme not in body.lower()
    parsed = feedparser.parse(body)
    assert not parsed.bozo
    [entry] = parsed.entries
    assert entry.id == f"{SITE}/paper/x1"
    assert {link.href for link in entry.links} == {f"{SITE}/paper/x1"}


@pytest.mark.parametrize("kind", ["atom", "rss"])
def test_a_paper_is_known_by_our_id_and_its_pdf_link_is_kept(kind: str) -> None:
    paper = Paper(id="2410.17243", title="T", url="https://arxiv.org/abs/2410.17243",
                  pdf_url="https://arxiv.org/pdf/2410.17243")  # fmt: skip
    [entry] = feedparser.parse(feeds.RENDER[kind](_feed_of(paper))).entries
    assert entry.id == f"{SITE}/paper/2410.17243"  # stable: not a URL the source chose
    if kind == "atom":
        assert "https://arxiv.org/pdf/2410.17243" in {link.href for link in entry.links}
