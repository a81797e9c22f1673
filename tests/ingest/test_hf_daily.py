"""parse_daily_papers against a real /api/daily_papers response and a real paper object."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from paperfeed.ingest.hf_daily import HfDailyError, parse_daily_page, parse_daily_papers
from tests.conftest import HF_DAILY

DAILY = HF_DAILY / "daily_papers_2024-10-25_first4.json"
PAPER_PAGE = HF_DAILY / "paper_page_props_2407.13168.json"


def _items() -> list[Any]:
    items = json.loads(DAILY.read_bytes())
    assert isinstance(items, list)
    return items


def test_daily_list_gives_four_papers_with_signals() -> None:
    daily = parse_daily_papers(DAILY.read_bytes())
    assert [d.paper.id for d in daily] == ["2410.17243", "2410.16251", "2410.18533", "2410.18693"]
    first = daily[0]
    assert first.featured_on == date(2024, 10, 25)
    assert (first.upvotes, first.comments, first.github_stars) == (64, 3, None)
    p = first.paper
    assert p.title == (
        "Breaking the Memory Barrier: Near Infinite Batch Size Scaling for Contrastive Loss"
    )
    assert p.abstract.startswith("Contrastive loss is a powerful approach for representation")
    assert "\n" not in p.abstract
    assert p.authors[:2] == ("Zesen Cheng", "Hang Zhang") and len(p.authors) == 9
    assert p.published == datetime(2024, 10, 22, 17, 59, 30, tzinfo=UTC)
    assert p.arxiv_id == "2410.17243" and p.url == "https://arxiv.org/abs/2410.17243"
    assert p.sources == ("hf-daily",)


def test_date_argument_wins_over_entry_dates() -> None:
    daily = parse_daily_papers(_items(), date(2024, 10, 24))
    assert {d.featured_on for d in daily} == {date(2024, 10, 24)}


def test_paper_page_object_gives_newer_fields() -> None:
    (d,) = parse_daily_papers(PAPER_PAGE.read_bytes())
    assert d.paper.id == "2407.13168"
    assert d.featured_on == date(2024, 7, 22)  # submittedOnDailyAt, not arXiv's publishedAt
    assert d.upvotes == 17
    assert d.keywords[:2] == ("language models", "coding benchmark")
    assert d.paper.extra["ai_summary"].startswith("SciCode, a scientist-curated")
    assert len(d.paper.authors) == 30


def test_github_repo_and_stars_fill_code_url() -> None:
    obj = json.loads(PAPER_PAGE.read_bytes())
    obj |= {"githubRepo": "https://github.com/scicode-bench/SciCode", "githubStars": 120}
    (d,) = parse_daily_papers([obj])
    assert d.paper.code_url == "https://github.com/scicode-bench/SciCode"
    assert d.github_stars == 120


def test_malformed_items_are_skipped_with_reasons() -> None:
    items = _items()
    no_id = json.loads(json.dumps(items[1]))
    no_id["paper"]["id"] = "not-an-id"
    bad_votes = json.loads(json.dumps(items[2]))
    bad_votes["paper"]["upvotes"] = "many"
    page = parse_daily_page([items[0], 42, no_id, {"paper": []}, bad_votes, items[3]])
    assert [d.paper.id for d in page.papers] == ["2410.17243", "2410.18693"]
    assert len(page.skipped) == 4
    assert page.skipped[0].startswith("item 1: expected an object")
    assert "not an arXiv id" in page.skipped[1]
    assert "upvotes" in page.skipped[3]


@pytest.mark.parametrize(
    ("body", "words"),
    [
        (b"", "not valid JSON"),
        (DAILY.read_bytes()[:500], "not valid JSON"),
        (b'{"error": "Invalid date"}', "Invalid date"),
        (b'"hello"', "not a list"),
        (b"\xff\xfe[]", "not valid JSON"),
    ],
)
def test_bad_responses_raise_named_error(body: bytes, words: str) -> None:
    with pytest.raises(HfDailyError, match=words):
        parse_daily_papers(body)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(
            st.sampled_from(["paper", "id", "title", "publishedAt", "upvotes", "authors", "x"]),
            inner,
            max_size=5,
        )
    ),
    max_leaves=20,
)


@settings(max_examples=150, deadline=None)
@given(st.lists(json_values, max_size=5))
def test_arbitrary_json_items_never_crash(items: list[Any]) -> None:
    page = parse_daily_page(items)
    assert len(page.papers) + len(page.skipped) == len(items)


@settings(max_examples=150, deadline=None)
@given(st.binary(max_size=200) | st.integers(0, 2000).map(lambda n: DAILY.read_bytes()[:n]))
def test_arbitrary_bytes_raise_only_named_errors(body: bytes) -> None:
    try:
        daily = parse_daily_papers(body)
    except HfDailyError as e:
        assert str(e)
    else:
        assert all(d.paper.id for d in daily)
