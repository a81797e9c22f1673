"""Parse arXiv API (export.arxiv.org/api/query) Atom responses into papers and paging totals.

The arXiv API is the way to look papers up by id or query; its answers are Atom feeds in two
dialects (2016: http ids, inline namespaces; 2026: https, `primary_category` first). This
module turns one response body into an `AtomPage`. It must not fetch, retry or store: the
harvester does that. It reads a trusted format with ElementTree, but refuses any document with
a DOCTYPE, so no entity is ever declared, let alone resolved. Every failure is an
`ArxivApiError` with a sentence, never a parser traceback.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass
from datetime import datetime

from paperfeed.errors import PaperfeedError
from paperfeed.ingest.dates import parse_date
from paperfeed.ingest.records import RecordError, arxiv_paper, parse_each
from paperfeed.models import Paper, collapse_space, normalize_doi, parse_arxiv_id

ARXIV_API_SOURCE = "arxiv-api"
_ATOM = "{http://www.w3.org/2005/Atom}"
_ARXIV = "{http://arxiv.org/schemas/atom}"
_OPENSEARCH = "{http://a9.com/-/spec/opensearch/1.1/}"


class ArxivApiError(PaperfeedError):
    """The API answered with an error feed, or with something that is not a feed."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True, slots=True)
class AtomPage:
    papers: tuple[Paper, ...]
    total_results: int | None  # opensearch totals, for paging
    start_index: int | None
    items_per_page: int | None
    skipped: tuple[str, ...] = ()  # "entry 3: ..." for each entry left out


def parse_arxiv_atom(xml: bytes) -> AtomPage:
    feed = parse_xml(xml, "arXiv API response", ArxivApiError)
    if feed.tag != _ATOM + "feed":
        raise ArxivApiError(f"The arXiv API response is not an Atom feed (root <{feed.tag}>).")
    entries = list(feed.iter(_ATOM + "entry"))
    for entry in entries:
        _raise_if_error(entry)
    papers, skipped = parse_each(entries, _paper, "entry")
    return AtomPage(
        papers=papers,
        total_results=_int(feed.findtext(_OPENSEARCH + "totalResults")),
        start_index=_int(feed.findtext(_OPENSEARCH + "startIndex")),
        items_per_page=_int(feed.findtext(_OPENSEARCH + "itemsPerPage")),
        skipped=skipped,
    )


def parse_xml(xml: bytes, what: str, error: type[PaperfeedError]) -> ET.Element:
    """The root element, or `error` with a sentence. Shared with the OAI-PMH parser."""
    if not isinstance(xml, bytes | bytearray):
        raise error(f"The {what} must be bytes, not {type(xml).__name__}.")
    if b"<!DOCTYPE" in xml or b"<!ENTITY" in xml:
        raise error(f"The {what} declares a DOCTYPE or entities, which we do not read.")
    try:
        return ET.fromstring(bytes(xml))
    except ET.ParseError as e:
        raise error(f"The {what} is not well-formed XML ({e}); it may be truncated.") from None
    except (ValueError, LookupError) as e:  # unknown or impossible encoding declarations
        raise error(f"The {what} cannot be decoded as XML ({e}).") from None


def _raise_if_error(entry: ET.Element) -> None:
    if "/api/errors" in (entry.findtext(_ATOM + "id") or ""):
        summary = collapse_space(entry.findtext(_ATOM + "summary") or "") or "no reason given"
        raise ArxivApiError(f"The arXiv API answered with an error: {summary}")


def _paper(entry: ET.Element) -> Paper:
    raw_id = collapse_space(entry.findtext(_ATOM + "id") or "")
    parsed = parse_arxiv_id(raw_id)
    if parsed is None:
        raise RecordError(f"not an arXiv id: {raw_id!r}")
    arxiv_id, version = parsed
    title = _text(entry, _ATOM + "title")
    if not title:
        raise RecordError(f"{arxiv_id}: no title")
    abstract = _text(entry, _ATOM + "summary")
    extra = _extra(entry)
    return arxiv_paper(
        arxiv_id,
        ARXIV_API_SOURCE,
        code_texts=(abstract, extra.get("comments", "")),
        title=title,
        abstract=abstract,
        authors=tuple(n for a in entry.iter(_ATOM + "author") if (n := _text(a, _ATOM + "name"))),
        categories=_categories(entry),
        doi=_doi(entry),
        published=_date(entry, _ATOM + "published"),
        updated=_date(entry, _ATOM + "updated"),
        version=version,
        extra=extra,
    )


def _text(element: ET.Element, tag: str) -> str:
    return collapse_space(element.findtext(tag) or "")


def _categories(entry: ET.Element) -> tuple[str, ...]:
    primary = [e.get("term", "") for e in entry.iter(_ARXIV + "primary_category")]
    others = [e.get("term", "") for e in entry.iter(_ATOM + "category")]
    return tuple(dict.fromkeys(t.strip() for t in primary + others if t.strip()))


def _doi(entry: ET.Element) -> str | None:
    words = _text(entry, _ARXIV + "doi").split()
    return normalize_doi(words[0]) if words else None


def _extra(entry: ET.Element) -> dict[str, str]:
    fields = {"comments": _ARXIV + "comment", "journal-ref": _ARXIV + "journal_ref"}
    return {key: value for key, tag in fields.items() if (value := _text(entry, tag))}


def _date(entry: ET.Element, tag: str) -> datetime | None:
    text = _text(entry, tag)
    if not text:
        return None
    try:
        return parse_date(text)
    except ValueError:
        raise RecordError(f"unreadable date {text!r} in <{tag.split('}')[-1]}>") from None


def _int(text: str | None) -> int | None:
    try:
        return int((text or "").strip())
    except ValueError:
        return None
