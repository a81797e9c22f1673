"""Parse arXiv's new-submission listings (rss.arxiv.org, RSS 2.0 or Atom) into papers with
their announce type.

The listing of a category is "what was announced today": new submissions, cross-lists from
other categories, and replacements (new versions), each item marked `new`, `cross`,
`replace` or `replace-cross`. This module turns one feed body into a `ListingPage`. It must
not fetch, store or retry; a bad item is skipped with a reason, and only a body that is not
such a feed raises `ArxivListingError`.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from datetime import date, datetime

from paperfeed.errors import PaperfeedError
from paperfeed.ingest.arxiv_atom import parse_xml
from paperfeed.ingest.dates import parse_date
from paperfeed.ingest.records import arxiv_paper, split_author_string
from paperfeed.models import Paper, collapse_space, parse_arxiv_id

ARXIV_LISTING_SOURCE = "arxiv-listing"
ANNOUNCE_TYPES = ("new", "cross", "replace", "replace-cross")
_ATOM = "{http://www.w3.org/2005/Atom}"
_ARXIV = "{http://arxiv.org/schemas/atom}"
_DC = "{http://purl.org/dc/elements/1.1/}"
_PREFIX = re.compile(r"^\s*arXiv:(\S+)\s+Announce Type:\s*([\w-]+)\s*", re.I)


class ArxivListingError(PaperfeedError):
    """The body is not an arXiv listing feed (not XML, truncated, another document)."""


class _Skip(Exception):
    """One item cannot become a paper; str() is the reason."""


@dataclass(frozen=True, slots=True)
class ListedPaper:
    paper: Paper
    announce_type: str  # one of ANNOUNCE_TYPES (an unknown one is kept, lower-cased)
    announced_on: date | None


@dataclass(frozen=True, slots=True)
class ListingPage:
    items: tuple[ListedPaper, ...]
    day: date | None  # the listing's own date, as written (arXiv writes US Eastern time)
    skipped: tuple[str, ...] = ()  # "item 3: ..." for each item left out


def parse_arxiv_listing(xml: bytes) -> ListingPage:
    root = parse_xml(xml, "arXiv listing", ArxivListingError)
    if root.tag == "rss":
        channel = root.find("channel")
        if channel is None:
            raise ArxivListingError("The arXiv listing is an RSS document without a channel.")
        day = _day(channel.findtext("pubDate") or channel.findtext("lastBuildDate"))
        entries = [(item, _rss_fields(item)) for item in channel.iter("item")]
    elif root.tag == _ATOM + "feed":
        day = _day(root.findtext(_ATOM + "updated"))
        entries = [(entry, _atom_fields(entry)) for entry in root.iter(_ATOM + "entry")]
    else:
        raise ArxivListingError(f"The arXiv listing is not RSS or Atom (root <{root.tag}>).")
    items, skipped = [], []
    for n, (element, fields) in enumerate(entries):
        try:
            items.append(_item(element, fields, day))
        except _Skip as e:
            skipped.append(f"item {n}: {e}")
    return ListingPage(tuple(items), day, tuple(skipped))


@dataclass(frozen=True, slots=True)
class _Fields:
    ident: str
    title: str
    text: str
    categories: tuple[str, ...]
    when: str | None


def _rss_fields(item: ET.Element) -> _Fields:
    return _Fields(
        ident=item.findtext("guid") or item.findtext("link") or "",
        title=item.findtext("title") or "",
        text=item.findtext("description") or "",
        categories=tuple(c.text or "" for c in item.iter("category")),
        when=item.findtext("pubDate"),
    )


def _atom_fields(entry: ET.Element) -> _Fields:
    return _Fields(
        ident=entry.findtext(_ATOM + "id") or "",
        title=entry.findtext(_ATOM + "title") or "",
        text=entry.findtext(_ATOM + "summary") or "",
        categories=tuple(c.get("term", "") for c in entry.iter(_ATOM + "category")),
        when=entry.findtext(_ATOM + "published") or entry.findtext(_ATOM + "updated"),
    )


def _item(element: ET.Element, f: _Fields, day: date | None) -> ListedPaper:
    prefix = _PREFIX.match(f.text)
    parsed = parse_arxiv_id(collapse_space(f.ident).removeprefix("oai:arXiv.org:"))
    if parsed is None and prefix:
        parsed = parse_arxiv_id(prefix.group(1))
    if parsed is None:
        raise _Skip(f"no arXiv id in {f.ident!r}")
    arxiv_id, version = parsed
    title = collapse_space(f.title)
    if not title:
        raise _Skip(f"{arxiv_id}: no title")
    kind = collapse_space(element.findtext(_ARXIV + "announce_type") or "").lower()
    if not kind and prefix:
        kind = prefix.group(2).lower()
    text = f.text[prefix.end() :] if prefix else f.text
    _, marker, after = text.partition("Abstract:")
    abstract = collapse_space(after if marker else text)
    announced = _day(f.when) or day
    first_version = kind == "new" and version in (None, 1)
    return ListedPaper(
        paper=arxiv_paper(
            arxiv_id,
            ARXIV_LISTING_SOURCE,
            code_texts=(abstract,),
            title=title,
            abstract=abstract,
            authors=_authors(element),
            categories=tuple(dict.fromkeys(c.strip() for c in f.categories if c.strip())),
            version=version,
            published=_datetime(f.when) if first_version else None,
        ),
        announce_type=kind or "new",
        announced_on=announced,
    )


def _authors(element: ET.Element) -> tuple[str, ...]:
    creator = collapse_space(element.findtext(_DC + "creator") or "")
    if creator:
        return tuple(split_author_string(creator))
    names = (
        collapse_space(a.findtext(_ATOM + "name") or "") for a in element.iter(_ATOM + "author")
    )
    return tuple(n for name in names for n in split_author_string(name))


def _datetime(text: str | None) -> datetime | None:
    if not text or not text.strip():
        return None
    try:
        return parse_date(text.strip())
    except ValueError:
        return None


def _day(text: str | None) -> date | None:
    when = _datetime(text)
    return when.date() if when else None
