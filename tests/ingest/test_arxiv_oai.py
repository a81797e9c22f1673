"""parse_oai_page against real OAI-PMH responses (arXiv, arXivRaw, ListIdentifiers) and faults."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from paperfeed.ingest.arxiv_oai import OaiError, parse_oai_page
from tests.conftest import ARXIV_OAI

OAI = ARXIV_OAI
ALL = sorted(OAI.glob("*/*.xml"))
HEP_EX = (
    OAI
    / "hepcrawl"
    / "tests__functional__arxiv__fixtures__http_server__records__arxiv-physics-hep-ex.xml"
)
BUNDLE = OAI / "hepcrawl" / "tests__unit__responses__arxiv__sample_arxiv_record.xml"
RECORD4 = OAI / "hepcrawl" / "tests__unit__responses__arxiv__sample_arxiv_record4.xml"
RAW = OAI / "invenio" / "arxivraw_GetRecord_1304.4214.xml"
IDENTIFIERS = OAI / "invenio" / "arXiv_ListIdentifiers_2014-05-05.xml"
ENVELOPE = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n'
    b'<OAI-PMH xmlns="http://www.openarchives.org/OAI/2.0/">'
    b"<responseDate>2024-01-01T00:00:00Z</responseDate>%s</OAI-PMH>"
)


def test_fixtures_are_there() -> None:
    assert len(ALL) == 17


@pytest.mark.parametrize("path", ALL, ids=lambda p: p.name[-45:])
def test_every_fixture_parses_without_skips(path: Path) -> None:
    page = parse_oai_page(path.read_bytes())
    assert page.skipped == () and page.deleted == () and page.is_last_page
    for p in page.papers:
        assert p.id == p.arxiv_id and p.title and p.authors and p.categories
        assert p.published and p.published.tzinfo == UTC
        assert p.updated and p.updated >= p.published
        assert p.sources == ("arxiv-oai",)


def test_list_records_arxiv_format() -> None:
    page = parse_oai_page(HEP_EX.read_bytes())
    assert page.identifiers == ("1706.05371", "1706.09418", "1707.00874")
    first, second, third = page.papers
    assert first.authors[:2] == ("Tyler Anderson", "Jacob Cutter")
    assert first.title == (
        "Evaluation of Silicon Photomultipliers for use as Photosensors in Liquid Xenon Detectors"
    )
    assert first.categories == ("physics.ins-det", "hep-ex")
    assert first.published == datetime(2017, 6, 16, tzinfo=UTC)
    assert first.updated == datetime(2017, 12, 12, tzinfo=UTC)
    assert first.version is None
    assert second.doi == "10.1140/epjc/s10052-017-5414-4"
    assert second.extra["journal-ref"] == "Eur. Phys. J. C (2017) 77:856"
    assert second.extra["report-no"] == "BONN-TH-2017-03"
    assert "$\\bar U\\bar D\\bar D$" in second.abstract  # LaTeX kept
    assert "$B-L$" in third.title


def test_namespace_lost_record_and_suffix() -> None:
    page = parse_oai_page(BUNDLE.read_bytes())
    assert len(page.papers) == 12
    first = page.papers[0]  # 1601.03238: <arXiv> without xmlns, so in the OAI namespace
    assert first.id == "1601.03238"
    assert first.authors[:2] == ("Planck Collaboration", "Jieci Wang")
    assert first.abstract
    (p,) = parse_oai_page(RECORD4.read_bytes()).papers
    assert "R. W. IV" in p.authors and ":" not in p.authors


def test_arxiv_raw_versions() -> None:
    (p,) = parse_oai_page(RAW.read_bytes()).papers
    assert (p.id, p.version) == ("1304.4214", 1)
    assert p.authors == ("Igor A. Zaliznyak", "John M. Tranquada")
    assert p.published == p.updated == datetime(2013, 4, 15, 19, 33, 21, tzinfo=UTC)
    assert p.extra["versions"] == [
        {"version": "v1", "date": "Mon, 15 Apr 2013 19:33:21 GMT", "size": "609kb"}
    ]
    assert p.extra["comments"].startswith('31 pages, chapter for "Strongly Correlated')


def test_arxiv_raw_latest_version_wins() -> None:
    v2 = (
        b'<version version="v2"><date>Tue, 7 May 2013 10:00:00 GMT</date><size>700kb</size>'
        b"</version><title>"
    )
    (p,) = parse_oai_page(RAW.read_bytes().replace(b"<title>", v2, 1)).papers
    assert p.version == 2
    assert p.published == datetime(2013, 4, 15, 19, 33, 21, tzinfo=UTC)
    assert p.updated == datetime(2013, 5, 7, 10, tzinfo=UTC)


def test_list_identifiers() -> None:
    page = parse_oai_page(IDENTIFIERS.read_bytes())
    assert page.papers == ()
    assert page.identifiers == ("0705.1765", "0705.3619", "0705.3623")


def test_deleted_records_and_resumption_token() -> None:
    body = HEP_EX.read_bytes()
    body = body.replace(b"<header>", b'<header status="deleted">', 1)
    body = body.replace(
        b"</ListRecords>",
        b'<resumptionToken cursor="0" completeListSize="2345">6960524|1001</resumptionToken>'
        b"</ListRecords>",
    )
    page = parse_oai_page(body)
    assert page.deleted == ("1706.05371",)
    assert [p.id for p in page.papers] == ["1706.09418", "1707.00874"]
    assert page.resumption is not None and not page.is_last_page
    assert (page.resumption.token, page.resumption.cursor) == ("6960524|1001", 0)
    assert page.resumption.complete_list_size == 2345


def test_empty_token_marks_the_last_page() -> None:
    body = HEP_EX.read_bytes().replace(
        b"</ListRecords>", b'<resumptionToken cursor="2000" completeListSize="2003"/></ListRecords>'
    )
    page = parse_oai_page(body)
    assert page.resumption is not None and page.resumption.token == ""
    assert page.is_last_page


def test_no_records_match_is_an_empty_final_page() -> None:
    page = parse_oai_page(ENVELOPE % b'<error code="noRecordsMatch">No records.</error>')
    assert page.papers == () and page.is_last_page


@pytest.mark.parametrize("code", ["badResumptionToken", "badArgument", "cannotDisseminateFormat"])
def test_other_oai_errors_raise(code: str) -> None:
    body = ENVELOPE % f'<error code="{code}">The value is bad.</error>'.encode()
    with pytest.raises(OaiError, match="The value is bad") as info:
        parse_oai_page(body)
    assert info.value.code == code and info.value.message == "The value is bad."


def test_record_without_abstract_is_kept_and_without_id_is_skipped() -> None:
    body = HEP_EX.read_bytes()
    start, end = body.index(b"<abstract>"), body.index(b"</abstract>") + len(b"</abstract>")
    body = body[:start] + body[end:]
    body = body.replace(b"<id>1706.09418</id>", b"").replace(
        b"<identifier>oai:arXiv.org:1706.09418</identifier>", b""
    )
    page = parse_oai_page(body)
    assert [p.id for p in page.papers] == ["1706.05371", "1707.00874"]
    assert page.papers[0].abstract == ""
    assert len(page.skipped) == 1 and "no arXiv id" in page.skipped[0]


@pytest.mark.parametrize(
    ("body", "words"),
    [
        (HEP_EX.read_bytes()[:3000], "not well-formed XML"),
        (HEP_EX.read_bytes().replace(b"Silicon", b"Sil\xc3\x28icon", 1), "not well-formed"),
        (b"", "not well-formed"),
        (b"<feed/>", "not an OAI-PMH response"),
    ],
)
def test_bad_bodies_raise_oai_error(body: bytes, words: str) -> None:
    with pytest.raises(OaiError, match=words):
        parse_oai_page(body)


def _mutations() -> st.SearchStrategy[bytes]:
    base = RAW.read_bytes()
    return st.tuples(st.integers(0, len(base)), st.integers(0, 40), st.binary(max_size=8)).map(
        lambda t: base[: t[0]] + t[2] + base[t[0] + t[1] :]
    )


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=300) | _mutations())
def test_any_bytes_raise_only_oai_error(body: bytes) -> None:
    try:
        page = parse_oai_page(body)
    except OaiError as e:
        assert str(e)
    else:
        assert all(p.id for p in page.papers)
