"""The pure identity rules: arXiv ids, DOIs, title keys, and how two records of one paper merge."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from paperfeed.models import (
    Paper,
    can_merge,
    identity_keys,
    merge_papers,
    normalize_doi,
    normalize_title,
    parse_arxiv_id,
    title_hash_id,
)

# Deterministic runs that leave nothing behind: the suite must give the same answer every time.
PROPERTY = settings(derandomize=True, database=None, deadline=None, max_examples=100)


def day(n: int) -> datetime:
    return datetime(2024, 1, n, tzinfo=UTC)


def arxiv_paper(version: int, **kw: object) -> Paper:
    fields: dict[str, object] = {
        "title": f"Title of v{version}",
        "abstract": f"Abstract of v{version}, with $\\alpha$.",
        "authors": (f"Author V{version}",),
        "categories": ("cs.CL",),
        "published": day(1),
        "updated": day(version),
        "url": "https://arxiv.org/abs/2401.00001",
        "sources": ("arxiv-snapshot",),
        **kw,
    }
    return Paper(id="2401.00001", arxiv_id="2401.00001", version=version, **fields)  # type: ignore[arg-type]


# -- parse_arxiv_id ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2104.08663", ("2104.08663", None)),
        ("2104.08663v2", ("2104.08663", 2)),
        ("0704.0001", ("0704.0001", None)),
        ("0704.0001v12", ("0704.0001", 12)),
        ("  2104.08663v3\n", ("2104.08663", 3)),
        ("hep-th/9901001", ("hep-th/9901001", None)),
        ("hep-th/9901001v2", ("hep-th/9901001", 2)),
        ("math.GT/0309136", ("math.GT/0309136", None)),
        ("math.GT/0309136v1", ("math.GT/0309136", 1)),
        ("arXiv:2104.08663", ("2104.08663", None)),
        ("arXiv:2104.08663v4", ("2104.08663", 4)),
        ("ARXIV:hep-th/9901001v2", ("hep-th/9901001", 2)),
        ("https://arxiv.org/abs/2104.08663", ("2104.08663", None)),
        ("https://arxiv.org/abs/2104.08663v2", ("2104.08663", 2)),
        ("http://export.arxiv.org/abs/hep-th/9901001", ("hep-th/9901001", None)),
        ("https://www.arxiv.org/abs/math.GT/0309136v1", ("math.GT/0309136", 1)),
        ("https://arxiv.org/pdf/2104.08663", ("2104.08663", None)),
        ("https://arxiv.org/pdf/2104.08663v1", ("2104.08663", 1)),
        ("https://arxiv.org/pdf/2104.08663v1.pdf", ("2104.08663", 1)),
        ("https://arxiv.org/pdf/hep-th/9901001.pdf", ("hep-th/9901001", None)),
    ],
)
def test_parse_arxiv_id_reads_every_spelling(text: str, expected: tuple[str, int | None]) -> None:
    assert parse_arxiv_id(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   ",
        "garbage",
        "704.0001",  # the float-mangled id from the Kaggle CSV
        "2104.086631",  # six digits after the dot
        "2104.08663v",
        "2104.08663 v2",
        "hep-th/990100",  # six digits
        "hep-th/99010011",
        "10.1103/PhysRevD.76.013009",
        "arxiv.org/abs/2104.08663",  # no scheme
        "https://example.org/abs/2104.08663",
        "arXiv 2104.08663",
    ],
)
def test_parse_arxiv_id_rejects_what_is_not_an_id(text: str) -> None:
    assert parse_arxiv_id(text) is None


@given(st.text())
@PROPERTY
def test_parse_arxiv_id_never_raises_and_its_answer_parses_again(text: str) -> None:
    parsed = parse_arxiv_id(text)
    if parsed is not None:
        arxiv_id, _version = parsed
        assert parse_arxiv_id(arxiv_id) == (arxiv_id, None)


# -- normalize_doi -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("10.1103/PhysRevD.76.013009", "10.1103/physrevd.76.013009"),
        ("  10.1/ABC  ", "10.1/abc"),
        ("doi:10.1/ABC", "10.1/abc"),
        ("DOI:10.1/abc", "10.1/abc"),
        ("https://doi.org/10.1145/3292500.3330701", "10.1145/3292500.3330701"),
        ("http://dx.doi.org/10.1145/X", "10.1145/x"),
        ("", None),
        ("not a doi", None),
        ("10.1234", None),  # no suffix
        ("11.1234/x", None),
        ("2104.08663", None),
    ],
)
def test_normalize_doi(text: str, expected: str | None) -> None:
    assert normalize_doi(text) == expected


# -- normalize_title ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("title", "expected"),
    [
        ("Attention Is All You Need", "attention is all you need"),
        ("ATTENTION is all YOU need", "attention is all you need"),
        ("Café Éléphant", "cafe elephant"),
        ("ÅNGSTRÖM-scale naïve Bayes", "angstrom scale naive bayes"),
        ("Attention: is all... you need?!", "attention is all you need"),
        ("Naïve—Bayes (a study)", "naive bayes a study"),
        ("$\\alpha$-stable processes", "alpha stable processes"),
        ("  Attention\n  is\tall   you need  ", "attention is all you need"),
        ("", ""),
        ("?!?", ""),
    ],
)
def test_normalize_title(title: str, expected: str) -> None:
    assert normalize_title(title) == expected


def test_titles_spelled_differently_share_one_key_and_hash_id() -> None:
    a = "Calculation of prompt diphoton production cross sections at Tevatron and LHC energies"
    b = "CALCULATION of Prompt Diphoton Production Cross-Sections at Tevatron and LHC Energies."
    assert normalize_title(a) == normalize_title(b)
    assert title_hash_id(a) == title_hash_id(b)
    assert title_hash_id(a) != title_hash_id("Another paper")
    assert title_hash_id(a).startswith("h")


@pytest.mark.parametrize(
    ("fancy", "plain"),
    [
        ("\N{MATHEMATICAL BOLD CAPITAL A}ttention", "Attention"),
        ("Embeddings in \N{DOUBLE-STRUCK CAPITAL R}^n", "Embeddings in R^n"),
    ],
)
def test_compatibility_capitals_fold_like_their_plain_letters(fancy: str, plain: str) -> None:
    assert normalize_title(fancy) == normalize_title(plain)


@given(st.text())
@PROPERTY
def test_normalize_title_is_idempotent_and_tidy(title: str) -> None:
    key = normalize_title(title)
    assert normalize_title(key) == key
    assert key == key.strip()
    assert "  " not in key
    assert key == key.lower()


# -- identity_keys and can_merge ---------------------------------------------------------------


def _title_key(paper: Paper) -> str:
    [key] = [k for k in identity_keys(paper) if k.startswith("title:")]
    return key


def test_identity_keys_are_arxiv_then_doi_then_title() -> None:
    paper = Paper(
        id="2104.08663", arxiv_id="2104.08663", doi="10.1/abc", title="BEIR: A Benchmark!"
    )
    keys = identity_keys(paper)
    assert [k.split(":", 1)[0] for k in keys] == ["arxiv", "doi", "title"]
    assert keys[:2] == ["arxiv:2104.08663", "doi:10.1/abc"]


def test_the_title_key_matches_one_title_however_spelled() -> None:
    def key(title: str) -> str:
        return _title_key(Paper(id=title_hash_id(title), title=title))

    assert key("BEIR: A Benchmark!") == key("beir - a  BENCHMARK")
    assert key("Café Éléphant") == key("cafe elephant")
    assert key("BEIR: A Benchmark!") != key("BEIR: A Benchmark 2")


def test_identity_keys_end_with_an_id_that_is_neither_arxiv_id_nor_doi() -> None:
    hashed = title_hash_id("Only a title")
    keys = identity_keys(Paper(id=hashed, title="Only a title"))
    assert [k.split(":", 1)[0] for k in keys] == ["title", "id"]
    assert keys[-1] == "id:" + hashed
    assert identity_keys(Paper(id="10.1/x", doi="10.1/x", title="...")) == ["doi:10.1/x"]
    custom = identity_keys(Paper(id="my-id", doi="10.1/x", title="A title"))
    assert [k.split(":", 1)[0] for k in custom] == ["doi", "title", "id"]
    assert custom[-1] == "id:my-id"


def test_can_merge_refuses_only_two_different_arxiv_ids() -> None:
    a = Paper(id="2401.00001", arxiv_id="2401.00001", title="Same title")
    b = Paper(id="2401.00002", arxiv_id="2401.00002", title="Same title")
    plain = Paper(id=title_hash_id("Same title"), title="Same title")
    assert not can_merge(a, b)
    assert not can_merge(b, a)
    assert can_merge(a, a)
    assert can_merge(a, plain)
    assert can_merge(plain, a)
    assert can_merge(plain, plain)


# -- merge_papers: examples --------------------------------------------------------------------


def test_newer_version_wins_content_fields() -> None:
    old, new = arxiv_paper(1), arxiv_paper(2, published=day(5))
    merged = merge_papers(old, new)
    assert merged.title == "Title of v2"
    assert merged.abstract == new.abstract
    assert merged.authors == ("Author V2",)
    assert merged.version == 2
    assert merged.updated == day(2)
    assert merged.published == day(1)  # the first version's date stays


def test_older_version_does_not_overwrite_newer_content() -> None:
    new = arxiv_paper(2)
    old = arxiv_paper(1, published=day(5))
    merged = merge_papers(new, old)
    assert merged is new


def test_older_version_fills_gaps_of_the_newer_one() -> None:
    new = arxiv_paper(2, abstract="", categories=(), url=None)
    old = arxiv_paper(1, code_url="https://github.com/x/y", published=None)
    merged = merge_papers(new, old)
    assert merged.title == "Title of v2"
    assert merged.abstract == old.abstract
    assert merged.categories == ("cs.CL",)
    assert merged.url == old.url
    assert merged.code_url == "https://github.com/x/y"
    assert merged.version == 2
    assert merged.published == day(1)


def test_later_update_wins_when_versions_tie() -> None:
    early = Paper(id="h1", title="Early", updated=day(1))
    late = Paper(id="h1", title="Late", updated=day(2))
    assert merge_papers(early, late).title == "Late"
    assert merge_papers(late, early) is late


def test_sources_accumulate_without_duplicates_and_extra_merges() -> None:
    a = arxiv_paper(1, sources=("arxiv-snapshot",), extra={"comments": "v1", "a": 1})
    b = arxiv_paper(2, sources=("jsonl", "arxiv-snapshot"), extra={"comments": "v2", "b": 2})
    merged = merge_papers(a, b)
    assert merged.sources == ("arxiv-snapshot", "jsonl")
    assert merged.extra == {"comments": "v2", "a": 1, "b": 2}
    assert merge_papers(merged, b).sources == ("arxiv-snapshot", "jsonl")


@pytest.mark.parametrize("order", ["existing-first", "incoming-first"])
def test_earliest_published_is_kept(order: str) -> None:
    a = arxiv_paper(1, published=day(3))
    b = arxiv_paper(2, published=day(7))
    merged = merge_papers(a, b) if order == "existing-first" else merge_papers(b, a)
    assert merged.published == day(3)
    assert merged.version == 2


def test_a_title_only_paper_takes_the_arxiv_id_then_keeps_it() -> None:
    seed = Paper(id=title_hash_id("Title of v1"), title="Title of v1", sources=("jsonl",))
    merged = merge_papers(seed, arxiv_paper(1))
    assert merged.id == merged.arxiv_id == "2401.00001"
    assert merged.sources == ("jsonl", "arxiv-snapshot")
    with_doi = Paper(id="10.1/x", doi="10.1/x", title="Title of v1")
    assert merge_papers(merged, with_doi).id == "2401.00001"
    assert merge_papers(seed, with_doi).id == "10.1/x"


# -- merge_papers: properties ------------------------------------------------------------------

_NEW_IDS = st.builds(
    "{:02d}{:02d}.{:05d}".format,
    st.integers(7, 26),
    st.integers(1, 12),
    st.integers(0, 99999),
)
_DOIS = st.builds(
    "10.{}/{}".format, st.integers(1000, 99999), st.from_regex(r"[a-z0-9.]{1,8}", fullmatch=True)
)
_DATES = st.datetimes(datetime(1990, 1, 1), datetime(2030, 1, 1), timezones=st.just(UTC))
_JSON_LEAVES = st.none() | st.booleans() | st.integers() | st.text(max_size=10)
_SHORT = st.text(max_size=20)


@st.composite
def papers(draw: st.DrawFn) -> Paper:
    """Papers as the parsers build them: the id is the arXiv id, else the DOI, else the hash."""
    title = draw(_SHORT)
    arxiv_id = draw(st.none() | _NEW_IDS)
    doi = draw(st.none() | _DOIS)
    return Paper(
        id=arxiv_id or doi or title_hash_id(title),
        title=title,
        abstract=draw(_SHORT),
        authors=tuple(draw(st.lists(_SHORT, max_size=3))),
        categories=tuple(
            draw(st.lists(st.sampled_from(["cs.CL", "cs.LG", "math.CO"]), max_size=3))
        ),
        arxiv_id=arxiv_id,
        doi=doi,
        published=draw(st.none() | _DATES),
        updated=draw(st.none() | _DATES),
        version=draw(st.none() | st.integers(1, 9)),
        url=draw(st.none() | st.just("https://arxiv.org/abs/x")),
        pdf_url=draw(st.none() | st.just("https://arxiv.org/pdf/x")),
        code_url=draw(st.none() | st.just("https://github.com/x/y")),
        sources=tuple(
            draw(st.lists(st.sampled_from(["arxiv-snapshot", "jsonl", "api"]), unique=True))
        ),
        extra=draw(st.dictionaries(st.text(max_size=5), _JSON_LEAVES, max_size=3)),
    )


@given(papers())
@PROPERTY
def test_merging_a_paper_with_itself_returns_the_same_object(paper: Paper) -> None:
    assert merge_papers(paper, paper) is paper
    assert merge_papers(paper, replace(paper)) is paper


@given(papers(), papers())
@PROPERTY
def test_merge_is_idempotent(a: Paper, b: Paper) -> None:
    once = merge_papers(a, b)
    assert merge_papers(once, b) == once


@given(papers(), papers())
@PROPERTY
def test_merge_keeps_every_source_and_the_earliest_date(a: Paper, b: Paper) -> None:
    merged = merge_papers(a, b)
    assert set(merged.sources) == set(a.sources) | set(b.sources)
    assert len(set(merged.sources)) == len(merged.sources)
    dates = [d for d in (a.published, b.published) if d is not None]
    assert merged.published == (min(dates) if dates else None)
    assert merged.arxiv_id == (a.arxiv_id or b.arxiv_id)


def test_an_absurd_version_is_not_an_arxiv_id() -> None:
    assert parse_arxiv_id("2104.08663v" + "9" * 5000) is None  # int() would refuse it
