"""Record parsers: one JSON object (arXiv snapshot, our JSONL, the seed papers) to a Paper."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from paperfeed.ingest.records import (
    JSONL_SOURCE,
    SNAPSHOT_SOURCE,
    RecordError,
    parse_jsonl_record,
    parse_record,
    parse_snapshot_record,
)
from paperfeed.models import Paper, title_hash_id
from tests.conftest import SEED, SNAPSHOT

PROPERTY = settings(derandomize=True, database=None, deadline=None, max_examples=200)


@cache
def _lines(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8").splitlines()


def snapshot_line(number: int) -> dict[str, Any]:
    """Line `number` (1-based) of the real 1,000-line Kaggle snapshot sample."""
    obj: dict[str, Any] = json.loads(_lines(SNAPSHOT)[number - 1])
    return obj


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0, sec: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, sec, tzinfo=UTC)


# -- the arXiv snapshot ------------------------------------------------------------------------


def test_snapshot_record_line_1() -> None:
    paper = parse_snapshot_record(snapshot_line(1))
    assert paper.id == paper.arxiv_id == "0704.0001"
    assert paper.title == (
        "Calculation of prompt diphoton production cross sections at Tevatron and LHC energies"
    )
    assert paper.authors == ("C. Balázs", "E. L. Berger", "P. M. Nadolsky", "C. -P. Yuan")
    assert paper.categories == ("hep-ph",)
    assert paper.doi == "10.1103/physrevd.76.013009"
    assert paper.version == 2
    assert paper.published == utc(2007, 4, 2, 19, 18, 42)
    assert paper.updated == utc(2007, 7, 24, 20, 10, 27)
    assert paper.url == "https://arxiv.org/abs/0704.0001"
    assert paper.pdf_url == "https://arxiv.org/pdf/0704.0001"
    assert paper.sources == (SNAPSHOT_SOURCE,)
    assert paper.extra == {
        "submitter": "Pavel Nadolsky",
        "comments": "37 pages, 15 figures; published version",
        "journal-ref": "Phys.Rev.D76:013009,2007",
        "report-no": "ANL-HEP-PR-07-12",
    }  # the empty license is left out


def test_snapshot_dates_are_aware_utc() -> None:
    paper = parse_snapshot_record(snapshot_line(2))
    for d in (paper.published, paper.updated):
        assert d is not None
        assert d.utcoffset() is not None
        assert d.utcoffset().total_seconds() == 0  # type: ignore[union-attr]
    assert paper.published == utc(2007, 3, 31, 2, 26, 18)
    assert paper.updated == utc(2008, 12, 13, 17, 26)


def test_snapshot_categories_split_and_extra_kept() -> None:
    paper = parse_snapshot_record(snapshot_line(2))
    assert paper.categories == ("math.CO", "cs.CG")
    assert paper.authors == ("Ileana Streinu", "Louis Theran")
    assert paper.doi is None
    assert paper.extra["license"] == "http://arxiv.org/licenses/nonexclusive-distrib/1.0/"
    assert paper.extra["comments"] == "To appear in Graphs and Combinatorics"


def test_snapshot_title_keeps_latex_and_collapses_whitespace() -> None:
    paper = parse_snapshot_record(snapshot_line(11))
    assert paper.title == (
        "Computing genus 2 Hilbert-Siegel modular forms over $\\Q(\\sqrt{5})$ via "
        "the Jacquet-Langlands correspondence"
    )
    assert paper.version == 3
    assert paper.categories == ("math.NT", "math.AG")


def test_snapshot_abstract_keeps_latex_and_collapses_whitespace() -> None:
    paper = parse_snapshot_record(snapshot_line(2))
    assert paper.abstract.startswith("We describe a new algorithm, the $(k,\\ell)$-pebble game")
    assert paper.abstract.endswith("Gabow and Westermann and Hendrickson.")
    assert "\n" not in paper.abstract
    assert "  " not in paper.abstract


def test_snapshot_many_versions_and_several_dois() -> None:
    paper = parse_snapshot_record(snapshot_line(389))
    assert paper.version == 8
    assert paper.published == utc(2007, 4, 3, 13, 48, 12)
    assert paper.updated == utc(2011, 7, 22, 17, 35, 59)
    assert paper.doi == "10.1103/physrevd.75.124007"  # the first of three


def test_snapshot_author_suffix_follows_the_name() -> None:
    paper = parse_snapshot_record(snapshot_line(9))
    assert "Neal J. Evans II" in paper.authors
    assert paper.authors[0] == "Paul Harvey"


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        (25, ("A. S. Mishchenko", "N. Nagaosa")),
        (52, ("Arthur Jaffe", "Gordon Ritter")),
    ],
)
def test_snapshot_affiliations_stay_out_of_author_names(
    line: int, expected: tuple[str, ...]
) -> None:
    assert parse_snapshot_record(snapshot_line(line)).authors == expected


def test_snapshot_without_versions_uses_update_date() -> None:
    obj = {**snapshot_line(2), "versions": []}
    paper = parse_snapshot_record(obj)
    assert paper.version is None
    assert paper.published is None
    assert paper.updated == utc(2008, 12, 13)


def test_snapshot_authors_string_when_not_parsed() -> None:
    obj = {**snapshot_line(2), "authors_parsed": []}
    assert parse_snapshot_record(obj).authors == ("Ileana Streinu", "Louis Theran")


def test_every_line_of_the_snapshot_sample_parses() -> None:
    papers = [parse_record(json.loads(line)) for line in _lines(SNAPSHOT)]
    assert len({p.id for p in papers}) == 1000
    assert all(p.sources == (SNAPSHOT_SOURCE,) for p in papers)
    assert all(p.authors and p.categories and p.published and p.updated for p in papers)
    assert all(p.published <= p.updated for p in papers)  # type: ignore[operator]


# -- our own JSONL -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("ids", "expected_id", "arxiv_id", "doi", "version"),
    [
        ({"id": "2104.08663v2"}, "2104.08663", "2104.08663", None, 2),
        ({"id": "arXiv:2104.08663"}, "2104.08663", "2104.08663", None, None),
        ({"id": "custom", "arxiv_id": "2104.08663v3"}, "2104.08663", "2104.08663", None, 3),
        ({"id": "hep-th/9901001v2"}, "hep-th/9901001", "hep-th/9901001", None, 2),
        ({"doi": "https://doi.org/10.1145/ABC"}, "10.1145/abc", None, "10.1145/abc", None),
        ({"id": "10.1145/ABC"}, "10.1145/abc", None, "10.1145/abc", None),
        ({"id": "2104.08663", "doi": "10.1/x"}, "2104.08663", "2104.08663", "10.1/x", None),
        ({"id": "my-own-id"}, "my-own-id", None, None, None),
        ({"id": 42}, "42", None, None, None),
    ],
)
def test_jsonl_ids(
    ids: dict[str, Any],
    expected_id: str,
    arxiv_id: str | None,
    doi: str | None,
    version: int | None,
) -> None:
    paper = parse_jsonl_record({"title": "A title", **ids})
    assert (paper.id, paper.arxiv_id, paper.doi, paper.version) == (
        expected_id,
        arxiv_id,
        doi,
        version,
    )
    assert paper.sources == (JSONL_SOURCE,)


def test_jsonl_arxiv_id_gives_links_and_explicit_ones_win() -> None:
    paper = parse_jsonl_record({"id": "2104.08663", "title": "t"})
    assert paper.url == "https://arxiv.org/abs/2104.08663"
    assert paper.pdf_url == "https://arxiv.org/pdf/2104.08663"
    own = parse_jsonl_record(
        {"id": "2104.08663", "title": "t", "url": "https://x.org/p", "code_url": "https://g/x"}
    )
    assert own.url == "https://x.org/p"
    assert own.code_url == "https://g/x"
    assert parse_jsonl_record({"title": "t"}).url is None


def test_explicit_version_wins_over_the_id_suffix() -> None:
    assert parse_jsonl_record({"id": "2104.08663v2", "title": "t", "version": 5}).version == 5


@pytest.mark.parametrize(
    "authors",
    [
        ["Ada Lovelace", "Alan Turing", "Grace Hopper"],
        [{"name": "Ada Lovelace"}, {"name": "Alan Turing"}, {"name": "Grace Hopper"}],
        "Ada Lovelace, Alan Turing and Grace Hopper",
        "Ada Lovelace, Alan Turing, Grace Hopper",
        [" Ada  Lovelace ", "", "Alan Turing", "Grace\nHopper"],
    ],
)
def test_jsonl_authors_in_every_shape(authors: object) -> None:
    paper = parse_jsonl_record({"title": "t", "authors": authors})
    assert paper.authors == ("Ada Lovelace", "Alan Turing", "Grace Hopper")


@pytest.mark.parametrize("categories", [["cs.CL", "cs.LG"], "cs.CL cs.LG", " cs.CL   cs.LG "])
def test_jsonl_categories_as_list_or_string(categories: object) -> None:
    assert parse_jsonl_record({"title": "t", "categories": categories}).categories == (
        "cs.CL",
        "cs.LG",
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2021-04-17", utc(2021, 4, 17)),
        ("2021-04-17T10:00:00Z", utc(2021, 4, 17, 10)),
        ("2021-04-17T10:00:00+02:00", utc(2021, 4, 17, 8)),
        ("2021-04-17 10:00:00", utc(2021, 4, 17, 10)),
        ("Sat, 17 Apr 2021 10:00:00 GMT", utc(2021, 4, 17, 10)),
        ("Sat, 17 Apr 2021 10:00:00 -0500", utc(2021, 4, 17, 15)),
        ("4/17/2021", utc(2021, 4, 17)),
        ("", None),
        (None, None),
    ],
)
def test_jsonl_dates(text: str | None, expected: datetime | None) -> None:
    paper = parse_jsonl_record({"title": "t", "published": text, "updated": text})
    assert paper.published == expected
    assert paper.updated == expected
    if paper.published is not None:
        assert paper.published.utcoffset() is not None
        assert paper.published.utcoffset().total_seconds() == 0  # type: ignore[union-attr]


def test_jsonl_unknown_keys_go_to_extra() -> None:
    paper = parse_jsonl_record(
        {
            "title": "t",
            "year": "2026",
            "upvotes": 3,
            "nested": {"a": [1, 2]},
            "extra": {"venue": "ACL", "upvotes": 4},
        }
    )
    assert paper.extra == {"year": "2026", "upvotes": 4, "nested": {"a": [1, 2]}, "venue": "ACL"}


def test_jsonl_text_whitespace_collapsed_and_latex_kept() -> None:
    paper = parse_jsonl_record(
        {"title": "  The $\\mathcal{O}(n)$\n  bound ", "abstract": "A\n\n  <b>b</b> & $x_1$ "}
    )
    assert paper.title == "The $\\mathcal{O}(n)$ bound"
    assert paper.abstract == "A <b>b</b> & $x_1$"


def test_jsonl_summary_stands_in_for_abstract() -> None:
    assert parse_jsonl_record({"title": "t", "summary": "S"}).abstract == "S"
    assert parse_jsonl_record({"title": "t", "abstract": "A", "summary": "S"}).abstract == "A"


# -- the seed format ---------------------------------------------------------------------------


def test_seed_record_gets_a_stable_hash_id() -> None:
    obj = json.loads(_lines(SEED)[0])
    assert set(obj) == {"title", "abstract"}
    first, second = parse_record(obj), parse_record(dict(obj))
    assert first == second
    assert first.id == title_hash_id(obj["title"])
    assert first.id.startswith("h") and len(first.id) == 16
    assert first.arxiv_id is None and first.doi is None
    assert first.title == "Dropout is NOT All You Need to Prevent Gradient Leakage"
    assert first.abstract.startswith("Gradient inversion attacks on federated learning")
    assert first.extra == {}


def test_seed_hash_id_ignores_case_and_punctuation_only() -> None:
    a = parse_jsonl_record({"title": "Dropout is NOT All You Need"})
    b = parse_jsonl_record({"title": "dropout is not all you need."})
    c = parse_jsonl_record({"title": "Dropout is all you need"})
    assert a.id == b.id
    assert a.id != c.id


def test_all_seed_papers_parse_with_distinct_ids() -> None:
    papers = [parse_record(json.loads(line)) for line in _lines(SEED)]
    assert len(papers) == 227
    assert len({p.id for p in papers}) == 227


# -- RecordError reasons -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("obj", "reason"),
    [
        ({}, "no title"),
        ({"abstract": "only an abstract"}, "no title"),
        ({"title": "   \n "}, "no title"),
        ({"title": None}, "no title"),
        ({**snapshot_line(1), "title": ""}, "no title"),
        ({"title": 5}, "field 'title' must be a string"),
        ({"title": ["a"]}, "field 'title' must be a string"),
        ({"title": "t", "abstract": {}}, "field 'abstract' must be a string"),
        ({"title": "t", "authors": 5}, "field 'authors' must be a list or a string"),
        ({"title": "t", "authors": [1]}, "field 'authors' must hold strings"),
        ({"title": "t", "authors": [{"name": None}]}, "field 'authors' must hold strings"),
        ({"title": "t", "categories": {"a": 1}}, "field 'categories' must be a list or a string"),
        ({"title": "t", "id": ["x"]}, "field 'id' must be a string"),
        ({"title": "t", "version": "2"}, "field 'version' must be a whole number"),
        ({"title": "t", "extra": "x"}, "field 'extra' must be an object"),
        ({"title": "t", "doi": 10}, "field 'doi' must be a string"),
        ({"title": "t", "published": "yesterday"}, "field 'published': unreadable date"),
        ({"title": "t", "updated": "2021-13-45"}, "field 'updated': unreadable date"),
        ({"title": "t", "published": 2021}, "field 'published' must be a date string"),
        ({**snapshot_line(1), "versions": "v1"}, "field 'versions' must be a list"),
        ({**snapshot_line(1), "versions": ["v1"]}, "field 'versions' must hold objects"),
        ({**snapshot_line(1), "versions": [{"version": "vX"}]}, "bad version 'vX'"),
        (
            {**snapshot_line(1), "versions": [{"version": "v1", "created": "someday"}]},
            "field 'versions.created': unreadable date",
        ),
        ({**snapshot_line(1), "versions": [], "update_date": "13/45/2008"}, "update_date"),
        ({**snapshot_line(1), "authors_parsed": [[]]}, "field 'authors_parsed' must be a list"),
        ({**snapshot_line(1), "id": "704.0001"}, "not an arXiv id: '704.0001'"),
        ({**snapshot_line(1), "id": None}, "not an arXiv id: None"),
        ({**snapshot_line(1), "id": 704.0001}, "not an arXiv id: 704.0001"),
        ({"submitter": "x", "title": "t"}, "not an arXiv id"),
        ([1, 2], "expected a JSON object, got list"),
        ("a string", "expected a JSON object, got str"),
        (None, "expected a JSON object, got NoneType"),
    ],
)
def test_record_error_reasons(obj: object, reason: str) -> None:
    with pytest.raises(RecordError) as caught:
        parse_record(obj)
    assert reason in str(caught.value)


@pytest.mark.parametrize(
    "obj",
    [
        {"title": "t", "published": "0001-01-01T00:00:00+01:00"},
        {"title": "t", "published": "Mon, 2 Apr 99999999999999999999 19:18:42 GMT"},
        {"title": "t", "updated": "Mon, 2 Apr 2007 19:18:42 +99999999999999999999"},
        {**snapshot_line(1), "versions": [{"version": "v1", "created": "9999-12-31T23:00-05:00"}]},
    ],
)
def test_dates_out_of_range_are_record_errors(obj: dict[str, Any]) -> None:
    with pytest.raises(RecordError, match="unreadable date"):
        parse_record(obj)


# -- never any other exception -----------------------------------------------------------------

_JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)
# Values that get past the first checks, so the property reaches the deeper code too.
# (Dates stay within years 1000-9000: the edge of datetime's range is tested above.)
_DATE_TEXT = st.datetimes(datetime(1000, 1, 1), datetime(9000, 1, 1)).flatmap(
    lambda d: st.sampled_from(
        [d.isoformat(), d.isoformat() + "Z", d.strftime("%a, %d %b %Y %H:%M:%S GMT")]
    )
)
_ID_TEXT = st.sampled_from(
    ["0704.0001", "2104.08663v2", "hep-th/9901001v1", "arXiv:2104.08663", "10.1/x", "x"]
)
_VERSIONS = st.lists(
    st.fixed_dictionaries(
        {},
        optional={
            "version": _JSON | st.sampled_from(["v1", "v2", "2", "v", ""]),
            "created": _JSON | _DATE_TEXT,
        },
    ),
    max_size=3,
)
_NAMES = st.lists(st.text() | st.fixed_dictionaries({"name": _JSON | st.text()}), max_size=3)
_KNOWN = {
    "id": _JSON | _ID_TEXT,
    "arxiv_id": _JSON | _ID_TEXT,
    "doi": _JSON | st.sampled_from(["10.1/X", "10.1/a 10.1/b", "doi"]),
    "title": _JSON | st.text(),
    "abstract": _JSON | st.text(),
    "summary": _JSON,
    "authors": _JSON | st.text() | _NAMES,
    "authors_parsed": _JSON | st.lists(st.lists(_JSON | st.text(), max_size=4), max_size=3),
    "categories": _JSON | st.text(),
    "published": _JSON | _DATE_TEXT,
    "updated": _JSON | _DATE_TEXT,
    "update_date": _JSON | _DATE_TEXT | st.just("11/26/2008"),
    "versions": _JSON | _VERSIONS,
    "version": _JSON,
    "extra": _JSON,
    "submitter": _JSON,
    "comments": _JSON,
    "url": _JSON,
    "code_url": _JSON,
}


_CONTROL = re.compile("[\x00-\x1f\x7f]")
_ID_BREAK = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def _check(obj: object) -> None:
    try:
        paper = parse_record(obj)
    except RecordError as e:
        assert str(e)
    else:
        assert isinstance(paper, Paper)
        assert paper.id and paper.title
        assert not _ID_BREAK.search(paper.id), paper.id  # a page can be found at /paper/ID
        for text in (paper.title, paper.abstract, *paper.authors):
            assert not _CONTROL.search(text), text


@given(_JSON)
@PROPERTY
def test_any_json_value_is_a_paper_or_a_record_error(obj: object) -> None:
    _check(obj)


@given(st.fixed_dictionaries({}, optional=_KNOWN))
@PROPERTY
def test_any_mix_of_known_keys_is_a_paper_or_a_record_error(obj: dict[str, Any]) -> None:
    _check(obj)


_GOOD = [
    snapshot_line(1),
    snapshot_line(64),
    {"id": "2104.08663v2", "title": "t", "authors": ["A B"], "published": "2021-04-17"},
    {"title": "Only a title", "abstract": "and an abstract"},
]
_OVERRIDE = st.sampled_from(sorted(_KNOWN)).flatmap(lambda k: st.tuples(st.just(k), _KNOWN[k]))


@given(st.sampled_from(_GOOD), st.lists(_OVERRIDE, min_size=1, max_size=2))
@PROPERTY
def test_good_records_with_a_field_or_two_replaced_are_a_paper_or_a_record_error(
    good: dict[str, Any], overrides: list[tuple[str, Any]]
) -> None:
    _check({**good, **dict(overrides)})


# -- control characters ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "value", "shown"),
    [
        ("id", "my-id\r\nSet-Cookie: x", "U+000D"),
        ("id", "a\nb", "U+000A"),
        ("id", "10.1145/abc\ndef", "U+000A"),
        ("id", "nul\x00id", "U+0000"),
        ("id", "next\x85line", "U+0085"),
        ("arxiv_id", "2104.08663\u2028v2", "U+2028"),
        ("doi", "10.1/a\x1bb", "U+001B"),
    ],
)
def test_ids_with_control_characters_are_refused(field: str, value: str, shown: str) -> None:
    with pytest.raises(RecordError) as caught:
        parse_jsonl_record({"title": "A title", field: value})
    assert str(caught.value) == (
        f"field {field!r} holds a control character ({shown}); a paper id must be printable"
    )


def test_blank_space_around_an_id_is_trimmed() -> None:
    assert parse_jsonl_record({"title": "t", "id": " my-id\r\n"}).id == "my-id"
    assert parse_jsonl_record({"title": "t", "id": "\t2104.08663v2\n"}).id == "2104.08663"


def test_control_characters_are_stripped_from_titles_abstracts_and_authors() -> None:
    paper = parse_jsonl_record(
        {
            "title": "Null\x00 bytes\x07 and\tbells\x1b[31m",
            "abstract": "Line one.\nLine\x00 two.\x7f",
            "authors": ["Ann\x00 Lee", "\x08Bob"],
        }
    )
    assert paper.title == "Null bytes and bells[31m"
    assert paper.abstract == "Line one. Line two."
    assert paper.authors == ("Ann Lee", "Bob")
    snapshot = parse_snapshot_record(
        {**snapshot_line(1), "title": "T\x00itle", "authors_parsed": [["Bal\x00\xe1zs", "C."]]}
    )
    assert (snapshot.title, snapshot.authors) == ("Title", ("C. Bal\xe1zs",))
