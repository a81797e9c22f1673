"""Atom (RFC 4287) and RSS 2.0 feeds of any list of papers a page shows: trending, a day's
papers, a search (so a saved search is a feed).

Built with ElementTree, which escapes every text and attribute; control characters (they do
occur in abstracts, and XML 1.0 forbids most) are dropped first (`clean.text`), so a hostile
title yields a valid feed whose entry reads as the literal text. Links a source sent are kept
only when they are http(s) (`clean.web_url`, as on the pages), and an entry's id is our own
paper URL, never one the source chose. Summaries are plain text (Atom `type="text"`; an RSS
description is HTML by convention, so there the text is HTML-escaped once more): feed readers
differ too much in what HTML they allow to send them markup or MathML.
"""

from __future__ import annotations

import html
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Any
from urllib.parse import quote

from paperfeed.web.clean import text, web_url

ATOM_NS = "http://www.w3.org/2005/Atom"
DC_NS = "http://purl.org/dc/elements/1.1/"
FORMATS = {"atom": "application/atom+xml", "rss": "application/rss+xml"}


@dataclass(frozen=True, slots=True)
class Feed:
    title: str
    self_url: str  # absolute URL of the feed itself
    page_url: str  # absolute URL of the page it follows
    base_url: str  # the site's root (the configured base URL), for links to paper pages
    papers: Sequence[dict[str, Any]]  # paper_json dicts, in the page's order
    fallback_updated: datetime  # for papers (and feeds) without any date


def _when(value: str | None, fallback: datetime) -> datetime:
    if not value:
        return fallback
    when = datetime.fromisoformat(value)
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def _entry_dates(p: dict[str, Any], fallback: datetime) -> tuple[datetime, datetime]:
    published = _when(p.get("published") or p.get("updated"), fallback)
    return published, _when(p.get("updated"), published)


def feed_updated(feed: Feed) -> datetime:
    """The feed's last change: its newest entry, or the fallback for undated papers."""
    dates = [_entry_dates(p, feed.fallback_updated)[1] for p in feed.papers]
    return max(dates, default=feed.fallback_updated)


def paper_link(feed: Feed, p: dict[str, Any]) -> str:
    return f"{feed.base_url.rstrip('/')}/paper/{quote(p['id'], safe='')}"


def _sub(parent: ET.Element, tag: str, content: str | None = None, **attrs: str) -> ET.Element:
    node = ET.SubElement(parent, tag, {k: text(v) for k, v in attrs.items()})
    if content is not None:
        node.text = text(content)
    return node


def atom(feed: Feed) -> bytes:
    root = ET.Element("feed", {"xmlns": ATOM_NS})
    _sub(root, "title", feed.title)
    _sub(root, "id", feed.self_url)
    _sub(root, "updated", feed_updated(feed).isoformat())
    _sub(root, "link", rel="self", href=feed.self_url, type=FORMATS["atom"])
    _sub(root, "link", rel="alternate", href=feed.page_url, type="text/html")
    _sub(root, "generator", "paperfeed")
    for p in feed.papers:
        published, updated = _entry_dates(p, feed.fallback_updated)
        entry = _sub(root, "entry")
        _sub(entry, "id", paper_link(feed, p))
        _sub(entry, "title", p["title"], type="text")
        _sub(entry, "link", rel="alternate", href=paper_link(feed, p), type="text/html")
        if pdf := web_url(p.get("pdf_url")):
            _sub(entry, "link", rel="related", href=pdf, type="application/pdf")
        _sub(entry, "published", published.isoformat())
        _sub(entry, "updated", updated.isoformat())
        for name in p["authors"] or ["unknown"]:
            _sub(_sub(entry, "author"), "name", name)
        for category in p["categories"]:
            _sub(entry, "category", term=category)
        _sub(entry, "summary", p["abstract"], type="text")
    return _document(root)


def rss(feed: Feed) -> bytes:
    root = ET.Element("rss", {"version": "2.0", "xmlns:atom": ATOM_NS, "xmlns:dc": DC_NS})
    channel = _sub(root, "channel")
    _sub(channel, "title", feed.title)
    _sub(channel, "link", feed.page_url)
    _sub(channel, "description", feed.title)
    _sub(channel, "atom:link", rel="self", href=feed.self_url, type=FORMATS["rss"])
    _sub(channel, "lastBuildDate", format_datetime(feed_updated(feed)))
    _sub(channel, "generator", "paperfeed")
    for p in feed.papers:
        published, _ = _entry_dates(p, feed.fallback_updated)
        item = _sub(channel, "item")
        _sub(item, "title", p["title"])
        _sub(item, "link", paper_link(feed, p))
        _sub(item, "guid", paper_link(feed, p), isPermaLink="true")
        _sub(item, "pubDate", format_datetime(published))
        if p["authors"]:
            _sub(item, "dc:creator", ", ".join(p["authors"]))
        for category in p["categories"]:
            _sub(item, "category", category)
        _sub(item, "description", html.escape(p["abstract"], quote=False))
    return _document(root)


def _document(root: ET.Element) -> bytes:
    body: bytes = ET.tostring(root, encoding="utf-8", xml_declaration=False)
    return b'<?xml version="1.0" encoding="utf-8"?>\n' + body


RENDER = {"atom": atom, "rss": rss}
