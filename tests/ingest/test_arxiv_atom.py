"""parse_arxiv_atom against recorded arXiv API responses (2016 and 2026 formats) and faults."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from paperfeed.ingest.arxiv_atom import ArxivApiError, parse_arxiv_atom
from tests.conftest import ARXIV_API

API = ARXIV_API
CURRENT = sorted((API / "xml").glob("*.xml"))
LEGACY = sorted((API / "legacy_xml").glob("*.xml"))
RAW = sorted((API / "raw").glob("*.json"))
ERROR_FEED = API / "xml" / "id_abc_s0_m100_b79c8dcf6bc3.xml"
SEARCH_100 = API / "xml" / "q_testing_s0_m100_cfe7536492ca.xml"


def _read(name: str) -> bytes:
    return (API / name).read_bytes()


def test_fixtures_are_there() -> None:
    assert len(CURRENT) == 22 and len(LEGACY) == 5 and len(RAW) == 22


@pytest.mark.parametrize("path", [p for p in CURRENT + LEGACY if p != ERROR_FEED], ids=str)
def test_every_fixture_parses_completely(path: Path) -> None:
    page = parse_arxiv_atom(path.read_bytes())
    assert page.skipped == ()
    assert page.items_per_page is not None and page.start_index is not None
    assert len(page.papers) <= page.items_per_page
    for p in page.papers:
        assert p.id == p.arxiv_id and "v" not in p.id.split("/")[-1]
        assert p.version and p.version >= 1
        assert p.title and p.authors and p.categories
        assert p.published and p.published.tzinfo == UTC
        assert p.updated and p.updated >= p.published
        assert p.sources == ("arxiv-api",)


def test_new_format_entry() -> None:
    (p,) = parse_arxiv_atom(_read("xml/id_1707.08567_s0_m100_6a1afebfc6a3.xml")).papers
    assert (p.id, p.version) == ("1707.08567", 1)
    assert p.title.startswith("Proceedings of Workshop AEW10")
    assert p.authors[0] == "Kees A. Schouhamer Immink" and len(p.authors) > 30
    assert p.categories == ("cs.IT",)
    assert p.published == datetime(2017, 7, 27, 8, 18, 33, tzinfo=UTC)
    assert p.url == "https://arxiv.org/abs/1707.08567"
    assert p.pdf_url == "https://arxiv.org/pdf/1707.08567"
    assert p.extra["comments"].startswith("44 pages")


def test_legacy_format_entry_with_doi_and_journal_ref() -> None:
    page = parse_arxiv_atom(_read("legacy_xml/id_list=1111.2011v2.xml"))
    assert (page.total_results, page.start_index, page.items_per_page) == (1, 0, 10)
    (p,) = page.papers
    assert (p.id, p.version) == ("1111.2011", 2)
    assert p.title == (
        "Quantum Criticality for Extended Nodes on a Bethe Lattice in the Large Connectivity Limit"
    )
    assert p.abstract.startswith("Theoretical description of anisotropic systems")
    assert "\n" not in p.abstract and "  " not in p.abstract
    assert p.authors == ("James M. Murray", "Adrian Del Maestro", "Zlatko Tesanovic")
    assert p.categories[0] == "cond-mat.str-el" and len(p.categories) > 1
    assert p.doi == "10.1103/physrevb.85.115117"
    assert p.extra["journal-ref"] == "Phys. Rev. B 85, 115117 (2012)"
    assert p.published == datetime(2011, 11, 8, 18, 48, 36, tzinfo=UTC)
    assert p.updated == datetime(2012, 4, 2, 12, 38, 54, tzinfo=UTC)


def test_old_style_id_and_primary_category_first() -> None:
    (p,) = parse_arxiv_atom(_read("xml/id_astro-ph_0601001_s0_m100_3150dca9dc76.xml")).papers
    assert p.id == "astro-ph/0601001" and p.version is not None
    assert p.categories[0] == "astro-ph"


def test_pagination_totals_and_code_link() -> None:
    page = parse_arxiv_atom(SEARCH_100.read_bytes())
    assert (page.total_results, page.start_index, page.items_per_page) == (214881, 0, 100)
    assert len(page.papers) == 100
    coded = {p.id: p.code_url for p in page.papers if p.code_url}
    assert coded == {"1706.00679": "https://github.com/ydecastro/super-resolution-testing"}
    later = parse_arxiv_atom(_read("xml/q_testing_s40_m10_96dd32eb854c.xml"))
    assert later.start_index == 40


def test_latex_is_kept() -> None:
    abstracts = [p.abstract for f in CURRENT if f != ERROR_FEED for p in parse_arxiv_atom(
        f.read_bytes()).papers]  # fmt: skip
    assert any("$" in a for a in abstracts)


def test_empty_result() -> None:
    page = parse_arxiv_atom(_read("xml/id_0000.0000_s0_m100_8b51d9633a68.xml"))
    assert page.papers == () and page.total_results == 0


def test_error_feed_raises_with_the_api_message() -> None:
    with pytest.raises(ArxivApiError, match="incorrect id format for abc"):
        parse_arxiv_atom(ERROR_FEED.read_bytes())


@pytest.mark.parametrize("path", RAW, ids=lambda p: p.stem)
def test_raw_recordings_hold_the_same_bodies(path: Path) -> None:
    recorded = json.loads(path.read_text(encoding="utf-8"))
    assert recorded["url"].startswith("https://export.arxiv.org/api/query")
    body = recorded["body"].encode()
    assert body == (API / "xml" / f"{path.stem}.xml").read_bytes()
    if recorded["status_code"] == 400:
        with pytest.raises(ArxivApiError):
            parse_arxiv_atom(body)
    else:
        assert recorded["status_code"] == 200
        parse_arxiv_atom(body)


@pytest.mark.parametrize(
    ("body", "words"),
    [
        (SEARCH_100.read_bytes()[:5000], "not well-formed XML"),
        (b"", "not well-formed XML"),
        (SEARCH_100.read_bytes().replace(b"Carlo", b"Carlo\xff\xfe", 1), "not well-formed"),
        (b"<html><body>Rate exceeded.</body></html>", "not an Atom feed"),
        (b'<?xml version="1.0"?><!DOCTYPE f [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
         b"<feed>&x;</feed>", "DOCTYPE"),
        (b'<?xml version="1.0" encoding="klingon"?><feed/>', "XML"),
    ],
)  # fmt: skip
def test_faults_raise_a_sentence(body: bytes, words: str) -> None:
    with pytest.raises(ArxivApiError, match=words):
        parse_arxiv_atom(body)


def test_entry_with_bad_id_is_skipped_not_fatal() -> None:
    body = _read("xml/q_testing_s0_m10_bc5a6c384fe9.xml")
    first_id = body.split(b"<entry>")[1].split(b"<id>")[1].split(b"</id>")[0]
    broken = body.replace(first_id, b"https://example.org/nothing", 1)
    page = parse_arxiv_atom(broken)
    assert len(page.papers) == 9 and "not an arXiv id" in page.skipped[0]


def _mutations() -> st.SearchStrategy[bytes]:
    base = (API / "xml" / "id_1605.08386_s0_m100_199195aa31ad.xml").read_bytes()
    return st.tuples(st.integers(0, len(base)), st.integers(0, 40), st.binary(max_size=8)).map(
        lambda t: base[: t[0]] + t[2] + base[t[0] + t[1] :]
    )


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=300) | _mutations())
def test_any_bytes_raise_only_arxiv_api_error(body: bytes) -> None:
    try:
        page = parse_arxiv_atom(body)
    except ArxivApiError as e:
        assert str(e)
    else:
        assert all(p.id for p in page.papers)
