"""Rendering digests: hostile titles and abstracts (markup, `&`, LaTeX, control characters,
bidirectional overrides) come out safe in both parts; links, footer and subject are right; the
"nothing new" notice. (test_compose renders a plan composed from the real seed store too.)"""

from __future__ import annotations

import re
from datetime import date, timedelta
from html.parser import HTMLParser

import pytest

from paperfeed.digest.compose import DigestPlan, Item
from paperfeed.digest.render import (
    SNIPPET_CHARS,
    WIDTH,
    Links,
    clean,
    render_digest,
    render_notice,
    wrap,
)
from paperfeed.models import Paper
from paperfeed.store import Preferences, Subscriber

DAY = date(2026, 11, 24)
SITE = "https://paperfeed.example"
HOSTILE_TITLE = "<script>alert('x')</script> Bounds & $\\alpha<\\beta$ \x1b[31mred\x1b[0m\r\nBcc: x"
HOSTILE_ABSTRACT = (
    'We show <img src=x onerror="alert(1)"> that $O(n^2) < \\mathcal{O}(2^n)$ & more. '
    "\u202egnirts desrever\u202c Line\u2028separated. " + "padding words here " * 40
)
SUB = Subscriber(
    id=7,
    email="reader+<b>@example.org",
    state="confirmed",
    prefs=Preferences(topics=("<i>graphs</i> & trees",)),
    created_at=0.0,
    requested_at=0.0,
    request_source="test",
)


def paper(n: int, title: str = "", abstract: str = "", authors: tuple[str, ...] = (),
          categories: tuple[str, ...] = ()) -> Paper:  # fmt: skip
    ref = f"2611.{n:05d}"
    title, abstract = title or f"Paper number {n}", abstract or "An abstract."
    return Paper(ref, title, abstract, authors, categories, arxiv_id=ref)


def links() -> Links:
    return Links(
        paper=lambda p: f"{SITE}/r/{p.id}?t=tok-{p.id}&x=1",
        preferences=f"{SITE}/preferences?token=PREFS",
        unsubscribe=f"{SITE}/u/UNSUB",
        site=SITE,
    )


AUTHORS = ("Ada <Lovelace>", "B. & C.", "D", "E")
PAPERS = {
    1: paper(1, HOSTILE_TITLE, HOSTILE_ABSTRACT, AUTHORS, ("cs.LG", "stat.ML")),
    2: paper(2, "Similar one"),
    3: paper(3, "Popular one"),
}
PLAN = DigestPlan(
    (
        Item(1, "matches your search '<i>graphs</i> & trees'", "topics"),
        Item(2, "similar to 'A <b>saved</b> one' in your library", "library"),
        Item(3, "trending this week: 48 upvotes on Hugging Face", "trending"),
        Item(99, "a paper the store no longer has", "topics"),
    ),
    DAY - timedelta(days=6),
    DAY,
)


class Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.hrefs: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.hrefs += [v or "" for k, v in attrs if k == "href"]

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def flat(text: str) -> str:
    return " ".join(text.split())


def parsed(html: str) -> Tags:
    tags = Tags()
    tags.feed(html)
    tags.close()
    return tags


@pytest.fixture(scope="module")
def rendered() -> tuple[str, str, str]:
    return render_digest(SUB, PLAN, PAPERS, links(), title_day=DAY)


def test_subject_counts_papers_shown_and_holds_no_user_text(rendered: tuple[str, str, str]
                                                            ) -> None:  # fmt: skip
    subject, _, _ = rendered
    assert subject == "paperfeed: 3 new papers for you — 2026-11-24"  # paper 99 is gone
    one = DigestPlan((Item(2, "x", "library"),), None, None)
    assert render_digest(SUB, one, PAPERS, links(), title_day=None)[0] == (
        "paperfeed: 1 new paper for you")  # fmt: skip


def test_html_escapes_everything_from_papers_and_subscribers(rendered: tuple[str, str, str]
                                                             ) -> None:  # fmt: skip
    _, _, html = rendered
    tags = parsed(html)
    assert set(tags.tags) <= {"html", "head", "meta", "title", "body", "div", "p", "h2", "a", "hr"}
    assert "<script" not in html and "<img" not in html and "<i>" not in html
    assert "<b>" not in html and "<Lovelace>" not in html
    assert (
        "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; Bounds &amp; $\\alpha&lt;\\beta$" in html
    )
    assert "$O(n^2) &lt; \\mathcal{O}(2^n)$ &amp; more." in html
    assert "matches your search &#39;&lt;i&gt;graphs&lt;/i&gt; &amp; trees&#39;" in html
    assert "reader+&lt;b&gt;@example.org" in html
    assert not re.search("[\x00-\x08\x0b-\x1f\x7f\u2028\u202e]", html)
    text = "".join(tags.text)
    assert "<script>alert('x')</script> Bounds & $\\alpha<\\beta$" in text  # shown as written


def test_html_links_carry_the_callers_tokens(rendered: tuple[str, str, str]) -> None:
    _, _, html = rendered
    hrefs = parsed(html).hrefs
    assert hrefs[:3] == [f"{SITE}/r/2611.0000{n}?t=tok-2611.0000{n}&x=1" for n in (1, 2, 3)]
    assert f"{SITE}/preferences?token=PREFS" in hrefs
    assert f"{SITE}/u/UNSUB" in hrefs
    assert SITE in hrefs


def test_text_is_clean_wrapped_and_keeps_urls_whole(rendered: tuple[str, str, str]) -> None:
    _, text, _ = rendered
    assert not re.search("[\x00-\x09\x0b-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e]", text)
    lines = text.splitlines()
    for line in lines:
        assert len(line) <= WIDTH or line.strip().startswith("https://"), line
    url_lines = [line.strip() for line in lines if "https://" in line]
    assert f"{SITE}/r/2611.00001?t=tok-2611.00001&x=1" in url_lines  # a line of its own
    assert f"{SITE}/preferences?token=PREFS" in url_lines
    assert f"{SITE}/u/UNSUB" in url_lines
    # the forged header stays inside the title's line, never a line of its own
    assert not any(line.startswith("Bcc:") for line in lines)
    assert "1. <script>alert('x')</script> Bounds & $\\alpha<\\beta$ [31mred [0m Bcc:\n   x" in text
    assert "Ada <Lovelace>, B. & C., D et al. · arXiv:2611.00001 · cs.LG, stat.ML" in flat(text)


def test_sections_in_order_with_why_lines_and_a_short_snippet(rendered: tuple[str, str, str]
                                                              ) -> None:  # fmt: skip
    _, text, html = rendered
    headings = [line for line in text.splitlines() if line.startswith("== ")]
    assert headings == ["== Matching your searches and categories ==",
                        "== Like papers in your library ==", "== Trending =="]  # fmt: skip
    assert "Why: trending this week: 48 upvotes on Hugging Face" in text
    assert "papers listed 2026-11-18 to 2026-11-24: 3 papers." in flat(text)
    body = text.split("1. ", 1)[1].split("https://", 1)[0]
    snippet = " ".join(body.split("Why:", 1)[1].split()[6:])  # after the why-line
    assert snippet.endswith("…") and len(snippet) <= SNIPPET_CHARS + 10
    assert "padding words here padding" in snippet and "padding words here " * 40 not in text
    assert html.index("Matching your searches") < html.index("Like papers") < html.index(
        "Trending")  # fmt: skip


def test_footer_says_why_and_how_to_stop(rendered: tuple[str, str, str]) -> None:
    _, text, html = rendered
    for part in (text, html):
        assert "because reader+" in part and "paperfeed daily digest" in flat(part)
    assert "Unsubscribe:\nhttps://paperfeed.example/u/UNSUB" in text
    assert ">Unsubscribe</a>" in html and ">Change what you get</a>" in html


def test_nothing_new_notice() -> None:
    plan = DigestPlan((), DAY, DAY)
    subject, text, html = render_notice(SUB, plan, links(), title_day=DAY)
    assert subject == "paperfeed: nothing new — 2026-11-24"
    assert (
        "Nothing new matched your searches and categories among the papers listed on "
        "2026-11-24." in flat(text)
    )
    assert "==" not in text and "<h2" not in html
    assert f"{SITE}/u/UNSUB" in text and f"{SITE}/u/UNSUB" in html
    assert render_digest(SUB, plan, {}, links(), title_day=DAY) == (subject, text, html)


def test_clean_and_wrap() -> None:
    assert clean(" a\tb\r\nc\x00d\u202ee\u2028f ") == "a b c d e f"
    assert wrap("one two three four", "1. ", "   ", width=9) == "1. one\n   two\n   three\n   four"
    url = "https://example.org/" + "x" * 100
    assert wrap(f"see {url} now", width=20) == f"see\n{url}\nnow"
    assert wrap("", "    ") == "    "
