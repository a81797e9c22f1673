"""parse_arxiv_listing on sample feeds written in rss.arxiv.org's 2024 format (no recording of
one was found), in both flavours, on variants edited from them, and on broken bodies."""

from __future__ import annotations

from datetime import UTC, date, datetime
from xml.sax.saxutils import escape

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from paperfeed.ingest.arxiv_listing import (
    ANNOUNCE_TYPES,
    ARXIV_LISTING_SOURCE,
    ArxivListingError,
    ListingPage,
    parse_arxiv_listing,
)
from tests.conftest import LISTINGS

RSS = (LISTINGS / "arxiv_listing_cs.LG.rss.xml").read_bytes()
ATOM = (LISTINGS / "arxiv_listing_cs.LG.atom.xml").read_bytes()
FLAVOURS = {"rss": RSS, "atom": ATOM}
IDS = ["2403.09629", "2403.10001", "2401.04088", "2006.11239"]


@pytest.fixture(params=list(FLAVOURS))
def page(request: pytest.FixtureRequest) -> ListingPage:
    return parse_arxiv_listing(FLAVOURS[request.param])


def _item(body: bytes, n: int) -> bytes:
    """The n-th <item> or <entry> of a sample, as written."""
    tag = b"item" if b"<channel>" in body else b"entry"
    start = 0
    for _ in range(n + 1):
        start = body.index(b"<" + tag + b">", start) + 1
    return body[start - 1 : body.index(b"</" + tag + b">", start) + len(tag) + 3]


def _edit_item(body: bytes, n: int, old: bytes, new: bytes) -> bytes:
    item = _item(body, n)
    assert old in item, old
    return body.replace(item, item.replace(old, new))


# -- the samples -------------------------------------------------------------------------------


def test_one_item_of_each_announce_type_and_the_day(page: ListingPage) -> None:
    assert page.day == date(2024, 3, 18) and page.skipped == ()
    got = [(i.paper.id, i.paper.version, i.announce_type) for i in page.items]
    assert got == [("2403.09629", 1, "new"), ("2403.10001", 1, "cross"),
                   ("2401.04088", 2, "replace"), ("2006.11239", 3, "replace-cross")]  # fmt: skip
    assert tuple(i.announce_type for i in page.items) == ANNOUNCE_TYPES
    assert all(i.announced_on == date(2024, 3, 18) for i in page.items)


def test_fields_of_a_new_submission(page: ListingPage) -> None:
    paper = page.items[0].paper
    assert paper.title == (
        "Quiet-STaR: Language Models Can Teach Themselves to Think Before Speaking"
    )
    assert paper.sources == (ARXIV_LISTING_SOURCE,) and paper.extra == {}
    assert paper.abstract.startswith("When writing and talking, people sometimes pause to think.")
    assert paper.abstract.endswith(
        "in almost all written text. Code: https://github.com/ezelikman/quiet-star"
    )
    assert paper.authors == ("Eric Zelikman", "Georges Harik", "Yijia Shao", "Varuna Jayasiri",
                             "Nick Haber", "Noah D. Goodman")  # fmt: skip
    assert paper.categories == ("cs.CL", "cs.AI", "cs.LG")
    assert paper.id == paper.arxiv_id == "2403.09629" and paper.version == 1
    assert paper.url == "https://arxiv.org/abs/2403.09629"
    assert paper.pdf_url == "https://arxiv.org/pdf/2403.09629"
    assert paper.code_url == "https://github.com/ezelikman/quiet-star"
    assert paper.published == datetime(2024, 3, 18, 4, tzinfo=UTC)  # midnight, US Eastern
    assert paper.updated is None


def test_only_a_new_first_version_gets_a_published_date(page: ListingPage) -> None:
    assert [i.paper.published is not None for i in page.items] == [True, False, False, False]


def test_a_replacement_keeps_its_version(page: ListingPage) -> None:
    mixtral = page.items[2].paper
    assert (mixtral.title, mixtral.version) == ("Mixtral of Experts", 2)
    assert mixtral.authors == ("Albert Q. Jiang", "Alexandre Sablayrolles", "Antoine Roux")
    assert mixtral.abstract.startswith("We introduce Mixtral 8x7B")


def test_escaped_markup_and_latex_stay_text(page: ListingPage) -> None:
    paper = page.items[1].paper
    assert paper.title == r"Bounds for $\mathcal{O}(n^2)$ attention when x<y & z>w"
    assert "<b>even</b> for bounded entries." in paper.abstract
    assert r"needs $\Omega(n^2)$ time" in paper.abstract
    assert paper.authors == ("Josh Alman", "Zhao Song")  # " and " in RSS, two <author>s in Atom


def test_an_empty_abstract_is_empty(page: ListingPage) -> None:
    assert page.items[3].paper.abstract == "" and page.items[3].paper.code_url is None


def test_both_flavours_give_the_same_items() -> None:
    assert parse_arxiv_listing(RSS) == parse_arxiv_listing(ATOM)


# -- variants of the samples -------------------------------------------------------------------


@pytest.mark.parametrize("flavour", list(FLAVOURS))
def test_a_weekend_listing_has_no_items_but_its_day(flavour: str) -> None:
    body = FLAVOURS[flavour]
    first, last = _item(body, 0), _item(body, 3)
    empty = body[: body.index(first)] + body[body.index(last) + len(last) :]
    assert parse_arxiv_listing(empty) == ListingPage((), date(2024, 3, 18), ())


@pytest.mark.parametrize(
    ("flavour", "old", "new"),
    [
        ("rss", b"<pubDate>Mon, 18 Mar 2024 00:00:00 -0400</pubDate>\n    <skipDays>",
         b"<pubDate>Mon, 18 Mar 2024 23:30:00 -0400</pubDate>\n    <skipDays>"),
        ("atom", b"<updated>2024-03-18T04:00:00.000000+00:00</updated>\n  <link",
         b"<updated>2024-03-18T23:30:00-04:00</updated>\n  <link"),
    ],
)  # fmt: skip
def test_the_day_is_the_date_as_written_not_in_utc(flavour: str, old: bytes, new: bytes) -> None:
    body = FLAVOURS[flavour].replace(old, new)
    assert body != FLAVOURS[flavour]
    assert parse_arxiv_listing(body).day == date(2024, 3, 18)


def test_the_day_falls_back_to_last_build_date() -> None:
    body = RSS.replace(b"<pubDate>Mon, 18 Mar 2024 00:00:00 -0400</pubDate>\n    <skip", b"<skip")
    body = body.replace(b"<lastBuildDate>Mon, 18 Mar", b"<lastBuildDate>Fri, 15 Mar")
    assert parse_arxiv_listing(body).day == date(2024, 3, 15)


@pytest.mark.parametrize("flavour", list(FLAVOURS))
def test_an_item_without_a_date_is_announced_on_the_listing_day(flavour: str) -> None:
    body = FLAVOURS[flavour]
    when = b"<pubDate>Mon, 18 Mar 2024 00:00:00 -0400</pubDate>" if body is RSS else (
        b"<published>2024-03-18T00:00:00-04:00</published>"
    )  # fmt: skip
    body = _edit_item(body, 0, when, b"")
    body = _edit_item(body, 1, when, when.replace(b"18", b"17"))
    items = parse_arxiv_listing(body).items
    assert items[0].announced_on == date(2024, 3, 18) and items[0].paper.published is None
    assert items[1].announced_on == date(2024, 3, 17)


def test_an_unreadable_item_date_costs_only_the_date() -> None:
    body = _edit_item(RSS, 0, b"Mon, 18 Mar 2024 00:00:00 -0400", b"someday")
    item = parse_arxiv_listing(body).items[0]
    assert item.paper.id == "2403.09629" and item.paper.published is None
    assert item.announced_on == date(2024, 3, 18)


@pytest.mark.parametrize(
    ("version", "kind", "published"),
    [(b"v1", b"new", True), (b"v2", b"new", False), (b"v1", b"cross", False),
     (b"", b"new", True), (b"v1", b"replace", False)],
)  # fmt: skip
def test_the_published_rule(version: bytes, kind: bytes, published: bool) -> None:
    body = _edit_item(RSS, 0, b"2403.09629v1", b"2403.09629" + version)
    body = _edit_item(body, 0, b"new", kind)
    item = parse_arxiv_listing(body).items[0]
    assert item.announce_type == kind.decode()
    assert item.paper.version == (int(version[1:]) if version else None)
    assert (item.paper.published is not None) is published


def test_the_type_comes_from_the_description_when_the_element_is_missing() -> None:
    body = _edit_item(RSS, 1, b"<arxiv:announce_type>cross</arxiv:announce_type>", b"")
    assert parse_arxiv_listing(body).items[1].announce_type == "cross"


def test_an_unknown_type_is_kept_lower_cased() -> None:
    body = _edit_item(RSS, 2, b"<arxiv:announce_type>replace<", b"<arxiv:announce_type>AbsOnly<")
    assert parse_arxiv_listing(body).items[2].announce_type == "absonly"


def test_with_no_type_stated_a_later_version_is_a_replacement() -> None:
    body = RSS
    for n, kind in [(0, b"new"), (2, b"replace")]:
        body = _edit_item(body, n, b"<arxiv:announce_type>" + kind + b"</arxiv:announce_type>", b"")
        body = _edit_item(body, n, b"Announce Type: " + kind, b"Announce Type:")
    items = parse_arxiv_listing(body).items
    assert [i.announce_type for i in items] == ["new", "cross", "replace", "replace-cross"]
    assert items[0].paper.published is None  # not stated as new, so not taken as first seen
    assert items[0].paper.abstract.startswith("When writing")


def test_the_id_and_version_come_from_the_link_and_the_description() -> None:
    body = _edit_item(RSS, 2, b"oai:arXiv.org:2401.04088v2", b"urn:something-else")
    paper = parse_arxiv_listing(body).items[2].paper
    assert (paper.id, paper.version) == ("2401.04088", 2)


def test_abstracts_without_the_marker() -> None:
    body = _edit_item(RSS, 2, b"\nAbstract: We introduce", b"\nWe introduce")
    head = b"arXiv:2006.11239v3 Announce Type: replace-cross \nAbstract: "
    body = _edit_item(
        body, 3, head, b"We present high quality image synthesis results. Abstract: none."
    )
    items = parse_arxiv_listing(body).items
    assert items[2].paper.abstract.startswith("We introduce Mixtral 8x7B")
    assert (
        items[3].paper.abstract
        == "We present high quality image synthesis results. Abstract: none."
    )
    assert items[3].announce_type == "replace-cross"  # the element still says so


def test_authors_are_split_around_affiliations_and_a_final_and() -> None:
    creators = b"A. One (MIT, CSAIL), B. Two (Inria (Paris), ENS), C. Three and D. Four"
    body = _edit_item(RSS, 2, b"Albert Q. Jiang, Alexandre Sablayrolles, Antoine Roux", creators)
    body = _edit_item(body, 3, b"Jonathan Ho, Ajay Jain, Pieter Abbeel", b"Ho (Berkeley, Ajay")
    items = parse_arxiv_listing(body).items
    assert items[2].paper.authors == ("A. One", "B. Two", "C. Three", "D. Four")
    assert items[3].paper.authors == ("Ho (Berkeley", "Ajay")  # unbalanced: left as written


def test_categories_keep_document_order_without_repeats() -> None:
    more = b"<category>cs.LG</category><category>cs.CC</category><category> </category>"
    body = _edit_item(RSS, 1, b"<category>cs.LG</category>", more)
    assert parse_arxiv_listing(body).items[1].paper.categories == ("cs.CC", "cs.LG")


@pytest.mark.parametrize("flavour", list(FLAVOURS))
def test_items_without_an_id_or_a_title_are_skipped_with_a_reason(flavour: str) -> None:
    body = FLAVOURS[flavour]
    ident = b"<guid isPermaLink=\"false\">oai:arXiv.org:2403.09629v1</guid>" if body is RSS else (
        b"<id>oai:arXiv.org:2403.09629v1</id>"
    )  # fmt: skip
    link = b"<link>https://arxiv.org/abs/2403.09629</link>" if body is RSS else (
        b'<link href="https://arxiv.org/abs/2403.09629" rel="alternate" type="text/html"/>'
    )  # fmt: skip
    body = _edit_item(body, 0, ident, b"")
    body = _edit_item(body, 0, link, b"")
    body = _edit_item(body, 0, b"arXiv:2403.09629v1 Announce Type: new \n", b"")
    body = _edit_item(body, 2, b"<title>Mixtral of Experts</title>", b"<title> \n </title>")
    page = parse_arxiv_listing(body)
    assert [i.paper.id for i in page.items] == ["2403.10001", "2006.11239"]
    assert page.skipped == (
        "item 0: no arXiv id in its id, link or description",
        "item 2: 2401.04088: no title",
    )


# -- broken bodies -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (RSS[: len(RSS) // 2], "not well-formed XML"),
        (ATOM[:-20], "not well-formed XML"),
        (b"", "not well-formed XML"),
        (b"<html><body>Service unavailable</body></html>", "neither an RSS 2.0 nor an Atom"),
        (b'<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"/>', "ns#}RDF"),
        (b'<!DOCTYPE rss [<!ENTITY x "y">]><rss version="2.0"><channel/></rss>', "DOCTYPE"),
        (RSS.replace(b"Quiet", b"Qui\xff\xfet"), "not well-formed XML"),
        (b'<rss version="2.0"/>', "without a <channel>"),
        ("<rss/>", "must be bytes"),
    ],
    ids=["truncated", "truncated atom", "empty", "not a feed", "rdf", "doctype",
         "invalid UTF-8", "no channel", "str"],
)  # fmt: skip
def test_a_broken_body_is_one_error_with_one_sentence(body: bytes, message: str) -> None:
    with pytest.raises(ArxivListingError, match=message) as caught:
        parse_arxiv_listing(body)
    text = str(caught.value)
    assert text == caught.value.message and text.startswith("The ") and text.endswith(".")
    assert "\n" not in text and "Traceback" not in text


def _mutations() -> st.SearchStrategy[bytes]:
    return st.tuples(
        st.sampled_from([RSS, ATOM]), st.floats(0, 1), st.integers(0, 40), st.binary(max_size=8)
    ).map(lambda t: t[0][: int(t[1] * len(t[0]))] + t[3] + t[0][int(t[1] * len(t[0])) + t[2] :])


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300) | _mutations())
def test_any_bytes_parse_or_raise_the_listing_error(body: bytes) -> None:
    try:
        page = parse_arxiv_listing(body)
    except ArxivListingError as e:
        assert str(e).endswith(".")
    else:
        assert len(page.items) + len(page.skipped) <= 4
        assert all(i.paper.id == i.paper.arxiv_id and i.announce_type for i in page.items)


@settings(deadline=None)
@given(st.text(max_size=80))
def test_any_title_text_is_kept_or_skipped(text: str) -> None:
    clean = "".join(c for c in text if c.isprintable())
    body = RSS.replace(b"Mixtral of Experts", escape(clean).encode())
    page = parse_arxiv_listing(body)
    assert len(page.items) + len(page.skipped) == 4
    if clean.strip():
        assert page.items[2].paper.title == " ".join(clean.split())
