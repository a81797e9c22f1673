"""Parse arXiv's daily listings feeds (rss.arxiv.org/rss/<cats>, /atom/<cats>) into papers and
their announce types.

A listing is what arXiv announced in some categories on one day: new submissions, cross-lists
from other categories and replacements, each item marked `new`, `cross`, `replace` or
`replace-cross` (in its `arxiv:announce_type` and again at the head of its description). The
service writes the same items as RSS 2.0 or as Atom (the 2024 format); the root element says
which. This module turns one body into a `ListingPage`. It must not fetch, store or retry: the
harvester does. It refuses any DOCTYPE, as the API parser does, so no entity is ever resolved.
A bad item is skipped with a reason; only a body that is not such a feed raises
`ArxivListingError`, with a sentence, never a parser traceback.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from datetime import date, datetime
from email.utils import parsedate_to_datetime

from paperfeed.errors import PaperfeedError
from paperfeed.ingest.arxiv_atom import parse_xml
from paperfeed.ingest.dates import parse_date
from paperfeed.ingest.records import RecordError, arxiv_paper, parse_each, split_author_string
from paperfeed.models import Paper, collapse_space, parse_arxiv_id

ARXIV_LISTING_SOURCE = "arxiv-listing"
ANNOUNCE_TYPES = ("new", "cross", "replace", "replace-cross")
_ATOM = "{http://www.w3.org/2005/Atom}"
_ARXIV = "{http://arxiv.org/schemas/atom}"
_DC = "{http://purl.org/dc/elements/1.1/}"
_OAI_PREFIX = re.compile(r"^oai:arxiv\.org:", re.I)
# "arXiv:2403.09629v1 Announce Type: new \nAbstract: ...", the head of every description
_HEAD = re.compile(r"\s*arXiv:(\S+)\s+Announce Type:[ \t]*([\w-]*)", re.I)


class ArxivListingError(PaperfeedError):
    """The body is not an arXiv listing feed: not XML, truncated, or some other document."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True, slots=True)
class ListedPaper:
    paper: Paper
    announce_type: str  # one of ANNOUNCE_TYPES; another one arXiv writes is kept, lower-cased
    announced_on: date | None  # the item's date, else the listing's


@dataclass(frozen=True, slots=True)
class ListingPage:
    items: tuple[ListedPaper, ...]
    day: date | None  # the listing's date as written (arXiv writes its midnight, US Eastern)
    skipped: tuple[str, ...] = ()  # "item 3: ..." for each item left out


@dataclass(frozen=True, slots=True)
class _Item:
    """What one <item> or <entry> says, the same whichever flavour it came in."""

    ids: tuple[str, ...]  # guid or id, then links: where the arXiv id may be, best first
    title: str
    text: str  # description or summary, as written
    categories: tuple[str, ...]
    when: str  # pubDate or published
    kind: str  # arxiv:announce_type
    authors: tuple[str, ...]


def parse_arxiv_listing(xml: bytes) -> ListingPage:
    root = parse_xml(xml, "arXiv listing", ArxivListingError)
    if root.tag == "rss":
        day, found = _rss(root)
    elif root.tag == _ATOM + "feed":
        day, found = _atom(root)
    else:
        raise ArxivListingError(
            f"The arXiv listing is neither an RSS 2.0 nor an Atom feed (root <{root.tag}>)."
        )
    items, skipped = parse_each(found, lambda item: _listed(item, day), "item")
    return ListingPage(items, day, skipped)


def _rss(root: ET.Element) -> tuple[date | None, list[_Item]]:
    channel = root.find("channel")
    if channel is None:
        raise ArxivListingError("The arXiv listing is an RSS document without a <channel>.")
    day = _day(channel.findtext("pubDate")) or _day(channel.findtext("lastBuildDate"))
    items = [
        _Item(
            ids=(_text(item, "guid"), _text(item, "link")),
            title=_text(item, "title"),
            text=item.findtext("description") or "",
            categories=tuple(collapse_space(c.text or "") for c in item.findall("category")),
            when=_text(item, "pubDate"),
            kind=_text(item, _ARXIV + "announce_type"),
            authors=_creators(item),
        )
        for item in channel.findall("item")
    ]
    return day, items


def _atom(feed: ET.Element) -> tuple[date | None, list[_Item]]:
    items = [
        _Item(
            ids=(_text(entry, _ATOM + "id"), *_alternate_links(entry)),
            title=_text(entry, _ATOM + "title"),
            text=entry.findtext(_ATOM + "summary") or "",
            categories=tuple(c.get("term", "") for c in entry.findall(_ATOM + "category")),
            when=_text(entry, _ATOM + "published"),  # an entry's <updated> is when it was built
            kind=_text(entry, _ARXIV + "announce_type"),
            authors=_creators(entry) or _atom_authors(entry),
        )
        for entry in feed.findall(_ATOM + "entry")
    ]
    return _day(feed.findtext(_ATOM + "updated")), items


def _listed(item: _Item, day: date | None) -> ListedPaper:
    head = _HEAD.match(item.text)
    arxiv_id, version = _arxiv_id(item, head)
    if not item.title:
        raise RecordError(f"{arxiv_id}: no title")
    stated = (item.kind or (head.group(2) if head else "")).lower()
    # Only a first version announced as new was published that day; the rest are older papers.
    first_seen = stated == "new" and version in (None, 1)
    abstract = _abstract(item.text, head)
    paper = arxiv_paper(
        arxiv_id,
        ARXIV_LISTING_SOURCE,
        code_texts=(abstract,),
        title=item.title,
        abstract=abstract,
        authors=item.authors,
        categories=tuple(dict.fromkeys(c.strip() for c in item.categories if c.strip())),
        version=version,
        published=_datetime(item.when) if first_seen else None,
        extra={},
    )
    # arXiv always states a type; should one be missing, a later version can only be a replacement
    kind = stated or ("replace" if version is not None and version > 1 else "new")
    return ListedPaper(paper, kind, _day(item.when) or day)


def _arxiv_id(item: _Item, head: re.Match[str] | None) -> tuple[str, int | None]:
    in_text = _parse_id(head.group(1)) if head else None
    parsed = next((p for i in item.ids if (p := _parse_id(i))), in_text)
    if parsed is None:
        named = f" ({item.ids[0]!r})" if item.ids[0] else ""
        raise RecordError(f"no arXiv id in its id{named}, link or description")
    arxiv_id, version = parsed
    if version is None and in_text is not None and in_text[0] == arxiv_id:
        version = in_text[1]  # an abs link has no version; the description's head does
    return arxiv_id, version


def _parse_id(text: str) -> tuple[str, int | None] | None:
    try:
        return parse_arxiv_id(_OAI_PREFIX.sub("", text))
    except ValueError:  # a version too long to be a number
        return None


def _abstract(text: str, head: re.Match[str] | None) -> str:
    """The text after "Abstract:"; without that marker, all of it after the head."""
    rest = text[head.end() :] if head else text
    before, marker, after = rest.partition("Abstract:")
    if marker and (head or not before.strip()):  # a bare "Abstract:" mid-text is the abstract's
        return collapse_space(after)
    return collapse_space(rest)


def _creators(element: ET.Element) -> tuple[str, ...]:
    """`A. One (MIT, CSAIL), B. Two and C. Three` -> ('A. One', 'B. Two', 'C. Three')."""
    names: list[str] = []
    for creator in element.findall(_DC + "creator"):
        text = _without_parentheses(creator.text or "")
        names.extend(n for name in split_author_string(text) if (n := collapse_space(name)))
    return tuple(names)


def _without_parentheses(text: str) -> str:
    """arXiv writes affiliations in parentheses after a name, commas and all; they are not
    names. Unbalanced parentheses are left as they are."""
    kept: list[str] = []
    depth = 0
    for c in text:
        if c == "(":
            depth += 1
        elif c == ")" and depth:
            depth -= 1
        elif not depth:
            kept.append(c)
    return "".join(kept) if depth == 0 else text


def _atom_authors(entry: ET.Element) -> tuple[str, ...]:
    return tuple(n for a in entry.findall(_ATOM + "author") if (n := _text(a, _ATOM + "name")))


def _alternate_links(entry: ET.Element) -> list[str]:
    links = entry.findall(_ATOM + "link")
    return [link.get("href", "") for link in links if link.get("rel", "alternate") == "alternate"]


def _text(element: ET.Element, tag: str) -> str:
    return collapse_space(element.findtext(tag) or "")


def _datetime(text: str) -> datetime | None:
    """An aware UTC datetime, or None: one item's unreadable date does not cost its paper."""
    try:
        return parse_date(text) if text else None
    except ValueError:
        return None


def _day(text: str | None) -> date | None:
    """The calendar day as written: `Mon, 18 Mar 2024 23:30:00 -0400` is the 18th, though it is
    the 19th in UTC. None for no date or an unreadable one."""
    text = (text or "").strip()
    if not text:
        return None
    try:
        if text[:4].isdigit():
            return datetime.fromisoformat(text.replace("Z", "+00:00")).date()
        return parsedate_to_datetime(text).date()
    except (ValueError, TypeError, IndexError, OverflowError):
        return None
