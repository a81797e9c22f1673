"""The arXiv listings parser on sample feeds written in rss.arxiv.org's format (no recording of
one exists in ../shared), in both flavours, plus broken bodies."""

from __future__ import annotations

import contextlib
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from paperfeed.ingest.arxiv_listing import (
    ArxivListingError,
    ListingPage,
    parse_arxiv_listing,
)

DATA = Path(__file__).parent / "data"
RSS = (DATA / "arxiv_listing_cs.LG.rss.xml").read_bytes()
ATOM = (DATA / "arxiv_listing_cs.LG.atom.xml").read_bytes()


@pytest.fixture(params=["rss", "atom"])
def page(request: pytest.FixtureRequest) -> ListingPage:
    return parse_arxiv_listing(RSS if request.param == "rss" else ATOM)


def test_items_with_announce_types_and_the_day(page: ListingPage) -> None:
    assert page.day == date(2024, 3, 18) and page.skipped == ()
    got = [(i.paper.id, i.paper.version, i.announce_type) for i in page.items]
    assert got == [("2403.09629", 1, "new"), ("2403.10001", 1, "cross"),
                   ("2401.04088", 2, "replace"), ("2006.11239", 3, "replace-cross")]  # fmt: skip
    assert all(i.announced_on == date(2024, 3, 18) for i in page.items)


def test_fields_of_a_new_submission(page: ListingPage) -> None:
    paper = page.items[0].paper
    assert paper.title.startswith("Quiet-STaR") and paper.sources == ("arxiv-listing",)
    assert paper.abstract.startswith("When writing and talking, people sometimes pause")
    assert "Announce Type" not in paper.abstract
    assert paper.authors[0] == "Eric Zelikman" and len(paper.authors) == 6
    assert paper.categories == ("cs.CL", "cs.AI", "cs.LG")
    assert paper.code_url == "https://github.com/ezelikman/quiet-star"
    assert paper.url == "https://arxiv.org/abs/2403.09629"
    assert paper.published == datetime(2024, 3, 18, 4, tzinfo=UTC)  # announced: first version


def test_only_first_versions_get_a_published_date(page: ListingPage) -> None:
    assert [i.paper.published is not None for i in page.items] == [True, False, False, False]


def test_markup_and_latex_stay_text(page: ListingPage) -> None:
    paper = page.items[1].paper
    assert paper.title == r"Bounds for $\mathcal{O}(n^2)$ attention when x<y & z>w"
    assert "<b>even</b>" in paper.abstract and r"$\Omega(n^2)$" in paper.abstract
    assert paper.authors == ("Josh Alman", "Zhao Song")


def test_an_empty_abstract_is_kept_empty(page: ListingPage) -> None:
    assert page.items[3].paper.abstract == ""


def test_both_flavours_give_the_same_papers() -> None:
    assert parse_arxiv_listing(RSS).items == parse_arxiv_listing(ATOM).items


def test_a_weekend_listing_is_empty() -> None:
    start, end = RSS.index(b"<item>"), RSS.rindex(b"</item>") + len(b"</item>")
    page = parse_arxiv_listing(RSS[:start] + RSS[end:])
    assert page.items == () and page.day == date(2024, 3, 18)


def test_items_without_id_or_title_are_skipped_with_a_reason() -> None:
    body = RSS.replace(b"oai:arXiv.org:2403.09629v1", b"something else", 1)
    body = body.replace(b"arXiv:2403.09629v1 Announce", b"Announce", 1)
    body = body.replace(b"<title>Mixtral of Experts</title>", b"<title> </title>")
    page = parse_arxiv_listing(body)
    assert [i.paper.id for i in page.items] == ["2403.10001", "2006.11239"]
    assert page.skipped == (
        "item 0: no arXiv id in 'something else'",
        "item 2: 2401.04088: no title",
    )


def test_the_type_comes_from_the_text_when_the_element_is_missing() -> None:
    body = RSS.replace(b"<arxiv:announce_type>cross</arxiv:announce_type>", b"")
    assert parse_arxiv_listing(body).items[1].announce_type == "cross"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (RSS[: len(RSS) // 2], "not well-formed XML"),
        (b"<html><body>Service unavailable</body></html>", "not RSS or Atom"),
        (b'<!DOCTYPE rss [<!ENTITY x "y">]><rss/>', "DOCTYPE"),
        (RSS.replace(b"Quiet", b"Qui\xff\xfet"), "not well-formed XML"),
        (b'<rss version="2.0"/>', "without a channel"),
    ],
    ids=["truncated", "not a feed", "doctype", "invalid UTF-8", "no channel"],
)
def test_broken_bodies_are_one_error(body: bytes, message: str) -> None:
    with pytest.raises(ArxivListingError, match=message):
        parse_arxiv_listing(body)


@given(st.binary(max_size=300))
def test_any_bytes_parse_or_raise_the_listing_error(body: bytes) -> None:
    with contextlib.suppress(ArxivListingError):
        parse_arxiv_listing(body)


@given(st.text(max_size=80))
def test_any_item_text_parses_or_is_skipped(text: str) -> None:
    from xml.sax.saxutils import escape

    clean = "".join(c for c in text if c.isprintable())
    body = RSS.replace(b"Mixtral of Experts", escape(clean).encode())
    page = parse_arxiv_listing(body)
    assert len(page.items) + len(page.skipped) == 4
